"""AFEW-VA reader, against hand-written clips: the annotation table cell by cell, error
messages word for word, landmark boxes worked out by hand, read_afew_va's defaults."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from abawbench.data.afew_va import landmark_boxes, read_afew_va, read_afew_va_annotations
from abawbench.data.crops import default_cache_dir


def _landmarks(x0, y0, x1, y1):
    """68 points spanning exactly [x0, x1] x [y0, y1]: point 0 at the top left corner,
    point 1 at the bottom right, the rest strictly inside."""
    inner = [[(x0 + x1) / 2, (y0 + y1) / 2]] * 66
    return [[x0, y0], [x1, y1]] + inner


def _write_clip(root: Path, name: str, frames: dict, pngs: bool = False) -> Path:
    clip = root / name
    clip.mkdir(parents=True)
    record = {"actor": "Zoë", "video_id": name, "frames": frames}
    (clip / f"{name}.json").write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
    if pngs:
        for k, key in enumerate(sorted(frames)):
            Image.fromarray(np.full((48, 64, 3), 30 * k, dtype=np.uint8)).save(clip / f"{key}.png")
    return clip


def test_annotation_table_cell_by_cell(tmp_path):
    """Two clips (frames listed out of order), an empty clip, and folders or files that
    are not clips; the landmark box has x and y extents that differ, and arousal given as
    a numeric string is read as that integer."""
    root = tmp_path / "AFEW-VA"
    _write_clip(root, "002", {
        "00001": {"valence": 10, "arousal": "-7", "landmarks": _landmarks(5, 6, 25, 46)},
        "00000": {"valence": -10, "arousal": 3, "landmarks": _landmarks(1, 2, 3, 4)},
    })
    _write_clip(root, "001", {"00000": {"valence": 0, "arousal": -10, "landmarks": _landmarks(10, 20, 30, 60)}})
    _write_clip(root, "007", {})  # a clip with no annotated frame adds no row
    (root / "notes").mkdir()  # not a clip: its name is not a number
    (root / "003").write_text("a file, not a clip folder")
    table = read_afew_va_annotations(root)
    assert list(table.columns) == ["clip", "key", "valence", "arousal", "x0", "y0", "x1", "y1", "where"]
    assert table["clip"].tolist() == ["001", "002", "002"] and table["key"].tolist() == ["00000", "00000", "00001"]
    assert table["where"].tolist() == [f"{root / '001' / '001.json'}: frame 00000",
                                       f"{root / '002' / '002.json'}: frame 00000",
                                       f"{root / '002' / '002.json'}: frame 00001"]
    expected = pd.DataFrame({
        "valence": np.array([0, -10, 10], dtype=np.int64), "arousal": np.array([-10, 3, -7], dtype=np.int64),
        "x0": [10.0, 1.0, 5.0], "y0": [20.0, 2.0, 6.0], "x1": [30.0, 3.0, 25.0], "y1": [60.0, 4.0, 46.0],
    })
    pd.testing.assert_frame_equal(table[list(expected.columns)], expected)  # int64 values, index 0..2
    assert list(table.index) == [0, 1, 2]


def test_annotation_file_read_as_utf8_whatever_the_locale(tmp_path):
    """A JSON with non-ASCII text (the actor's name) reads under a plain C/ASCII locale too."""
    root = tmp_path / "AFEW-VA"
    _write_clip(root, "001", {"00000": {"valence": 1, "arousal": 2, "landmarks": _landmarks(0, 0, 8, 8)}})
    env = dict(os.environ, LC_ALL="C", LANG="C", PYTHONUTF8="0", PYTHONCOERCECLOCALE="0",
               PYTHONPATH=os.pathsep.join(sys.path))
    code = ("import sys; from abawbench.data.afew_va import read_afew_va_annotations as r; "
            "t = r(sys.argv[1]); print(t['valence'].tolist(), t['arousal'].tolist())")
    done = subprocess.run([sys.executable, "-c", code, str(root)], env=env, capture_output=True, text=True)
    assert (done.returncode, done.stdout) == (0, "[1] [2]\n"), done.stderr


@pytest.mark.parametrize("content, message", [
    ("[1, 2]", "{path}: expected an object with a 'frames' mapping"),
    ('{"frames": [1]}', "{path}: expected an object with a 'frames' mapping"),
])
def test_record_without_frames_mapping_is_refused_word_for_word(tmp_path, content, message):
    clip = tmp_path / "001"
    clip.mkdir()
    (clip / "001.json").write_text(content)
    with pytest.raises(ValueError) as caught:
        read_afew_va_annotations(tmp_path)
    assert str(caught.value) == message.format(path=clip / "001.json")


def test_value_out_of_range_message_word_for_word(tmp_path):
    clip = _write_clip(tmp_path, "001", {
        "00000": {"valence": 2, "arousal": 0, "landmarks": _landmarks(0, 0, 8, 8)},
        "00001": {"valence": 11, "arousal": 0, "landmarks": _landmarks(0, 0, 8, 8)},
    })
    with pytest.raises(ValueError) as caught:
        read_afew_va_annotations(tmp_path)
    assert str(caught.value) == f"{clip / '001.json'}: frame 00001: valence must be an integer in [-10, 10], found 11.0"


def test_root_without_clips_message_word_for_word(tmp_path):
    (tmp_path / "readme").mkdir()
    with pytest.raises(ValueError) as caught:
        read_afew_va_annotations(tmp_path)
    assert str(caught.value) == f"{tmp_path}: no AFEW-VA clip folders (expected 001/001.json, …)"


def test_landmark_box_worked_by_hand():
    """Extent 20 x 40 around centre (20, 40): side 40 * (1 + 2 * 0.15) = 52, so the box is
    20 ± 26 by 40 ± 26; with margin 0.5 the side is 80."""
    assert [float(v) for v in landmark_boxes(10, 20, 30, 60)] == pytest.approx([-6.0, 14.0, 46.0, 66.0])
    assert [float(v) for v in landmark_boxes(10, 20, 30, 60, margin=0.5)] == pytest.approx([-20.0, 0.0, 60.0, 80.0])


def test_landmark_box_of_small_integer_arrays_does_not_overflow():
    """Coordinates held as uint8 (200..250) are summed as floats, not wrapped modulo 256."""
    u8 = lambda v: np.array([v], dtype=np.uint8)  # noqa: E731
    left, top, right, bottom = landmark_boxes(u8(200), u8(210), u8(250), u8(240))
    # extent max(50, 30) = 50, side 65, centre (225, 225)
    assert [float(left[0]), float(top[0]), float(right[0]), float(bottom[0])] == pytest.approx(
        [192.5, 192.5, 257.5, 257.5])


def test_read_afew_va_defaults(tmp_path, capfd, monkeypatch):
    """Defaults: 112-pixel crops in the default cache folder for (root, 112), no progress output."""
    root = tmp_path / "AFEW-VA"
    _write_clip(root, "001", {"00000": {"valence": 4, "arousal": -3, "landmarks": _landmarks(20, 10, 40, 30)}},
                pngs=True)
    monkeypatch.chdir(tmp_path)  # a crop folder named by mistake ("None") would land here
    table = read_afew_va(root)
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")
    assert table.attrs["size"] == 112
    assert table.attrs["cache_dir"] == str(default_cache_dir(root.resolve(), 112))
    crop = Path(table.attrs["cache_dir"]) / "001_00000.jpg"
    assert Image.open(crop).size == (112, 112)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["AFEW-VA"]
    assert table["valence"].tolist() == pytest.approx([0.4]) and table["arousal"].tolist() == pytest.approx([-0.3])


def test_read_afew_va_writes_crops_where_asked(tmp_path, monkeypatch):
    root = tmp_path / "AFEW-VA"
    monkeypatch.chdir(tmp_path)
    _write_clip(root, "001", {"00000": {"valence": 4, "arousal": -3, "landmarks": _landmarks(20, 10, 40, 30)}},
                pngs=True)
    table = read_afew_va(root, size=32, cache_dir=tmp_path / "crops")
    assert table.attrs["cache_dir"] == str((tmp_path / "crops").resolve())
    assert [p.name for p in (tmp_path / "crops").iterdir()] == ["001_00000.jpg"]
    assert Image.open(tmp_path / "crops" / "001_00000.jpg").size == (32, 32)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["AFEW-VA", "crops"]
