"""The MTL track's words: validate_mtl's whole summary (keys, reference, notes) against a
test list and against a ground truth, its refusals and the missing test list's message,
and the count behind the ground truth's 'some AUs only' note, each written out by hand."""

from pathlib import Path

import pytest

from abawbench import formats, multitask, scoring

HEADER = "image,valence,arousal,expression,aus"


def write(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def test_validate_against_a_test_list_returns_this_summary_word_for_word(tmp_path):
    """A test list with trailing commas and a repeated image, a submission out of its order
    that gives the repeated image once: every key, the reference and the three notes."""
    template = write(tmp_path / "list.txt", [HEADER, "a/00001.jpg,", "a/00002.jpg,", "a/00002.jpg,", "b/00003.jpg,"])
    write(tmp_path / "p.txt", [HEADER, "b/00003.jpg,0.3,-0.2,2,0,0,0,1,0,0,0,0,0,0,0,0",
                               "a/00001.jpg,0.1,0.2,3,0,1,0,0,0,0,1,0,0,0,0,0",
                               "a/00002.jpg,-0.4,0.5,1,1,1,0,0,0,0,0,0,0,0,0,1"])
    summary = multitask.validate_mtl(tmp_path / "p.txt", "abaw4", template=template)
    assert summary == {
        "track": "mtl", "edition": "abaw4", "format": "mtl", "n_videos": 2, "n_rows": 3,
        "reference": f"template {template}",
        "notes": ["the test list's rows end with a comma ('video/00001.jpg,')",
                  "the submission's rows are not in the test list's order: matched by image name (whether the "
                  "organisers require the order is not known)",
                  "the test list lists 1 image(s) more than once (1 extra row(s)); each listing is a row of its own"],
        "valid": True}


def test_validate_against_a_ground_truth_returns_this_summary_word_for_word(tmp_path):
    """A ground truth with a row without any label (which needs no prediction) and a row
    missing one AU; the submission leaves the unlabelled row out and swaps two rows."""
    truth = write(tmp_path / "d" / "validation_set.txt", [
        HEADER, "a/00001.jpg,0.1,0.2,3,0,1,0,0,0,0,1,0,0,0,0,0",
        "a/00002.jpg,-5,-5,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1",  # no label at all
        "a/00003.jpg,-0.4,0.5,1,1,-1,0,0,0,0,0,0,0,0,0,1",  # AU2 missing only
        "b/00004.jpg,0.3,-0.2,2,0,0,0,1,0,0,0,0,0,0,0,0"])
    write(tmp_path / "p.txt", [HEADER, "a/00003.jpg,-0.4,0.5,1,1,0,0,0,0,0,0,0,0,0,0,1",
                               "a/00001.jpg,0.1,0.2,3,0,1,0,0,0,0,1,0,0,0,0,0",
                               "b/00004.jpg,0.3,-0.2,2,0,0,0,1,0,0,0,0,0,0,0,0"])
    summary = multitask.validate_mtl(tmp_path / "p.txt", "abaw7", data=tmp_path / "d")
    assert summary == {
        "track": "mtl", "edition": "abaw7", "format": "mtl", "n_videos": 2, "n_rows": 3,
        "reference": f"the ground truth in {truth}",
        "notes": ["1 ground-truth row(s) have -1 in some AUs only: their AUs are dropped as a whole",
                  "the submission's rows are not in the ground truth's order: matched by image name (whether the "
                  "organisers require the order is not known)"],
        "valid": True}


def test_validate_refuses_a_list_of_videos_word_for_word(tmp_path):
    with pytest.raises(scoring.ScoringError) as caught:
        multitask.validate_mtl(tmp_path / "p.txt", "abaw3", videos=tmp_path / "videos.txt")
    assert str(caught.value) == ("an MTL submission is checked against the test list of images (--template FILE, or "
                                 "--data ROOT --split test), not a list of videos")


def test_validate_without_a_reference_asks_for_one_word_for_word(tmp_path):
    with pytest.raises(scoring.ScoringError) as caught:
        multitask.validate_mtl(tmp_path / "p.txt", "abaw4")
    assert str(caught.value) == "give the reference to check against: --data ROOT, or --template FILE (the test list)"


def test_a_missing_test_list_is_described_word_for_word(tmp_path):
    write(tmp_path / "d" / "validation_set.txt", [HEADER, "a/00001.jpg,0.1,0.2,3,0,1,0,0,0,0,1,0,0,0,0,0"])
    with pytest.raises(multitask.MtlError) as caught:
        multitask.locate_mtl_test_list(tmp_path / "d", "abaw4")
    assert str(caught.value) == (f"{tmp_path / 'd'}: no MTL test list found (a .txt starting "
                                 "'image,valence,arousal,expression,aus' followed by one image per row, e.g. "
                                 "mtl_challenge_test_set_release.txt); pass it with --template")


def test_some_aus_only_counts_a_missing_first_au_and_not_rows_without_any_au(tmp_path):
    """Two rows miss AU1 only (the first AU column counts), one row misses all twelve (not
    'some'): the note says 2."""
    truth = write(tmp_path / "d" / "validation_set.txt", [
        HEADER, "a/00001.jpg,0.1,0.2,3,-1,1,0,0,0,0,1,0,0,0,0,0",
        "a/00002.jpg,0.4,0.3,1,-1,0,0,0,0,0,0,0,0,0,0,1",
        "a/00003.jpg,0.3,-0.2,2,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1",
        "a/00004.jpg,0.5,0.1,0,1,0,0,0,0,0,0,0,0,0,0,0"])
    assert multitask.truth_notes(formats.read_mtl(truth, "truth")) == [
        "2 ground-truth row(s) have -1 in some AUs only: their AUs are dropped as a whole"]
