"""AffectNet's label CSV read cell by cell from hand-written files: boundaries, defaults, messages."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from abawbench.data.affectnet import read_affectnet, read_affectnet_labels

HEADER = "subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,valence,arousal"


def write_csv(root: Path, rows: list[str], split: str = "training") -> Path:
    folder = root / "Manually_Annotated_file_lists"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{split}.csv"
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    return path


def test_labels_table_cell_by_cell_at_the_boundaries(tmp_path):
    """Zero corner, 1-pixel box and valence/arousal at -1, 1 and -2 are all accepted; the
    default split is training."""
    write_csv(tmp_path, ["1/a.jpg,0,0,1,1,1;2,0,-1,1",
                         "2/b.jpg,3,4,5,6,7;8;9;10,6,1,-2",
                         "3/c.jpg,1,2,3,4,,10,-2,-1"])
    table = read_affectnet_labels(tmp_path)
    expected = pd.DataFrame({
        "subDirectory_filePath": ["1/a.jpg", "2/b.jpg", "3/c.jpg"],
        "face_x": np.array([0, 3, 1], dtype=np.int64), "face_y": np.array([0, 4, 2], dtype=np.int64),
        "face_width": np.array([1, 5, 3], dtype=np.int64), "face_height": np.array([1, 6, 4], dtype=np.int64),
        "facial_landmarks": ["1;2", "7;8;9;10", ""],
        "expression": np.array([0, 6, 10], dtype=np.int64),
        "valence": [-1.0, 1.0, -2.0], "arousal": [1.0, -2.0, -1.0],
        "line": np.array([2, 3, 4], dtype=np.int64),
    })
    pd.testing.assert_frame_equal(table, expected)


def test_unknown_split_message(tmp_path):
    with pytest.raises(ValueError) as info:
        read_affectnet_labels(tmp_path, "test")
    assert str(info.value) == "unknown AffectNet split 'test'; expected one of training, validation"


@pytest.mark.parametrize("row, message", [
    ("1/a.jpg,0,0,1,1,,0,-1.5,0", "valence must be in [-1, 1] or -2 (no label)"),
    ("1/a.jpg,0,0,1,0,,0,0,0", "face_width and face_height must be positive"),
    ("1/a.jpg,0,0,0,1,,0,0,0", "face_width and face_height must be positive"),
    ("1/a.jpg,-1,0,1,1,,0,0,0", "face box starts outside the image (negative face_x or face_y)"),
    ("1/a.jpg,0,-1,1,1,,0,0,0", "face box starts outside the image (negative face_x or face_y)"),
    (",0,0,1,1,,0,0,0", "subDirectory_filePath is empty"),
])
def test_bad_row_message_names_file_and_line(tmp_path, row, message):
    path = write_csv(tmp_path, ["1/ok.jpg,0,0,1,1,,0,0,0", row], split="validation")
    with pytest.raises(ValueError) as info:
        read_affectnet_labels(tmp_path, "validation")
    assert str(info.value) == f"{path}:3: {message}"


def test_read_affectnet_defaults_training_112_no_progress(tmp_path, monkeypatch):
    """Without split, size or progress: the training split, 112-pixel crops, no progress bar."""
    import rich.progress

    def no_bar(*args, **kwargs):
        raise AssertionError("a progress bar was started")

    monkeypatch.setattr(rich.progress, "Progress", no_bar)
    root = tmp_path / "affectnet"
    write_csv(root, ["1/a.jpg,2,3,10,12,,1,0.5,-0.25"])
    (root / "Manually_Annotated_Images/1").mkdir(parents=True)
    Image.new("RGB", (20, 20), (10, 20, 30)).save(root / "Manually_Annotated_Images/1/a.jpg")
    table = read_affectnet(root, cache_dir=tmp_path / "cache")
    assert table.attrs["split"] == "training" and table.attrs["size"] == 112
    assert list(table["video"]) == ["1_a"] and list(table["expr"]) == [4]
    with Image.open(tmp_path / "cache" / "1_a.jpg") as crop:
        assert crop.size == (112, 112)
