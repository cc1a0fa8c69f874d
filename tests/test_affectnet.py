"""Tests of abawbench.data.affectnet against the synthetic AffectNet and broken copies."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from abawbench.data.affectnet import (AFFECTNET_CLASSES, AFFECTNET_COLUMNS, AFFECTNET_DROPPED,
                                      AFFECTNET_TO_AFFWILD2, read_affectnet)
from abawbench.tracks import EXPR_CLASSES_7


@pytest.fixture(scope="module")
def training(synthetic_data):
    out, _ = synthetic_data
    return read_affectnet(out / "affectnet", "training")


def test_map_names_agree():
    names = {"Neutral": "Neutral", "Happy": "Happiness", "Sad": "Sadness", "Surprise": "Surprise",
             "Fear": "Fear", "Disgust": "Disgust", "Anger": "Anger"}
    assert [EXPR_CLASSES_7[AFFECTNET_TO_AFFWILD2[i]] for i in range(7)] == \
        [names[c] for c in AFFECTNET_CLASSES[:7]]
    assert AFFECTNET_TO_AFFWILD2 == (0, 4, 5, 6, 3, 2, 1) and AFFECTNET_DROPPED == (7, 8, 9, 10)


def test_csv_header_exact(synthetic_data):
    out, _ = synthetic_data
    for split in ("training", "validation"):
        first = (out / "affectnet/Manually_Annotated_file_lists" / f"{split}.csv").read_text().splitlines()[0]
        assert first == ",".join(AFFECTNET_COLUMNS)


@pytest.mark.parametrize("split", ["training", "validation"])
def test_labels_read_back_as_drawn(synthetic_data, split):
    out, manifest = synthetic_data
    table = read_affectnet(out / "affectnet", split)
    info = manifest["affectnet"]["splits"][split]
    drawn = pd.DataFrame(info["samples"])
    kept = drawn[(drawn["expr"].notna()) & ~drawn["corrupt"]]
    merged = table.merge(kept, left_on="image", right_on="path", validate="1:1")
    assert len(merged) == len(table) == len(kept) == info["kept"] - len(info["corrupt_images"])
    assert (merged["affectnet_label"] == merged["expression"]).all()
    assert (merged["expr_x"] == merged["expr_y"].astype(int)).all()
    assert not table["affectnet_label"].isin(AFFECTNET_DROPPED).any()
    assert table.attrs["dropped"] == {int(k): v for k, v in info["dropped"].items()}
    # -2 in the CSV becomes the contract's missing marker, valid VA passes unchanged
    missing = merged["valence_y"] == -2
    assert missing.sum() == info["invalid_va_kept"] - sum(
        1 for s in info["samples"] if s["corrupt"] and s["valence"] == -2)
    assert (merged.loc[missing, ["valence_x", "arousal_x"]] == -5).all().all()
    assert np.allclose(merged.loc[~missing, "valence_x"], merged.loc[~missing, "valence_drawn"], atol=1e-6)
    assert np.allclose(merged.loc[~missing, "arousal_x"], merged.loc[~missing, "arousal_drawn"], atol=1e-6)
    assert table["expr"].dtype == np.int8 and table["valence"].dtype == np.float32


def test_every_dropped_class_present_in_training(synthetic_data):
    _, manifest = synthetic_data
    assert set(manifest["affectnet"]["splits"]["training"]["dropped"]) == {"7", "8", "9", "10"}


def test_corrupt_image_skipped(synthetic_data, training):
    _, manifest = synthetic_data
    corrupt = manifest["affectnet"]["splits"]["training"]["corrupt_images"]
    assert len(corrupt) == 1 and not training["image"].isin(corrupt).any()
    assert len(training.attrs["skipped"]) == 1 and training.attrs["skipped"][0]["image"].endswith(corrupt[0])


def test_crop_is_the_box(synthetic_data, training):
    out, manifest = synthetic_data
    sample = next(s for s in manifest["affectnet"]["splits"]["training"]["samples"]
                  if s["expr"] is not None and not s["corrupt"])
    rows = pd.read_csv(out / "affectnet/Manually_Annotated_file_lists/training.csv")
    row = rows[rows["subDirectory_filePath"] == sample["path"]].iloc[0]
    x, y, w, h = (int(row[c]) for c in ("face_x", "face_y", "face_width", "face_height"))
    expected = Image.open(out / "affectnet/Manually_Annotated_Images" / sample["path"]).convert("RGB") \
        .crop((x, y, x + w, y + h)).resize((112, 112), Image.BILINEAR)
    path = training.loc[training["image"] == sample["path"], "path"].iloc[0]
    got = np.asarray(Image.open(out / "affectnet" / path), dtype=int)
    assert np.abs(got - np.asarray(expected, dtype=int)).mean() < 4
    # the landmarks lie inside the face box
    points = np.array(row["facial_landmarks"].split(";"), dtype=float).reshape(68, 2)
    assert (points[:, 0] >= x - 2).all() and (points[:, 0] <= x + w + 2).all()
    assert (points[:, 1] >= y - 2).all() and (points[:, 1] <= y + h + 2).all()


def test_crops_are_cached(synthetic_data, training):
    out, _ = synthetic_data
    cache = Path(training.attrs["cache_dir"])
    assert (out / "affectnet") not in cache.parents  # crops go to the user's cache, not the database
    read_affectnet(out / "affectnet", "validation")
    before = {p: p.stat().st_mtime_ns for p in cache.iterdir()}
    again = read_affectnet(out / "affectnet", "training")
    read_affectnet(out / "affectnet", "validation")
    assert {p: p.stat().st_mtime_ns for p in cache.iterdir()} == before
    pd.testing.assert_frame_equal(again, training)


def test_unknown_split():
    with pytest.raises(ValueError, match="split"):
        read_affectnet("nowhere", "test")


@pytest.fixture
def copy(database_copy):
    return database_copy("affectnet")


def _edit_field(line: str, index: int, value: str) -> str:
    fields = line.split(",")
    fields[index] = value
    return ",".join(fields)


@pytest.mark.parametrize("edit, message", [
    (lambda line: line + ",0.5", "expected 9 fields"),
    (lambda line: ",".join(line.split(",")[:8]), "expected 9 fields"),
    (lambda line: _edit_field(line, 1, "ten"), "face_x must be an integer"),
    (lambda line: _edit_field(line, 7, "nan"), "valence must be a number"),
    (lambda line: _edit_field(line, 6, "11"), "expression must be 0-10"),
    (lambda line: _edit_field(line, 8, "1.5"), r"arousal must be in \[-1, 1\] or -2"),
    (lambda line: _edit_field(line, 3, "0"), "face_width and face_height must be positive"),
])
def test_malformed_line_names_file_and_line(copy, edit_line, edit, message):
    edit_line(copy / "Manually_Annotated_file_lists" / "validation.csv", 3, edit)
    with pytest.raises(ValueError, match=rf"validation\.csv:4: .*{message}"):
        read_affectnet(copy, "validation")


def test_wrong_header(copy, edit_line):
    edit_line(copy / "Manually_Annotated_file_lists" / "training.csv", 0, lambda line: line.replace("face_x", "x"))
    with pytest.raises(ValueError, match=r"training\.csv:1: header"):
        read_affectnet(copy, "training")


def test_box_outside_image(copy, edit_line):
    path = copy / "Manually_Annotated_file_lists" / "validation.csv"
    index = next(i for i, line in enumerate(path.read_text().splitlines()[1:], start=1) if int(line.split(",")[6]) < 7)
    edit_line(path, index, lambda line: _edit_field(line, 3, "4000"))
    with pytest.raises(ValueError, match=rf"validation\.csv:{index + 1}: face box .* not inside"):
        read_affectnet(copy, "validation")


# AffectNet's published order (Mollahosseini et al. 2017) and Aff-Wild2's EXPR header,
# written out: classes 7-10 (Contempt, None, Uncertain, No-Face) have no Aff-Wild2 class.
AFFECTNET_ORDER = ("Neutral", "Happy", "Sad", "Surprise", "Fear", "Disgust", "Anger",
                   "Contempt", "None", "Uncertain", "No-Face")
AFFWILD2_ORDER = ("Neutral", "Anger", "Disgust", "Fear", "Happiness", "Sadness", "Surprise")
SAME_EMOTION = {"Neutral": "Neutral", "Happy": "Happiness", "Sad": "Sadness", "Surprise": "Surprise",
                "Fear": "Fear", "Disgust": "Disgust", "Anger": "Anger"}


def test_hand_written_csv_maps_each_published_class_and_drops_the_rest(tmp_path):
    root = tmp_path / "AffectNet"
    (root / "Manually_Annotated_file_lists").mkdir(parents=True)
    (root / "Manually_Annotated_Images" / "7").mkdir(parents=True)
    landmarks = ";".join(f"{10 + k % 20}.0;{10 + k // 4}.0" for k in range(68))
    lines = [",".join(AFFECTNET_COLUMNS)]
    for expression in range(11):
        name = f"7/face_{expression}.jpg"
        Image.fromarray(np.full((40, 40, 3), 20 * expression, dtype=np.uint8)).save(
            root / "Manually_Annotated_Images" / name)
        valence, arousal = ("-2", "-2") if expression == 3 else (f"{expression / 20:.2f}", "-0.25")
        lines.append(f"{name},5,6,24,28,{landmarks},{expression},{valence},{arousal}")
    (root / "Manually_Annotated_file_lists" / "training.csv").write_text("\n".join(lines) + "\n")
    table = read_affectnet(root, "training", cache_dir=tmp_path / "crops")
    by_image = dict(zip(table["image"], table["expr"].astype(int)))
    assert sorted(by_image) == [f"7/face_{k}.jpg" for k in range(7)]  # 7-10 dropped
    for expression, name in enumerate(AFFECTNET_ORDER[:7]):
        assert by_image[f"7/face_{expression}.jpg"] == AFFWILD2_ORDER.index(SAME_EMOTION[name]), name
    assert table.attrs["dropped"] == {7: 1, 8: 1, 9: 1, 10: 1}
    surprise = table[table["image"] == "7/face_3.jpg"].iloc[0]
    assert surprise["valence"] == -5 and surprise["arousal"] == -5  # AffectNet's -2: no VA label
    happy = table[table["image"] == "7/face_1.jpg"].iloc[0]
    assert happy["valence"] == pytest.approx(0.05) and happy["arousal"] == pytest.approx(-0.25)
