"""AffectNet (manually annotated part) in its native layout, as a sample table.

Layout read::

    ROOT/Manually_Annotated_file_lists/training.csv     # and validation.csv
    ROOT/Manually_Annotated_Images/<subDirectory_filePath>

The CSV header is ``subDirectory_filePath,face_x,face_y,face_width,face_height,
facial_landmarks,expression,valence,arousal``; the face box is ``face_x, face_y``
(top-left corner, pixels) and ``face_width, face_height``; landmarks are
``x1;y1;x2;y2;...``. ``expression`` is AffectNet's order (0 Neutral, 1 Happy, 2 Sad,
3 Surprise, 4 Fear, 5 Disgust, 6 Anger, 7 Contempt, 8 None, 9 Uncertain, 10 No-Face);
valence and arousal are in [-1, 1], -2 where there is none.

The paper keeps classes 0-6, mapped with :data:`AFFECTNET_TO_AFFWILD2`, and drops
:data:`AFFECTNET_DROPPED`; a -2 valence/arousal becomes the contract's missing marker
(-5).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from abawbench.data import MISSING_VA
from abawbench.data.crops import crop_faces, default_cache_dir, fail_at, parse_rows, relative_to_root, sample_table

AFFECTNET_CLASSES = ("Neutral", "Happy", "Sad", "Surprise", "Fear", "Disgust", "Anger",
                     "Contempt", "None", "Uncertain", "No-Face")
#: AffectNet class 0-6 -> Aff-Wild2 class: index with the AffectNet label.
AFFECTNET_TO_AFFWILD2 = (0, 4, 5, 6, 3, 2, 1)
#: Classes the paper leaves out (Contempt has no Aff-Wild2 counterpart; the rest are not
#: expressions).
AFFECTNET_DROPPED = (7, 8, 9, 10)
AFFECTNET_INVALID_VA = -2.0
AFFECTNET_COLUMNS = ("subDirectory_filePath", "face_x", "face_y", "face_width", "face_height",
                     "facial_landmarks", "expression", "valence", "arousal")
AFFECTNET_SPLITS = ("training", "validation")
LIST_FOLDER = "Manually_Annotated_file_lists"
IMAGE_FOLDER = "Manually_Annotated_Images"


def read_affectnet_labels(root: Path, split: str = "training") -> pd.DataFrame:
    """The split's CSV parsed and checked: one row per image with native labels plus
    ``line``. ValueError (file and line) for a wrong header or field count, non-numbers,
    expressions outside 0-10, valence/arousal outside [-1, 1] other than -2, and empty
    or negative boxes."""
    if split not in AFFECTNET_SPLITS:
        raise ValueError(f"unknown AffectNet split {split!r}; expected one of {', '.join(AFFECTNET_SPLITS)}")
    path = Path(root) / LIST_FOLDER / f"{split}.csv"
    rows = parse_rows(path, AFFECTNET_COLUMNS, sep=",", header=True,
                      integer=("face_x", "face_y", "face_width", "face_height", "expression"),
                      real=("valence", "arousal"))
    lines = rows["line"]
    fail_at(path, lines, ~rows["expression"].between(0, len(AFFECTNET_CLASSES) - 1),
            f"expression must be 0-{len(AFFECTNET_CLASSES) - 1} (AffectNet order)")
    for column in ("valence", "arousal"):
        values = rows[column]
        fail_at(path, lines, ~(values.between(-1.0, 1.0) | (values == AFFECTNET_INVALID_VA)),
                f"{column} must be in [-1, 1] or -2 (no label)")
    fail_at(path, lines, (rows["face_width"] <= 0) | (rows["face_height"] <= 0),
            "face_width and face_height must be positive")
    fail_at(path, lines, (rows["face_x"] < 0) | (rows["face_y"] < 0),
            "face box starts outside the image (negative face_x or face_y)")
    fail_at(path, lines, rows["subDirectory_filePath"] == "", "subDirectory_filePath is empty")
    return rows


def read_affectnet(root: Path, split: str = "training", size: int = 112, cache: bool = True,
                   progress: bool = False, cache_dir: Path | None = None) -> pd.DataFrame:
    """AffectNet ``split`` (``training`` or ``validation``) as a sample table.

    Rows of classes 7-10 are dropped before any cropping. Faces are cut with the CSV's
    box, resized to ``size`` x ``size`` and cached under ``cache_dir`` (default
    the user's cache folder, see
    :func:`abawbench.data.crops.default_cache_dir`, named ``<subdirectory>_<file stem>.jpg``);
    later calls reuse them. ``expr`` is Aff-Wild2's order; valence/arousal are floats in
    [-1, 1] or -5 where AffectNet has -2. ``video`` is ``<subdirectory>_<file stem>``,
    ``frame`` 1. Extra columns: ``affectnet_label``, ``image`` (subDirectory_filePath).

    ``table.attrs``: ``root``, ``database``, ``split``, ``size``, ``cache_dir``,
    ``dropped`` ({AffectNet class: rows}) and ``skipped`` (unreadable images, left out).
    """
    root = Path(root).resolve()
    rows = read_affectnet_labels(root, split)
    dropped_mask = rows["expression"].isin(AFFECTNET_DROPPED)
    dropped = {int(k): int(v) for k, v in rows.loc[dropped_mask, "expression"].value_counts().sort_index().items()}
    rows = rows[~dropped_mask].reset_index(drop=True)

    cache_dir = Path(cache_dir).resolve() if cache_dir is not None else default_cache_dir(root, size)
    csv_file = root / LIST_FOLDER / f"{split}.csv"
    # "689/abc.jpg" -> "689_abc": unique across sub-directories, one flat cache folder.
    names = rows["subDirectory_filePath"].str.replace("\\", "/", regex=False) \
        .str.rsplit(".", n=1).str[0].str.replace("/", "_", regex=False)
    jobs = pd.DataFrame({
        "image": str(root / IMAGE_FOLDER) + os.sep + rows["subDirectory_filePath"],
        "crop": str(cache_dir) + os.sep + names + ".jpg",
        "left": rows["face_x"], "top": rows["face_y"],
        "right": rows["face_x"] + rows["face_width"], "bottom": rows["face_y"] + rows["face_height"],
        "where": f"{csv_file}:" + rows["line"].astype(str),
    })
    ok, skipped = crop_faces(jobs, size, cache=cache, progress=progress, description=f"AffectNet {split}")
    rows, jobs, names = rows[ok], jobs[ok], names[ok]

    expr = np.asarray(AFFECTNET_TO_AFFWILD2, dtype=np.int8)[rows["expression"].to_numpy()]
    valence = rows["valence"].to_numpy(np.float32)
    arousal = rows["arousal"].to_numpy(np.float32)
    # -2 marks "no label" in AffectNet; the contract says -5. Either column missing makes
    # the pair unusable for CCC, so both are marked together.
    missing = (valence == AFFECTNET_INVALID_VA) | (arousal == AFFECTNET_INVALID_VA)
    valence[missing] = MISSING_VA
    arousal[missing] = MISSING_VA
    n = len(rows)
    return sample_table(
        "affectnet", names.to_numpy(), np.ones(n), relative_to_root(jobs["crop"], root).to_numpy(),
        expr, valence, arousal,
        extra={"affectnet_label": rows["expression"].to_numpy(np.int8),
               "image": rows["subDirectory_filePath"].to_numpy()},
        attrs={"root": str(root), "database": "affectnet", "split": split, "size": size,
               "cache_dir": str(cache_dir), "dropped": dropped, "skipped": skipped},
    )
