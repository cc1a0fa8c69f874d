"""ExpW (Expression in-the-Wild) in its native layout, as a sample table.

Layout read::

    ROOT/label/label.lst           # image_name face_id top left right bottom confidence label
    ROOT/image/origin/<image_name> # the whole in-the-wild picture; one or more faces

``label.lst`` has no header; fields are separated by white space, boxes are pixel
coordinates in the original picture (``right``/``bottom`` exclusive, as PIL crops), and
``label`` is ExpW's own order (0 angry, 1 disgust, 2 fear, 3 happy, 4 sad, 5 surprise,
6 neutral). :data:`EXPW_TO_AFFWILD2` maps it into Aff-Wild2's order.

Faces are cropped with the shipped boxes (no face detector), resized to ``size`` x
``size`` and cached once as ``<cache>/<image stem>_<face_id>.jpg``. The face id is part
of the name because the authors' script named crops by image alone, so the faces of a
two-person picture overwrote each other.

Parsing, cropping and caching are shared with the other readers (:mod:`abawbench.data.crops`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from abawbench.data import MISSING_VA
from abawbench.data.crops import (crop_faces, default_cache_dir, fail_at, parse_rows, relative_to_root,
                                   sample_table)


EXPW_CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
#: ExpW label -> Aff-Wild2 class (0 Neutral, 1 Anger, 2 Disgust, 3 Fear, 4 Happiness,
#: 5 Sadness, 6 Surprise): index with the ExpW label.
EXPW_TO_AFFWILD2 = (1, 2, 3, 4, 5, 6, 0)
EXPW_COLUMNS = ("image_name", "face_id", "top", "left", "right", "bottom", "confidence", "label")


# --------------------------------------------------------------------------- ExpW


def read_expw_labels(root: Path) -> pd.DataFrame:
    """``label/label.lst`` parsed and checked: one row per face, native labels, plus
    ``line``. ValueError (file and line) for wrong field counts, non-numbers, labels
    outside 0-6 and empty or inverted boxes."""
    path = Path(root) / "label" / "label.lst"
    rows = parse_rows(path, EXPW_COLUMNS, sep=None,
                      integer=("face_id", "top", "left", "right", "bottom", "label"), real=("confidence",))
    fail_at(path, rows["line"], ~rows["label"].between(0, len(EXPW_CLASSES) - 1),
            f"label must be 0-{len(EXPW_CLASSES) - 1} (ExpW order {', '.join(EXPW_CLASSES)})")
    fail_at(path, rows["line"], (rows["left"] >= rows["right"]) | (rows["top"] >= rows["bottom"]),
            "face box must have left < right and top < bottom")
    fail_at(path, rows["line"], (rows[["top", "left"]] < 0).any(axis=1),
            "face box starts outside the image (negative top or left)")
    duplicate = rows.duplicated(["image_name", "face_id"]).to_numpy()
    fail_at(path, rows["line"], duplicate, "the same image_name and face_id appear twice")
    return rows


def read_expw(root: Path, size: int = 112, cache: bool = True, progress: bool = False,
              cache_dir: Path | None = None) -> pd.DataFrame:
    """ExpW as a sample table (see :mod:`abawbench.data`), one row per face.

    ``root`` holds ``label/`` and ``image/``. Faces are cropped with the shipped boxes,
    resized to ``size`` x ``size`` pixels and cached under ``cache_dir`` (default
    the user's cache folder, see
    :func:`abawbench.data.crops.default_cache_dir`); later calls reuse the crops (``cache=False``
    re-crops). ``expr`` is in Aff-Wild2's order via :data:`EXPW_TO_AFFWILD2`; ExpW has
    no valence/arousal (-5). ``video`` is ``<image stem>_<face_id>``, ``frame`` 1.
    Extra columns: ``image`` (name in ``image/origin``), ``face_id``, ``expw_label``.

    ``table.attrs``: ``root``, ``database``, ``size``, ``cache_dir`` and ``skipped``
    (faces whose image could not be read; they are left out of the table).
    """
    root = Path(root).resolve()
    rows = read_expw_labels(root)
    cache_dir = Path(cache_dir).resolve() if cache_dir is not None else default_cache_dir(root, size)
    label_file = root / "label" / "label.lst"
    stems = rows["image_name"].str.rsplit(".", n=1).str[0]
    face_names = stems + "_" + rows["face_id"].astype(str)
    jobs = pd.DataFrame({
        "image": str(root / "image" / "origin") + os.sep + rows["image_name"],
        "crop": str(cache_dir) + os.sep + face_names + ".jpg",
        "left": rows["left"], "top": rows["top"], "right": rows["right"], "bottom": rows["bottom"],
        "where": f"{label_file}:" + rows["line"].astype(str),
    })
    ok, skipped = crop_faces(jobs, size, cache=cache, progress=progress, description="ExpW faces")
    rows, jobs, face_names = rows[ok], jobs[ok], face_names[ok]
    expr = np.asarray(EXPW_TO_AFFWILD2, dtype=np.int8)[rows["label"].to_numpy()]
    n = len(rows)
    return sample_table(
        "expw", face_names.to_numpy(), np.ones(n), relative_to_root(jobs["crop"], root).to_numpy(),
        expr, np.full(n, MISSING_VA), np.full(n, MISSING_VA),
        extra={"image": rows["image_name"].to_numpy(), "face_id": rows["face_id"].to_numpy(np.int32),
               "expw_label": rows["label"].to_numpy(np.int8)},
        attrs={"root": str(root), "database": "expw", "size": size, "cache_dir": str(cache_dir),
               "skipped": skipped},
    )

