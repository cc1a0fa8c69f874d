"""The external databases in their own layouts and label orders: ExpW (in-the-wild
pictures, some with two faces), AFEW-VA (clips of PNG frames with landmarks and VA
×10 in a JSON per clip) and AffectNet (CSV lists, classes 7-10 and VA -2 included).
Faces come from :mod:`abawbench.data.synth.faces`, painted into cluttered scenes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from abawbench.data.afew_va import AFEW_VA_SCALE
from abawbench.data.affectnet import (AFFECTNET_CLASSES, AFFECTNET_COLUMNS, AFFECTNET_DROPPED,
                                      AFFECTNET_INVALID_VA, AFFECTNET_TO_AFFWILD2, IMAGE_FOLDER, LIST_FOLDER)
from abawbench.data.expw import EXPW_CLASSES, EXPW_TO_AFFWILD2
from abawbench.data.synth.faces import (SUPERSAMPLE, add_noise, face_geometry, paint_face, paint_geometry,
                                        random_identity, random_pose)
from abawbench.data.synth.files import corrupt_bytes, encode
from abawbench.data.synth.labels import affect_to_expression, affect_walk, smooth_walk
from abawbench.data.synth.plan import OTHER

# Inverse label maps, built from the readers' maps so each fact lives once.
AFFWILD2_TO_EXPW = tuple(EXPW_TO_AFFWILD2.index(c) for c in range(7))
AFFWILD2_TO_AFFECTNET = tuple(AFFECTNET_TO_AFFWILD2.index(c) for c in range(7))


def _scene(rng: np.random.Generator, width: int, height: int) -> Image.Image:
    """A cluttered background: a two-colour gradient and a few rectangles."""
    a, b = rng.integers(30, 225, 3), rng.integers(30, 225, 3)
    t = np.linspace(0, 1, height)[:, None, None]
    pixels = np.broadcast_to(a + (b - a) * t, (height, width, 3)).astype(np.uint8)
    image = Image.fromarray(np.ascontiguousarray(pixels))
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(2, 6))):
        x0, y0 = rng.integers(0, width), rng.integers(0, height)
        draw.rectangle([x0, y0, x0 + rng.integers(10, width // 2), y0 + rng.integers(10, height // 2)],
                       fill=tuple(int(c) for c in rng.integers(0, 256, 3)))
    return image


def _paint_in_box(image: Image.Image, rng: np.random.Generator, left: int, top: int, side: int,
                  expr: int, valence: float, arousal: float) -> np.ndarray:
    identity = random_identity(rng)
    return paint_face(image, expr, valence, arousal, identity, random_pose(rng, 0.5), side, origin=(left, top))


_EXPW_WORDS = ("angry", "disgusted", "afraid", "happy", "sad", "surprised", "neutral")
_EXPW_QUERIES = ("actor", "woman", "man", "student", "African", "Asian", "kid", "boss", "teacher")


def write_expw(out: Path, rng: np.random.Generator, n_images: int) -> dict:
    root = out / "expw"
    (root / "label").mkdir(parents=True, exist_ok=True)
    (root / "image" / "origin").mkdir(parents=True, exist_ok=True)
    lines, samples, two_face, corrupt = [], [], [], []
    corrupt_index = n_images - 1
    for i in range(n_images):
        width, height = int(rng.integers(220, 320)), int(rng.integers(170, 240))
        n_faces = 2 if (i % 4 == 1 or rng.random() < 0.15) else 1
        expr = [int(rng.integers(7)) for _ in range(n_faces)]  # ExpW has no "Other"
        name = f"{_EXPW_WORDS[AFFWILD2_TO_EXPW[expr[0]]]}_{_EXPW_QUERIES[i % len(_EXPW_QUERIES)]}_{100 + i}.jpg"
        image = _scene(rng, width, height)
        half = width // n_faces
        for face_id in range(n_faces):
            side = int(rng.integers(70, min(half, height) - 10))
            left = face_id * half + int(rng.integers(0, half - side))
            top = int(rng.integers(0, height - side))
            valence, arousal = float(rng.uniform(-1, 1)), float(rng.uniform(-1, 1))
            _paint_in_box(image, rng, left, top, side, expr[face_id], valence, arousal)
            label = AFFWILD2_TO_EXPW[expr[face_id]]
            confidence = float(rng.uniform(20, 95))
            lines.append(f"{name} {face_id} {top} {left} {left + side} {top + side} {confidence:.7f} {label}")
            samples.append({"image": name, "face_id": face_id, "box": [top, left, left + side, top + side],
                            "label": label, "expr": expr[face_id], "valence": round(valence, 3),
                            "arousal": round(arousal, 3), "corrupt": i == corrupt_index})
        data = encode(add_noise(image, rng))
        if i == corrupt_index:
            data = corrupt_bytes(rng, data, "truncated")
            corrupt.append(name)
        (root / "image" / "origin" / name).write_bytes(data)
        if n_faces == 2:
            two_face.append(name)
    (root / "label" / "label.lst").write_text("\n".join(lines) + "\n", encoding="utf-8", newline="\n")
    return {"root": "expw", "images": n_images, "faces": len(samples), "rows": len(lines),
            "two_face_images": two_face, "corrupt_images": corrupt, "label_order": list(EXPW_CLASSES),
            "samples": samples}


def write_afew_va(out: Path, rng: np.random.Generator, n_clips: int, n_frames: int) -> dict:
    root = out / "afew_va"
    width, height = 200, 160
    clips, corrupt = {}, []
    for c in range(n_clips):
        clip = f"{c + 1:03d}"
        folder = root / clip
        folder.mkdir(parents=True, exist_ok=True)
        valence = np.clip(np.round(affect_walk(rng, n_frames) * AFEW_VA_SCALE), -10, 10).astype(int)
        arousal = np.clip(np.round(affect_walk(rng, n_frames) * AFEW_VA_SCALE), -10, 10).astype(int)
        expr = affect_to_expression(valence / AFEW_VA_SCALE, arousal / AFEW_VA_SCALE)
        identity = random_identity(rng)
        background = _scene(rng, width, height)
        side = int(rng.integers(95, 125))
        path_x = 20 + smooth_walk(rng, n_frames, 0.05) * 15 + (width - side) / 2 - 20
        path_y = smooth_walk(rng, n_frames, 0.05) * 8 + (height - side) / 2
        bad = int(rng.integers(n_frames)) if c == 0 else -1
        # One identity per clip: the whole clip's geometry at once, drawn on the
        # supersampled scene and reduced (as paint_face does for a single face).
        shake = rng.normal(0, 1, (n_frames, 4)) * [0.0045, 0.0045, 0.006, 0.9]
        poses = {"dx": shake[:, 0], "dy": shake[:, 1], "scale": 1 + shake[:, 2], "roll": shake[:, 3],
                 "yaw": np.zeros(n_frames)}
        origins = np.column_stack([path_x, path_y]) * SUPERSAMPLE
        g = face_geometry(expr, valence / AFEW_VA_SCALE, arousal / AFEW_VA_SCALE, identity, poses,
                          side * SUPERSAMPLE, origins)
        big = background.resize((width * SUPERSAMPLE, height * SUPERSAMPLE), Image.NEAREST)
        frames = {}
        for f in range(n_frames):
            canvas = big.copy()
            paint_geometry(ImageDraw.Draw(canvas), g, f, identity)
            key = f"{f:05d}"
            data = encode(add_noise(canvas.reduce(SUPERSAMPLE), rng), "PNG")
            if f == bad:
                data = corrupt_bytes(rng, data, "truncated")
                corrupt.append([clip, key])
            (folder / f"{key}.png").write_bytes(data)
            frames[key] = {"valence": int(valence[f]), "arousal": int(arousal[f]),
                           "landmarks": np.round(g["landmarks"][f] / SUPERSAMPLE, 3).tolist()}
        actor = f"actor_{int(rng.integers(1, 240)):03d}"
        record = {"actor": actor, "frames": frames, "video_id": clip}
        (folder / f"{clip}.json").write_text(json.dumps(record, indent=1, sort_keys=True), encoding="utf-8")
        clips[clip] = {"actor": actor, "keys": sorted(frames), "valence": valence.tolist(),
                       "arousal": arousal.tolist(), "expr": expr.tolist()}
    return {"root": "afew_va", "clips": n_clips, "frames": n_clips * n_frames, "image_size": [width, height],
            "corrupt_frames": corrupt, "samples": clips}


def write_affectnet(out: Path, rng: np.random.Generator, counts: dict) -> dict:
    root = out / "affectnet"
    (root / LIST_FOLDER).mkdir(parents=True, exist_ok=True)
    splits = {}
    for split, n_rows in counts.items():
        # Every dropped class appears in training, two in validation; a couple of kept
        # rows carry VA -2, which must come out as "missing", not as a value.
        dropped = list(AFFECTNET_DROPPED) if split == "training" else list(AFFECTNET_DROPPED[:2])
        native = [AFFWILD2_TO_AFFECTNET[int(c)] for c in rng.integers(0, 7, n_rows - len(dropped))] + dropped
        native = [native[i] for i in rng.permutation(len(native))]
        invalid_va = set(int(i) for i in rng.choice(
            [i for i, e in enumerate(native) if e < 7], 2, replace=False))
        corrupt_row = next(i for i, e in enumerate(native) if e < 7 and i not in invalid_va) \
            if split == "training" else -1
        rows, samples, corrupt = [",".join(AFFECTNET_COLUMNS)], [], []
        for i, label in enumerate(native):
            subdir = str(int(rng.integers(1, 1000)))
            path = f"{subdir}/{rng.bytes(20).hex()}.jpg"
            width, height = int(rng.integers(150, 260)), int(rng.integers(150, 260))
            side = int(rng.integers(90, min(width, height) - 10))
            x, y = int(rng.integers(0, width - side)), int(rng.integers(0, height - side))
            v_drawn, a_drawn = float(rng.uniform(-1, 1)), float(rng.uniform(-1, 1))
            image = _scene(rng, width, height)
            if label < 7:
                expr = AFFECTNET_TO_AFFWILD2[label]
            else:  # Contempt looks like Aff-Wild2's smirking "Other"; None/Uncertain: anything
                expr = OTHER if label == 7 else int(rng.integers(7))
            if label != 10:  # No-Face: a picture without a face
                landmarks = _paint_in_box(image, rng, x, y, side, expr, v_drawn, a_drawn)
            else:
                landmarks = np.zeros((68, 2))
            if label >= 8 or i in invalid_va:
                valence = arousal = AFFECTNET_INVALID_VA
            else:
                valence, arousal = round(v_drawn, 6), round(a_drawn, 6)
            landmark_text = ";".join(f"{p:.2f}" for p in landmarks.ravel())
            rows.append(f"{path},{x},{y},{side},{side},{landmark_text},{label},{valence},{arousal}")
            data = encode(add_noise(image, rng))
            if i == corrupt_row:
                data = corrupt_bytes(rng, data, "garbage")
                corrupt.append(path)
            target = root / IMAGE_FOLDER / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            samples.append({"path": path, "line": i + 2, "expression": label,
                            "expr": expr if label < 7 else None, "valence": valence, "arousal": arousal,
                            "valence_drawn": round(v_drawn, 6), "arousal_drawn": round(a_drawn, 6),
                            "corrupt": i == corrupt_row})
        (root / LIST_FOLDER / f"{split}.csv").write_text("\n".join(rows) + "\n", encoding="utf-8", newline="\n")
        splits[split] = {
            "rows": len(native), "kept": sum(1 for e in native if e < 7),
            "dropped": {str(c): native.count(c) for c in AFFECTNET_DROPPED if native.count(c)},
            "invalid_va_kept": len(invalid_va), "corrupt_images": corrupt, "samples": samples}
    return {"root": "affectnet", "label_order": list(AFFECTNET_CLASSES), "splits": splits}
