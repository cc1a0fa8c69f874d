"""AFEW-VA in its native layout, as a sample table.

Layout read (one folder per clip, ``001`` … ``600``)::

    ROOT/<clip>/00000.png, 00001.png, …   # whole movie frames, 0-based names
    ROOT/<clip>/<clip>.json

The JSON is ``{"actor": str, "video_id": "<clip>", "frames": {"00000": {"valence": int,
"arousal": int, "landmarks": [[x, y] * 68]}, …}}`` with valence and arousal integers in
[-10, 10]; :data:`AFEW_VA_SCALE` brings them to Aff-Wild2's [-1, 1].

No face box ships, so the face is the bounding box of the 68 landmarks grown by
:data:`AFEW_VA_MARGIN` of its larger side on every side, made square (the training
crops are square) and clipped to the frame.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from abawbench.data import MISSING_EXPR
from abawbench.data.crops import crop_faces, default_cache_dir, relative_to_root, sample_table

#: AFEW-VA value / AFEW_VA_SCALE = Aff-Wild2 value.
AFEW_VA_SCALE = 10.0
AFEW_VA_RANGE = (-10, 10)
#: Margin around the landmark box, as a fraction of its larger side, per side. The 68
#: points stop at the brows, so without it the forehead would be cut off.
AFEW_VA_MARGIN = 0.15
N_LANDMARKS = 68
_CLIP_NAME = re.compile(r"^\d+$")


def read_afew_va_annotations(root: Path) -> pd.DataFrame:
    """Every clip's JSON parsed and checked: one row per annotated frame with ``clip``,
    ``key`` (``"00000"``), ``valence``, ``arousal`` (native integers) and the landmark
    box ``x0, y0, x1, y1`` (pixels). ValueError naming the file and frame key for
    missing keys, non-integers, values outside [-10, 10] or not 68 landmarks."""
    root = Path(root)
    clips = sorted(p for p in root.iterdir() if p.is_dir() and _CLIP_NAME.match(p.name))
    parts = []
    for clip_dir in clips:
        path = clip_dir / f"{clip_dir.name}.json"
        if not path.exists():
            raise ValueError(f"{path}: missing annotation file for clip {clip_dir.name}")
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}:{error.lineno}: not valid JSON: {error.msg}") from None
        frames = record.get("frames") if isinstance(record, dict) else None
        if not isinstance(frames, dict):
            raise ValueError(f"{path}: expected an object with a 'frames' mapping")
        keys = sorted(frames)
        try:
            valence = np.array([frames[k]["valence"] for k in keys], dtype=float)
            arousal = np.array([frames[k]["arousal"] for k in keys], dtype=float)
        except (KeyError, TypeError, ValueError):
            key = next(k for k in keys if not _has_number(frames[k], "valence") or not _has_number(frames[k], "arousal"))
            raise ValueError(f"{path}: frame {key}: valence and arousal must be numbers") from None
        landmarks = []
        for key in keys:
            try:
                points = np.asarray(frames[key]["landmarks"], dtype=float)
            except (KeyError, TypeError, ValueError):
                raise ValueError(f"{path}: frame {key}: landmarks must be {N_LANDMARKS} [x, y] numbers") from None
            if points.shape != (N_LANDMARKS, 2) or not np.isfinite(points).all():
                raise ValueError(f"{path}: frame {key}: expected {N_LANDMARKS} [x, y] landmarks, "
                                 f"found shape {points.shape}")
            landmarks.append(points)
        for name, values in (("valence", valence), ("arousal", arousal)):
            bad = (values != np.round(values)) | (values < AFEW_VA_RANGE[0]) | (values > AFEW_VA_RANGE[1])
            if bad.any():
                key = keys[int(np.flatnonzero(bad)[0])]
                raise ValueError(f"{path}: frame {key}: {name} must be an integer in "
                                 f"[{AFEW_VA_RANGE[0]}, {AFEW_VA_RANGE[1]}], found {values[bad][0]}")
        points = np.stack(landmarks) if landmarks else np.zeros((0, N_LANDMARKS, 2))
        low, high = points.min(axis=1), points.max(axis=1)
        parts.append(pd.DataFrame({
            "clip": clip_dir.name, "key": keys,
            "valence": valence.astype(np.int64), "arousal": arousal.astype(np.int64),
            "x0": low[:, 0], "y0": low[:, 1], "x1": high[:, 0], "y1": high[:, 1],
            "where": [f"{path}: frame {k}" for k in keys],
        }))
    if not parts:
        raise ValueError(f"{root}: no AFEW-VA clip folders (expected 001/001.json, …)")
    return pd.concat(parts, ignore_index=True)


def _has_number(entry, name: str) -> bool:
    try:
        float(entry[name])
        return True
    except (KeyError, TypeError, ValueError):
        return False


def landmark_boxes(x0, y0, x1, y1, margin: float = AFEW_VA_MARGIN) -> tuple[np.ndarray, ...]:
    """Square boxes ``(left, top, right, bottom)`` around landmark extents, arrays of
    pixels; each side grows by ``margin`` times the larger extent."""
    x0, y0, x1, y1 = (np.asarray(v, dtype=float) for v in (x0, y0, x1, y1))
    side = np.maximum(x1 - x0, y1 - y0) * (1 + 2 * margin)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2


def read_afew_va(root: Path, size: int = 112, cache: bool = True, progress: bool = False,
                 cache_dir: Path | None = None) -> pd.DataFrame:
    """AFEW-VA as a sample table (see :mod:`abawbench.data`), one row per annotated frame.

    Faces are cut with the landmark box (:func:`landmark_boxes`, clipped to the frame),
    resized to ``size`` x ``size`` and cached under ``cache_dir`` (default
    the user's cache folder, see
    :func:`abawbench.data.crops.default_cache_dir`, named ``<clip>_<key>.jpg``); later calls reuse
    them. ``video`` is the clip, ``frame`` the 1-based frame number (file ``00000.png``
    is frame 1), valence/arousal the native integers / 10, ``expr`` -1 (no label).

    ``table.attrs``: ``root``, ``database``, ``size``, ``cache_dir``, ``skipped`` (frames
    whose PNG is missing or unreadable; left out).
    """
    root = Path(root).resolve()
    rows = read_afew_va_annotations(root)
    cache_dir = Path(cache_dir).resolve() if cache_dir is not None else default_cache_dir(root, size)
    left, top, right, bottom = landmark_boxes(rows["x0"], rows["y0"], rows["x1"], rows["y1"])
    jobs = pd.DataFrame({
        "image": str(root) + os.sep + rows["clip"] + os.sep + rows["key"] + ".png",
        "crop": str(cache_dir) + os.sep + rows["clip"] + "_" + rows["key"] + ".jpg",
        "left": left, "top": top, "right": right, "bottom": bottom, "where": rows["where"],
    })
    ok, skipped = crop_faces(jobs, size, cache=cache, clip=True, progress=progress, description="AFEW-VA frames")
    rows, jobs = rows[ok], jobs[ok]
    n = len(rows)
    return sample_table(
        "afew_va", rows["clip"].to_numpy(), rows["key"].astype(int).to_numpy() + 1,
        relative_to_root(jobs["crop"], root).to_numpy(), np.full(n, MISSING_EXPR),
        rows["valence"].to_numpy() / AFEW_VA_SCALE, rows["arousal"].to_numpy() / AFEW_VA_SCALE,
        extra={"afew_valence": rows["valence"].to_numpy(np.int8), "afew_arousal": rows["arousal"].to_numpy(np.int8)},
        attrs={"root": str(root), "database": "afew_va", "size": size, "cache_dir": str(cache_dir),
               "skipped": skipped},
    )
