"""Scoring end to end against independent recomputation with scikit-learn and NumPy."""

import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score

from abawbench import formats, scoring
from abawbench.formats import FormatError
from abawbench.tracks import AU_NAMES_8, track_spec

from test_metrics import reference_ccc

EXAMPLES = Path(__file__).resolve().parent.parent / "submissions"


def make_truth_and_predictions(root: Path, edition: str, track: str, n_videos: int = 8, seed: int = 0,
                               folder: str = "annotations/{track}_Set/Validation_Set"):
    """Random ground truth with invalid runs, and noisy predictions, both per-video."""
    rng = np.random.default_rng(seed)
    spec = track_spec(edition, track)
    truths, predictions = {}, {}
    for i in range(n_videos):
        n = int(rng.integers(20, 120))
        if track == "expr":
            truth = rng.integers(0, spec.n_classes, size=(n, 1))
            prediction = np.where(rng.random((n, 1)) < 0.5, truth, rng.integers(0, spec.n_classes, size=(n, 1)))
        elif track == "va":
            truth = np.round(rng.uniform(-1, 1, size=(n, 2)), 3)
            prediction = np.round(np.clip(truth + rng.normal(0, 0.4, size=(n, 2)), -1, 1), 3)
        else:
            truth = (rng.random((n, len(spec.columns))) < 0.3).astype(int)
            prediction = np.where(rng.random(truth.shape) < 0.25, 1 - truth, truth)
        start = int(rng.integers(0, n - 5))
        truth[start: start + int(rng.integers(0, 5))] = spec.invalid
        truths[f"{i}-30-640x480"] = truth
        predictions[f"{i}-30-640x480"] = prediction
    gt_folder = root / "data" / folder.format(track=track.upper())
    formats.write_per_video(gt_folder, spec, truths)
    formats.write_per_video(root / "pred", spec, predictions)
    return spec, truths, predictions


def valid_frames(spec, truths, predictions):
    keep = [~(t == spec.invalid).any(axis=1) for t in truths.values()]
    truth = np.concatenate([t[k] for t, k in zip(truths.values(), keep)])
    prediction = np.concatenate([p[k] for p, k in zip(predictions.values(), keep)])
    return truth, prediction


@pytest.mark.parametrize("edition", ["abaw2", "abaw6"])
def test_expr_pooled_and_per_video_equal_sklearn(tmp_path, edition):
    spec, truths, predictions = make_truth_and_predictions(tmp_path, edition, "expr")
    result = scoring.score(tmp_path / "pred", tmp_path / "data", "expr", edition, resamples=0)
    truth, prediction = valid_frames(spec, truths, predictions)
    f1 = f1_score(truth[:, 0], prediction[:, 0], average="macro")
    acc = accuracy_score(truth[:, 0], prediction[:, 0])
    assert result["metrics"]["f1"] == pytest.approx(f1, abs=1e-12)
    assert result["metrics"]["acc"] == pytest.approx(acc, abs=1e-12)
    if edition == "abaw2":
        assert result["main_metric"] == "criterion"
        assert result["metrics"]["criterion"] == pytest.approx(0.67 * f1 + 0.33 * acc, abs=1e-12)
    else:
        assert result["main_metric"] == "f1" and "criterion" not in result["metrics"]
    assert result["n_frames"] == len(truth) and result["n_videos"] == len(truths)
    for video, entry in result["per_video"].items():
        keep = truths[video][:, 0] != -1
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = f1_score(truths[video][keep, 0], predictions[video][keep, 0], average="macro")
        assert entry["f1"] == pytest.approx(expected, abs=1e-12)
        assert entry["n_frames"] == keep.sum()


def test_va_pooled_ccc_is_over_all_frames_not_mean_of_videos(tmp_path):
    spec, truths, predictions = make_truth_and_predictions(tmp_path, "abaw2", "va")
    result = scoring.score(tmp_path / "pred", tmp_path / "data", "va", resamples=0)
    truth, prediction = valid_frames(spec, truths, predictions)
    valence = reference_ccc(prediction[:, 0], truth[:, 0])
    arousal = reference_ccc(prediction[:, 1], truth[:, 1])
    assert result["metrics"]["valence"] == pytest.approx(valence, abs=1e-9)
    assert result["metrics"]["arousal"] == pytest.approx(arousal, abs=1e-9)
    assert result["metrics"]["mean"] == pytest.approx((valence + arousal) / 2, abs=1e-9)
    per_video_mean = np.mean([e["valence"] for e in result["per_video"].values()])
    assert abs(per_video_mean - valence) > 1e-6  # pooling differs from averaging videos


def test_au_scores_equal_sklearn_in_both_eras(tmp_path):
    spec, truths, predictions = make_truth_and_predictions(tmp_path, "abaw2", "au")
    truth, prediction = valid_frames(spec, truths, predictions)
    f1 = np.mean([f1_score(truth[:, a], prediction[:, a], zero_division=0) for a in range(12)])
    acc = np.mean(truth == prediction)
    old = scoring.score(tmp_path / "pred", tmp_path / "data", "au", "abaw2", resamples=0)
    new = scoring.score(tmp_path / "pred", tmp_path / "data", "au", "abaw5", resamples=0)
    assert old["metrics"]["criterion"] == pytest.approx(0.5 * f1 + 0.5 * acc, abs=1e-12)
    assert new["metrics"]["f1"] == pytest.approx(f1, abs=1e-12)
    assert new["main_metric"] == "f1"


def naive_bootstrap_interval(truths, predictions, resamples, rng):
    """The textbook video bootstrap, written apart from the code: draw as many videos as
    there are, with replacement (this test's own generator), concatenate their valid
    frames, recompute the mean CCC from frames; percentile 2.5-97.5."""
    spec = track_spec("abaw2", "va")
    videos = [valid_frames(spec, {v: truths[v]}, {v: predictions[v]}) for v in truths]
    means = []
    for _ in range(resamples):
        drawn = rng.integers(0, len(videos), size=len(videos))
        truth = np.concatenate([videos[d][0] for d in drawn])
        prediction = np.concatenate([videos[d][1] for d in drawn])
        means.append((reference_ccc(prediction[:, 0], truth[:, 0]) + reference_ccc(prediction[:, 1], truth[:, 1])) / 2)
    return np.percentile(means, [2.5, 97.5])


def varied_va_videos(root: Path, n_videos: int = 10, seed: int = 3):
    """VA videos whose prediction quality differs from video to video (noise 0.1 … 0.9),
    so that which videos a resample draws moves the score."""
    rng = np.random.default_rng(seed)
    spec = track_spec("abaw2", "va")
    truths, predictions = {}, {}
    for i, noise in enumerate(np.linspace(0.1, 0.9, n_videos)):
        n = int(rng.integers(30, 80))
        truth = np.round(rng.uniform(-1, 1, size=(n, 2)), 3)
        truths[f"{i}-30-640x480"] = truth
        predictions[f"{i}-30-640x480"] = np.round(np.clip(truth + rng.normal(0, noise, size=(n, 2)), -1, 1), 3)
    formats.write_per_video(root / "data" / "annotations" / "VA_Set" / "Validation_Set", spec, truths)
    formats.write_per_video(root / "pred", spec, predictions)
    return truths, predictions


def test_bootstrap_interval_agrees_with_a_naive_resampler_of_its_own(tmp_path):
    truths, predictions = varied_va_videos(tmp_path)
    result = scoring.score(tmp_path / "pred", tmp_path / "data", "va", resamples=3000, seed=7)
    low, high = result["ci95"]["mean"]
    naive_low, naive_high = naive_bootstrap_interval(truths, predictions, 3000, np.random.default_rng(12345))
    width = naive_high - naive_low
    assert width > 0.05  # the data make a real interval
    assert low < result["metrics"]["mean"] < high  # not collapsed onto the point estimate
    # two Monte Carlo estimates of one interval: the endpoints agree to a fraction of its width
    assert low == pytest.approx(naive_low, abs=0.2 * width)
    assert high == pytest.approx(naive_high, abs=0.2 * width)
    assert high - low == pytest.approx(width, rel=0.25)


def test_bootstrap_seed_changes_the_interval_and_reproduces_it(tmp_path):
    varied_va_videos(tmp_path)
    by_seed = {seed: scoring.score(tmp_path / "pred", tmp_path / "data", "va", resamples=200, seed=seed)["ci95"]
               for seed in (0, 1)}
    assert by_seed[0] != by_seed[1]
    again = scoring.score(tmp_path / "pred", tmp_path / "data", "va", resamples=200, seed=1)
    assert again["ci95"] == by_seed[1] and again["bootstrap"]["seed"] == 1


def test_bootstrap_weights_are_draws_of_videos_with_replacement():
    # multinomial(n, 1/n): each row sums to n; each count has mean 1 and variance 1 - 1/n
    weights = scoring.bootstrap_weights(8, 4000, 0)
    assert weights.shape == (4000, 8) and (weights.sum(axis=1) == 8).all()
    assert weights.mean() == pytest.approx(1.0, abs=0.03)
    assert weights.var(axis=0) == pytest.approx(np.full(8, 1 - 1 / 8), abs=0.08)
    assert (weights == 0).mean() == pytest.approx((7 / 8) ** 8, abs=0.02)  # a video left out


def test_a_frame_with_minus_five_in_one_va_column_is_not_scored(tmp_path):
    """abaw-formats.md: VA frames are dropped when −5 is in *either* column."""
    spec = track_spec("abaw2", "va")
    rng = np.random.default_rng(4)
    truth_a = np.round(rng.uniform(-1, 1, size=(50, 2)), 3)
    truth_a[5:15, 1] = -5  # 10 arousal-only markers, valence valid
    truth_b = np.round(rng.uniform(-1, 1, size=(30, 2)), 3)
    truth_b[20:25, 0] = -5  # 5 valence-only markers
    truths = {"a-30-640x480": truth_a, "b-30-640x480": truth_b}
    predictions = {v: np.round(np.clip(t * 0.5 + 0.1, -1, 1), 3) for v, t in truths.items()}
    predictions = {v: np.where(t == -5, 0.2, p) for (v, t), p in zip(truths.items(), predictions.values())}
    formats.write_per_video(tmp_path / "data" / "annotations" / "VA_Set" / "Validation_Set", spec, truths)
    formats.write_per_video(tmp_path / "pred", spec, predictions)
    result = scoring.score(tmp_path / "pred", tmp_path / "data", "va", resamples=0)
    assert result["n_frames"] == 40 + 25
    assert result["per_video"]["a-30-640x480"]["n_frames"] == 40
    assert result["per_video"]["b-30-640x480"]["n_frames"] == 25
    kept_a = np.r_[0:5, 15:50]
    kept_b = np.r_[0:20, 25:30]
    truth = np.concatenate([truth_a[kept_a], truth_b[kept_b]])
    prediction = np.concatenate([predictions["a-30-640x480"][kept_a], predictions["b-30-640x480"][kept_b]])
    assert result["metrics"]["arousal"] == pytest.approx(reference_ccc(prediction[:, 1], truth[:, 1]), abs=1e-9)
    assert result["metrics"]["valence"] == pytest.approx(reference_ccc(prediction[:, 0], truth[:, 0]), abs=1e-9)


def test_invalid_frames_need_no_prediction_in_image_location_files(tmp_path):
    spec, truths, predictions = make_truth_and_predictions(tmp_path, "abaw6", "va", n_videos=3)
    rows = {}
    for video, truth in truths.items():
        keep = ~(truth == spec.invalid).any(axis=1)
        rows[video] = (np.flatnonzero(keep) + 1, predictions[video][keep])
    formats.write_image_location(tmp_path / "va.txt", spec, rows)
    single = scoring.score(tmp_path / "va.txt", tmp_path / "data", "va", "abaw6", resamples=0)
    per_video = scoring.score(tmp_path / "pred", tmp_path / "data", "va", "abaw6", resamples=0)
    assert single["metrics"] == per_video["metrics"]
    assert single["format"] == "image_location"
    assert any("per-video" in note for note in per_video["notes"])  # ABAW6 takes single files


@pytest.mark.parametrize("layout", [
    "annotations/{track}_Set/Validation_Set",
    "annotations/Expression_Set/Validation_Set",
    "3rd ABAW Annotations/Third ABAW Annotations/Some_Challenge/Validation_Set",
    "6th ABAW Annotations/Whatever_Name/Validation_Set",
])
def test_ground_truth_is_found_by_header_in_any_layout(tmp_path, layout):
    edition = "abaw2" if layout.startswith("annotations") else "abaw6"
    make_truth_and_predictions(tmp_path, edition, "expr", n_videos=2, folder=layout)
    crops = tmp_path / "data" / "cropped_aligned" / "0-30-640x480"
    crops.mkdir(parents=True)
    (crops / "00001.jpg").write_bytes(b"")
    result = scoring.score(tmp_path / "pred", tmp_path / "data", "expr", edition, resamples=0)
    assert result["ground_truth"].endswith("Validation_Set")


def test_wrong_edition_for_the_ground_truth_is_a_clear_error(tmp_path):
    make_truth_and_predictions(tmp_path, "abaw6", "expr", n_videos=2)
    with pytest.raises(scoring.ScoringError, match="pass that --edition"):
        scoring.score(tmp_path / "pred", tmp_path / "data", "expr", "abaw2")


def test_eight_au_files_in_an_abaw2_copy_are_scored_on_their_header(tmp_path):
    spec, truths, predictions = make_truth_and_predictions(tmp_path, "abaw1", "au", n_videos=2)
    result = scoring.score(tmp_path / "pred", tmp_path / "data", "au", "abaw2", resamples=0)
    assert any("8-AU" in note for note in result["notes"])
    truth, prediction = valid_frames(spec, truths, predictions)
    assert truth.shape[1] == 8
    f1 = np.mean([f1_score(truth[:, a], prediction[:, a], zero_division=0) for a in range(8)])
    acc = np.mean(truth == prediction)
    assert result["metrics"]["f1"] == pytest.approx(f1, abs=1e-12)
    assert result["metrics"]["criterion"] == pytest.approx(0.5 * f1 + 0.5 * acc, abs=1e-12)
    assert track_spec("abaw1", "au").columns == AU_NAMES_8


def test_missing_ground_truth_lists_what_was_found(tmp_path):
    make_truth_and_predictions(tmp_path, "abaw2", "va", n_videos=2)
    with pytest.raises(scoring.ScoringError, match="found: va/validation"):
        scoring.score(tmp_path / "pred", tmp_path / "data", "expr")


def test_constant_va_prediction_scores_zero_with_a_note(tmp_path):
    spec, truths, _ = make_truth_and_predictions(tmp_path, "abaw2", "va", n_videos=3)
    formats.write_per_video(tmp_path / "const", spec, {v: np.full((len(t), 2), 0.1) for v, t in truths.items()})
    result = scoring.score(tmp_path / "const", tmp_path / "data", "va", resamples=50)
    assert result["metrics"]["valence"] == 0.0 and result["metrics"]["arousal"] == 0.0
    assert any("constant" in note for note in result["notes"])
    assert not np.isnan(result["ci95"]["mean"]).any()


def test_validate_against_the_example_template_and_video_list():
    data = EXAMPLES / "data" / "abaw6"
    submission = EXAMPLES / "valid" / "abaw6-va.txt"
    rows = submission.read_text().splitlines()[1:]
    videos = {row.split(",")[0].rsplit("/", 1)[0] for row in rows}  # counted here, from the file's text
    template = data / "prediction_files_format" / "CVPR_6th_ABAW_VA_test_set_sample.txt"
    summary = scoring.validate(submission, "va", "abaw6", template=template)
    assert summary["valid"] and summary["format"] == "image_location"
    assert summary["n_videos"] == len(videos) == 3 and summary["n_rows"] == len(rows)
    assert str(template) in summary["reference"]
    listed = scoring.validate(submission, "va", "abaw6",
                              videos=data / "names_of_videos_in_each_test_set" / "test_set_release.txt")
    assert listed["n_videos"] == 3 and listed["n_rows"] == len(rows)
    assert any("not checked" in note for note in listed["notes"])
    # against the ground truth: every valid frame predicted, and nothing else
    per_video = scoring.validate(EXAMPLES / "valid" / "abaw2-va", "va", "abaw2", data=EXAMPLES / "data" / "abaw2")
    files = sorted((EXAMPLES / "valid" / "abaw2-va").glob("*.txt"))
    assert per_video["n_videos"] == len(files)
    assert per_video["n_rows"] == sum(len(f.read_text().splitlines()) - 1 for f in files)
    assert per_video["format"] == "per-video" and "Validation_Set" in per_video["reference"]
    with pytest.raises(FormatError, match="none for 'video10_1'"):
        scoring.validate(EXAMPLES / "broken" / "missing-video-validate", "va", "abaw2", data=EXAMPLES / "data" / "abaw2")


def test_ground_truth_cache_is_used_and_invalidated(tmp_path):
    import os

    spec, truths, _ = make_truth_and_predictions(tmp_path, "abaw2", "expr", n_videos=3)
    first = scoring.load_ground_truth(tmp_path / "data", "expr")
    folder = first.folder
    assert first.split == "validation" and first.videos == sorted(truths)
    from abawbench import cache

    assert cache.path_for("truth", (str(folder.resolve()), spec.header)).is_file()
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"{v}.txt" for v in truths)  # nothing beside the data
    again = scoring.load_ground_truth(tmp_path / "data", "expr")
    assert all(np.array_equal(a, b) for a, b in zip(first.values, again.values))
    # an edited file (new size or time) is parsed again, and checked again
    path = folder / f"{first.videos[0]}.txt"
    lines = path.read_text().splitlines()
    lines[1] = "9"
    path.write_text("\n".join(lines) + "\n")
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    with pytest.raises(FormatError, match=":2: expected an integer class id 0-6"):
        scoring.load_ground_truth(tmp_path / "data", "expr")
    lines[1] = "3"
    path.write_text("\n".join(lines) + "\n")
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 2 * 10**9))
    assert scoring.load_ground_truth(tmp_path / "data", "expr").values[0][0, 0] == 3


def test_cache_sees_an_edit_that_restores_the_modification_time(tmp_path):
    import os

    make_truth_and_predictions(tmp_path, "abaw2", "expr", n_videos=2)
    truth = scoring.load_ground_truth(tmp_path / "data", "expr")
    path = truth.folder / f"{truth.videos[0]}.txt"
    before = path.stat()
    lines = path.read_text().splitlines()
    lines[1] = "6" if lines[1] != "6" else "5"  # same size
    path.write_text("\n".join(lines) + "\n")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # as tar or cp -p would
    assert path.stat().st_size == before.st_size and path.stat().st_mtime_ns == before.st_mtime_ns
    reloaded = scoring.load_ground_truth(tmp_path / "data", "expr")
    assert reloaded.values[0][0, 0] == int(lines[1])


def test_a_video_with_no_valid_frame_may_be_left_out_of_an_image_location_file(tmp_path):
    spec, truths, predictions = make_truth_and_predictions(tmp_path, "abaw6", "va", n_videos=3)
    dead = sorted(truths)[1]
    folder = tmp_path / "data" / "annotations" / "VA_Set" / "Validation_Set"
    truths[dead][:] = -5
    formats.write_per_video(folder, spec, truths)
    rows = {v: (np.arange(1, len(p) + 1), p) for v, p in predictions.items() if v != dead}
    formats.write_image_location(tmp_path / "va.txt", spec, rows)
    result = scoring.score(tmp_path / "va.txt", tmp_path / "data", "va", "abaw6", resamples=0)
    assert result["n_videos"] == 2 and dead not in result["per_video"]
    assert any("without rows" in note for note in result["notes"])


def test_symlink_loop_is_a_format_error_not_a_traceback(tmp_path):
    import os

    spec, truths, _ = make_truth_and_predictions(tmp_path, "abaw2", "va", n_videos=2)
    video = sorted(truths)[0]
    (tmp_path / "pred" / f"{video}.txt").unlink()
    os.symlink(f"{video}.txt", tmp_path / "pred" / f"{video}.txt")  # points at itself
    with pytest.raises(FormatError, match=f"{video}.txt: expected a readable file"):
        scoring.score(tmp_path / "pred", tmp_path / "data", "va", resamples=0)


def test_edition_notes_reach_the_result(tmp_path):
    make_truth_and_predictions(tmp_path, "abaw4", "expr", n_videos=2)
    result = scoring.score(tmp_path / "pred", tmp_path / "data", "expr", "abaw4", resamples=0)
    assert any("multi-task" in note for note in result["notes"])
    later = scoring.score(tmp_path / "pred", tmp_path / "data", "expr", "abaw12", resamples=0)
    assert any("rules assumed equal to ABAW8" in note for note in later["notes"])


# ------------------------------------------------ test-set references, edge by edge


def _template(path: Path, locations: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("image_location,valence,arousal\n" + "".join(f"{loc},,\n" for loc in locations))
    return path


def _submission(path: Path, locations: list[str]) -> Path:
    path.write_text("image_location,valence,arousal\n" + "".join(f"{loc},0.1,0.2\n" for loc in locations))
    return path


def test_a_submission_must_have_exactly_the_templates_rows(tmp_path):
    locations = [f"v/{f:05d}.jpg" for f in range(1, 6)]
    template = _template(tmp_path / "template.txt", locations)
    short = _submission(tmp_path / "short.txt", locations[:3])
    with pytest.raises(FormatError) as caught:
        scoring.validate(short, "va", "abaw6", template=template)
    assert str(caught.value) == (f"{short}:5: expected 5 rows as the template {template} has, "
                                 f"found 3 (next expected 'v/00004.jpg')")
    long = _submission(tmp_path / "long.txt", locations + ["v/00006.jpg", "v/00007.jpg"])
    with pytest.raises(FormatError) as caught:
        scoring.validate(long, "va", "abaw6", template=template)
    assert str(caught.value) == (f"{long}:7: expected 5 rows as the template {template} has, "
                                 f"found more, starting with 'v/00006.jpg'")
    other = _submission(tmp_path / "other.txt", locations[:2] + locations[3:] + ["v/00006.jpg"])
    with pytest.raises(FormatError) as caught:
        scoring.validate(other, "va", "abaw6", template=template)
    assert str(caught.value) == (f"{other}:4: expected 'v/00003.jpg' as on line 4 of the template {template}, "
                                 f"found 'v/00004.jpg'")
    summary = scoring.validate(_submission(tmp_path / "ok.txt", locations), "va", "abaw6", template=template)
    assert summary["n_rows"] == 5 and summary["n_videos"] == 1


def test_test_references_are_found_under_the_root(tmp_path):
    va = track_spec("abaw6", "va")
    lists = tmp_path / "names_of_videos_in_each_test_set"
    lists.mkdir()
    (lists / "Valence_Arousal_Estimation_Challenge_test_set_release.txt").write_text("v\n")
    (lists / "Expression_Recognition_Challenge_test_set_release.txt").write_text("w\n")
    assert scoring.find_test_reference(tmp_path, va) == (
        None, lists / "Valence_Arousal_Estimation_Challenge_test_set_release.txt")  # the list naming the track
    template = _template(tmp_path / "prediction_files_format" / "CVPR_6th_ABAW_VA_test_set_sample.txt", ["v/00001.jpg"])
    (tmp_path / "prediction_files_format" / ".hidden_copy.txt").write_text(template.read_text())
    (tmp_path / "prediction_files_format" / "folder.txt").mkdir()  # not a file
    found_template, found_list = scoring.find_test_reference(tmp_path, va)
    assert found_template == template and found_list.name.startswith("Valence")
    _template(tmp_path / "elsewhere" / "copy.txt", ["v/00001.jpg"])
    with pytest.raises(scoring.ScoringError) as caught:
        scoring.find_test_reference(tmp_path, va)
    assert str(caught.value) == (f"{tmp_path}: several VA templates ({tmp_path / 'elsewhere' / 'copy.txt'}, "
                                 f"{template}); pass one with --template")


def test_a_single_unnamed_list_is_the_test_list_and_nothing_found_is_an_error(tmp_path):
    au = track_spec("abaw6", "au")
    with pytest.raises(scoring.ScoringError, match="no organisers' AU test template"):
        scoring.find_test_reference(tmp_path, au)
    lists = tmp_path / "names_of_videos_in_each_test_set"
    lists.mkdir()
    (lists / "test_set_release.txt").write_text("v\n")
    assert scoring.find_test_reference(tmp_path, au) == (None, lists / "test_set_release.txt")
    # a .txt outside the test-list folder is no video list, whatever its first line
    (tmp_path / "readme.txt").write_text("how to use this copy\n")
    (tmp_path / "EXPR_Set").mkdir()
    (tmp_path / "EXPR_Set" / "notes.txt").write_text("v\n")
    assert scoring.find_test_reference(tmp_path, au) == (None, lists / "test_set_release.txt")
    with pytest.raises(scoring.ScoringError) as caught:
        scoring.validate(EXAMPLES / "valid" / "abaw6-au.txt", "au", "abaw6")
    assert str(caught.value) == "give the reference to check against: --data ROOT, --template FILE or --videos FILE"


def test_validate_against_ground_truth_uses_the_edition(tmp_path):
    summary = scoring.validate(EXAMPLES / "valid" / "abaw6-expr.txt", "expr", "abaw6", data=EXAMPLES / "data" / "abaw6")
    assert summary["edition"] == "abaw6" and summary["n_videos"] == 3
    rows = (EXAMPLES / "valid" / "abaw6-expr.txt").read_text().splitlines()[1:]
    assert summary["n_rows"] == len(rows)
    # without an edition, validate reads the submission as ABAW2's (7 classes)
    default = scoring.validate(EXAMPLES / "valid" / "abaw2-expr", "expr", data=EXAMPLES / "data" / "abaw2")
    assert default["edition"] == "abaw2" and default["n_videos"] == 3


def test_the_test_template_is_searched_four_folders_deep_past_unreadable_files(tmp_path, monkeypatch):
    va = track_spec("abaw6", "va")
    deep = _template(tmp_path / "deep" / "a" / "b" / "c" / "d" / "template.txt", ["v/00001.jpg"])
    with pytest.raises(scoring.ScoringError, match="no organisers' VA test template"):
        scoring.find_test_reference(tmp_path / "deep", va)
    found = _template(tmp_path / "ok" / "a" / "b" / "c" / "template.txt", ["v/00001.jpg"])
    assert scoring.find_test_reference(tmp_path / "ok", va) == (found, None)
    # a .txt that cannot be opened is passed over, and the files after it are still read
    unreadable = found.parent / "a_locked.txt"
    unreadable.write_text("image_location,valence,arousal\n")
    real_open = open

    def refusing_open(path, *args, **kwargs):
        if Path(path) == unreadable:
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(scoring, "open", refusing_open, raising=False)
    assert scoring.find_test_reference(tmp_path / "ok", va) == (found, None)
    assert deep.exists()


def test_unknown_video_is_named_before_its_file_is_parsed(tmp_path):
    import shutil

    folder = tmp_path / "pred"
    shutil.copytree(EXAMPLES / "valid" / "abaw2-va", folder)
    (folder / "zz-not-a-video.txt").write_text("not even a header\n")
    with pytest.raises(FormatError) as caught:
        scoring.validate(folder, "va", "abaw2", data=EXAMPLES / "data" / "abaw2")
    assert caught.value.path == folder / "zz-not-a-video.txt"
    assert "which it does not contain" in str(caught.value)


def test_trailing_invalid_frames_need_no_rows(tmp_path):
    spec, truths, predictions = make_truth_and_predictions(tmp_path, "abaw6", "expr", n_videos=3)
    folder = tmp_path / "data" / "annotations" / "EXPR_Set" / "Validation_Set"
    for truth in truths.values():
        truth[-4:] = -1  # the last frames of every video: no valid ground truth
    formats.write_per_video(folder, spec, truths)
    rows = {v: (np.flatnonzero(t[:, 0] != -1) + 1, predictions[v][t[:, 0] != -1]) for v, t in truths.items()}
    formats.write_image_location(tmp_path / "expr.txt", spec, rows)
    single = scoring.score(tmp_path / "expr.txt", tmp_path / "data", "expr", "abaw6", resamples=0)
    per_video = scoring.score(tmp_path / "pred", tmp_path / "data", "expr", "abaw6", resamples=0)
    assert single["metrics"] == per_video["metrics"] and single["n_frames"] == per_video["n_frames"]


def test_constant_prediction_notes_say_which_dimension_and_how_many_videos(tmp_path):
    spec, truths, predictions = make_truth_and_predictions(tmp_path, "abaw2", "va", n_videos=3, seed=5)
    videos = sorted(truths)

    def score_with(valence, arousal):
        values = {v: np.column_stack([valence(i, len(truths[v])), arousal(i, len(truths[v]))])
                  for i, v in enumerate(videos)}
        formats.write_per_video(tmp_path / "p", spec, values)
        return [n for n in scoring.score(tmp_path / "p", tmp_path / "data", "va", resamples=0)["notes"]
                if "constant" in n]

    varying = lambda i, n: np.round(np.linspace(-0.5, 0.5, n), 3)  # noqa: E731
    same = lambda i, n: np.full(n, 0.2)  # noqa: E731
    per_video = lambda i, n: np.full(n, 0.1 * (i - 1))  # noqa: E731  (a different constant per video)
    first_only = lambda i, n: np.full(n, 0.3) if i == 0 else np.round(np.linspace(-0.5, 0.5, n), 3)  # noqa: E731
    assert score_with(varying, varying) == []
    assert score_with(same, varying) == ["the valence prediction is constant: its CCC is 0 by the covariance formula "
                                         "(Deng et al.'s helper would give NaN)"]
    assert score_with(varying, per_video) == ["the arousal prediction is constant within 3 video(s): "
                                              "their per-video CCC is 0"]
    assert score_with(first_only, varying) == ["the valence prediction is constant within 1 video(s): "
                                               "their per-video CCC is 0"]


def test_rows_against_a_video_list_are_refused_word_for_word(tmp_path):
    listing = tmp_path / "videos.txt"
    listing.write_text("v,5\nw,3\n")
    source = f"video list {listing}"
    cases = [(["v/00001.jpg", "x/00001.jpg", "w/00001.jpg"], 3,
              f"expected only videos of the reference set ({source}), found video 'x', which it does not contain"),
             (["v/00001.jpg", "v/00002.jpg"], None, f"expected rows for every video ({source}), found none for 'w'"),
             (["v/00005.jpg", "v/00006.jpg", "w/00001.jpg"], 3,
              f"expected frames 1-5 of video 'v' ({source}), found 'v/00006.jpg'")]
    for locations, line, message in cases:
        path = _submission(tmp_path / "sub.txt", locations)
        with pytest.raises(FormatError) as caught:
            scoring.validate(path, "va", "abaw6", videos=listing)
        where = f"{path}:{line}" if line else f"{path}"
        assert str(caught.value) == f"{where}: {message}", locations
    ok = scoring.validate(_submission(tmp_path / "ok.txt", ["v/00001.jpg", "w/00003.jpg"]), "va", "abaw6",
                          videos=listing)
    assert ok["n_rows"] == 2 and ok["reference"] == source


def test_a_missing_row_is_found_after_a_video_left_out(tmp_path):
    spec, truths, predictions = make_truth_and_predictions(tmp_path, "abaw6", "va", n_videos=3)
    videos = sorted(truths)
    truths[videos[0]][:] = -5  # no valid frame: this video may be left out
    truths[videos[2]][:] = np.clip(truths[videos[2]], -1, 1)  # every frame valid
    formats.write_per_video(tmp_path / "data" / "annotations" / "VA_Set" / "Validation_Set", spec, truths)
    rows = {v: (np.arange(1, len(predictions[v]) + 1), predictions[v]) for v in videos[1:]}
    frames, values = rows[videos[2]]
    rows[videos[2]] = (np.delete(frames, 3), np.delete(values, 3, axis=0))  # frame 4 has no row
    formats.write_image_location(tmp_path / "va.txt", spec, rows)
    with pytest.raises(FormatError, match=f"expected a row for '{videos[2]}/00004.jpg', whose ground truth is valid"):
        scoring.score(tmp_path / "va.txt", tmp_path / "data", "va", "abaw6", resamples=0)


def test_video_statistics_drop_invalid_frames_and_keep_empty_videos():
    from sklearn.metrics import confusion_matrix as sk_confusion

    spec = track_spec("abaw2", "expr")
    truth = np.array([[0], [1], [-1], [2], [3], [-1], [-1]])
    prediction = np.array([[0], [2], [5], [2], [3], [1], [0]])
    lengths = np.array([3, 2, 2])  # the last video has no valid frame
    stats, n_frames = scoring.video_statistics(spec, truth, prediction, lengths)  # mask from the truth itself
    assert n_frames.tolist() == [2, 2, 0] and stats.shape == (3, 7, 7)
    assert stats[0].tolist() == sk_confusion([0, 1], [0, 2], labels=range(7)).tolist()
    assert stats[1].tolist() == sk_confusion([2, 3], [2, 3], labels=range(7)).tolist()
    assert stats[2].sum() == 0
    au = track_spec("abaw2", "au")
    au_truth = np.zeros((3, 12), int)
    au_truth[2, 0] = -1
    au_stats, au_frames = scoring.video_statistics(au, au_truth, np.zeros((3, 12), int), np.array([2, 1]))
    assert au_frames.tolist() == [2, 0] and au_stats.shape == (2, 12, 4) and au_stats[0, :, 0].tolist() == [2] * 12


def test_video_set_refusals_count_what_is_missing(tmp_path):
    folder = tmp_path / "pred"
    folder.mkdir()
    (folder / "a.txt").write_text("valence,arousal\n0.1,0.2\n")
    expected = scoring.Expected({"a": None, "b": None, "c": None, "d": None}, source="test")
    submission = scoring.read_submission(folder, track_spec("abaw2", "va"))
    with pytest.raises(FormatError) as caught:
        scoring.align(submission, expected)
    assert str(caught.value) == f"{folder}: expected predictions for all 4 videos, found none for 'b' and 2 more"
    with pytest.raises(FormatError) as caught:
        scoring.align(submission, scoring.Expected({"a": None, "b": None}, source="test"))
    assert str(caught.value) == f"{folder}: expected predictions for all 2 videos, found none for 'b'"
    with pytest.raises(FormatError) as caught:
        scoring.align(submission, scoring.Expected({"a": None, "b": None, "c": None}, source="test"))
    assert str(caught.value) == f"{folder}: expected predictions for all 3 videos, found none for 'b' and 1 more"
    (folder / "z.txt").write_text("valence,arousal\n0.1,0.2\n")
    submission = scoring.read_submission(folder, track_spec("abaw2", "va"))
    with pytest.raises(FormatError) as caught:
        scoring.align(submission, scoring.Expected({"a": None}, source="test"))
    assert str(caught.value) == f"{folder / 'z.txt'}: expected only videos of the reference set, found video 'z', " \
                                "which it does not contain"


def test_per_video_row_counts_and_a_template_for_a_folder(tmp_path):
    folder = tmp_path / "pred"
    folder.mkdir()
    (folder / "a.txt").write_text("valence,arousal\n" + "0.1,0.2\n" * 4)
    (folder / "b.txt").write_text("valence,arousal\n" + "0.1,0.2\n" * 2)
    submission = scoring.read_submission(folder, track_spec("abaw2", "va"))
    for counts, file, message in [({"a": 3, "b": 2}, "a.txt", ":5: expected 3 rows, one per frame (test), found 4 rows (too many)"),
                                  ({"a": 4, "b": 3}, "b.txt", ":4: expected 3 rows, one per frame (test), found 2 rows (too few)")]:
        with pytest.raises(FormatError) as caught:
            scoring.align(submission, scoring.Expected(counts, source="test"))
        assert str(caught.value) == f"{folder / file}{message}"
    aligned = scoring.align(submission, scoring.Expected({"a": 4, "b": 2}, source="test"))
    assert aligned["a"][1].tolist() == [True] * 4
    template = _template(tmp_path / "template.txt", ["a/00001.jpg", "b/00001.jpg"])
    with pytest.raises(FormatError) as caught:
        scoring.validate(folder, "va", "abaw6", template=template)
    assert str(caught.value) == f"{folder}: expected an image_location file, as the template given is, " \
                                "found a per-video folder"


def test_score_defaults_template_and_the_notes_it_writes(tmp_path):
    spec, truths, predictions = make_truth_and_predictions(tmp_path, "abaw2", "va", n_videos=3)
    videos = sorted(truths)
    truths[videos[1]][:] = -5  # no valid frame in this video
    formats.write_per_video(tmp_path / "data" / "annotations" / "VA_Set" / "Validation_Set", spec, truths)
    result = scoring.score(tmp_path / "pred", tmp_path / "data", "va")
    assert result["edition"] == "abaw2" and result["bootstrap"] == {
        "resamples": 1000, "seed": 0, "unit": "video", "interval": "percentile 2.5-97.5"}
    assert result["per_video_rule"] == "each video scored alone with the same metric"
    assert result["notes"] == [
        f"1 video(s) have no valid ground-truth frame and are not scored: {videos[1]}"]
    assert set(result["per_video"]) == {videos[0], videos[2]} and result["n_videos"] == 2
    expr = track_spec("abaw6", "expr")
    spec6, truths6, predictions6 = make_truth_and_predictions(tmp_path / "six", "abaw6", "expr", n_videos=2)
    rows = {v: (np.arange(1, len(p) + 1), p) for v, p in predictions6.items()}
    formats.write_image_location(tmp_path / "expr.txt", expr, rows)
    template = tmp_path / "template.txt"
    template.write_text("image_location," + expr.header + "\n" + "".join(
        f"{v}/{f:05d}.jpg,\n" for v, (frames, _) in rows.items() for f in frames))
    with_template = scoring.score(tmp_path / "expr.txt", tmp_path / "six" / "data", "expr", "abaw6", resamples=0,
                                  template=template)
    assert with_template["metrics"] == scoring.score(tmp_path / "six" / "pred", tmp_path / "six" / "data", "expr",
                                                     "abaw6", resamples=0)["metrics"]
    template.write_text(template.read_text().rsplit("\n", 2)[0] + "\n")  # one row fewer than the submission
    with pytest.raises(FormatError, match="rows as the template"):
        scoring.score(tmp_path / "expr.txt", tmp_path / "six" / "data", "expr", "abaw6", resamples=0,
                      template=template)


def test_ground_truth_folders_are_chosen_by_the_editions_header(tmp_path):
    spec7, truths7, _ = make_truth_and_predictions(tmp_path, "abaw2", "expr", n_videos=2)
    spec8 = track_spec("abaw6", "expr")
    later = tmp_path / "data" / "6th ABAW Annotations" / "EXPR_Recognition_Challenge" / "Validation_Set"
    formats.write_per_video(later, spec8, truths7)
    assert scoring.load_ground_truth(tmp_path / "data", "expr", edition="abaw2").spec.columns == spec7.columns
    assert scoring.load_ground_truth(tmp_path / "data", "expr", edition="abaw6").folder == later
    again = tmp_path / "data" / "copy" / "EXPR_Set" / "Validation_Set"
    formats.write_per_video(again, spec7, truths7)
    first = tmp_path / "data" / "annotations" / "EXPR_Set" / "Validation_Set"
    with pytest.raises(scoring.ScoringError) as caught:
        scoring.load_ground_truth(tmp_path / "data", "expr", edition="abaw2")
    assert str(caught.value) == (f"{tmp_path / 'data'}: several EXPR validation folders ({later}; {first}; {again}); "
                                 "pass --data the one to score against")
    with pytest.raises(scoring.ScoringError) as caught:
        scoring.load_ground_truth(tmp_path / "data", "va")
    assert str(caught.value) == (f"{tmp_path / 'data'}: no VA ground truth for the validation split (looked for "
                                 "Train_Set/Validation_Set folders whose .txt files start with the VA header); "
                                 "found: expr/validation")
    formats.write_per_video(tmp_path / "data" / "annotations" / "EXPR_Set" / "Train_Set", spec7, truths7)
    with pytest.raises(scoring.ScoringError, match=r"header\); found: expr/train, expr/validation$"):
        scoring.load_ground_truth(tmp_path / "data", "va")
    (tmp_path / "empty").mkdir()
    with pytest.raises(scoring.ScoringError, match=r"header\); found: none$"):
        scoring.load_ground_truth(tmp_path / "empty", "va")


def test_edition_mismatch_names_the_edition_the_files_belong_to(tmp_path):
    make_truth_and_predictions(tmp_path / "e", "abaw2", "expr", n_videos=1)
    with pytest.raises(scoring.ScoringError) as caught:
        scoring.load_ground_truth(tmp_path / "e" / "data", "expr", edition="abaw6")
    assert str(caught.value).endswith("the ground truth has the 7-column EXPR header, but --edition abaw6 expects "
                                      "8 columns; these files belong to ABAW1/ABAW2 (7 classes): pass that --edition")
    make_truth_and_predictions(tmp_path / "a", "abaw1", "au", n_videos=1)
    with pytest.raises(scoring.ScoringError) as caught:
        scoring.load_ground_truth(tmp_path / "a" / "data", "au", edition="abaw6")
    assert str(caught.value).endswith("these files belong to an edition with 8 AUs: pass that --edition")
    eight = scoring.load_ground_truth(tmp_path / "a" / "data", "au", edition="abaw2")
    assert eight.notes == ["this ABAW2 copy carries 8-AU files; scored on those 8 AUs"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(FormatError) as caught:
        scoring.read_submission(tmp_path / "empty", track_spec("abaw2", "va"))
    assert str(caught.value) == (f"{tmp_path / 'empty'}: expected a per-video folder of <video>.txt files or an "
                                 "image_location file, found a folder with no .txt file")


@pytest.mark.parametrize("track", ["expr", "au", "va"])
def test_both_submission_formats_align_to_the_same_arrays_in_the_readers_type(tmp_path, track):
    """The same predictions as a per-video folder and as one image_location file align to
    equal arrays, frames without a row left at zero, in the type the readers give the
    values: integers for the class and AU tracks (one byte each), floats for VA."""
    spec = track_spec("abaw6", track)
    rng = np.random.default_rng(4)
    if track == "va":
        values = {"a": np.round(rng.uniform(-1, 1, (5, 2)), 3), "b": np.round(rng.uniform(-1, 1, (3, 2)), 3)}
    else:
        high = spec.n_classes if track == "expr" else 2
        values = {"a": rng.integers(0, high, (5, spec.n_values)), "b": rng.integers(0, high, (3, spec.n_values))}
    folder = tmp_path / "per-video"
    folder.mkdir()
    lines = [f"image_location,{','.join(spec.columns)}"]
    for video, rows in values.items():
        body = [",".join(str(x) for x in row) for row in rows]
        (folder / f"{video}.txt").write_text("\n".join([",".join(spec.columns)] + body) + "\n")
        # the image_location file leaves out frame 2 of video a: it aligns to zeros there
        lines += [f"{video}/{frame:05d}.jpg,{row}" for frame, row in enumerate(body, start=1)
                  if (video, frame) != ("a", 2)]
    (tmp_path / "one.txt").write_text("\n".join(lines) + "\n")
    expected = scoring.Expected({"a": 5, "b": 3}, source="test")
    per_video = scoring.align(scoring.read_submission(folder, spec), expected)
    single = scoring.read_submission(tmp_path / "one.txt", spec)
    assert single.path == tmp_path / "one.txt" and single.format == "image_location"
    located = scoring.align(single, expected)
    wanted_type = np.float64 if track == "va" else np.int8
    for video, rows in values.items():
        for aligned in (per_video, located):
            assert aligned[video][0].dtype == wanted_type and aligned[video][1].dtype == bool
        assert np.array_equal(per_video[video][0], rows) and per_video[video][1].all()
        holes = [video == "a" and frame == 2 for frame in range(1, len(rows) + 1)]
        assert located[video][1].tolist() == [not hole for hole in holes]
        assert np.array_equal(located[video][0], np.where(np.array(holes)[:, None], 0, rows))


def test_a_test_set_reference_needs_a_template_or_a_video_list():
    with pytest.raises(scoring.ScoringError) as caught:
        scoring.expected_from_files(track_spec("abaw6", "expr"))
    assert str(caught.value) == ("give the reference to check against: --data ROOT (train/validation), "
                                 "--template FILE or --videos FILE")


def test_validate_says_when_the_video_list_gives_no_frame_counts(tmp_path):
    submission = _submission(tmp_path / "one.txt", ["a/00001.jpg", "a/00002.jpg", "b/00001.jpg"])
    unchecked = "the reference gives no frame counts for some videos: their row counts were not checked"
    (tmp_path / "names.txt").write_text("a\nb,1\n")
    summary = scoring.validate(submission, "va", "abaw6", videos=tmp_path / "names.txt")
    assert unchecked in summary["notes"] and summary["n_rows"] == 3
    (tmp_path / "counted.txt").write_text("a,2\nb,1\n")
    assert unchecked not in scoring.validate(submission, "va", "abaw6", videos=tmp_path / "counted.txt")["notes"]


def test_constant_prediction_notes_count_only_videos_with_scored_frames(tmp_path):
    spec, truths, predictions = make_truth_and_predictions(tmp_path, "abaw2", "va", n_videos=3, seed=6)
    gt_folder = tmp_path / "data" / "annotations" / "VA_Set" / "Validation_Set"
    first = sorted(truths)[0]
    formats.write_per_video(gt_folder, spec, {**truths, first: np.full_like(truths[first], -5)})
    result = scoring.score(tmp_path / "pred", tmp_path / "data", "va", resamples=0)
    assert result["n_videos"] == 2 and not [n for n in result["notes"] if "constant" in n]  # the first has no frame
    # the statistics (compare's input) are those of the two scored videos, in per_video order
    assert result["statistics"]["videos"] == list(result["per_video"]) == sorted(truths)[1:]
    assert result["statistics"]["shape"] == [2, 2, 6] and len(result["statistics"]["values"]) == 2
    # one video alone, predicted by a constant: the whole prediction is constant
    alone = tmp_path / "alone"
    spec, truths, _ = make_truth_and_predictions(alone, "abaw2", "va", n_videos=1, seed=7)
    (video, truth), = truths.items()
    formats.write_per_video(alone / "pred", spec, {video: np.column_stack([np.full(len(truth), 0.25), truth[:, 1]])})
    notes = [n for n in scoring.score(alone / "pred", alone / "data", "va", resamples=0)["notes"] if "constant" in n]
    assert notes == ["the valence prediction is constant: its CCC is 0 by the covariance formula "
                     "(Deng et al.'s helper would give NaN)"]


def test_the_score_json_keeps_the_contracts_key_order_then_the_rules_then_the_notes(tmp_path):
    make_truth_and_predictions(tmp_path, "abaw6", "expr", n_videos=2)
    result = scoring.score(tmp_path / "pred", tmp_path / "data", "expr", "abaw6", resamples=0)
    keys = list(result)
    contract = ["track", "edition", "split", "n_videos", "n_frames", "metrics", "per_video"]  # docs/design.md
    assert [k for k in keys if k in contract] == contract and keys.index("per_video") < keys.index("rule")
    assert keys.index("rule") < keys.index("bootstrap") < keys.index("notes")
    # the default F1 rule is the papers' (all classes), and each video's is said the same way
    assert result["f1_average"] == "all"
    assert result["per_video_rule"].endswith("its F1 averages over all classes, those absent from the video counting 0")


def test_ground_truth_without_a_valid_frame_is_nothing_to_score(tmp_path):
    spec, truths, _ = make_truth_and_predictions(tmp_path, "abaw2", "va", n_videos=2)
    gt_folder = tmp_path / "data" / "annotations" / "VA_Set" / "Validation_Set"
    formats.write_per_video(gt_folder, spec, {v: np.full_like(t, -5) for v, t in truths.items()})
    with pytest.raises(scoring.ScoringError) as caught:
        scoring.score(tmp_path / "pred", tmp_path / "data", "va", resamples=0)
    assert str(caught.value) == "no frame with a valid ground truth: nothing to score"


def test_score_statistics_defaults_are_1000_resamples_with_seed_0(tmp_path):
    spec, truths, predictions = make_truth_and_predictions(tmp_path, "abaw2", "expr", n_videos=6)
    videos = sorted(truths)
    stats, n_frames = scoring.video_statistics(spec, np.concatenate([truths[v] for v in videos]),
                                               np.concatenate([predictions[v] for v in videos]),
                                               np.array([len(truths[v]) for v in videos]))
    default = scoring.score_statistics(spec, videos, stats, n_frames)
    assert default["ci95"] == scoring.score_statistics(spec, videos, stats, n_frames, 1000, 0)["ci95"]
    assert default["ci95"] != scoring.score_statistics(spec, videos, stats, n_frames, 1000, 1)["ci95"]
    assert default["ci95"] != scoring.score_statistics(spec, videos, stats, n_frames, 1001, 0)["ci95"]
    # one resample is an interval too, of no width
    one = scoring.score_statistics(spec, videos, stats, n_frames, 1, 0)["ci95"]
    assert set(one) == set(spec.metrics) and all(low == high for low, high in one.values())


def test_a_template_far_larger_than_the_ground_truth_needs_is_refused_unread(tmp_path):
    make_truth_and_predictions(tmp_path, "abaw6", "va", n_videos=2)
    template = tmp_path / "template.txt"
    with open(template, "wb") as stream:
        stream.truncate(100 * 1024**2)  # sparse: 100 MiB of nothing
    with pytest.raises(FormatError) as caught:
        scoring.score(tmp_path / "pred", tmp_path / "data", "va", "abaw6", resamples=0, template=template)
    assert caught.value.path == template
    assert "found 104,857,600 bytes" in str(caught.value) and "the 2 reference videos have" in str(caught.value)


def test_notes_name_the_first_five_videos_without_frames_and_the_json_names_its_inputs(tmp_path):
    spec = track_spec("abaw6", "va")
    rng = np.random.default_rng(8)
    truths = {f"{i}-30-640x480": np.round(rng.uniform(-1, 1, (6, 2)), 3) for i in range(7)}
    for name in list(truths)[1:]:
        truths[name][:] = -5  # six videos without a valid frame
    folder = tmp_path / "data" / "annotations" / "VA_Set" / "Validation_Set"
    formats.write_per_video(folder, spec, truths)
    first, values = next(iter(truths.items()))
    submission = tmp_path / "one.txt"
    submission.write_text("image_location,valence,arousal\n" + "".join(
        f"{first}/{k:05d}.jpg,{v:.3f},{a:.3f}\n" for k, (v, a) in enumerate(values[:, ::-1], start=1)))
    result = scoring.score(submission, tmp_path / "data", "va", "abaw6", resamples=0)
    five = ", ".join(f"{i}-30-640x480" for i in range(1, 6))
    assert f"6 video(s) without rows have no valid ground-truth frame: {five}" in result["notes"]
    assert f"6 video(s) have no valid ground-truth frame and are not scored: {five}" in result["notes"]
    assert result["predictions"] == str(submission) and result["ground_truth"] == str(folder)
    assert result["n_videos"] == 1


def test_au_statistics_in_the_json_are_integer_counts(tmp_path):
    make_truth_and_predictions(tmp_path, "abaw6", "au", n_videos=3)
    result = scoring.score(tmp_path / "pred", tmp_path / "data", "au", "abaw6", resamples=0)
    counts = np.array(result["statistics"]["values"], dtype=object).ravel()
    assert len(counts) == 3 * 12 * 4 and all(type(c) is int for c in counts)


def test_a_per_video_folder_is_its_visible_txt_files_and_a_broken_one_is_named(tmp_path):
    folder = tmp_path / "pred"
    folder.mkdir()
    for video in ("a", "b"):
        (folder / f"{video}.txt").write_text("valence,arousal\n0.1,0.2\n")
    (folder / "0-readme.md").write_text("not a video\n")  # sorts first
    (folder / ".hidden.txt").write_text("an editor's backup\n")
    submission = scoring.read_submission(folder, track_spec("abaw2", "va"), ["a", "b"])
    assert list(submission.per_video) == ["a", "b"]
    (folder / "c.txt").symlink_to(tmp_path / "nowhere.txt")
    with pytest.raises(FormatError) as caught:
        scoring.read_submission(folder, track_spec("abaw2", "va"))
    assert str(caught.value) == f"{folder / 'c.txt'}: expected a readable file, found No such file or directory"


def test_a_ground_truth_file_with_another_header_names_the_rule_it_breaks(tmp_path):
    make_truth_and_predictions(tmp_path, "abaw6", "va", n_videos=3)
    folder = tmp_path / "data" / "annotations" / "VA_Set" / "Validation_Set"
    odd = sorted(folder.glob("*.txt"))[-1]
    odd.write_text("Neutral,Anger,Disgust,Fear,Happiness,Sadness,Surprise,Other\n3\n")
    for cache in (True, False):
        with pytest.raises(FormatError) as caught:
            scoring.load_ground_truth(tmp_path / "data", "va", edition="abaw6", cache=cache)
        assert caught.value.path == odd
        assert str(caught.value).endswith(f"(every validation file of {folder} must carry the same header)")


def test_a_header_of_another_track_is_named_and_only_expr_gets_the_edition_hint(tmp_path):
    expr_header = "Neutral,Anger,Disgust,Fear,Happiness,Sadness,Surprise,Other"
    (tmp_path / "va.txt").write_text(f"image_location,{expr_header}\na/00001.jpg,3\n")
    with pytest.raises(FormatError) as caught:
        scoring.read_submission(tmp_path / "va.txt", track_spec("abaw6", "va"))
    assert str(caught.value).endswith("(that header is the 8-column EXPR one)")
    (tmp_path / "expr.txt").write_text(f"image_location,{expr_header}\na/00001.jpg,3\n")
    with pytest.raises(FormatError) as caught:
        scoring.read_submission(tmp_path / "expr.txt", track_spec("abaw2", "expr"))
    assert str(caught.value).endswith("(that header is the 8-column EXPR one; --edition abaw2 uses 7 classes)")


def test_pool_without_weights_is_one_pool_of_every_video_once():
    spec = track_spec("abaw6", "au")
    stats = np.random.default_rng(2).integers(0, 50, (4, 12, 4))
    pooled = scoring.pool(spec, stats)
    assert pooled.shape == (1, 12, 4) and np.array_equal(pooled[0], stats.sum(axis=0))
    twice = scoring.pool(spec, stats, np.array([[2, 0, 1, 1]]))
    assert np.array_equal(twice[0], 2 * stats[0] + stats[2] + stats[3])


def test_validate_carries_the_editions_note_as_score_does(tmp_path):
    make_truth_and_predictions(tmp_path, "abaw4", "expr", n_videos=2)
    checked = scoring.validate(tmp_path / "pred", "expr", "abaw4", data=tmp_path / "data")
    assert any("multi-task" in note for note in checked["notes"])
    checked = scoring.validate(tmp_path / "pred", "expr", "abaw12", data=tmp_path / "data")
    assert any("rules assumed equal to ABAW8" in note for note in checked["notes"])


def test_score_names_an_unknown_video_before_parsing_its_file(tmp_path):
    import shutil

    folder = tmp_path / "pred"
    shutil.copytree(EXAMPLES / "valid" / "abaw2-va", folder)
    (folder / "zz-not-a-video.txt").write_text("not even a header\n")
    with pytest.raises(FormatError) as caught:
        scoring.score(folder, EXAMPLES / "data" / "abaw2", "va", "abaw2", resamples=0)
    assert caught.value.path == folder / "zz-not-a-video.txt"
    assert "which it does not contain" in str(caught.value)


def test_the_statistics_payload_keeps_one_frame_videos_and_names_its_layout(tmp_path):
    spec, truths, _ = make_truth_and_predictions(tmp_path, "abaw2", "va", n_videos=3, seed=9)
    gt_folder = tmp_path / "data" / "annotations" / "VA_Set" / "Validation_Set"
    first = sorted(truths)[0]
    single = np.full_like(truths[first], -5)
    single[0] = truths[first][0]  # one valid frame
    formats.write_per_video(gt_folder, spec, {**truths, first: single})
    result = scoring.score(tmp_path / "pred", tmp_path / "data", "va", resamples=0)
    assert result["per_video"][first]["n_frames"] == 1
    assert result["statistics"]["videos"] == sorted(truths) and result["statistics"]["shape"] == [3, 2, 6]
    assert set(result["statistics"]) == {"videos", "layout", "shape", "values"}
    assert result["statistics"]["layout"].startswith("centred moments [video][valence, arousal]")
