"""Small scoring rules of issue 13: notes that belong to one track, a constant prediction
pooled over videos scoring exactly 0, and the table's number formatting."""

import numpy as np
import pytest

from abawbench import formats, metrics, report, scoring
from abawbench.tracks import get_edition, track_spec

from test_scoring import make_truth_and_predictions


def test_the_8_au_note_is_on_au_scores_only(tmp_path):
    for track in ("expr", "va", "au"):
        make_truth_and_predictions(tmp_path / track, "abaw2", track, n_videos=2)
        result = scoring.score(tmp_path / track / "pred", tmp_path / track / "data", track, "abaw2", resamples=0)
        assert any("8-AU" in note for note in result["notes"]) == (track == "au"), track


def test_edition_notes_go_to_the_tracks_they_concern():
    abaw4 = get_edition("abaw4")
    assert "--track mtl" in abaw4.note_for("expr") and abaw4.note_for("mtl") == ""
    assert get_edition("abaw2").note_for("va") == "" and "8-AU" in get_edition("abaw2").note_for("au")
    assert "ABAW8" in get_edition("abaw10").note_for("mtl")  # assumed rules concern every track


def test_constant_prediction_pooled_over_videos_is_exactly_zero():
    # Two videos predicted 0.87 throughout: the weighted average of the two equal means is
    # not 0.87 in floating point (31·0.87 + 27·0.87)/58, which once made the pooled
    # covariance -3.9e-31 and the table print "-0.0000".
    n = np.array([31.0, 27.0])
    rounded = (n * 0.87).sum() / n.sum()
    assert rounded != 0.87
    truth_means = np.array([0.632, -0.995])
    old_covariance = (n * (0.87 - rounded) * (truth_means - (n * truth_means).sum() / n.sum())).sum()
    assert old_covariance < 0
    moments = np.array([[31, 0.87, 0.632, 0.0, 2.5, 0.0], [27, 0.87, -0.995, 0.0, 1.5, 0.0]])
    pooled = metrics.combine_moments(moments)[0]
    assert pooled[1] == 0.87 and pooled[5] == 0.0
    ccc = metrics.ccc_from_moments(pooled)
    assert ccc == 0.0 and not np.signbit(ccc)
    # with weights (a bootstrap resample that leaves out a video) the mean is exact too
    resampled = metrics.combine_moments(moments, np.array([[0, 2], [3, 1]]))
    assert (resampled[:, 1] == 0.87).all() and (resampled[:, 5] == 0.0).all()


def test_pooled_mean_is_the_weighted_average_when_the_means_differ():
    moments = np.array([[2, 0.1, 0.0, 0.5, 0.5, 0.1], [3, 0.4, 0.2, 0.3, 0.3, 0.0]])
    pooled = metrics.combine_moments(moments, np.array([[1, 2]]))[0]
    assert pooled[0] == 8 and pooled[1] == pytest.approx((2 * 0.1 + 6 * 0.4) / 8)
    with pytest.raises(ValueError, match="zero samples"):
        metrics.combine_moments(moments, np.array([[0, 0]]))
    assert metrics.combine_moments(moments, np.array([[0, 0]]), allow_empty=True)[0].tolist() == [0.0] * 6


def test_a_constant_va_submission_prints_zero_not_minus_zero(tmp_path):
    spec = track_spec("abaw6", "va")
    rng = np.random.default_rng(0)
    truths = {"v1": np.round(rng.uniform(-1, 1, (31, 2)), 3), "v2": np.round(rng.uniform(-1, 1, (27, 2)), 3)}
    formats.write_per_video(tmp_path / "data" / "annotations" / "VA_Set" / "Validation_Set", spec, truths)
    formats.write_per_video(tmp_path / "pred", spec, {v: np.full((len(t), 2), 0.87) for v, t in truths.items()})
    result = scoring.score(tmp_path / "pred", tmp_path / "data", "va", "abaw6", resamples=20)
    for name in ("valence", "arousal", "mean"):
        assert result["metrics"][name] == 0.0 and not np.signbit(result["metrics"][name])
        assert result["ci95"][name] == [0.0, 0.0]
    rendered = "".join(str(cell) for table in report.score_tables(result) for column in table.columns
                       for cell in column._cells)
    assert "-0.0000" not in rendered and "0.0000" in rendered


def test_table_numbers():
    assert report._number(-0.0) == "0.0000"
    assert report._number(None) == "—"
    assert report._number(0.123456) == "0.1235"
    assert report.rule_line({"track": "va", "rule": "r", "f1_average": "all"}) == "r"
    assert report.rule_line({"track": "au", "rule": "r", "f1_average": "present"}) == "r [--f1-average present]"
    assert report.rule_line({"track": "expr", "rule": "r"}) == "r"  # a score JSON from before the key


def test_lowest_videos_put_videos_without_a_value_last():
    result = {"track": "mtl", "edition": "abaw4", "split": "validation", "n_videos": 3, "n_frames": 9,
              "main_metric": "mtl", "metrics": {"mtl": 1.0}, "ci95": {},
              "per_video": {"a": {"mtl": None, "n_frames": 3}, "b": {"mtl": 1.5, "n_frames": 3},
                            "c": {"mtl": 0.5, "n_frames": 3}}}
    lowest = report.score_tables(result)[1]
    assert list(lowest.columns[0]._cells) == ["c", "b", "a"]


def test_scoring_a_submission_imports_neither_pandas_nor_torch():
    """Whole-process speed: pandas alone costs a third of a second to import."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    examples = Path(__file__).resolve().parent.parent / "submissions"
    code = ("import sys; from abawbench import scoring; "
            f"scoring.score({str(examples / 'valid' / 'abaw6-va.txt')!r}, {str(examples / 'data' / 'abaw6')!r}, "
            "'va', 'abaw6', resamples=10); "
            f"scoring.score({str(examples / 'valid' / 'abaw4-mtl.txt')!r}, {str(examples / 'data' / 'mtl')!r}, "
            "'mtl', 'abaw4', resamples=10); "
            "print('pandas' in sys.modules, 'torch' in sys.modules)")
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ)
    assert output.stdout.strip() == "False False", output.stderr


# ------------------------------------------ edges the second mutation run found untested


def test_a_one_frame_video_counts_as_a_constant_prediction(tmp_path):
    spec = track_spec("abaw6", "va")
    truths = {"long": np.array([[0.1, 0.2], [0.4, -0.3], [-0.2, 0.5]]), "short": np.array([[0.3, 0.3]])}
    predictions = {"long": np.array([[0.0, 0.1], [0.5, -0.2], [-0.1, 0.4]]), "short": np.array([[0.2, 0.2]])}
    formats.write_per_video(tmp_path / "data" / "annotations" / "VA_Set" / "Validation_Set", spec, truths)
    formats.write_per_video(tmp_path / "pred", spec, predictions)
    result = scoring.score(tmp_path / "pred", tmp_path / "data", "va", "abaw6", resamples=0)
    # one frame has no spread: its per-video CCC is 0, which the notes say
    assert result["notes"][1:] == [f"the {name} prediction is constant within 1 video(s): their per-video CCC is 0"
                                   for name in ("valence", "arousal")]
    assert result["per_video"]["short"]["valence"] == 0.0


def test_each_tracks_per_video_rule_in_words():
    expected = {
        ("va", "all"): "each video scored alone with the same metric",
        ("expr", "all"): "each video scored alone with the same metric; its F1 averages over all classes, those "
                         "absent from the video counting 0",
        ("au", "all"): "each video scored alone with the same metric; its F1 averages over all AUs, those absent "
                       "from the video counting 0",
        ("au", "present"): "each video scored alone with the same metric; its F1 averages over the AUs present in "
                           "that video's truth or prediction",
        ("mtl", "present"): "each video scored alone with the same metric; its F1 averages over the classes (AUs) "
                            "present in that video's truth or prediction; a part the video has no valid label of "
                            "is null, and so is its mtl",
    }
    for (track, average), text in expected.items():
        assert scoring.per_video_rule(track_spec("abaw7", track), average) == text


def test_a_test_folder_file_that_is_not_utf8_is_passed_over(tmp_path):
    spec = track_spec("abaw6", "expr")
    folder = tmp_path / "names_of_videos_in_each_test_set"
    folder.mkdir()
    (folder / "Expression_Recognition_Challenge_test_set_release.txt").write_text("video1\nvideo2\n")
    (tmp_path / "junk.txt").write_bytes(b"\xff\xfe\x00binary\n\x80\x81\n")  # its first line is no header
    assert scoring.find_test_reference(tmp_path, spec) == (None, folder / "Expression_Recognition_Challenge_test_set_release.txt")


def test_validate_bounds_each_per_video_file_by_its_frame_count(tmp_path):
    spec = track_spec("abaw6", "expr")
    truths = {"v1": np.array([[0], [1], [2]]), "v2": np.array([[3], [4]])}
    formats.write_per_video(tmp_path / "data" / "annotations" / "EXPR_Set" / "Validation_Set", spec, truths)
    formats.write_per_video(tmp_path / "pred", spec, truths)
    # 3 frames of 1 value: 64 KiB of slack + 3 rows × 64 bytes a value (formats.rows_limit)
    bound = 64 * 1024 + 3 * 64
    path = tmp_path / "pred" / "v1.txt"
    path.write_text(path.read_text() + " " * (bound + 1 - path.stat().st_size))
    with pytest.raises(formats.FormatError) as caught:
        scoring.validate(tmp_path / "pred", "expr", "abaw6", data=tmp_path / "data")
    assert str(caught.value) == (f"{path}: expected a file of at most {bound:,} bytes (video 'v1' has 3 frames: 3 rows "
                                 f"of at most 64 bytes), found {bound + 1:,} bytes")


def test_an_unreadable_prediction_folder_is_named(tmp_path, monkeypatch):
    make_truth_and_predictions(tmp_path, "abaw6", "expr", n_videos=2)

    def refuse(path):
        raise PermissionError(13, "Permission denied")  # what a folder without read permission gives

    monkeypatch.setattr(scoring.os, "scandir", refuse)
    with pytest.raises(formats.FormatError) as caught:
        scoring.read_submission(tmp_path / "pred", track_spec("abaw6", "expr"))
    assert str(caught.value) == f"{tmp_path / 'pred'}: expected a readable folder, found Permission denied"


def test_a_ground_truth_of_another_edition_says_which_edition_it_fits(tmp_path):
    make_truth_and_predictions(tmp_path / "eight", "abaw6", "expr", n_videos=2)
    make_truth_and_predictions(tmp_path / "seven", "abaw2", "expr", n_videos=2)
    make_truth_and_predictions(tmp_path / "au12", "abaw6", "au", n_videos=2)
    cases = [("eight", "expr", "abaw2", "8-column EXPR header, but --edition abaw2 expects 7 columns; these files "
                                        "belong to ABAW3 or later (8 classes)"),
             ("seven", "expr", "abaw6", "7-column EXPR header, but --edition abaw6 expects 8 columns; these files "
                                        "belong to ABAW1/ABAW2 (7 classes)"),
             ("au12", "au", "abaw1", "12-column AU header, but --edition abaw1 expects 8 columns; these files "
                                     "belong to an edition with 12 AUs")]
    for name, track, edition, words in cases:
        folder = tmp_path / name / "data" / "annotations" / f"{track.upper()}_Set" / "Validation_Set"
        with pytest.raises(scoring.ScoringError) as caught:
            scoring.score(tmp_path / name / "pred", tmp_path / name / "data", track, edition, resamples=0)
        assert str(caught.value) == f"{folder}: the ground truth has the {words}: pass that --edition"


def test_a_seven_class_prediction_header_gets_the_editions_hint(tmp_path):
    make_truth_and_predictions(tmp_path, "abaw6", "expr", n_videos=2)
    seven = ",".join(("Neutral", "Anger", "Disgust", "Fear", "Happiness", "Sadness", "Surprise"))
    first = sorted((tmp_path / "pred").iterdir())[0]
    lines = first.read_text().splitlines()
    first.write_text("\n".join([seven] + lines[1:]) + "\n")
    with pytest.raises(formats.FormatError) as caught:
        scoring.score(tmp_path / "pred", tmp_path / "data", "expr", "abaw6", resamples=0)
    assert str(caught.value) == (f"{first}:1: expected the header '{seven},Other', found '{seven}' (that header is "
                                 "the 7-column EXPR one; --edition abaw6 uses 8 classes)")


def test_an_image_location_file_is_bounded_by_the_reference_frames(tmp_path):
    spec = track_spec("abaw6", "va")
    truths = {"v1": np.array([[0.1, 0.2], [0.3, 0.1], [0.2, 0.0]]), "v2": np.array([[0.5, 0.4], [0.1, 0.9]])}
    formats.write_per_video(tmp_path / "data" / "annotations" / "VA_Set" / "Validation_Set", spec, truths)
    path = tmp_path / "pred.txt"
    formats.write_image_location(path, spec, {video: (np.arange(1, len(values) + 1), values)
                                              for video, values in truths.items()})
    # per row: the longest video name + '/00001.jpg,' + 16 bytes of slack, and 2 values × 64 bytes
    per_row = len("v1") + len("/00001.jpg,") + 16 + 2 * 64
    bound = 64 * 1024 + 5 * per_row
    path.write_text(path.read_text() + " " * (bound + 1 - path.stat().st_size))
    with pytest.raises(formats.FormatError) as caught:
        scoring.score(path, tmp_path / "data", "va", "abaw6", resamples=0)
    assert str(caught.value) == (f"{path}: expected a file of at most {bound:,} bytes (the 2 reference videos have "
                                 f"5 frames: 5 rows of at most {per_row} bytes), found {bound + 1:,} bytes")
