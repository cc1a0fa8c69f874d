"""score_mtl's result: the keys and values it writes, the notes, the F1 rule it passes on,
its defaults and its errors, each against expectations written out by hand (scikit-learn
for the F1 values)."""

from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import f1_score

from abawbench import multitask, scoring
from abawbench.formats import FormatError

HEADER = "image,valence,arousal,expression,aus"
LONG_HEADER = "image,valence,arousal,expression,AU1,AU2,AU4,AU6,AU7,AU10,AU12,AU15,AU23,AU24,AU25,AU26"
NO_AU = ",".join(["-1"] * 12)

# two videos; a/00003 has an EXPR label only, b/00001 a VA label only
TRUTH = ["a/00001.jpg,0.1,0.2,3,0,1,0,0,0,0,1,0,0,0,0,0",
         "a/00002.jpg,-0.4,0.5,1,1,1,0,0,0,0,0,0,0,0,0,1",
         f"a/00003.jpg,-5,-5,2,{NO_AU}",
         f"b/00001.jpg,0.3,-0.2,-1,{NO_AU}",
         "b/00002.jpg,0.7,0.1,3,0,0,0,1,0,0,0,0,0,0,0,0",
         "b/00003.jpg,-0.2,-0.6,1,0,0,0,1,0,0,1,0,0,0,0,0"]
PREDICTION = ["a/00001.jpg,0.2,0.1,3,0,1,0,0,0,0,0,0,0,0,0,0",
              "a/00002.jpg,-0.3,0.4,2,1,0,0,0,0,0,0,0,0,0,0,1",
              "a/00003.jpg,0.0,0.0,2,0,0,0,0,0,0,0,0,0,0,0,0",
              "b/00001.jpg,0.1,-0.1,0,0,0,0,0,0,0,0,0,0,0,0,0",
              "b/00002.jpg,0.5,0.2,3,0,0,0,1,0,0,0,0,0,0,0,0",
              "b/00003.jpg,-0.1,-0.5,5,0,0,0,0,0,0,1,0,0,0,0,0"]
SHUFFLED = [PREDICTION[i] for i in (4, 0, 5, 2, 1, 3)]


def _write(path: Path, header: str, rows: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([header] + rows) + "\n")
    return path


def _present_f1(truth_expr, pred_expr, truth_au, pred_au) -> tuple[float, float]:
    """EXPR macro F1 and mean AU F1 by scikit-learn's rule (classes/AUs in truth or prediction)."""
    expr = f1_score(truth_expr, pred_expr, average="macro")
    truth_au, pred_au = np.array(truth_au), np.array(pred_au)
    present = [a for a in range(12) if truth_au[:, a].any() or pred_au[:, a].any()]
    au = float(np.mean([f1_score(truth_au[:, a], pred_au[:, a]) for a in present]))
    return expr, au


def _au(row: str) -> list[int]:
    return [int(x) for x in row.split(",")[4:]]


def test_result_states_split_resamples_seed_rule_files_and_parts(tmp_path):
    """A train-split score with 20 resamples, seed 7 and the 'present' F1 rule, a shuffled
    submission, a test list and a ground truth whose header names all 16 fields."""
    truth = _write(tmp_path / "d" / "train_set.txt", LONG_HEADER, TRUTH)
    template = _write(tmp_path / "list.txt", HEADER, [row.split(",")[0] for row in TRUTH])
    prediction = _write(tmp_path / "p.txt", HEADER, SHUFFLED)
    result = multitask.score_mtl(prediction, tmp_path / "d", "abaw4", split="train", resamples=20, seed=7,
                                 template=template, f1_average="present")
    assert list(result) == ["track", "edition", "split", "n_videos", "n_frames", "metrics", "per_video", "ci95",
                            "main_metric", "f1_average", "rule", "per_video_rule", "bootstrap", "notes", "format",
                            "predictions", "ground_truth", "parts", "statistics"]
    assert {key: result[key] for key in ("track", "edition", "split", "n_videos", "n_frames", "main_metric",
                                         "f1_average", "bootstrap", "format", "predictions", "ground_truth",
                                         "parts")} == {
        "track": "mtl", "edition": "abaw4", "split": "train", "n_videos": 2, "n_frames": 6, "main_metric": "mtl",
        "f1_average": "present",
        "bootstrap": {"resamples": 20, "seed": 7, "unit": "video", "interval": "percentile 2.5-97.5"},
        "format": "mtl", "predictions": str(prediction), "ground_truth": str(truth),
        "parts": {"va": {"rows": 5}, "expr": {"rows": 5}, "au": {"rows": 4}, "rows": 6, "rows_with_a_label": 6}}
    assert result["notes"] == [
        f"the ground truth's header is '{LONG_HEADER}'",
        "the submission's rows are not in the test list's order: matched by image name (whether the organisers "
        "require the order is not known)",
        "the submission's rows are not in the ground truth's order: matched by image name (whether the organisers "
        "require the order is not known)"]
    assert set(result["ci95"]) == {"mtl", "va_mean", "valence", "arousal", "expr_f1", "au_f1"}


def test_the_present_f1_rule_reaches_pooled_and_per_video_scores(tmp_path):
    """f1_average='present' gives scikit-learn's macro F1 (classes in truth or prediction),
    pooled and per video; the papers' 'all' rule would divide by 8 classes and 12 AUs."""
    _write(tmp_path / "d" / "validation_set.txt", HEADER, TRUTH)
    prediction = _write(tmp_path / "p.txt", HEADER, PREDICTION)
    result = multitask.score_mtl(prediction, tmp_path / "d", "abaw3", resamples=0, f1_average="present")
    # EXPR rows (truth != -1): a/1-3, b/2-3; AU rows: a/1-2, b/2-3
    expr, au = _present_f1([3, 1, 2, 3, 1], [3, 2, 2, 3, 5], [_au(TRUTH[i]) for i in (0, 1, 4, 5)],
                           [_au(PREDICTION[i]) for i in (0, 1, 4, 5)])
    assert result["metrics"]["expr_f1"] == pytest.approx(expr, abs=1e-12)
    assert result["metrics"]["au_f1"] == pytest.approx(au, abs=1e-12)
    expr_a, au_a = _present_f1([3, 1, 2], [3, 2, 2], [_au(TRUTH[0]), _au(TRUTH[1])],
                               [_au(PREDICTION[0]), _au(PREDICTION[1])])
    expr_b, au_b = _present_f1([3, 1], [3, 5], [_au(TRUTH[4]), _au(TRUTH[5])],
                               [_au(PREDICTION[4]), _au(PREDICTION[5])])
    assert result["per_video"]["a"]["expr_f1"] == pytest.approx(expr_a, abs=1e-12)
    assert result["per_video"]["a"]["au_f1"] == pytest.approx(au_a, abs=1e-12)
    assert result["per_video"]["b"]["expr_f1"] == pytest.approx(expr_b, abs=1e-12)
    assert result["per_video"]["b"]["au_f1"] == pytest.approx(au_b, abs=1e-12)
    # by hand: F1 of classes 1, 2, 3, 5 is 0, 2/3, 1, 0; over the 4 present classes 5/12 (over all 8: 5/24)
    assert result["metrics"]["expr_f1"] == pytest.approx(5 / 12, abs=1e-12)


def test_defaults_are_the_validation_split_1000_resamples_and_seed_0(tmp_path):
    truth = _write(tmp_path / "d" / "validation_set.txt", HEADER, TRUTH)
    prediction = _write(tmp_path / "p.txt", HEADER, PREDICTION)
    result = multitask.score_mtl(prediction, tmp_path / "d", "abaw4")
    assert (result["split"], result["ground_truth"], result["f1_average"]) == ("validation", str(truth), "all")
    assert result["bootstrap"] == {"resamples": 1000, "seed": 0, "unit": "video", "interval": "percentile 2.5-97.5"}
    assert result["notes"] == []


def test_a_missing_ground_truth_is_a_scoring_error_word_for_word(tmp_path):
    (tmp_path / "d").mkdir()
    prediction = _write(tmp_path / "p.txt", HEADER, PREDICTION)
    with pytest.raises(scoring.ScoringError) as caught:
        multitask.score_mtl(prediction, tmp_path / "d", "abaw4", resamples=0)
    assert str(caught.value) == (
        f"{tmp_path / 'd'}: no MTL ground truth for the validation split (looked for .txt files starting with the "
        "header 'image,valence,arousal,expression,aus' whose rows carry 16 fields, named for their split, ABAW4: "
        "training_set_annotations.txt or validation_set_annotations.txt); MTL files found: none")


def test_an_image_the_ground_truth_lacks_names_the_ground_truth_file(tmp_path):
    truth = _write(tmp_path / "d" / "validation_set.txt", HEADER, TRUTH)
    prediction = _write(tmp_path / "p.txt", HEADER,
                        PREDICTION[:2] + ["a/00009.jpg,0.1,0.2,3,0,1,0,0,0,0,1,0,0,0,0,0"] + PREDICTION[2:])
    with pytest.raises(FormatError) as caught:
        multitask.score_mtl(prediction, tmp_path / "d", "abaw4", resamples=0)
    assert str(caught.value) == (f"{prediction}:4: expected only images the reference lists (the ground truth "
                                 f"{truth}), found 'a/00009.jpg', which it does not list")


def test_a_test_list_over_the_truths_size_bound_is_refused_before_reading(tmp_path):
    """The test list is read under the submission's bound: 64 KiB + 6 rows × (1 + len('/00001.jpg,') + 15 × 64)."""
    _write(tmp_path / "d" / "validation_set.txt", HEADER, TRUTH)
    prediction = _write(tmp_path / "p.txt", HEADER, PREDICTION)
    per_row = 1 + 11 + 15 * 64
    bound = 64 * 1024 + 6 * per_row
    assert (per_row, bound) == (972, 71368)
    body = "\n".join([HEADER] + [row.split(",")[0] for row in TRUTH]) + "\n"
    template = tmp_path / "list.txt"
    template.write_text(body + " " * (bound + 1 - len(body)))
    with pytest.raises(FormatError) as caught:
        multitask.score_mtl(prediction, tmp_path / "d", "abaw4", resamples=0, template=template)
    assert str(caught.value) == (f"{template}: expected a file of at most 71,368 bytes (the reference has 6 rows of "
                                 "at most 972 bytes), found 71,369 bytes")
