"""The multi-task (MTL) track: scores against an independent computation (the csv module,
scikit-learn F1, a CCC written out) on synthetic files of ABAW3, ABAW4 and ABAW7, the
layouts the sources allow, and file:line errors for broken files."""

import csv
import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import f1_score

from abawbench import compare, formats, metrics, multitask, scoring
from abawbench.cli import main
from abawbench.data.synth_mtl import synthesize_mtl
from abawbench.formats import FormatError
from abawbench.tracks import MTL_HEADER, MTL_LONG_HEADER, track_spec

from test_metrics import reference_ccc

EXAMPLES = Path(__file__).resolve().parent.parent / "submissions"
HEADER = ",".join(MTL_HEADER)
AUS = ("AU1", "AU2", "AU4", "AU6", "AU7", "AU10", "AU12", "AU15", "AU23", "AU24", "AU25", "AU26")


# ---------------------------------------------------------------- references


def read_rows(path: Path) -> list[list[str]]:
    """The data rows of an MTL file by the csv module (not abawbench's reader)."""
    with open(path, newline="", encoding="utf-8") as stream:
        rows = list(csv.reader(stream))
    return [row for row in rows[1:] if row]


def reference_scores(truth_path: Path, prediction_path: Path, average: str = "all") -> dict:
    """P_MTL computed apart: rows matched by image name, each part over its own valid rows."""
    truth = read_rows(truth_path)
    predicted = {row[0]: row for row in read_rows(prediction_path)}
    va_true, va_pred, expr_true, expr_pred, au_true, au_pred = [], [], [], [], [], []
    for row in truth:
        values = [float(x) for x in row[1:]]
        guess = [float(x) for x in predicted[row[0]][1:]] if row[0] in predicted else None
        if values[0] != -5 and values[1] != -5:
            va_true.append(values[:2])
            va_pred.append(guess[:2])
        if values[2] != -1:
            expr_true.append(values[2])
            expr_pred.append(guess[2])
        if min(values[3:]) >= 0:
            au_true.append(values[3:])
            au_pred.append(guess[3:])
    va_true, va_pred = np.array(va_true), np.array(va_pred)
    valence = reference_ccc(va_pred[:, 0], va_true[:, 0])
    arousal = reference_ccc(va_pred[:, 1], va_true[:, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if average == "all":
            expr_f1 = f1_score(expr_true, expr_pred, average="macro", labels=list(range(8)), zero_division=0)
        else:
            expr_f1 = f1_score(expr_true, expr_pred, average="macro")
        au_true, au_pred = np.array(au_true), np.array(au_pred)
        per_au = [f1_score(au_true[:, a], au_pred[:, a], zero_division=0) for a in range(12)]
    present = (au_true == 1).any(axis=0) | (au_pred == 1).any(axis=0)
    au_f1 = np.mean(per_au) if average == "all" else np.mean(np.array(per_au)[present])
    return {"valence": valence, "arousal": arousal, "va_mean": (valence + arousal) / 2, "expr_f1": expr_f1,
            "au_f1": au_f1, "mtl": (valence + arousal) / 2 + expr_f1 + au_f1}


def write_predictions(truth_path: Path, out: Path, seed: int, shuffle: bool = False, header: str = HEADER) -> Path:
    """Noisy predictions for every row of a ground truth (or test list), written by hand."""
    rng = np.random.default_rng(seed)
    lines = []
    for row in read_rows(truth_path):
        values = [float(x) for x in row[1:]] if len(row) == 16 else [0.0] * 15
        va = [rng.uniform(-1, 1) if v == -5 else min(1.0, max(-1.0, v + rng.normal(0, 0.3))) for v in values[:2]]
        expr = int(values[2]) if values[2] >= 0 and rng.random() < 0.6 else int(rng.integers(0, 8))
        aus = [int(a) if a >= 0 and rng.random() > 0.2 else int(rng.integers(0, 2)) for a in values[3:]]
        lines.append(f"{row[0]},{va[0]:.6f},{va[1]:.6f},{expr}," + ",".join(map(str, aus)))
    if shuffle:
        rng.shuffle(lines)
    out.write_text("\n".join([header] + lines) + "\n")
    return out


@pytest.fixture(scope="module")
def mtl_root(synthetic_data, tmp_path_factory):
    root, _ = synthetic_data
    out = tmp_path_factory.mktemp("mtl")
    manifest = synthesize_mtl(root / "affwild2_abaw6", out, seed=3)
    return out, manifest


def test_data_synth_writes_the_mtl_files_of_its_affwild2(synthetic_data, tmp_path):
    root, manifest = synthetic_data
    assert manifest["mtl"]["root"] == "mtl" and manifest["mtl"]["editions"] == ["abaw3", "abaw4", "abaw7"]
    written = json.loads((root / manifest["mtl"]["manifest"]).read_text())
    again = synthesize_mtl(root / "affwild2_abaw6", tmp_path / "again", seed=manifest["seed"])
    assert written["source"] == "../affwild2_abaw6"  # relative: nothing of the staging folder left in it
    assert {**written, "source": None} == {**again, "source": None}  # derived from the tree's own Aff-Wild2
    for edition in ("abaw3", "abaw4"):
        path = written["editions"][edition]["validation"]["file"]
        assert (root / "mtl" / path).read_bytes() == (tmp_path / "again" / path).read_bytes()


# ------------------------------------------------------ independent computation


@pytest.mark.parametrize("edition", ["abaw3", "abaw4", "abaw7"])
@pytest.mark.parametrize("average", ["all", "present"])
def test_scores_equal_an_independent_computation(mtl_root, tmp_path, edition, average):
    root, manifest = mtl_root
    truth_path = root / manifest["editions"][edition]["validation"]["file"]
    prediction = write_predictions(truth_path, tmp_path / "pred.txt", seed=11)
    result = scoring.score(prediction, root, "mtl", edition, resamples=0, f1_average=average)
    expected = reference_scores(truth_path, prediction, average)
    assert result["ground_truth"] == str(truth_path)
    for name, value in expected.items():
        assert result["metrics"][name] == pytest.approx(value, abs=1e-9), name
    assert result["main_metric"] == "mtl" and result["f1_average"] == average
    assert result["parts"]["va"]["rows"] == manifest["editions"][edition]["validation"]["valid"]["va"]
    assert result["parts"]["expr"]["rows"] == manifest["editions"][edition]["validation"]["valid"]["expr"]
    assert result["parts"]["au"]["rows"] == manifest["editions"][edition]["validation"]["valid"]["au"]


def test_abaw3_and_abaw4_sets_differ_and_abaw7_reuses_abaw4(mtl_root, tmp_path):
    root, manifest = mtl_root
    assert manifest["editions"]["abaw3"]["validation"]["file"] != manifest["editions"]["abaw4"]["validation"]["file"]
    prediction = write_predictions(root / manifest["editions"]["abaw4"]["validation"]["file"], tmp_path / "p.txt", 5)
    four = scoring.score(prediction, root, "mtl", "abaw4", resamples=0)
    seven = scoring.score(prediction, root, "mtl", "abaw7", resamples=0)
    assert four["metrics"] == seven["metrics"]
    with pytest.raises(FormatError, match="only images the reference lists|only videos of the reference"):
        scoring.score(prediction, root, "mtl", "abaw3", resamples=0)  # ABAW4's images are not ABAW3's


def test_per_video_scores_and_their_statistics(mtl_root, tmp_path):
    root, manifest = mtl_root
    truth_path = root / manifest["editions"]["abaw4"]["train"]["file"]
    prediction = write_predictions(truth_path, tmp_path / "p.txt", seed=2)
    result = scoring.score(prediction, root, "mtl", "abaw4", split="train", resamples=0)
    rows = read_rows(truth_path)
    complete = 0
    for video, entry in result["per_video"].items():
        video_truth = tmp_path / "vt.txt"
        video_truth.write_text("\n".join([HEADER] + [",".join(r) for r in rows if r[0].startswith(video + "/")]))
        has = {part: any(cond(r) for r in rows if r[0].startswith(video + "/")) for part, cond in (
            ("va", lambda r: float(r[1]) != -5 and float(r[2]) != -5), ("expr", lambda r: r[3] != "-1"),
            ("au", lambda r: "-1" not in r[4:]))}
        if all(has.values()):
            complete += 1
            expected = reference_scores(video_truth, prediction)
            for name, value in expected.items():
                assert entry[name] == pytest.approx(value, abs=1e-9), (video, name)
        else:  # a part the video lacks has no value, and neither has the total
            assert entry["mtl"] is None
            assert (entry["expr_f1"] is None) == (not has["expr"]) and (entry["au_f1"] is None) == (not has["au"])
    assert 0 < complete < len(result["per_video"])  # both kinds of video occur
    # the statistics reproduce the pooled metrics (compare's check)
    stats = np.asarray(result["statistics"]["values"], dtype=float)
    assert stats.shape == (result["n_videos"], 124) and result["statistics"]["shape"] == [result["n_videos"], 124]
    pooled = metrics.scores_from_stats("mtl", scoring.pool(track_spec("abaw4", "mtl"), stats), False)
    for name, value in result["metrics"].items():
        assert float(pooled[name][0]) == pytest.approx(value, abs=1e-12)


def test_bootstrap_draws_the_same_videos_for_every_part(tmp_path):
    """A naive resampler: concatenate the drawn videos' rows and recompute every part."""
    rng = np.random.default_rng(7)
    lines, truth = [HEADER], {}
    for v in range(6):
        for frame in range(1, 31):
            values = [round(rng.uniform(-1, 1), 3), round(rng.uniform(-1, 1), 3), int(rng.integers(0, 8))] + \
                     list((rng.random(12) < 0.4).astype(int))
            truth.setdefault(f"vid{v}", []).append(values)
            lines.append(f"vid{v}/{frame:05d}.jpg," + ",".join(map(str, values)))
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "validation_set.txt").write_text("\n".join(lines) + "\n")
    prediction = write_predictions(tmp_path / "data" / "validation_set.txt", tmp_path / "p.txt", seed=9)
    result = scoring.score(prediction, tmp_path / "data", "mtl", "abaw3", resamples=40, seed=5)
    predicted = {row[0]: [float(x) for x in row[1:]] for row in read_rows(prediction)}
    videos = list(truth)
    totals = []
    for counts in scoring.bootstrap_weights(len(videos), 40, 5):
        t, p = [], []
        for video, count in zip(videos, counts):
            for _ in range(count):
                t += truth[video]
                p += [predicted[f"{video}/{k:05d}.jpg"] for k in range(1, 31)]
        t, p = np.array(t, dtype=float), np.array(p)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expr = f1_score(t[:, 2], p[:, 2], average="macro", labels=list(range(8)), zero_division=0)
            au = np.mean([f1_score(t[:, 3 + a], p[:, 3 + a], zero_division=0) for a in range(12)])
        va = (reference_ccc(p[:, 0], t[:, 0]) + reference_ccc(p[:, 1], t[:, 1])) / 2
        totals.append(va + expr + au)
    assert result["ci95"]["mtl"] == pytest.approx(list(np.percentile(totals, [2.5, 97.5])), abs=1e-9)


# --------------------------------------------------------- layouts the sources allow


def small_truth(folder: Path, name: str = "validation_set.txt", header: str = HEADER, rows: list[str] | None = None):
    rows = rows or ["a/00001.jpg,0.1,0.2,3,0,1,0,0,0,0,1,0,0,0,0,0",
                    "a/00003.jpg,-0.4,0.5,1,1,1,0,0,0,0,0,0,0,0,0,1",
                    "b/00002.jpg,0.3,-0.2,-1,0,0,0,1,0,0,0,0,0,0,0,0",
                    "b/00005.jpg,-5,-5,5,0,0,0,0,0,1,1,0,0,0,0,0",
                    "b/00009.jpg,0.7,0.1,1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1"]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("\n".join([header] + rows) + "\n")
    return folder / name


def test_headers_naming_five_or_sixteen_fields_and_minus_five_in_either_form(tmp_path):
    long_header = ",".join(MTL_LONG_HEADER)
    truth = small_truth(tmp_path / "d1", header=long_header.upper())  # any letter case in the ground truth
    rows = read_rows(truth)
    rows[3][1:3] = ["-5.0", "-5.0"]
    small_truth(tmp_path / "d2", rows=[",".join(r) for r in rows])
    prediction = write_predictions(truth, tmp_path / "p.txt", seed=1, header=long_header)
    one = scoring.score(prediction, tmp_path / "d1", "mtl", "abaw4", resamples=0)
    two = scoring.score(prediction, tmp_path / "d2", "mtl", "abaw4", resamples=0)
    assert one["metrics"] == two["metrics"]
    assert any("names all 16 fields" in note for note in one["notes"])
    assert any("ground truth's header" in note for note in one["notes"])
    assert one["metrics"]["mtl"] == pytest.approx(reference_scores(truth, prediction)["mtl"], abs=1e-9)


def test_va_minus_five_in_one_column_drops_the_rows_va_with_a_note(tmp_path):
    truth = small_truth(tmp_path / "d", rows=["a/00001.jpg,0.1,0.2,3,0,1,0,0,0,0,1,0,0,0,0,0",
                                              "a/00002.jpg,-5,0.9,3,0,1,0,0,0,0,1,0,0,0,0,0",
                                              "a/00003.jpg,-0.4,0.5,1,1,-1,0,0,0,0,0,0,0,0,0,1",
                                              "a/00004.jpg,0.6,-0.5,1,1,0,0,0,0,0,0,0,0,0,0,1"])
    prediction = write_predictions(truth, tmp_path / "p.txt", seed=3)
    result = scoring.score(prediction, tmp_path / "d", "mtl", "abaw4", resamples=0)
    assert result["parts"]["va"]["rows"] == 3 and result["parts"]["au"]["rows"] == 3
    assert any("-5 in one VA column only" in note for note in result["notes"])
    assert any("-1 in some AUs only" in note for note in result["notes"])
    assert result["metrics"]["mtl"] == pytest.approx(reference_scores(truth, prediction)["mtl"], abs=1e-9)


def test_order_is_free_and_a_repeated_ground_truth_image_counts_twice(tmp_path):
    rows = ["a/00001.jpg,0.1,0.2,3,0,1,0,0,0,0,1,0,0,0,0,0", "a/00003.jpg,-0.4,0.5,1,1,1,0,0,0,0,0,0,0,0,0,1",
            "b/00002.jpg,0.3,-0.2,2,0,0,0,1,0,0,0,0,0,0,0,0", "a/00003.jpg,-0.4,0.5,1,1,1,0,0,0,0,0,0,0,0,0,1",
            "b/00004.jpg,0.8,0.6,5,0,0,1,0,0,1,1,0,0,0,1,0"]
    truth = small_truth(tmp_path / "d", rows=rows)
    in_order = write_predictions(truth, tmp_path / "twice.txt", seed=4)  # a/00003 predicted twice, as listed
    lines = in_order.read_text().splitlines()
    once = tmp_path / "once.txt"  # the same prediction, given once
    once.write_text("\n".join(lines[:4] + lines[5:]) + "\n")
    shuffled = tmp_path / "shuffled.txt"
    shuffled.write_text("\n".join([lines[0], lines[5], lines[3], lines[1], lines[2]]) + "\n")
    lines[4] = lines[2]  # make both listings predict the same, so that 'once' means the same thing
    in_order.write_text("\n".join(lines) + "\n")
    scores = {path.name: scoring.score(path, tmp_path / "d", "mtl", "abaw3", resamples=0)
              for path in (in_order, once, shuffled)}
    assert scores["twice.txt"]["metrics"] == pytest.approx(scores["once.txt"]["metrics"])
    assert scores["once.txt"]["metrics"] == pytest.approx(scores["shuffled.txt"]["metrics"])
    # the repeated row is scored twice: the reference sees five rows
    reference = reference_scores(truth, once)
    assert scores["once.txt"]["metrics"]["mtl"] == pytest.approx(reference["mtl"], abs=1e-9)
    assert scores["once.txt"]["n_frames"] == 5
    assert any("more than once" in note for note in scores["once.txt"]["notes"])
    assert any("not in the ground truth's order" in note for note in scores["shuffled.txt"]["notes"])
    assert not any("order" in note for note in scores["twice.txt"]["notes"] + scores["once.txt"]["notes"])
    thrice = tmp_path / "thrice.txt"
    thrice.write_text("\n".join(in_order.read_text().splitlines() + [lines[2]]) + "\n")
    with pytest.raises(FormatError, match="thrice.txt:7: expected 'a/00003.jpg' at most 2 times"):
        scoring.score(thrice, tmp_path / "d", "mtl", "abaw3", resamples=0)


def test_a_listing_given_neither_once_nor_as_often_is_an_error(tmp_path):
    row = "a/00001.jpg,0.1,0.2,3,0,1,0,0,0,0,1,0,0,0,0,0"
    truth = small_truth(tmp_path / "d", rows=[row, row, row, "a/00002.jpg,0.3,0.4,1,0,0,0,0,0,0,0,0,0,0,0,1"])
    prediction = tmp_path / "p.txt"
    prediction.write_text("\n".join([HEADER, row, row, "a/00002.jpg,0.3,0.4,1,0,0,0,0,0,0,0,0,0,0,0,1"]) + "\n")
    with pytest.raises(FormatError, match=r"p.txt:3: expected 'a/00001.jpg' once or 3 times.*found 2 times"):
        scoring.score(prediction, tmp_path / "d", "mtl", "abaw3", resamples=0)
    assert truth.is_file()


def test_rows_without_any_label_need_no_prediction(tmp_path):
    truth = small_truth(tmp_path / "d", rows=["a/00001.jpg,0.1,0.2,3,0,1,0,0,0,0,1,0,0,0,0,0",
                                              "a/00002.jpg,-5,-5,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1",
                                              "a/00004.jpg,0.6,-0.5,1,1,0,0,0,0,0,0,0,0,0,0,1"])
    rows = read_rows(truth)
    prediction = tmp_path / "p.txt"
    prediction.write_text("\n".join([HEADER, ",".join(rows[0]), ",".join(rows[2])]) + "\n")
    result = scoring.score(prediction, tmp_path / "d", "mtl", "abaw4", resamples=0)
    assert result["n_frames"] == 2 and result["parts"]["rows"] == 3 and result["parts"]["rows_with_a_label"] == 2
    assert result["metrics"]["va_mean"] == pytest.approx(1.0)


def test_validate_against_each_editions_test_list(mtl_root, tmp_path):
    root, manifest = mtl_root
    for edition in ("abaw3", "abaw4", "abaw7"):
        test_list = root / manifest["test_lists"][edition]["file"]
        prediction = write_predictions(test_list, tmp_path / f"{edition}.txt", seed=1)
        summary = scoring.validate(prediction, "mtl", edition, data=root, split="test")
        assert summary["valid"] and summary["n_rows"] == manifest["test_lists"][edition]["rows"]
        assert str(test_list) in summary["reference"]
        assert any("end with a comma" in note for note in summary["notes"]) == (edition == "abaw7")
    lines = prediction.read_text().splitlines()
    (tmp_path / "short.txt").write_text("\n".join(lines[:-1]) + "\n")
    with pytest.raises(FormatError, match=f"short.txt:{len(lines)}: expected a row for"):
        scoring.validate(tmp_path / "short.txt", "mtl", "abaw7", data=root, split="test")
    with pytest.raises(scoring.ScoringError, match="test list of images"):
        scoring.validate(prediction, "mtl", "abaw7", videos=test_list)


def test_validate_against_the_ground_truth(mtl_root, tmp_path):
    root, manifest = mtl_root
    prediction = write_predictions(root / manifest["editions"]["abaw3"]["validation"]["file"], tmp_path / "p.txt", 1)
    summary = scoring.validate(prediction, "mtl", "abaw3", data=root)
    assert summary["valid"] and summary["track"] == "mtl" and summary["format"] == "mtl"


# ---------------------------------------------------------------- finding the files


def test_ground_truth_is_found_by_header_and_shape_and_chosen_by_edition(tmp_path):
    small_truth(tmp_path / "3rd ABAW Annotations" / "Third ABAW Annotations" / "MTL_Challenge", "validation_set.txt")
    small_truth(tmp_path / "somewhere", "validation_set_annotations.txt")
    (tmp_path / "somewhere" / "notes.txt").write_text("image,valence,arousal,expression,aus\nnot a row\n")
    test_list = tmp_path / "test_set_examples" / "MTL.txt"
    test_list.parent.mkdir()
    test_list.write_text(HEADER + "\na/00001.jpg,\n")
    assert multitask.locate_mtl_truth(tmp_path, "validation", "abaw3").path.name == "validation_set.txt"
    assert multitask.locate_mtl_truth(tmp_path, "validation", "abaw4").path.name == "validation_set_annotations.txt"
    kinds = {f.path.name: (f.kind, f.split) for f in multitask.find_mtl_files(tmp_path)}
    assert kinds["MTL.txt"] == ("test list", "test") and "notes.txt" not in kinds
    assert multitask.locate_mtl_test_list(tmp_path, "abaw7").path == test_list
    with pytest.raises(multitask.MtlError, match="no MTL ground truth for the train split"):
        multitask.locate_mtl_truth(tmp_path, "train", "abaw4")
    # two files of one split, neither named as the edition names them: an error that lists them
    shutil.copy(tmp_path / "somewhere" / "validation_set_annotations.txt", tmp_path / "somewhere" / "val_copy.txt")
    shutil.copy(tmp_path / "somewhere" / "validation_set_annotations.txt", tmp_path / "somewhere" / "val_other.txt")
    (tmp_path / "somewhere" / "validation_set_annotations.txt").unlink()
    with pytest.raises(multitask.MtlError, match="several MTL validation ground-truth files"):
        multitask.locate_mtl_truth(tmp_path, "validation", "abaw4")


@pytest.mark.parametrize("edition", ["abaw1", "abaw2", "abaw5", "abaw6", "abaw8", "abaw9"])
def test_editions_without_an_mtl_challenge_are_refused(edition, tmp_path):
    small_truth(tmp_path / "d")
    with pytest.raises(scoring.ScoringError, match="ABAW3, ABAW4 and ABAW7 only"):
        scoring.score(tmp_path / "p.txt", tmp_path / "d", "mtl", edition)
    with pytest.raises(scoring.ScoringError, match="ABAW3, ABAW4 and ABAW7 only"):
        scoring.validate(tmp_path / "p.txt", "mtl", edition, data=tmp_path / "d")
    result = CliRunner().invoke(main, ["score", str(tmp_path / "d"), "--data", str(tmp_path / "d"), "--track", "mtl",
                                       "--edition", edition])
    assert result.exit_code == 2 and "pass --edition abaw3, abaw4 or abaw7" in result.output


def test_abaw3_release_folder_holds_the_test_video_lists_of_the_other_tracks(mtl_root):
    root, _ = mtl_root
    for track, word in (("expr", "Expression_Classification"), ("va", "Valence_Arousal"),
                        ("au", "Action_Unit_Detection")):
        template, videos = scoring.find_test_reference(root, track_spec("abaw3", track))
        assert template is None and word in videos.name
        assert "CVPR_2022_3rd_ABAW_Competition _Test_Set_Release" in str(videos)


# ------------------------------------------------------------------- strict errors


@pytest.mark.parametrize("content, line, fragment", [
    ("image,valence,arousal,expression\n", 1, "expected the header 'image,valence,arousal,expression,aus'"),
    ("a/00001.jpg,0.1,0.2,3,0,0,0,0,0,0,0,0,0,0,0,0\n", 1, "header line is missing"),
    (HEADER + "\n", 2, "no rows"),
    (HEADER + "\na/00001.jpg,0.1,0.2,3,0,0,0,0,0,0,0,0,0,0,0\n", 2, "16 comma-separated fields"),
    (HEADER + "\na/00001.jpg,0.1,0.2,3,0,0,0,0,0,0,0,0,0,0,0,0\n\na/00002.jpg,0.1,0.2,3,0,0,0,0,0,0,0,0,0,0,0,0\n",
     3, "empty line"),
    (HEADER + "\na/00001.jpg,0.1,nan,3,0,0,0,0,0,0,0,0,0,0,0,0\n", 2, "a finite number (arousal)"),
    (HEADER + "\na/00001.jpg,0.1,0.2,7,0,0,0,0,0,0,0,0,0,0,0,0\na/00002.jpg,1.01,0.2,3,0,0,0,0,0,0,0,0,0,0,0,0\n",
     3, "valence a number in [-1, 1]"),
    (HEADER + "\na/00001.jpg,0.1,0.2,-1,0,0,0,0,0,0,0,0,0,0,0,0\n", 2, "expression an integer class id 0-7"),
    (HEADER + "\na/00001.jpg,0.1,0.2,2,0,0,0,0,0,0,0,0,0,0,0,-1\n", 2, "AU26 0 or 1"),
    (HEADER + "\na/00001.jpg,0.1,0.2,2,0,0,0,0,0,0,0,0,0,0,0,1.0\n", 2, "an integer (AU26)"),
    (HEADER + "\na/1.jpg,0.1,0.2,2,0,0,0,0,0,0,0,0,0,0,0,1\n", 2, "5-digit frame number"),
    (HEADER + "\na/00001.jpg,0.1,0.2,2,0,0,0,0,0,0,0,0,0,0,0,99999999999999999999\n", 2, "an integer (AU26)"),
])
def test_broken_submissions_name_file_and_line(tmp_path, content, line, fragment):
    path = tmp_path / "p.txt"
    path.write_text(content)
    with pytest.raises(FormatError) as caught:
        formats.read_mtl(path, "prediction")
    assert str(caught.value).startswith(f"{path}:{line}:") and fragment in str(caught.value)


def test_ground_truth_admits_the_markers_a_submission_may_not(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text(HEADER + "\na/00001.jpg,-5,-5.0,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1\n")
    assert formats.read_mtl(path, "truth").values[0].tolist() == [-5, -5] + [-1] * 13
    with pytest.raises(FormatError, match="valence a number in"):
        formats.read_mtl(path, "prediction")
    path.write_text(HEADER + "\na/00001.jpg,-4,0,0,0,0,0,0,0,0,0,0,0,0,0,0\n")
    with pytest.raises(FormatError, match=r"t.txt:2: expected valence a number in \[-1, 1\], or -5 for no label"):
        formats.read_mtl(path, "truth")
    path.write_text(HEADER + "\na/00001.jpg,0,0,8,0,0,0,0,0,0,0,0,0,0,0,0\n")
    with pytest.raises(FormatError, match="expression an integer class id 0-7, or -1 for no label"):
        formats.read_mtl(path, "truth")


def test_a_folder_or_a_uni_task_file_is_not_an_mtl_submission(tmp_path):
    small_truth(tmp_path / "d")
    with pytest.raises(FormatError, match="expected one MTL file"):
        scoring.score(tmp_path / "d", tmp_path / "d", "mtl", "abaw4")
    (tmp_path / "va.txt").write_text("image_location,valence,arousal\na/00001.jpg,0.1,0.2\n")
    with pytest.raises(FormatError, match="'image_location' starts the uni-task files"):
        scoring.score(tmp_path / "va.txt", tmp_path / "d", "mtl", "abaw4")


def test_the_example_broken_mtl_files_each_fail_as_cases_json_says():
    cases = [c for c in json.loads((EXAMPLES / "broken" / "cases.json").read_text()) if c["track"] == "mtl"]
    assert len(cases) >= 20  # run by test_cli too; here: every MTL kind of error is there
    assert {c["command"] for c in cases} == {"score", "validate"}


def test_the_example_valid_mtl_files_score_and_validate():
    data = EXAMPLES / "data" / "mtl"
    for edition in ("abaw3", "abaw4"):
        result = scoring.score(EXAMPLES / "valid" / f"{edition}-mtl.txt", data, "mtl", edition, resamples=0)
        truth = Path(result["ground_truth"])
        assert result["metrics"]["mtl"] == pytest.approx(
            reference_scores(truth, EXAMPLES / "valid" / f"{edition}-mtl.txt")["mtl"], abs=1e-9)
    summary = scoring.validate(EXAMPLES / "valid" / "abaw7-mtl-test.txt", "mtl", "abaw7", data=data, split="test")
    assert summary["valid"]


# -------------------------------------------------------- fast path equals slow path


mtl_rows = st.lists(st.tuples(st.sampled_from(["a", "video45_1", "1-30-1280x720_left", "é"]),
                              st.integers(1, 99999), st.floats(-1, 1), st.floats(-1, 1),
                              st.integers(0, 7), st.lists(st.integers(0, 1), min_size=12, max_size=12),
                              st.sampled_from(["{:.4f}", "{:.9f}", "{!r}", "{:.3e}"])),
                    min_size=1, max_size=40)


@settings(max_examples=80, deadline=None)
@given(mtl_rows)
def test_fast_and_slow_mtl_parsers_agree(rows):
    body = "\n".join(f"{video}/{frame:05d}.jpg,{fmt.format(v)},{fmt.format(a)},{e}," + ",".join(map(str, aus))
                     for video, frame, v, a, e, aus, fmt in rows).encode()
    text = formats.TextFile(Path("x.txt"), HEADER, body, len(rows))
    split = formats._split_locations(body, len(rows))
    videos, starts, frames = formats._rows_from_locations(text, [r.split(b",")[0].decode() for r in body.split(b"\n")])
    values_text = formats.TextFile(Path("x.txt"), HEADER, b"\n".join(r.split(b",", 1)[1] for r in body.split(b"\n")),
                                   len(rows))
    slow = formats._mtl_slow_parse(values_text)
    assert split is not None  # well-formed rows (UTF-8 names too) take the fast path
    assert split.run_videos == videos and np.array_equal(split.run_starts, starts)
    assert np.array_equal(split.frames, frames)
    fast_values = formats._mtl_fast_parse(formats.TextFile(
        Path("x.txt"), HEADER, formats._values_part(np.frombuffer(body, dtype=np.uint8), split).tobytes(), len(rows)))
    assert fast_values is not None and np.array_equal(fast_values, slow)


def test_the_kth_row_of_a_repeated_image_predicts_its_kth_listing(tmp_path):
    """Ground truth listing one image twice with other labels; the submission gives it twice:
    pairs are made in order (first with first), which a reference written apart reproduces."""
    truth_rows = ["a/00001.jpg,0.1,0.2,3,0,1,0,0,0,0,1,0,0,0,0,0", "a/00002.jpg,-0.4,0.5,1,1,1,0,0,0,0,0,0,0,0,0,1",
                  "a/00002.jpg,0.9,-0.7,4,0,0,0,1,0,0,0,0,1,0,0,0", "a/00003.jpg,0.3,-0.2,2,0,0,0,1,0,0,0,0,0,0,0,0"]
    small_truth(tmp_path / "d", rows=truth_rows)
    guesses = ["a/00001.jpg,0.0,0.1,3,0,1,0,0,0,0,1,0,0,0,0,0", "a/00002.jpg,-0.3,0.4,1,1,1,0,0,0,0,0,0,0,0,0,1",
               "a/00002.jpg,0.8,-0.6,4,0,0,0,1,0,0,0,0,1,0,0,0", "a/00003.jpg,0.2,-0.1,5,0,0,0,1,0,0,0,0,0,0,0,0"]
    prediction = tmp_path / "p.txt"
    prediction.write_text("\n".join([HEADER, guesses[3], guesses[1], guesses[0], guesses[2]]) + "\n")
    result = scoring.score(prediction, tmp_path / "d", "mtl", "abaw4", resamples=0)
    t = np.array([[float(x) for x in r.split(",")[1:]] for r in truth_rows])
    p = np.array([[float(x) for x in r.split(",")[1:]] for r in guesses])  # k-th with k-th
    assert result["metrics"]["valence"] == pytest.approx(reference_ccc(p[:, 0], t[:, 0]), abs=1e-12)
    assert result["metrics"]["arousal"] == pytest.approx(reference_ccc(p[:, 1], t[:, 1]), abs=1e-12)
    crossed = p[[0, 2, 1, 3]]  # the other pairing would give another valence
    assert reference_ccc(crossed[:, 0], t[:, 0]) != pytest.approx(result["metrics"]["valence"], abs=1e-3)


def test_compare_pairs_two_mtl_scores_by_video(mtl_root, tmp_path):
    root, manifest = mtl_root
    truth_path = root / manifest["editions"]["abaw4"]["train"]["file"]
    paths = []
    for seed in (1, 2):
        prediction = write_predictions(truth_path, tmp_path / f"p{seed}.txt", seed=seed)
        result = scoring.score(prediction, root, "mtl", "abaw4", split="train", resamples=0)
        paths.append(tmp_path / f"s{seed}.json")
        paths[-1].write_text(json.dumps(result))
    table = compare.compare_entries(paths, resamples=50)
    rows = table["tracks"]["mtl"]["rows"]
    assert table["tracks"]["mtl"]["metrics"][:2] == ["mtl", "va_mean"]
    first, second = (json.loads(p.read_text()) for p in paths)
    comparison = rows[1]["comparison"]
    assert comparison["status"] == "compared" and "paired bootstrap" in comparison["method"]
    for name in ("mtl", "expr_f1", "au_f1", "valence"):
        assert comparison["metrics"][name]["delta"] == pytest.approx(second["metrics"][name] - first["metrics"][name])
    # an MTL file is recognised by its header when compare scores it on the spot
    assert compare.detect_prediction_track(tmp_path / "p1.txt") == "mtl"
    # same videos, other labels: the truth marginals tell
    edited = json.loads(paths[1].read_text())
    values = np.asarray(edited["statistics"]["values"], dtype=float)
    marginals = compare.truth_marginals("mtl", values)
    assert marginals.shape == (len(values), 6 + 8 + 12)
    va, expr, au = metrics.split_mtl_stats(values)
    assert np.array_equal(marginals[:, 6:14], expr.sum(axis=2))  # true class counts
    assert np.array_equal(marginals[:, 14:], au[:, :, 2] + au[:, :, 3])  # true positives per AU


# --------------------------------------------------------------- smaller branches


def test_track_spec_of_mtl():
    spec = track_spec("abaw7", "mtl")
    assert spec.header == HEADER and spec.n_values == 15 and spec.main_metric == "mtl"
    assert spec.metrics == ("mtl", "va_mean", "valence", "arousal", "expr_f1", "au_f1")
    with pytest.raises(ValueError, match="one invalid marker per part"):
        spec.invalid
    rule = spec.rule("present")
    assert rule.startswith("P_MTL = P_VA + P_EXPR + P_AU") and "present in truth or prediction" in rule
    assert "over all 8 classes / 8" in spec.rule("all") and "over all 12 AUs" in spec.rule("all")
    assert "0-7" in spec.value_description()


def test_file_names_tell_the_split():
    split = multitask._split_from_name
    assert split("train_set.txt") == "train" and split("Validation_Set.txt") == "validation"
    assert split("training_set_annotations.txt") == "train"
    assert split("validation_set_annotations.txt") == "validation"
    assert split("MTL.txt") == "test" and split("MTL_Challenge_test_set_release.txt") == "test"
    assert split("Multi_Task_Learning_Challenge_test_set_release.txt") == "test"
    assert split("my_train_part.txt") == "train" and split("val.txt") == "validation"
    assert split("holdout_test.txt") == "test" and split("predictions.txt") is None


def test_references_that_cannot_be_found_or_used(tmp_path):
    small_truth(tmp_path / "d")
    with pytest.raises(multitask.MtlError, match="no MTL test list found"):
        multitask.locate_mtl_test_list(tmp_path / "d", "abaw4")
    with pytest.raises(scoring.ScoringError, match="give the reference"):
        scoring.validate(tmp_path / "p.txt", "mtl", "abaw4")
    with pytest.raises(scoring.ScoringError, match="no MTL test list found"):
        scoring.validate(tmp_path / "p.txt", "mtl", "abaw4", data=tmp_path / "d", split="test")
    with pytest.raises(ValueError, match="role must be one of"):
        formats.read_mtl(tmp_path / "d" / "validation_set.txt", "answer")
    with pytest.raises(ValueError, match="124"):
        metrics.split_mtl_stats(np.zeros((2, 123)))


def test_a_ground_truth_without_labels_of_one_part_cannot_be_scored(tmp_path):
    small_truth(tmp_path / "d", rows=["a/00001.jpg,0.1,0.2,-1,0,1,0,0,0,0,1,0,0,0,0,0",
                                      "a/00002.jpg,0.3,0.1,-1,0,0,0,0,0,0,1,0,0,0,0,1"])
    prediction = write_predictions(tmp_path / "d" / "validation_set.txt", tmp_path / "p.txt", seed=0)
    with pytest.raises(scoring.ScoringError, match="no row has a valid EXPR label"):
        scoring.score(prediction, tmp_path / "d", "mtl", "abaw3")


def test_score_checks_the_submission_against_a_test_list_too(tmp_path):
    truth = small_truth(tmp_path / "d")
    prediction = write_predictions(truth, tmp_path / "p.txt", seed=0)
    images = [row[0] for row in read_rows(truth)]
    (tmp_path / "list.txt").write_text("\n".join([HEADER] + images) + "\n")
    result = scoring.score(prediction, tmp_path / "d", "mtl", "abaw3", resamples=0, template=tmp_path / "list.txt")
    assert result["metrics"]["mtl"] == pytest.approx(reference_scores(truth, prediction)["mtl"], abs=1e-9)
    (tmp_path / "short.txt").write_text("\n".join([HEADER] + images[:-1]) + "\n")
    with pytest.raises(FormatError, match="only images the reference lists \\(the test list"):
        scoring.score(prediction, tmp_path / "d", "mtl", "abaw3", resamples=0, template=tmp_path / "short.txt")


def test_resamples_without_a_part_are_left_out_of_the_interval(tmp_path):
    """AU labels in one video of four: a resample that does not draw it has no P_AU."""
    rng = np.random.default_rng(3)
    rows = []
    for v in range(4):
        for frame in range(1, 11):
            aus = ",".join(str(int(x)) for x in rng.random(12) < 0.4) if v == 0 else ",".join(["-1"] * 12)
            rows.append(f"v{v}/{frame:05d}.jpg,{rng.uniform(-1, 1):.3f},{rng.uniform(-1, 1):.3f},"
                        f"{rng.integers(0, 8)},{aus}")
    truth = small_truth(tmp_path / "d", rows=rows)
    prediction = write_predictions(truth, tmp_path / "p.txt", seed=4)
    result = scoring.score(prediction, tmp_path / "d", "mtl", "abaw3", resamples=100, seed=1)
    weights = scoring.bootstrap_weights(4, 100, 1)
    undefined = int((weights[:, 0] == 0).sum())
    assert 0 < undefined < 100
    assert any(f"{undefined} of 100 bootstrap resamples" in note for note in result["notes"])
    stats = np.asarray(result["statistics"]["values"], dtype=float)
    resampled = metrics.scores_from_stats("mtl", metrics.pool_mtl_stats(stats, weights[weights[:, 0] > 0]), False)
    assert result["ci95"]["mtl"] == pytest.approx(list(np.percentile(resampled["mtl"], [2.5, 97.5])), abs=1e-12)
    assert result["per_video"]["v1"]["au_f1"] is None and result["per_video"]["v0"]["au_f1"] is not None
    # counts are written as integers, the VA moments as numbers
    first = result["statistics"]["values"][0]
    assert all(isinstance(x, int) for x in first[12:]) and isinstance(first[1], float)
    assert "null" in result["per_video_rule"]


# ------------------------------------------ edges the second mutation run found untested


def _row(image: str, seed: int) -> str:
    rng = np.random.default_rng(seed)
    va = rng.uniform(-1, 1, 2)
    return f"{image},{va[0]:.3f},{va[1]:.3f},{int(rng.integers(0, 8))}," + ",".join(map(str, rng.integers(0, 2, 12)))


def test_many_listings_pair_kth_with_kth_whatever_the_images_order(tmp_path):
    # 40 images listed 3 times each (with other labels each time); the submission gives
    # them image by image in another order, each image's rows in listing order
    images = [f"v{i % 4}/{i + 1:05d}.jpg" for i in range(40)]
    truth = [_row(image, 1000 + 3 * i + k) for k in range(3) for i, image in enumerate(images)]
    small_truth(tmp_path / "d", rows=truth)
    order = np.random.default_rng(5).permutation(40)
    submission_rows = [_row(images[i], 7 + 3 * int(i) + k) for i in order for k in range(3)]
    (tmp_path / "p.txt").write_text("\n".join([HEADER] + submission_rows) + "\n")
    reference = formats.read_mtl(tmp_path / "d" / "validation_set.txt", "truth")
    submission = formats.read_mtl(tmp_path / "p.txt", "prediction")
    matched = multitask.match_rows(submission, reference, np.ones(len(reference), dtype=bool), "the truth")
    # by hand: reference row (k, i) is image i's k-th listing; its prediction is the k-th
    # submission row naming image i
    rows_of = {}
    for position, i in enumerate(np.repeat(order, 3)):
        rows_of.setdefault(int(i), []).append(position)
    expected = [rows_of[i][k] for k in range(3) for i in range(40)]
    assert matched.pairing.tolist() == expected
    assert (matched.in_order, matched.repeated_images, matched.repeated_rows) == (False, 40, 80)


def test_a_submission_in_the_truths_own_order_still_gets_the_repeated_images_note(tmp_path):
    rows = ["a/00001.jpg,0.1,0.2,3,0,1,0,0,0,0,1,0,0,0,0,0", "a/00002.jpg,-0.4,0.5,1,1,1,0,0,0,0,0,0,0,0,0,1",
            "a/00002.jpg,0.9,-0.7,4,0,0,0,1,0,0,0,0,1,0,0,0", "b/00003.jpg,0.3,-0.2,2,0,0,0,1,0,0,0,0,0,0,0,0"]
    small_truth(tmp_path / "d", rows=rows)
    (tmp_path / "p.txt").write_text("\n".join([HEADER] + rows) + "\n")
    result = scoring.score(tmp_path / "p.txt", tmp_path / "d", "mtl", "abaw4", resamples=0)
    assert result["notes"] == ["the ground truth lists 1 image(s) more than once (1 extra row(s)); each listing is a "
                               "row of its own"]
    assert result["format"] == "mtl" and result["metrics"]["va_mean"] == pytest.approx(1.0)  # the truth itself


def test_the_first_uneven_image_in_file_order_is_named(tmp_path):
    a, b = "a/00001.jpg,0.1,0.2,3,0,1,0,0,0,0,1,0,0,0,0,0", "a/00002.jpg,0.3,0.4,1,0,0,0,0,0,0,0,0,0,0,0,1"
    small_truth(tmp_path / "d", rows=[a, a, a, b, b, b])
    (tmp_path / "p.txt").write_text("\n".join([HEADER, a, a, b, b]) + "\n")
    with pytest.raises(FormatError) as caught:
        scoring.score(tmp_path / "p.txt", tmp_path / "d", "mtl", "abaw4", resamples=0)
    assert str(caught.value) == (f"{tmp_path / 'p.txt'}:3: expected 'a/00001.jpg' once or 3 times, as often as the "
                                 "reference lists it, found 2 times")


def test_truth_notes_count_exactly_the_rows_they_describe(tmp_path):
    rows = ["a/00001.jpg,-5,0.2,3,0,1,0,0,0,0,1,0,0,0,0,0",  # -5 in valence only
            "a/00002.jpg,0.4,-5,1,1,1,0,0,0,0,0,0,0,0,0,1",  # -5 in arousal only
            "a/00003.jpg,-5,-5,4,0,0,0,1,0,0,0,0,1,0,0,0",  # no VA at all: not "one column only"
            "a/00007.jpg,-5,-5,4,0,0,0,1,0,0,0,0,1,0,0,0",  # (twice, so that no other count comes to 2)
            "a/00004.jpg,0.3,-0.2,2,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1",  # no AU at all: not "some AUs"
            "a/00005.jpg,0.3,-0.2,2,-1,0,0,0,0,0,0,0,0,0,0,1",  # AU1 missing only
            "a/00006.jpg,0.5,0.1,0,1,0,0,0,0,0,0,0,0,0,0,0"]
    small_truth(tmp_path / "d", rows=rows)
    reference = formats.read_mtl(tmp_path / "d" / "validation_set.txt", "truth")
    assert multitask.truth_notes(reference) == [
        "2 ground-truth row(s) have -5 in one VA column only: their VA is dropped as a whole (HSE, CNU_Sclab, DMACS "
        "code); AIM3-RUC's keeps the other column",
        "1 ground-truth row(s) have -1 in some AUs only: their AUs are dropped as a whole"]


@pytest.mark.parametrize("part, column", [("VA", 1), ("EXPR", 3), ("AU", 4)])
def test_a_truth_without_one_part_names_it(tmp_path, part, column):
    marker = {"VA": "-5", "EXPR": "-1", "AU": "-1"}[part]
    rows = []
    for i in range(3):
        cells = f"a/{i + 1:05d}.jpg,0.{i},0.{i + 1},{i},1,0,0,0,0,0,0,0,0,0,0,{i % 2}".split(",")
        cells[column] = marker
        if part == "AU":
            cells[4:] = ["-1"] * 12
        rows.append(",".join(cells))
    truth = small_truth(tmp_path / "d", rows=rows)
    (tmp_path / "p.txt").write_text("\n".join([HEADER] + rows) + "\n")
    with pytest.raises(scoring.ScoringError) as caught:
        scoring.score(tmp_path / "p.txt", tmp_path / "d", "mtl", "abaw4", resamples=0)
    assert str(caught.value) == f"{truth}: no row has a valid {part} label: P_MTL needs all three parts"


def test_notes_with_a_template_keep_the_truths_and_the_headers(tmp_path):
    rows = ["a/00001.jpg,-5,0.2,3,0,1,0,0,0,0,1,0,0,0,0,0", "a/00002.jpg,0.4,0.3,1,1,1,0,0,0,0,0,0,0,0,0,1",
            "a/00003.jpg,0.1,-0.3,4,0,0,0,1,0,0,0,0,1,0,0,0"]
    small_truth(tmp_path / "d", rows=rows)
    template = tmp_path / "list.txt"
    template.write_text("\n".join([HEADER] + [row.split(",")[0] for row in rows]) + "\n")
    long_header = "image,valence,arousal,expression," + ",".join(AUS)
    (tmp_path / "p.txt").write_text("\n".join([long_header] + [row.replace("-5", "0.5") for row in rows]) + "\n")
    result = scoring.score(tmp_path / "p.txt", tmp_path / "d", "mtl", "abaw4", resamples=0, template=template)
    assert result["notes"] == [
        "1 ground-truth row(s) have -5 in one VA column only: their VA is dropped as a whole (HSE, CNU_Sclab, DMACS "
        "code); AIM3-RUC's keeps the other column",
        "the submission's header names all 16 fields; the organisers' test lists and participants' files use "
        "'image,valence,arousal,expression,aus'"]


def test_validate_mtl_defaults_to_the_validation_split_and_names_its_reference(tmp_path):
    rows = ["a/00001.jpg,0.1,0.2,3,0,1,0,0,0,0,1,0,0,0,0,0", "a/00002.jpg,0.4,0.3,1,1,1,0,0,0,0,0,0,0,0,0,1"]
    truth = small_truth(tmp_path / "d", rows=rows)
    (tmp_path / "p.txt").write_text("\n".join([HEADER] + rows) + "\n")
    summary = multitask.validate_mtl(tmp_path / "p.txt", "abaw7", data=tmp_path / "d")
    assert summary["reference"] == f"the ground truth in {truth}" and summary["n_rows"] == 2
    (tmp_path / "q.txt").write_text("\n".join([HEADER, rows[0], "a/00009.jpg,0.1,0.2,3,0,1,0,0,0,0,1,0,0,0,0,0"]))
    with pytest.raises(FormatError) as caught:
        multitask.validate_mtl(tmp_path / "q.txt", "abaw7", data=tmp_path / "d")
    assert str(caught.value) == (f"{tmp_path / 'q.txt'}:3: expected only images the reference lists (the ground truth "
                                 f"in {truth}), found 'a/00009.jpg', which it does not list")


def test_several_test_lists_are_named_in_the_error(tmp_path):
    for name in ("first.txt", "second.txt"):
        (tmp_path / name).write_text(f"{HEADER}\na/00001.jpg\n")
    with pytest.raises(multitask.MtlError) as caught:
        multitask.locate_mtl_test_list(tmp_path, "abaw4")
    assert str(caught.value) == (f"{tmp_path}: several MTL test list files ({tmp_path / 'first.txt'}; "
                                 f"{tmp_path / 'second.txt'}); pass --data the folder of the one to use")


def test_a_submission_one_byte_over_its_bound_is_refused_before_reading(tmp_path):
    # bound: 64 KiB + rows × (longest video name + len('/00001.jpg,') + 15 fields × 64 bytes)
    rows = ["abc/00001.jpg,0.1,0.2,3,0,1,0,0,0,0,1,0,0,0,0,0", "abc/00002.jpg,0.4,0.3,1,1,1,0,0,0,0,0,0,0,0,0,1"]
    small_truth(tmp_path / "d", rows=rows)
    per_row = 3 + len("/00001.jpg,") + 15 * 64
    bound = 64 * 1024 + 2 * per_row
    body = "\n".join([HEADER] + rows) + "\n"
    (tmp_path / "p.txt").write_text(body + " " * (bound + 1 - len(body)))
    with pytest.raises(FormatError) as caught:
        scoring.score(tmp_path / "p.txt", tmp_path / "d", "mtl", "abaw4", resamples=0)
    assert str(caught.value) == (f"{tmp_path / 'p.txt'}: expected a file of at most {bound:,} bytes (the reference "
                                 f"has 2 rows of at most {per_row} bytes), found {bound + 1:,} bytes")


@pytest.mark.parametrize("role, header, row, message", [
    ("prediction", HEADER, "a/00001.jpg", "2: expected 15 value(s) after the image_location, found 'a/00001.jpg'"),
    ("prediction", HEADER, "a/00001.jpg,0.1,0.2,3,x,0,0,0,0,0,0,0,0,0,0,0", "2: expected an integer (AU1), found 'x'"),
    ("prediction", HEADER, "a/00001.jpg,0.1,0.2,3,,0,0,0,0,0,0,0,0,0,0,0",
     "2: expected an integer (AU1), found an empty field"),
    ("truth", HEADER, "a/00001.jpg,0.1,0.2,3,0,2,0,0,0,0,0,0,0,0,0,0",
     "2: expected AU2 0 or 1, or -1 for no label, found 'a/00001.jpg,0.1,0.2,3,0,2,0,0,0,0,0,0,0,0,0,0'"),
    ("truth", HEADER, "a/00001.jpg,0.1,0.2,9,0,0,0,0,0,0,0,0,0,0,0,0",
     "2: expected expression an integer class id 0-7, or -1 for no label, "
     "found 'a/00001.jpg,0.1,0.2,9,0,0,0,0,0,0,0,0,0,0,0,0'"),
    ("truth", HEADER, "a/00001.jpg,0.1,1.5,1,0,0,0,0,0,0,0,0,0,0,0,0",
     "2: expected arousal a number in [-1, 1], or -5 for no label, "
     "found 'a/00001.jpg,0.1,1.5,1,0,0,0,0,0,0,0,0,0,0,0,0'"),
    ("prediction", "Image,Valence,Arousal,Expression,AUs", "a/00001.jpg,0.1,0.2,3,0,0,0,0,0,0,0,0,0,0,0,0",
     "1: expected the header 'image,valence,arousal,expression,aus' (or one naming all 16 fields), found "
     "'Image,Valence,Arousal,Expression,AUs' (only the letter case differs: submissions spell it "
     "'image,valence,arousal,expression,aus')"),
    ("truth", "picture,v,a", "a/00001.jpg,0.1,0.2,3,0,0,0,0,0,0,0,0,0,0,0,0",
     "1: expected the header 'image,valence,arousal,expression,aus' (or one naming all 16 fields), found "
     "'picture,v,a'"),
])
def test_mtl_reading_errors_are_whole(tmp_path, role, header, row, message):
    path = tmp_path / "f.txt"
    path.write_text(f"{header}\n{row}\n")
    with pytest.raises(FormatError) as caught:
        formats.read_mtl(path, role)
    assert str(caught.value) == f"{path}:{message}"


def _two_videos_with_different_parts(folder: Path) -> Path:
    """Video a has only EXPR labels, video b only VA and AU labels (10 frames each)."""
    rng = np.random.default_rng(11)
    rows = [f"a/{k:05d}.jpg,-5,-5,{int(rng.integers(0, 8))}," + ",".join(["-1"] * 12) for k in range(1, 11)]
    rows += [f"b/{k:05d}.jpg,{rng.uniform(-1, 1):.3f},{rng.uniform(-1, 1):.3f},-1,"
             + ",".join(str(int(x)) for x in rng.random(12) < 0.4) for k in range(1, 11)]
    small_truth(folder, rows=rows)
    return write_predictions(folder / "validation_set.txt", folder.parent / "p.txt", seed=12)


def test_resamples_that_miss_a_part_are_counted_and_left_out_of_the_interval(tmp_path):
    prediction = _two_videos_with_different_parts(tmp_path / "d")
    result = scoring.score(prediction, tmp_path / "d", "mtl", "abaw4", resamples=200, seed=3)
    # a resample has every part only when it draws both videos (each drawn twice: one of them)
    draws = scoring.bootstrap_weights(2, 200, 3)
    missing = int((draws.min(axis=1) == 0).sum())
    assert 0 < missing < 200
    assert f"{missing} of 200 bootstrap resamples drew no video with a valid label of some part: the interval " \
           "is over the other resamples" in result["notes"]
    assert set(result["ci95"]) == set(result["metrics"])
    # a seed whose few resamples never draw both videos: no interval at all, and no error
    seed = next(s for s in range(100) if (scoring.bootstrap_weights(2, 3, s).min(axis=1) == 0).all())
    none = scoring.score(prediction, tmp_path / "d", "mtl", "abaw4", resamples=3, seed=seed)
    assert none["ci95"] == {} and "3 of 3 bootstrap resamples drew no video" in " ".join(none["notes"])


def test_rows_the_fast_reader_passes_on_are_refused_word_for_word(tmp_path):
    """Rows the vectorised reader leaves to the line-by-line one (bytes that are not
    UTF-8, a field short, non-finite numbers, integers past 2**62, spaces), each the
    second row of a prediction file, so line 3."""
    good = "v/00001.jpg,0.1,0.2,3,0,1,0,1,1,0,0,0,1,0,1,0\n"
    path = tmp_path / "p.txt"

    def refusal(row: bytes) -> str:
        path.write_bytes(f"{HEADER}\n{good}".encode() + row)
        with pytest.raises(formats.FormatError) as caught:
            formats.read_mtl(path, "prediction")
        return str(caught.value)

    aus = "1,0,1,1,0,0,0,1,0,1,0"  # AU2 to AU26
    assert refusal(f"v/00002.jpg,0.1,0.2,3,".encode() + b"\xff," + aus.encode() + b"\n") == \
        f"{path}:3: expected UTF-8 text, found bytes that are not UTF-8"
    assert refusal(b"v/00002.jpg,0.1,0.2,3,0,1,0,1,1,0,0,0,1,0,1\n") == \
        f"{path}:3: expected 16 comma-separated fields (the image, valence, arousal, expression and 12 AUs), found 15"
    for cell, column in [("+inf", "valence"), ("nan", "valence"), ("-Infinity", "arousal"), ("INF", "arousal")]:
        row = f"v/00002.jpg,0.1,0.2,3,0,{aus}\n".replace("0.1", cell) if column == "valence" else \
            f"v/00002.jpg,0.1,0.2,3,0,{aus}\n".replace("0.2", cell)
        assert refusal(row.encode()) == f"{path}:3: expected a finite number ({column}), found '{cell}'"
    too_large = str(2**62 + 1)  # as a float it would round to 2**62, the largest integer taken
    assert refusal(f"v/00002.jpg,0.1,0.2,3,{too_large},{aus}\n".encode()) == \
        f"{path}:3: expected an integer (AU1), found '{too_large}'"
    largest = f"v/00002.jpg,0.1,0.2,3,{2**62},{aus}"
    assert refusal(f"{largest}\n".encode()) == f"{path}:3: expected AU1 0 or 1, found '{largest}'"
    # spaces around the cells are read past, the values are the same
    path.write_text(f"{HEADER}\n{good}v/00002.jpg, 0.1 , 0.2,3, 0,{aus}\n")
    rows = formats.read_mtl(path, "prediction")
    assert rows.values.tolist() == [[0.1, 0.2, 3, 0, 1, 0, 1, 1, 0, 0, 0, 1, 0, 1, 0]] * 2


def test_read_mtl_refuses_no_rows_a_bad_role_and_quotes_long_rows_to_120_characters(tmp_path):
    path = tmp_path / "p.txt"
    path.write_text(f"{HEADER}\n")
    with pytest.raises(formats.FormatError) as caught:
        formats.read_mtl(path, "prediction")
    assert str(caught.value) == f"{path}:2: expected one row per image after the header, found no rows"
    with pytest.raises(ValueError) as caught:
        formats.read_mtl(path, "answer")
    assert str(caught.value) == "role must be one of truth, prediction, template"
    long_row = f"{'v' * 150}/00001.jpg,0.1,0.2,9,0,1,0,1,1,0,0,0,1,0,1,0"
    path.write_text(f"{HEADER}\n{long_row}\n")
    with pytest.raises(formats.FormatError) as caught:
        formats.read_mtl(path, "prediction")
    assert str(caught.value) == f"{path}:2: expected expression an integer class id 0-7, found '{long_row[:119]}…'"


def test_mtl_statistics_of_interleaved_videos_are_each_videos_rows_in_file_order():
    """Ground truth whose videos interleave (rows a, b, a, b, …) is grouped by video with a
    stable sort: each video's statistics are those of its own rows in file order, bit for
    bit (the VA moments are float sums, whose last bits depend on the order)."""
    rng = np.random.default_rng(3)
    n = 80
    video = np.tile([0, 1], n // 2)

    def rows():
        return np.column_stack([np.round(rng.uniform(-1, 1, (n, 2)), 6), rng.integers(0, 8, (n, 1)),
                                rng.integers(0, 2, (n, 12))]).astype(np.float64)

    truth, prediction = rows(), rows()
    spec = track_spec("abaw4", "mtl")
    stats, labelled = multitask.mtl_video_statistics(spec, truth, prediction, video, 2)
    in_file_order = np.concatenate([np.flatnonzero(video == 0), np.flatnonzero(video == 1)])
    t, p, lengths = truth[in_file_order], prediction[in_file_order], np.array([n // 2, n // 2])
    va, _ = scoring.video_statistics(track_spec("abaw4", "va"), t[:, :2], p[:, :2], lengths)
    expr, _ = scoring.video_statistics(track_spec("abaw4", "expr"), t[:, 2:3].astype(np.int64),
                                       p[:, 2:3].astype(np.int64), lengths)
    au, _ = scoring.video_statistics(track_spec("abaw4", "au"), t[:, 3:].astype(np.int64), p[:, 3:].astype(np.int64),
                                     lengths)
    assert np.array_equal(stats, metrics.join_mtl_stats(va, expr, au))
    assert labelled.tolist() == [n // 2, n // 2]


def test_an_mtl_submission_given_as_a_folder_is_refused_by_name(tmp_path):
    """The MTL track takes one file: a folder (the uni-task tracks' per-video layout) is named as such."""
    template = tmp_path / "list.txt"
    template.write_text("image,valence,arousal,expression,aus\na/00001.jpg,\n")
    folder = tmp_path / "predictions"
    folder.mkdir()
    with pytest.raises(FormatError) as caught:
        multitask.validate_mtl(folder, "abaw4", template=template)
    assert str(caught.value) == (f"{folder}: expected one MTL file (header 'image,valence,arousal,expression,aus'), "
                                 "found a folder")
