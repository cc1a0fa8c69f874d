"""Tests of abawbench.data.afew_va against the synthetic AFEW-VA and broken copies."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from abawbench.data.afew_va import AFEW_VA_SCALE, landmark_boxes, read_afew_va


@pytest.fixture(scope="module")
def table(synthetic_data):
    out, _ = synthetic_data
    return read_afew_va(out / "afew_va")


def test_json_has_the_real_structure(synthetic_data):
    out, manifest = synthetic_data
    for clip, info in manifest["afew_va"]["samples"].items():
        record = json.loads((out / "afew_va" / clip / f"{clip}.json").read_text())
        assert set(record) == {"actor", "frames", "video_id"} and record["video_id"] == clip
        assert sorted(record["frames"]) == info["keys"] == [f"{i:05d}" for i in range(len(info["keys"]))]
        frame = record["frames"]["00000"]
        assert set(frame) == {"valence", "arousal", "landmarks"}
        assert isinstance(frame["valence"], int) and -10 <= frame["valence"] <= 10
        assert np.asarray(frame["landmarks"]).shape == (68, 2)
        assert sorted(p.name for p in (out / "afew_va" / clip).glob("*.png")) == [f"{k}.png" for k in info["keys"]]


def test_values_read_back_divided_by_ten(synthetic_data, table):
    _, manifest = synthetic_data
    rows = []
    for clip, info in manifest["afew_va"]["samples"].items():
        rows.append(pd.DataFrame({"video": clip, "frame": np.arange(1, len(info["keys"]) + 1),
                                  "v": info["valence"], "a": info["arousal"]}))
    drawn = pd.concat(rows)
    corrupt = {(c, int(k) + 1) for c, k in manifest["afew_va"]["corrupt_frames"]}
    drawn = drawn[[(v, f) not in corrupt for v, f in zip(drawn["video"], drawn["frame"])]]
    merged = table.astype({"video": str}).merge(drawn, on=["video", "frame"], validate="1:1")
    assert len(merged) == len(table) == len(drawn)
    assert np.allclose(merged["valence"], merged["v"] / AFEW_VA_SCALE)
    assert np.allclose(merged["arousal"], merged["a"] / AFEW_VA_SCALE)
    assert (table["expr"] == -1).all() and table["valence"].between(-1, 1).all()
    assert table["source"].iloc[0] == "afew_va" and table["frame"].min() == 1


def test_crops_follow_the_landmarks(synthetic_data, table):
    """The crop is the landmark box with a margin: its middle is skin, not scenery."""
    out, _ = synthetic_data
    row = table.iloc[3]
    record = json.loads((out / "afew_va" / row["video"] / f"{row['video']}.json").read_text())
    points = np.asarray(record["frames"][f"{row['frame'] - 1:05d}"]["landmarks"])
    left, top, right, bottom = (float(v) for v in landmark_boxes(*points.min(0), *points.max(0)))
    assert right - left == pytest.approx(bottom - top)
    assert left < points[:, 0].min() and right > points[:, 0].max() and top < points[:, 1].min()
    frame = Image.open(out / "afew_va" / row["video"] / f"{row['frame'] - 1:05d}.png").convert("RGB")
    nose = np.asarray(frame)[int(points[30, 1]), int(points[30, 0]) - 3].astype(int)  # beside the nose tip
    crop = np.asarray(Image.open(out / "afew_va" / row["path"]), dtype=int)
    assert crop.shape == (112, 112, 3)
    centre = crop[50:62, 50:62].reshape(-1, 3).mean(axis=0)
    assert np.abs(centre - nose).sum() < 60


def test_corrupt_frame_skipped(synthetic_data, table):
    _, manifest = synthetic_data
    (clip, key), = manifest["afew_va"]["corrupt_frames"]
    assert not ((table["video"] == clip) & (table["frame"] == int(key) + 1)).any()
    assert [s["image"].endswith(f"{clip}/{key}.png") for s in table.attrs["skipped"]] == [True]


def test_crops_are_cached(synthetic_data, table):
    out, _ = synthetic_data
    cache = Path(table.attrs["cache_dir"])
    assert (out / "afew_va") not in cache.parents  # crops go to the user's cache, not the database
    before = {p: p.stat().st_mtime_ns for p in cache.iterdir()}
    again = read_afew_va(out / "afew_va")
    assert {p: p.stat().st_mtime_ns for p in cache.iterdir()} == before
    pd.testing.assert_frame_equal(again, table)


@pytest.fixture
def copy(database_copy):
    return database_copy("afew_va")


@pytest.mark.parametrize("change, message", [
    (lambda f: f.update(valence=11), "valence must be an integer in"),
    (lambda f: f.update(arousal=2.5), "arousal must be an integer"),
    (lambda f: f.update(valence="high"), "valence and arousal must be numbers"),
    (lambda f: f.pop("arousal"), "valence and arousal must be numbers"),
    (lambda f: f.update(landmarks=f["landmarks"][:67]), "68"),
    (lambda f: f.update(landmarks=[["a", 1]] * 68), "landmarks must be 68"),
])
def test_malformed_json_names_file_and_frame(copy, change, message):
    path = copy / "002" / "002.json"
    record = json.loads(path.read_text())
    change(record["frames"]["00004"])
    path.write_text(json.dumps(record))
    with pytest.raises(ValueError, match=rf"002\.json: frame 00004: .*{message}"):
        read_afew_va(copy)


def test_broken_json_and_missing_json(copy):
    (copy / "002" / "002.json").write_text('{"frames": {"00000": ')
    with pytest.raises(ValueError, match=r"002\.json:1: not valid JSON"):
        read_afew_va(copy)
    (copy / "002" / "002.json").unlink()
    with pytest.raises(ValueError, match=r"002\.json: missing annotation file"):
        read_afew_va(copy)


def test_hand_written_clip_is_scaled_by_the_published_definition(tmp_path):
    """AFEW-VA's definition (Kossaifi et al. 2017): valence and arousal are integers in
    [-10, 10]; Aff-Wild2's are in [-1, 1], so the value read is the integer / 10. Written
    out here, not taken from the reader or the generator."""
    root = tmp_path / "AFEW-VA"
    clip = root / "001"
    clip.mkdir(parents=True)
    valence, arousal = [-10, 3, 10, 0], [5, -7, 0, -10]
    xs, ys = np.meshgrid(np.linspace(20, 44, 17), np.linspace(18, 46, 4))
    landmarks = np.stack([xs.ravel(), ys.ravel()], axis=1).tolist()  # 68 points inside a 64-px frame
    frames = {}
    for k, (v, a) in enumerate(zip(valence, arousal)):
        Image.fromarray(np.full((64, 64, 3), 40 * k, dtype=np.uint8)).save(clip / f"{k:05d}.png")
        frames[f"{k:05d}"] = {"valence": v, "arousal": a, "landmarks": landmarks}
    (clip / "001.json").write_text(json.dumps({"actor": "someone", "video_id": "001", "frames": frames}))
    table = read_afew_va(root, cache_dir=tmp_path / "crops").sort_values("frame")
    assert table["frame"].tolist() == [1, 2, 3, 4]  # 00000.png is frame 1
    assert table["valence"].tolist() == pytest.approx([-1.0, 0.3, 1.0, 0.0])
    assert table["arousal"].tolist() == pytest.approx([0.5, -0.7, 0.0, -1.0])
    assert table["afew_valence"].tolist() == valence and table["afew_arousal"].tolist() == arousal
    assert (table["expr"] == -1).all()  # AFEW-VA has no expression label
