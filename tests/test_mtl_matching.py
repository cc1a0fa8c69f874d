"""How an MTL submission's rows are matched to the reference's images (``multitask.match_rows``):
the errors for a video the reference lacks, a duplicate row and images without a row, word for
word, and the pairing of reference rows that need no prediction."""

from pathlib import Path

import numpy as np
import pytest

from abawbench import multitask, scoring
from abawbench.formats import FormatError, LocatedRows
from abawbench.tracks import MTL_HEADER

HEADER = ",".join(MTL_HEADER)
NO_LABEL = "-5,-5,-1," + ",".join(["-1"] * 12)


def _labelled(image: str, expression: int = 1) -> str:
    return f"{image},0.1,-0.2,{expression},1,0,0,1,0,0,1,0,0,0,0,1"


def _write(path: Path, rows: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([HEADER] + rows) + "\n")
    return path


def _validate_error(tmp_path: Path, truth_rows: list[str], submission_rows: list[str]) -> tuple[str, Path, Path]:
    truth = _write(tmp_path / "d" / "validation_set.txt", truth_rows)
    submission = _write(tmp_path / "p.txt", submission_rows)
    try:
        multitask.validate_mtl(submission, "abaw4", data=tmp_path / "d")
    except FormatError as error:
        return str(error), submission, truth
    raise AssertionError("validate_mtl accepted the submission")


def test_a_row_of_a_video_the_reference_lacks_names_the_video(tmp_path):
    """The first row not in the reference is of a video it lacks: the error says so, not 'an image it does not list'
    (this is the one place where a key's video part is read back from it)."""
    message, submission, truth = _validate_error(
        tmp_path, [_labelled("a/00001.jpg"), _labelled("b/00002.jpg")],
        [_labelled("a/00001.jpg"), _labelled("x/00002.jpg"), _labelled("a/00007.jpg")])
    assert message == (f"{submission}:3: expected only videos of the reference (the ground truth in {truth}), "
                       "found video 'x', which it does not contain")


def test_a_second_row_for_an_image_listed_once_is_a_duplicate(tmp_path):
    message, submission, _ = _validate_error(
        tmp_path, [_labelled("a/00001.jpg"), _labelled("a/00002.jpg")],
        [_labelled("a/00001.jpg"), _labelled("a/00002.jpg"), _labelled("a/00001.jpg", expression=4)])
    assert message == f"{submission}:4: expected no duplicate rows, found 'a/00001.jpg' again (line 2)"


def test_labelled_images_without_a_row_are_counted_by_image_not_by_row(tmp_path):
    """Three reference rows (two images, one of them listed twice) have no row: the error names the first and where
    it would stand in the submission, and counts 2 images."""
    message, submission, truth = _validate_error(
        tmp_path, [_labelled("a/00001.jpg"), _labelled("a/00003.jpg"), _labelled("a/00003.jpg"),
                   _labelled("b/00002.jpg"), _labelled("b/00005.jpg")],
        [_labelled("a/00001.jpg"), _labelled("b/00005.jpg")])
    assert message == (f"{submission}:3: expected a row for 'a/00003.jpg' (line 3 of the ground truth in {truth}), "
                       "found none (2 such image(s) have no row)")


def test_reference_rows_that_need_no_prediction_and_have_none_are_paired_with_minus_one():
    """b/00003 needs no prediction and comes after every image the submission gives (the largest key): it is paired
    with -1, the documented 'none', as is a/00002 in between."""
    reference = LocatedRows(Path("truth.txt"), ["a", "b"], np.array([0, 2]), np.array([1, 2, 3]))
    submission = LocatedRows(Path("p.txt"), ["a"], np.array([0]), np.array([1]))
    matched = multitask.match_rows(submission, reference, np.array([True, False, False]), "the truth")
    assert matched.pairing.tolist() == [0, -1, -1]
    assert (matched.in_order, matched.repeated_images, matched.repeated_rows) == (True, 0, 0)


def test_an_unlabelled_last_image_may_be_left_out_of_a_scored_submission(tmp_path):
    rows = [_labelled("a/00001.jpg", 1), "a/00002.jpg,0.5,0.4,3,0,1,0,0,1,0,0,0,1,0,0,0",
            "b/00001.jpg,-0.3,0.2,1,0,0,1,0,0,1,0,0,0,1,0,0", f"b/00009.jpg,{NO_LABEL}"]
    _write(tmp_path / "d" / "validation_set.txt", rows)
    submission = _write(tmp_path / "p.txt", rows[:3])
    result = scoring.score(submission, tmp_path / "d", "mtl", "abaw4", resamples=0)
    assert result["parts"]["rows"] == 4 and result["parts"]["rows_with_a_label"] == 3
    assert result["metrics"]["va_mean"] == pytest.approx(1.0)
