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

This module also holds the two helpers the other external readers share:
:func:`parse_rows` (strict, vectorised parsing of delimited label files) and
:func:`crop_faces` (crop, resize and cache, skipping unreadable images).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from abawbench.data import MISSING_VA

log = logging.getLogger(__name__)

EXPW_CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
#: ExpW label -> Aff-Wild2 class (0 Neutral, 1 Anger, 2 Disgust, 3 Fear, 4 Happiness,
#: 5 Sadness, 6 Surprise): index with the ExpW label.
EXPW_TO_AFFWILD2 = (1, 2, 3, 4, 5, 6, 0)
EXPW_COLUMNS = ("image_name", "face_id", "top", "left", "right", "bottom", "confidence", "label")
CROP_FOLDER = ".abawbench_crops"
CROP_JPEG_QUALITY = 95


# --------------------------------------------------------------------------- helpers


def default_cache_dir(root: Path, size: int) -> Path:
    """``<root>/.abawbench_crops/<size>``: crops live beside the database they came from."""
    return Path(root) / CROP_FOLDER / str(size)


def parse_rows(
    path: Path,
    columns: tuple[str, ...],
    *,
    sep: str | None,
    integer: tuple[str, ...] = (),
    real: tuple[str, ...] = (),
    header: bool = False,
) -> pd.DataFrame:
    """Parse a delimited label file strictly; every error names the file and line.

    ``sep=None`` splits on runs of white space (ExpW), otherwise on ``sep`` (AffectNet's
    commas). With ``header=True`` the first non-blank line must spell ``columns``.
    Blank lines are ignored. Columns in ``integer`` must hold whole numbers, columns in
    ``real`` any finite number; the rest stay strings. The result has one row per data
    line, the named columns converted, and ``line`` (1-based line number in the file).
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8-sig")
    lines = pd.Series(text.splitlines(), dtype=object)
    line_numbers = np.arange(1, len(lines) + 1)
    keep = lines.str.strip() != ""
    lines, line_numbers = lines[keep].reset_index(drop=True), line_numbers[keep.to_numpy()]
    if header:
        if lines.empty:
            raise ValueError(f"{path}: empty file; expected the header {','.join(columns)}")
        found = tuple(cell.strip() for cell in lines.iloc[0].split(sep))
        if found != tuple(columns):
            raise ValueError(f"{path}:{line_numbers[0]}: header {','.join(found)!r} does not match "
                             f"the expected {','.join(columns)!r}")
        lines, line_numbers = lines.iloc[1:].reset_index(drop=True), line_numbers[1:]
    parts = lines.str.strip().str.split(sep)
    counts = parts.str.len().to_numpy() if len(parts) else np.zeros(0, dtype=int)
    wrong = np.flatnonzero(counts != len(columns))
    if wrong.size:
        i = wrong[0]
        raise ValueError(f"{path}:{line_numbers[i]}: expected {len(columns)} fields "
                         f"({' '.join(columns)}), found {counts[i]}: {lines.iloc[i]!r}")
    table = pd.DataFrame(parts.tolist(), columns=list(columns)) if len(parts) else \
        pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    for name in columns:
        table[name] = table[name].str.strip()
    for name in integer + real:
        values = pd.to_numeric(table[name], errors="coerce").astype("float64")
        bad = ~np.isfinite(values.to_numpy())
        if name in integer:
            bad |= np.isfinite(values.to_numpy()) & (values.to_numpy() != np.round(values.to_numpy()))
        if bad.any():
            i = np.flatnonzero(bad)[0]
            kind = "an integer" if name in integer else "a number"
            raise ValueError(f"{path}:{line_numbers[i]}: {name} must be {kind}, "
                             f"found {table[name].iloc[i]!r}")
        table[name] = values.astype("int64") if name in integer else values
    table["line"] = line_numbers.astype("int64")
    return table


def fail_at(path: Path, lines: pd.Series, bad: np.ndarray, message: str) -> None:
    """Raise ``ValueError('<path>:<line>: <message>')`` at the first True of ``bad``."""
    bad = np.asarray(bad, dtype=bool)
    if bad.any():
        raise ValueError(f"{path}:{int(lines.iloc[np.flatnonzero(bad)[0]])}: {message}")


def crop_faces(
    jobs: pd.DataFrame,
    size: int,
    *,
    cache: bool = True,
    clip: bool = False,
    progress: bool = False,
    description: str = "cropping faces",
) -> tuple[np.ndarray, list[dict]]:
    """Crop, resize and cache faces; loop over images, one decode per image.

    ``jobs`` has one row per face with columns ``image`` (path of the source picture),
    ``crop`` (path of the cached crop to write), ``left``, ``top``, ``right``,
    ``bottom`` (pixels, right/bottom exclusive) and ``where`` (text naming the label
    file and line or record, used in error messages).

    A crop that already exists is reused without opening its source (``cache=True``);
    ``cache=False`` re-crops and overwrites. Boxes must lie inside the picture
    (ValueError naming ``where``) unless ``clip=True``, which clips them to it (landmark
    boxes with a margin may overhang). Pictures that cannot be decoded are skipped.

    Returns ``(ok, skipped)``: a bool array, True where the crop exists afterwards, and
    one ``{"image", "reason", "where"}`` dict per face that was skipped.
    """
    ok = np.zeros(len(jobs), dtype=bool)
    skipped: list[dict] = []
    crops = jobs["crop"].astype(str).to_numpy()
    if cache:
        ok = np.fromiter((os.path.exists(c) for c in crops), dtype=bool, count=len(crops))
    todo = jobs.loc[~ok]
    if todo.empty:
        return ok, skipped
    for folder in {os.path.dirname(c) for c in crops[~ok]}:
        os.makedirs(folder, exist_ok=True)
    positions = np.flatnonzero(~ok)
    groups = todo.assign(_position=positions).groupby("image", sort=False)

    bar = None
    if progress:
        from rich.progress import Progress
        bar = Progress(transient=True)
        bar.start()
        task = bar.add_task(description, total=groups.ngroups)
    try:
        for image_path, faces in groups:
            picture = _open_picture(image_path)
            if isinstance(picture, str):
                for _, face in faces.iterrows():
                    skipped.append({"image": str(image_path), "reason": picture, "where": face["where"]})
                if bar is not None:
                    bar.advance(task)
                continue
            width, height = picture.size
            for _, face in faces.iterrows():
                box = np.array([face["left"], face["top"], face["right"], face["bottom"]], dtype=float)
                if clip:
                    box = np.clip(box, 0, [width, height, width, height])
                if not (0 <= box[0] < box[2] <= width and 0 <= box[1] < box[3] <= height):
                    raise ValueError(f"{face['where']}: face box left={face['left']} top={face['top']} "
                                     f"right={face['right']} bottom={face['bottom']} is not inside the "
                                     f"{width}x{height} image {image_path}")
                crop = picture.crop(tuple(int(round(v)) for v in box))
                crop = crop.resize((size, size), Image.BILINEAR)
                _save_atomically(crop, face["crop"])
                ok[face["_position"]] = True
            if bar is not None:
                bar.advance(task)
    finally:
        if bar is not None:
            bar.stop()
    if skipped:
        log.warning("%s: skipped %d face(s) whose image could not be read, e.g. %s (%s)",
                    description, len(skipped), skipped[0]["image"], skipped[0]["reason"])
    return ok, skipped


def _open_picture(path: str) -> Image.Image | str:
    """The decoded RGB picture, or a short reason why it cannot be read."""
    try:
        with Image.open(path) as picture:
            picture.load()  # decode now: truncated files only fail here
            return picture.convert("RGB")
    except FileNotFoundError:
        return "missing file"
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        return f"unreadable image: {error}"


def _save_atomically(image: Image.Image, path: str) -> None:
    # A crash mid-write must not leave a half JPEG that the cache would then trust.
    tmp = f"{path}.tmp{os.getpid()}"
    image.save(tmp, format="JPEG", quality=CROP_JPEG_QUALITY)
    os.replace(tmp, path)


def relative_to_root(paths: pd.Series, root: Path) -> pd.Series:
    """Paths relative to ``root`` when inside it, absolute otherwise (a cache folder
    elsewhere); ``root / path`` gives the file either way."""
    root_text = str(Path(root).resolve()) + os.sep
    text = paths.astype(str)
    inside = text.str.startswith(root_text)
    return text.where(~inside, text.str.slice(len(root_text)))


def sample_table(source: str, video, frame, path, expr, valence, arousal, extra: dict | None = None,
                 attrs: dict | None = None) -> pd.DataFrame:
    """Assemble a sample table with the dtypes of :mod:`abawbench.data`'s contract."""
    n = len(video)
    table = pd.DataFrame({
        "source": pd.Categorical([source] * n),
        "video": pd.Categorical(np.asarray(video, dtype=object)),
        "frame": np.asarray(frame, dtype=np.int32),
        "path": np.asarray(path, dtype=object),
        "expr": np.asarray(expr, dtype=np.int8),
        "valence": np.asarray(valence, dtype=np.float32),
        "arousal": np.asarray(arousal, dtype=np.float32),
    })
    for name, values in (extra or {}).items():
        table[name] = np.asarray(values)
    table.attrs.update(attrs or {})
    return table


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
    ``<root>/.abawbench_crops/<size>/``); later calls reuse the crops (``cache=False``
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

