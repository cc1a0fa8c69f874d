"""Tests of abawbench.data.synth: layouts, planted quirks, determinism, learnable faces."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from abawbench.data.synth import (AU_PROTOTYPES, EXPRESSION_SHAPES, LAYOUTS, Identity, Pose, draw_face,
                                  expression_segments, face_landmarks, paint_face, random_identity,
                                  random_pose, smooth_walk, synthesize, video_names)
from abawbench.tracks import AU_NAMES_12, EXPR_CLASSES_7, EXPR_CLASSES_8

SPLITS = {"train": "Train_Set", "validation": "Validation_Set"}


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    manifest = synthesize(out, videos=8, frames=40, seed=3)
    return out, manifest


def annotation_lines(path: Path) -> tuple[str, list[str]]:
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n") and "\r" not in text
    lines = text.splitlines()
    return lines[0], lines[1:]


def test_manifest_file_is_the_returned_manifest(synth):
    out, manifest = synth
    assert json.loads((out / "manifest.json").read_text()) == json.loads(json.dumps(manifest))
    assert manifest["seed"] == 3 and manifest["parameters"]["videos"] == 8


def test_layout_paths_and_headers(synth):
    out, manifest = synth
    expected_headers = {"affwild2_abaw2": {"expr": ",".join(EXPR_CLASSES_7)},
                        "affwild2_abaw6": {"expr": ",".join(EXPR_CLASSES_8)}}
    for layout in ("affwild2_abaw2", "affwild2_abaw6"):
        part = manifest[layout]
        assert part["edition"] == {"affwild2_abaw2": "abaw2", "affwild2_abaw6": "abaw6"}[layout]
        for track, folder in LAYOUTS[layout]["folders"].items():
            header = expected_headers[layout].get(track, "valence,arousal" if track == "va" else ",".join(AU_NAMES_12))
            assert part["tracks"][track]["header"] == header
            for split, split_folder in SPLITS.items():
                names = part["tracks"][track]["splits"][split]["videos"]
                files = sorted(p.name for p in (out / layout / folder / split_folder).iterdir())
                assert files == sorted(f"{n}.txt" for n in names)
                for name in names:
                    first, _ = annotation_lines(out / layout / folder / split_folder / f"{name}.txt")
                    assert first == header
        crops = out / layout / "cropped_aligned"
        assert sorted(p.name for p in crops.iterdir()) == sorted(part["videos"])
    assert (out / "affwild2_abaw2/annotations/EXPR_Set/Train_Set").is_dir()
    assert (out / "affwild2_abaw6/6th ABAW Annotations/EXPR_Recognition_Challenge/Validation_Set").is_dir()
    assert (out / "affwild2_abaw6/6th ABAW Annotations/VA_Estimation_Challenge/Train_Set").is_dir()
    assert (out / "affwild2_abaw6/6th ABAW Annotations/AU_Detection_Challenge/Train_Set").is_dir()
    for path in ("expw/label/label.lst", "affectnet/Manually_Annotated_file_lists/training.csv",
                 "affectnet/Manually_Annotated_file_lists/validation.csv", "afew_va/001/001.json",
                 "afew_va/001/00000.png"):
        assert (out / path).is_file(), path


def test_crops_match_manifest_and_corrupt_files_fail_to_decode(synth):
    out, manifest = synth
    part = manifest["affwild2_abaw2"]
    for name, info in part["videos"].items():
        folder = out / "affwild2_abaw2" / "cropped_aligned" / name
        files = sorted(p.name for p in folder.iterdir())
        expected = [f"{k:05d}.jpg" for k in range(1, info["frames"] + 1) if k not in info["missing_crops"]]
        assert files == expected
        assert info["crops_present"] == len(files)
        for file in files:
            k = int(file[:5])
            if k in info["corrupt_crops"]:
                with pytest.raises(OSError):
                    with Image.open(folder / file) as image:
                        image.load()
            elif k % 7 == 0 or k == 1:  # decoding every file is slow on 2 cores; a sample suffices
                with Image.open(folder / file) as image:
                    assert image.size == (112, 112) and image.mode == "RGB"
        # the second layout reuses the same pictures byte for byte
        other = out / "affwild2_abaw6" / "cropped_aligned" / name
        assert (other / files[0]).read_bytes() == (folder / files[0]).read_bytes()
    totals = part["totals"]
    assert totals["corrupt_crops"] == 2 == sum(len(v["corrupt_crops"]) for v in part["videos"].values())
    assert totals["missing_crops"] == sum(len(v["missing_crops"]) for v in part["videos"].values())
    # a run of at least 4 consecutive missing crops exists
    runs = [np.diff(v["missing_crops"]) for v in part["videos"].values() if len(v["missing_crops"]) >= 4]
    assert any(np.convolve(d == 1, np.ones(3), "valid").max() == 3 for d in runs)


def test_line_counts_mismatches_and_invalid_counts(synth):
    out, manifest = synth
    for layout in ("affwild2_abaw2", "affwild2_abaw6"):
        part = manifest[layout]
        for track, info in part["tracks"].items():
            for split, stats in info["splits"].items():
                lines_total = valid = invalid = 0
                for name in stats["videos"]:
                    _, lines = annotation_lines(out / layout / stats["folder"] / f"{name}.txt")
                    assert len(lines) == part["videos"][name]["annotation_lines"][track]
                    lines_total += len(lines)
                    if track == "expr":
                        values = np.array([int(x) for x in lines])
                        assert set(values) <= set(range(-1, len(LAYOUTS[layout]["classes"])))
                        bad = values == -1
                    elif track == "va":
                        assert all(re.fullmatch(r"-?\d\.\d{3},-?\d\.\d{3}|-5,-5", x) for x in lines)
                        values = np.array([[float(c) for c in x.split(",")] for x in lines])
                        assert np.all((values == -5).any(axis=1) == (values == -5).all(axis=1))
                        assert np.all(np.abs(values[values != -5]) <= 1)
                        bad = values[:, 0] == -5
                    else:
                        values = np.array([[int(c) for c in x.split(",")] for x in lines])
                        assert values.shape[1] == 12
                        # an invalid AU frame is -1 in every column
                        assert np.all((values == -1).any(axis=1) == (values == -1).all(axis=1))
                        bad = values[:, 0] == -1
                    valid += int((~bad).sum())
                    invalid += int(bad.sum())
                assert (stats["annotation_lines"], stats["valid"], stats["invalid"]) == (lines_total, valid, invalid)
            # every track has at least one invalid run
            assert sum(s["invalid"] for s in info["splits"].values()) > 0
        deltas = [m["annotation_lines"] - m["frames"] for m in part["count_mismatches"]]
        assert 1 in deltas and min(deltas) < 0 and max(deltas) > 1
        assert deltas.count(1) > len(deltas) / 2  # one extra line is the usual case
        exact = [n for n, v in part["videos"].items() if v["tracks"] and
                 all(lines == v["frames"] for lines in v["annotation_lines"].values())]
        assert exact


def test_shared_pairs_single_track_and_abaw2_other(synth):
    out, manifest = synth
    part = manifest["affwild2_abaw2"]
    assert part["shared_videos"]["train"] and part["shared_videos"]["validation"]
    for split, names in part["shared_videos"].items():
        for name in names:
            assert {"expr", "va"} <= set(part["videos"][name]["tracks"])
            assert name in part["tracks"]["expr"]["splits"][split]["videos"]
            assert name in part["tracks"]["va"]["splits"][split]["videos"]
    assert part["single_track_videos"]
    assert part["left_right_pairs"] == [["10-60-1280x720_left", "10-60-1280x720_right"]]
    left, right = part["left_right_pairs"][0]
    assert part["videos"][left]["split"] == part["videos"][right]["split"]
    # "Other" (7) exists only in ABAW6 files; ABAW2 wrote those frames as -1
    other_seen = 0
    for split, folder in SPLITS.items():
        for name in part["tracks"]["expr"]["splits"][split]["videos"]:
            _, old = annotation_lines(out / "affwild2_abaw2/annotations/EXPR_Set" / folder / f"{name}.txt")
            _, new = annotation_lines(out / "affwild2_abaw6/6th ABAW Annotations/EXPR_Recognition_Challenge"
                                      / folder / f"{name}.txt")
            old, new = np.array(old, dtype=int), np.array(new, dtype=int)
            assert np.all(old[new != 7] == new[new != 7]) and np.all(old[new == 7] == -1)
            other_seen += int((new == 7).sum())
    assert other_seen == part["other_as_invalid"] > 0


def test_determinism_per_seed(synth, tmp_path):
    out, manifest = synth
    again = synthesize(tmp_path / "a", videos=8, frames=40, seed=3, progress=True)
    assert json.dumps(again, sort_keys=True) == json.dumps(manifest, sort_keys=True)
    for path in sorted(out.rglob("*")):
        if path.is_file() and ".abawbench_crops" not in path.parts:
            assert (tmp_path / "a" / path.relative_to(out)).read_bytes() == path.read_bytes(), path
    other = synthesize(tmp_path / "b", videos=8, frames=40, seed=4)
    assert other["affwild2_abaw2"]["videos"] != manifest["affwild2_abaw2"]["videos"]


def test_rejects_too_small(tmp_path):
    with pytest.raises(ValueError, match="videos"):
        synthesize(tmp_path, videos=5)
    with pytest.raises(ValueError, match="frames"):
        synthesize(tmp_path, frames=10)


def test_video_names_keep_pairs_together():
    units = video_names(25)
    names = [n for unit in units for n in unit]
    assert len(names) == len(set(names)) == 25
    pairs = [u for u in units if len(u) == 2]
    assert len(pairs) >= 2 and all(a.endswith("_left") and b.endswith("_right") and a[:-5] == b[:-6]
                                   for a, b in pairs)


def test_temporal_structure(synth):
    out, manifest = synth
    rng = np.random.default_rng(0)
    walk = smooth_walk(rng, 2000)
    assert np.abs(walk).max() <= 1 and np.abs(np.diff(walk)).max() < 0.1 and walk.std() > 0.2
    labels = expression_segments(rng, 2000, length=(15, 50))
    lengths = np.diff(np.flatnonzero(np.r_[True, labels[1:] != labels[:-1], True]))
    assert lengths[:-1].min() >= 15 and set(labels) == set(range(8))
    # the written VA is smooth too (consecutive valid frames)
    part = manifest["affwild2_abaw2"]
    name = part["tracks"]["va"]["splits"]["train"]["videos"][0]
    _, lines = annotation_lines(out / "affwild2_abaw2/annotations/VA_Set/Train_Set" / f"{name}.txt")
    values = np.array([[float(c) for c in x.split(",")] for x in lines])
    ok = values[:, 0] != -5
    steps = np.abs(np.diff(values, axis=0))[ok[1:] & ok[:-1]]
    assert steps.max() < 0.15


def _features(image: Image.Image) -> np.ndarray:
    x = np.asarray(image.convert("L").resize((32, 32)), dtype=float).ravel()
    return (x - x.mean()) / (x.std() + 1e-6)


def _ridge(x_train, y_train, x_test, lam=10.0):
    add = lambda x: np.hstack([x, np.ones((len(x), 1))])  # noqa: E731
    a = add(x_train)
    w = np.linalg.solve(a.T @ a + lam * np.eye(a.shape[1]), a.T @ y_train)
    return add(x_test) @ w


def test_faces_are_learnable_across_identities():
    """A linear classifier on 32x32 grey pixels, tested on people it never saw, finds
    the expression far above chance (1/8) and follows valence."""
    rng = np.random.default_rng(0)
    x, expr, valence, arousal = [], [], [], []
    for i in range(960):
        v, a = rng.uniform(-1, 1, 2)
        image = draw_face(i % 8, v, a, random_identity(rng), random_pose(rng), noise=rng)
        x.append(_features(image))
        expr.append(i % 8)
        valence.append(v)
        arousal.append(a)
    x, expr, valence, arousal = map(np.array, (x, expr, valence, arousal))
    train, test = slice(0, 720), slice(720, None)
    predicted = _ridge(x[train], np.eye(8)[expr[train]], x[test]).argmax(axis=1)
    assert (predicted == expr[test]).mean() > 0.6
    assert np.corrcoef(_ridge(x[train], valence[train], x[test]), valence[test])[0, 1] > 0.4
    assert np.corrcoef(_ridge(x[train], arousal[train], x[test]), arousal[test])[0, 1] > 0.3


def test_happy_and_sad_mouths_differ():
    """Mouth corners sit above the mouth centre when happy and below when sad."""
    identity = random_identity(np.random.default_rng(1))
    happy = face_landmarks(4, 0.0, 0.0, identity)
    sad = face_landmarks(5, 0.0, 0.0, identity)
    centre = lambda m: m[[51, 57], 1].mean()  # noqa: E731
    corners = lambda m: m[[48, 54], 1].mean()  # noqa: E731
    assert corners(happy) < centre(happy) - 3 and corners(sad) > centre(sad)
    # arousal opens the eyes: upper and lower lids further apart
    calm, excited = face_landmarks(0, 0, -1, identity), face_landmarks(0, 0, 1, identity)
    gap = lambda m: (m[41, 1] - m[37, 1])  # noqa: E731
    assert gap(excited) > 1.5 * gap(calm)
    assert len(EXPRESSION_SHAPES) == len(AU_PROTOTYPES) == 8


def test_landmarks_surround_the_drawn_face():
    rng = np.random.default_rng(2)
    for expr in range(8):
        identity = Identity((230, 180, 140), (20, 20, 20), (0, 0, 255), 0.62, 0.78, 0.16, 0.07, 0.23)
        image = Image.new("RGB", (200, 160), (0, 0, 255))
        points = paint_face(ImageDraw.Draw(image), expr, rng.uniform(-1, 1), rng.uniform(-1, 1), identity,
                            Pose(), 100, origin=(50.0, 30.0))
        assert points.shape == (68, 2)
        pixels = np.asarray(image).astype(int)
        skin = np.abs(pixels - np.array(identity.skin)).sum(axis=2) < 30
        ys, xs = np.nonzero(skin)
        x0, y0, x1, y1 = points[:, 0].min(), points[:, 1].min(), points[:, 0].max(), points[:, 1].max()
        # landmarks span the face sideways and down to the chin; the forehead is above them
        assert abs(x0 - xs.min()) < 6 and abs(x1 - xs.max()) < 6 and abs(y1 - ys.max()) < 6
        assert ys.min() < y0 < ys.min() + 45
