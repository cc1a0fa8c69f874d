"""What the external-database readers share: strict parsing of label files, cropping faces
with the boxes a database ships, a crop cache in the user's cache folder (the database
is only read), and the assembly of sample tables with the dtypes of
:mod:`abawbench.data`'s contract.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image


log = logging.getLogger(__name__)

CROP_JPEG_QUALITY = 95


def default_cache_dir(root: Path, size: int) -> Path:
    """The crops of the database at ``root`` at ``size`` pixels: a folder of the user's
    cache (kind ``crops`` of :mod:`abawbench.cache`, one per absolute root and size), or a
    temporary folder when caching is off or the cache cannot be written."""
    from abawbench import cache

    return cache.folder_for("crops", (str(Path(root).resolve()), str(size)))


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
    from abawbench.formats import ReadLimit, read_regular_file

    path = Path(path)
    # a regular file of bounded size: a FIFO or /dev/zero in a label file's place must not hang
    raw = read_regular_file(path, ReadLimit(4 * 1024**3, "no label file of these databases is that large"))
    text = raw.decode("utf-8-sig")
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
