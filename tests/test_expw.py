"""Tests of abawbench.data.expw against the synthetic ExpW and hand-made broken files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from abawbench.data.expw import EXPW_CLASSES, EXPW_TO_AFFWILD2, read_expw
from abawbench.tracks import EXPR_CLASSES_7


@pytest.fixture(scope="module")
def table(synthetic_data):
    out, _ = synthetic_data
    return read_expw(out / "expw")


def crop_files(root):
    return sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())


def test_map_names_agree():
    """The map sends each ExpW class to the Aff-Wild2 class of the same emotion."""
    stems = {"angry": "Anger", "disgust": "Disgust", "fear": "Fear", "happy": "Happiness",
             "sad": "Sadness", "surprise": "Surprise", "neutral": "Neutral"}
    assert [EXPR_CLASSES_7[EXPW_TO_AFFWILD2[i]] for i in range(7)] == [stems[c] for c in EXPW_CLASSES]
    assert EXPW_TO_AFFWILD2 == (1, 2, 3, 4, 5, 6, 0)


def test_table_contract(table):
    assert list(table.columns[:7]) == ["source", "video", "frame", "path", "expr", "valence", "arousal"]
    assert table["source"].dtype == "category" and table["video"].dtype == "category"
    assert table["frame"].dtype == np.int32 and table["expr"].dtype == np.int8
    assert table["valence"].dtype == np.float32 and (table["valence"] == -5).all() and (table["arousal"] == -5).all()
    assert (table["frame"] == 1).all() and table["video"].is_unique


def test_labels_read_back_as_drawn(synthetic_data, table):
    out, manifest = synthetic_data
    drawn = pd.DataFrame([s for s in manifest["expw"]["samples"] if not s["corrupt"]])
    merged = table.merge(drawn, left_on=["image", "face_id"], right_on=["image", "face_id"], validate="1:1")
    assert len(merged) == len(table) == len(drawn)
    assert (merged["expw_label"] == merged["label"]).all()
    assert (merged["expr_x"] == merged["expr_y"]).all()  # the class that was drawn, in Aff-Wild2 order


def test_two_faces_of_one_image_get_two_crops(synthetic_data, table):
    out, manifest = synthetic_data
    name = next(n for n in manifest["expw"]["two_face_images"] if n not in manifest["expw"]["corrupt_images"])
    rows = table[table["image"] == name]
    assert len(rows) == 2 and rows["path"].nunique() == 2
    first, second = (np.asarray(Image.open(out / "expw" / p)) for p in rows["path"])
    assert first.shape == second.shape == (112, 112, 3) and np.abs(first.astype(int) - second).mean() > 5


def test_crop_is_the_box(synthetic_data, table):
    out, manifest = synthetic_data
    sample = next(s for s in manifest["expw"]["samples"] if not s["corrupt"])
    top, left, right, bottom = sample["box"]
    expected = Image.open(out / "expw/image/origin" / sample["image"]).convert("RGB") \
        .crop((left, top, right, bottom)).resize((112, 112), Image.BILINEAR)
    row = table[(table["image"] == sample["image"]) & (table["face_id"] == sample["face_id"])].iloc[0]
    got = Image.open(out / "expw" / row["path"])
    assert np.abs(np.asarray(got, dtype=int) - np.asarray(expected, dtype=int)).mean() < 4


def test_corrupt_image_skipped_and_reported(synthetic_data, table):
    _, manifest = synthetic_data
    corrupt = manifest["expw"]["corrupt_images"]
    assert corrupt and not table["image"].isin(corrupt).any()
    skipped = table.attrs["skipped"]
    n_faces = sum(1 for s in manifest["expw"]["samples"] if s["corrupt"])
    assert len(skipped) == n_faces and all(s["image"].endswith(corrupt[0]) for s in skipped)
    assert "label.lst:" in skipped[0]["where"]


def test_crops_are_cached(synthetic_data, table):
    out, _ = synthetic_data
    cache = Path(table.attrs["cache_dir"])
    assert (out / "expw") not in cache.parents  # crops go to the user's cache, not the database
    before = {p: p.stat().st_mtime_ns for p in cache.iterdir()}
    again = read_expw(out / "expw")
    assert {p: p.stat().st_mtime_ns for p in cache.iterdir()} == before
    pd.testing.assert_frame_equal(again, table)
    small = read_expw(out / "expw", size=48)
    assert Image.open(out / "expw" / small["path"].iloc[0]).size == (48, 48)
    assert (small["expr"].to_numpy() == table["expr"].to_numpy()).all()


def test_cache_false_recrops(synthetic_data, tmp_path):
    out, _ = synthetic_data
    cache = tmp_path / "crops"
    first = read_expw(out / "expw", cache_dir=cache)
    assert first["path"].str.startswith(str(cache)).all()  # outside the root: absolute paths
    victim = cache / first["path"].iloc[0].split("/")[-1]
    victim.write_bytes(b"stale")
    read_expw(out / "expw", cache_dir=cache)
    assert victim.read_bytes() == b"stale"
    read_expw(out / "expw", cache_dir=cache, cache=False, progress=True)
    assert victim.read_bytes()[:2] == b"\xff\xd8"


@pytest.fixture
def copy(database_copy):
    return database_copy("expw")


@pytest.mark.parametrize("edit, message", [
    (lambda f: f + " extra", "expected 8 fields .*found 9"),
    (lambda f: " ".join(f.split()[:7]), "expected 8 fields"),
    (lambda f: " ".join(f.split()[:2] + ["x"] + f.split()[3:]), "top must be an integer"),
    (lambda f: " ".join(f.split()[:6] + ["high"] + f.split()[7:]), "confidence must be a number"),
    (lambda f: " ".join(f.split()[:7] + ["7"]), "label must be 0-6"),
    (lambda f: " ".join(f.split()[:7] + ["2.5"]), "label must be an integer"),
    (lambda f: " ".join(f.split()[:4] + [f.split()[3]] + f.split()[5:]), "left < right"),
])
def test_malformed_line_names_file_and_line(copy, edit_line, edit, message):
    edit_line(copy / "label" / "label.lst", 2, edit)
    with pytest.raises(ValueError, match=rf"label\.lst:3: .*{message}"):
        read_expw(copy)


def test_box_outside_image_names_line(copy, edit_line):
    def widen(line):
        name, face_id, top, left, right, bottom, confidence, label = line.split()
        return " ".join([name, face_id, top, left, "5000", bottom, confidence, label])

    edit_line(copy / "label" / "label.lst", 0, widen)
    with pytest.raises(ValueError, match=r"label\.lst:1: face box .* not inside"):
        read_expw(copy)


# ExpW's published label order (Zhang et al., "From Facial Expression Recognition to
# Interpersonal Relation Prediction", label.lst) and Aff-Wild2's EXPR header, written out.
EXPW_ORDER = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
AFFWILD2_ORDER = ("Neutral", "Anger", "Disgust", "Fear", "Happiness", "Sadness", "Surprise")
SAME_EMOTION = {"angry": "Anger", "disgust": "Disgust", "fear": "Fear", "happy": "Happiness", "sad": "Sadness",
                "surprise": "Surprise", "neutral": "Neutral"}


def test_hand_written_label_file_maps_each_published_class(tmp_path):
    root = tmp_path / "ExpW"
    (root / "label").mkdir(parents=True)
    (root / "image" / "origin").mkdir(parents=True)
    lines = []
    for label in range(7):
        name = f"picture_{label}.jpg"
        Image.fromarray(np.full((48, 40, 3), 30 * label, dtype=np.uint8)).save(root / "image" / "origin" / name)
        lines.append(f"{name} 0 4 6 30 40 0.9 {label}")  # image face_id top left right bottom confidence label
    (root / "label" / "label.lst").write_text("\n".join(lines) + "\n")
    table = read_expw(root, cache_dir=tmp_path / "crops")
    by_image = dict(zip(table["image"], table["expr"].astype(int)))
    for label, name in enumerate(EXPW_ORDER):
        assert by_image[f"picture_{label}.jpg"] == AFFWILD2_ORDER.index(SAME_EMOTION[name]), name
    assert dict(zip(table["image"], table["expw_label"].astype(int))) == {f"picture_{k}.jpg": k for k in range(7)}
