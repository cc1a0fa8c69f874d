"""read_affectnet's table against a hand-built AffectNet folder: columns, dtypes (int8
``expr`` and ``affectnet_label``), names built from ``subDirectory_filePath``, crop paths
relative to the root, -2 valence/arousal marking, ``attrs`` written out in full, and what
it passes to crop_faces (cache, progress bar and its description)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from abawbench.data.affectnet import read_affectnet

HEADER = "subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,valence,arousal"


def _write(root: Path, split: str, rows: list[str], images: list[str]) -> Path:
    lists = root / "Manually_Annotated_file_lists"
    lists.mkdir(parents=True, exist_ok=True)
    csv = lists / f"{split}.csv"
    csv.write_text("\n".join([HEADER, *rows]) + "\n")
    for name in images:
        path = root / "Manually_Annotated_Images" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (20, 20), (10, 20, 30)).save(path, format="JPEG")
    return csv


def test_table_columns_dtypes_names_paths_missing_va_and_attrs_exactly(tmp_path, monkeypatch, caplog, progress_tasks):
    """Line 2 "1/a.b.jpg" (two dots: only the extension goes) has arousal -2 alone, line 3
    "2\\c.jpg" (a Windows separator: becomes "2_c") has valence -2 alone; either one marks
    both -5. Lines 4 and 7 (classes 7 and 9) are dropped, line 5's image is missing
    (skipped). Crops go inside the root, so their paths are relative to it."""
    monkeypatch.chdir(tmp_path)
    root = (tmp_path / "AffectNet").resolve()
    csv = _write(root, "validation", [
        "1/a.b.jpg,2,3,10,12,,1,0.5,-2",
        "2\\c.jpg,0,0,20,20,,6,-2,0.25",
        "3/d.jpg,0,0,5,5,,7,0,0",
        "3/e.jpg,0,0,5,5,,0,0,0",
        "4/f.jpg,1,1,4,4,,3,-1,1",
        "3/g.jpg,0,0,5,5,,9,0,0",
    ], images=["1/a.b.jpg", "2\\c.jpg", "4/f.jpg"])
    crops = root / "crops"
    with caplog.at_level(logging.WARNING):
        table = read_affectnet(root, "validation", size=8, progress=True, cache_dir=crops)

    expected = pd.DataFrame({
        "source": pd.Categorical(["affectnet"] * 3),
        "video": pd.Categorical(["1_a.b", "2_c", "4_f"]),
        "frame": np.array([1, 1, 1], dtype=np.int32),
        "path": np.array(["crops/1_a.b.jpg", "crops/2_c.jpg", "crops/4_f.jpg"], dtype=object),
        "expr": np.array([4, 1, 6], dtype=np.int8),
        "valence": np.array([-5, -5, -1], dtype=np.float32),
        "arousal": np.array([-5, -5, 1], dtype=np.float32),
        "affectnet_label": np.array([1, 6, 3], dtype=np.int8),
        "image": np.array(["1/a.b.jpg", "2\\c.jpg", "4/f.jpg"], dtype=object),
    })
    pd.testing.assert_frame_equal(table, expected, check_column_type=True)
    assert table.attrs == {
        "root": str(root), "database": "affectnet", "split": "validation", "size": 8,
        "cache_dir": str(crops), "dropped": {7: 1, 9: 1},
        "skipped": [{"image": str(root / "Manually_Annotated_Images" / "3" / "e.jpg"), "reason": "missing file",
                     "where": f"{csv}:5"}],
    }
    assert sorted(p.name for p in crops.iterdir()) == ["1_a.b.jpg", "2_c.jpg", "4_f.jpg"]
    assert progress_tasks == [("AffectNet validation", 4)]  # one per image to crop, the missing one included
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == [
        "AffectNet validation: skipped 1 face(s) whose image could not be read, "
        f"e.g. {root / 'Manually_Annotated_Images' / '3' / 'e.jpg'} (missing file)"]


def test_cache_false_recrops_over_an_existing_crop(tmp_path):
    """With cache=False a crop already in cache_dir is made again (a stale 5x5 one becomes
    8x8); the default cache=True would have kept it."""
    root = (tmp_path / "AffectNet").resolve()
    _write(root, "training", ["1/a.jpg,2,3,10,12,,1,0.5,-0.25"], images=["1/a.jpg"])
    crops = (tmp_path / "crops").resolve()
    crops.mkdir()
    Image.new("RGB", (5, 5)).save(crops / "1_a.jpg")
    read_affectnet(root, size=8, cache=False, cache_dir=crops)
    with Image.open(crops / "1_a.jpg") as crop:
        assert crop.size == (8, 8)


def test_default_cache_dir_is_the_one_for_the_root_and_size(tmp_path, monkeypatch):
    """Without cache_dir the crops go to the user cache's folder for (root, size): here
    ABAWBENCH_CACHE points into tmp_path; a size-16 call must not share the size-8 folder."""
    from abawbench import cache

    monkeypatch.setenv("ABAWBENCH_CACHE", str(tmp_path / "user-cache"))
    root = (tmp_path / "AffectNet").resolve()
    _write(root, "training", ["1/a.jpg,2,3,10,12,,1,0.5,-0.25"], images=["1/a.jpg"])
    small = read_affectnet(root, size=8).attrs["cache_dir"]
    large = read_affectnet(root, size=16).attrs["cache_dir"]
    assert small == str(cache.folder_for("crops", (str(root), "8")))
    assert large == str(cache.folder_for("crops", (str(root), "16")))
    assert small != large
    with Image.open(Path(large) / "1_a.jpg") as crop:
        assert crop.size == (16, 16)
