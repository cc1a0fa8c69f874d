"""read_afew_va's table against a hand-built AFEW-VA folder: columns, dtypes, the int8
``extra`` columns, 1-based frame numbers, crop paths, ``attrs`` written out in full, and
what it passes to crop_faces (clipping, cache, progress bar and its description)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from abawbench.data.afew_va import read_afew_va


def _landmarks(x0, y0, x1, y1):
    """68 points spanning exactly [x0, x1] x [y0, y1]."""
    return [[x0, y0], [x1, y1]] + [[(x0 + x1) / 2, (y0 + y1) / 2]] * 66


def _write_clip(root: Path, name: str, frames: dict, pngs: tuple[str, ...]) -> None:
    clip = root / name
    clip.mkdir(parents=True)
    (clip / f"{name}.json").write_text(json.dumps({"actor": "x", "video_id": name, "frames": frames}))
    for key in pngs:
        Image.fromarray(np.full((48, 64, 3), 90, dtype=np.uint8)).save(clip / f"{key}.png")


def test_table_columns_extra_int8_frames_paths_and_attrs_exactly(tmp_path, monkeypatch, caplog, progress_tasks):
    """Three frames of clip 001; 00001.png is missing (skipped). Landmark box 0..40 grows to
    -6..46 (side 40 * 1.3 = 52 around 20), which overhangs the 64x48 frame: it must be clipped,
    not refused. Frame keys 00000 and 00009 are frames 1 and 10."""
    monkeypatch.chdir(tmp_path)  # a crop path built from str(None) would land here, not in the tree
    root = (tmp_path / "AFEW-VA").resolve()
    box = _landmarks(0, 0, 40, 40)
    _write_clip(root, "001", {
        "00000": {"valence": 10, "arousal": -7, "landmarks": box},
        "00001": {"valence": -10, "arousal": 0, "landmarks": box},
        "00009": {"valence": 3, "arousal": 10, "landmarks": box},
    }, pngs=("00000", "00009"))
    crops = (tmp_path / "crops").resolve()
    with caplog.at_level(logging.WARNING):
        table = read_afew_va(root, size=16, progress=True, cache_dir=crops)

    assert list(table.columns) == ["source", "video", "frame", "path", "expr", "valence", "arousal",
                                   "afew_valence", "afew_arousal"]
    assert table["frame"].dtype == np.int32 and table["frame"].tolist() == [1, 10]
    assert table["video"].astype(str).tolist() == ["001", "001"]
    assert table["path"].tolist() == [str(crops / "001_00000.jpg"), str(crops / "001_00009.jpg")]
    assert table["expr"].tolist() == [-1, -1]
    assert table["valence"].tolist() == pytest.approx([1.0, 0.3])
    assert table["arousal"].tolist() == pytest.approx([-0.7, 1.0])
    assert table["afew_valence"].dtype == np.int8 and table["afew_valence"].tolist() == [10, 3]
    assert table["afew_arousal"].dtype == np.int8 and table["afew_arousal"].tolist() == [-7, 10]
    assert table.attrs == {
        "root": str(root), "database": "afew_va", "size": 16, "cache_dir": str(crops),
        "skipped": [{"image": str(root / "001" / "00001.png"), "reason": "missing file",
                     "where": f"{root / '001' / '001.json'}: frame 00001"}],
    }
    assert sorted(p.name for p in crops.iterdir()) == ["001_00000.jpg", "001_00009.jpg"]
    with Image.open(crops / "001_00000.jpg") as crop:
        assert crop.size == (16, 16)
    assert progress_tasks == [("AFEW-VA frames", 3)]  # one task per picture, missing one included
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == [
        "AFEW-VA frames: skipped 1 face(s) whose image could not be read, "
        f"e.g. {root / '001' / '00001.png'} (missing file)"]


def test_cache_false_recrops_over_an_existing_crop(tmp_path):
    """With cache=False a crop already in cache_dir is made again (here: a stale 5x5 one
    becomes 16x16); the default cache=True would have kept it."""
    root = (tmp_path / "AFEW-VA").resolve()
    _write_clip(root, "001", {"00000": {"valence": 1, "arousal": 2, "landmarks": _landmarks(10, 10, 30, 30)}},
                pngs=("00000",))
    crops = (tmp_path / "crops").resolve()
    crops.mkdir()
    Image.new("RGB", (5, 5)).save(crops / "001_00000.jpg")
    read_afew_va(root, size=16, cache=False, cache_dir=crops)
    with Image.open(crops / "001_00000.jpg") as crop:
        assert crop.size == (16, 16)


def test_frame_key_that_is_not_a_whole_number_is_refused_not_truncated(tmp_path):
    """A frame named "00001.5" (with its PNG present) has no 1-based frame number: the
    reader raises ValueError rather than reading it as frame 2 (1.5 + 1 cut to int)."""
    root = (tmp_path / "AFEW-VA").resolve()
    _write_clip(root, "001", {"00001.5": {"valence": 1, "arousal": 2, "landmarks": _landmarks(10, 10, 30, 30)}},
                pngs=("00001.5",))
    with pytest.raises(ValueError, match="invalid literal for int"):
        read_afew_va(root, size=8, cache_dir=tmp_path / "crops")
