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
