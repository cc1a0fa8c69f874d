"""The MTL ground truth: which of its rows carry a valid label of each part (``label_masks``) and
how its file is found under a data root (``locate_mtl_truth``), with its error messages word for word."""

from pathlib import Path

import numpy as np
import pytest

from abawbench import multitask
from abawbench.tracks import MTL_HEADER

HEADER = ",".join(MTL_HEADER)
ROW = "a/00001.jpg,0.1,0.2,3,0,1,0,0,0,0,1,0,0,0,0,0"


def write_truth(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(f"{HEADER}\n{ROW}\n")
    return folder / name


# ---------------------------------------------------------------- label_masks


def test_label_masks_drop_va_for_minus_five_in_either_column_expr_for_minus_one_aus_for_any_minus_one():
    aus = [0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0]
    rows = np.array([
        [0.1, 0.2, 3] + aus,                   # all valid
        [-5, 0.2, 3] + aus,                    # valence -5 only
        [0.1, -5, 3] + aus,                    # arousal -5 only
        [0.1, 0.2, -1] + aus,                  # EXPR -1
        [0.1, 0.2, 3] + [-1] + aus[1:],        # AU1 -1 (the first AU column)
        [0.1, 0.2, 3] + aus[:-1] + [-1],       # AU26 -1 (the last AU column)
        [5, 5, -5] + aus,                      # +5 is a value; -5 in EXPR says nothing of VA
        [-5, -5, -1] + [-1] * 12,              # nothing valid
    ], dtype=float)
    va, expr, au = multitask.label_masks(rows)
    assert va.tolist() == [True, False, False, True, True, True, True, False]
    assert expr.tolist() == [True, True, True, False, True, True, True, False]
    assert au.tolist() == [True, True, True, True, False, False, True, False]


# ---------------------------------------------------------------- locate_mtl_truth


def test_missing_ground_truth_message_names_the_edition_files_and_every_mtl_file_seen(tmp_path):
    write_truth(tmp_path / "d", "validation_set_annotations.txt")
    write_truth(tmp_path / "d", "misc.txt")  # no split in its name
    (tmp_path / "d" / "MTL.txt").write_text(f"{HEADER}\na/00001.jpg,\n")
    with pytest.raises(multitask.MtlError) as caught:
        multitask.locate_mtl_truth(tmp_path, "train", "abaw4")
    assert str(caught.value) == (
        f"{tmp_path}: no MTL ground truth for the train split (looked for .txt files starting with the header "
        "'image,valence,arousal,expression,aus' whose rows carry 16 fields, named for their split, "
        "ABAW4: training_set_annotations.txt or validation_set_annotations.txt); MTL files found: "
        "MTL.txt (test list, test), misc.txt (annotations, split unknown), "
        "validation_set_annotations.txt (annotations, validation)")


def test_missing_ground_truth_message_says_none_when_no_mtl_file_is_there(tmp_path):
    (tmp_path / "notes.txt").write_text("nothing of MTL\n")
    with pytest.raises(multitask.MtlError) as caught:
        multitask.locate_mtl_truth(tmp_path, "validation", "abaw3")
    assert str(caught.value) == (
        f"{tmp_path}: no MTL ground truth for the validation split (looked for .txt files starting with the header "
        "'image,valence,arousal,expression,aus' whose rows carry 16 fields, named for their split, "
        "ABAW3: train_set.txt or validation_set.txt); MTL files found: none")


def test_of_several_candidates_the_one_the_edition_names_is_chosen(tmp_path):
    write_truth(tmp_path / "a", "val_copy.txt")
    abaw3 = write_truth(tmp_path / "b", "validation_set.txt")
    abaw7 = write_truth(tmp_path / "c", "validation_set_annotations.txt")
    assert multitask.locate_mtl_truth(tmp_path, "validation", "abaw3").path == abaw3
    assert multitask.locate_mtl_truth(tmp_path, "validation", "abaw7").path == abaw7
    only = write_truth(tmp_path / "t", "train_copy.txt")  # one candidate: taken whatever its name
    assert multitask.locate_mtl_truth(tmp_path, "train", "abaw4").path == only


def test_several_unnamed_candidates_are_refused_with_the_root_and_every_path(tmp_path):
    first = write_truth(tmp_path / "a", "val_copy.txt")
    second = write_truth(tmp_path / "b", "val_other.txt")
    with pytest.raises(multitask.MtlError) as caught:
        multitask.locate_mtl_truth(tmp_path, "validation", "abaw4")
    message = str(caught.value)
    listed = message[message.index("(") + 1:message.rindex(")")].split("; ")
    assert sorted(listed) == sorted([str(first), str(second)])
    assert message == (f"{tmp_path}: several MTL validation ground-truth files ({'; '.join(listed)}); "
                       "pass --data the folder of the one to use")
