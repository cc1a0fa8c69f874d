"""Reading and writing Aff-Wild2 annotation files and ABAW submissions.

Strict: every deviation from the organisers' formats raises :class:`FormatError`
naming the file, the 1-based line (the header is line 1) and what was expected.
Tolerant of what editors add and the organisers accept, silently: a UTF-8 BOM, CRLF
line ends, trailing newlines or blank lines at the end, spaces around fields.

Two formats of submission exist:

* per-video (ABAW1-3): a folder of ``<video>.txt``, each with the track's header and one
  row per frame of the video;
* ``image_location`` (ABAW4 onwards): one file, header ``image_location,<track header>``,
  rows ``video/00001.jpg,<values>``.

Parsing is vectorised: files are checked byte-wise with NumPy (characters, fields per
line, empty lines), then converted in one call. Anything the fast path does not accept
goes through a line-by-line path that either finds the exact error or parses the
file after all; that slow path is the reference the fast path is tested against.
"""

from __future__ import annotations

import io
import os
import re
import stat
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from abawbench import atomic
from abawbench.tracks import IMAGE_LOCATION, LATEST, TrackSpec, detect_track, split_header, track_spec

_BOM = b"\xef\xbb\xbf"
_NEWLINE, _COMMA, _SPACE, _TAB = 10, 44, 32, 9


class FormatError(ValueError):
    """A file is not in the expected format. ``str()`` is the message for the user."""

    def __init__(self, path: Path | str, line: int | None, expected: str, found: str | None = None,
                 hint: str | None = None):
        self.path, self.line, self.expected, self.found, self.hint = Path(path), line, expected, found, hint
        where = f"{path}:{line}" if line is not None else f"{path}"
        message = f"{where}: expected {expected}"
        if found is not None:
            message += f", found {found}"
        if hint:
            message += f" ({hint})"
        super().__init__(message)


def _allowed(characters: bytes) -> np.ndarray:
    table = np.zeros(256, dtype=bool)
    table[np.frombuffer(characters, dtype=np.uint8)] = True
    return table


_INT_CHARACTERS = _allowed(b"0123456789+-, \t\n")
_INT_TOKEN = re.compile(r"[+-]?[0-9]+")
_FLOAT_TOKEN = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
# cropped_aligned names frames with 5 digits, and the organisers match locations as strings
_FRAME_FILE = re.compile(r"([0-9]{5})\.jpg")
_INT_LIMIT = 2**62
# Bytes of a well-formed VA body; pandas' reader is more lenient (True/False, for one).
_FLOAT_BYTES = b"0123456789+-.eE, \t\n"


def _quote(text: str, limit: int = 60) -> str:
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return repr(text)


@dataclass
class TextFile:
    """A file split into its header and its data rows.

    ``body`` holds the rows joined by ``\\n`` with CR, BOM and trailing blank lines
    removed; ``n_rows`` counts them. Row i (0-based) is line ``i + 2`` of the file.
    """

    path: Path
    header: str
    body: bytes
    n_rows: int

    def row_text(self, index: int) -> str:
        return self.body.split(b"\n")[index].decode("utf-8", "replace")


# Reads are bounded so that a wrong file (a 2 GB sparse file, /dev/zero behind a link)
# fails at once and in constant memory. Without a reference, no ABAW annotation or
# submission file comes near this size (a full test-set image_location file is ~100 MB).
MAX_FILE_BYTES = 512 * 1024 * 1024
# With one, a file needs at most this much per value of a row (the longest float repr is
# 24 characters; spaces around fields and CRLF are tolerated) and this much around the rows.
MAX_FIELD_BYTES = 64
_SLACK_BYTES = 64 * 1024


@dataclass(frozen=True)
class ReadLimit:
    """The most bytes a file may hold, and why (the reason completes the error message)."""

    max_bytes: int
    reason: str


DEFAULT_LIMIT = ReadLimit(MAX_FILE_BYTES, "no ABAW annotation or submission file is that large")


def rows_limit(spec: TrackSpec, rows: int, what: str, location_bytes: int = 0) -> ReadLimit:
    """The bound for a file of ``rows`` rows of ``spec`` (plus ``location_bytes`` of
    image_location per row): generous for any valid file, tiny next to a wrong one."""
    per_row = location_bytes + spec.n_values * MAX_FIELD_BYTES
    return ReadLimit(_SLACK_BYTES + rows * per_row, f"{what}: {rows:,} rows of at most {per_row} bytes")


def read_regular_file(path: Path, limit: ReadLimit = DEFAULT_LIMIT) -> bytes:
    """The bytes of a regular file of at most ``limit.max_bytes``; :class:`FormatError` for
    a folder, FIFO, device or socket (named, and never opened: reading ``/dev/zero`` or a
    FIFO would never end) and for a file over the limit (refused before it is read)."""
    try:
        mode = os.stat(path).st_mode
    except OSError as error:
        raise FormatError(path, None, "a readable file", error.strerror or str(error)) from None
    if not stat.S_ISREG(mode):
        link = f" (a link to {os.path.realpath(path)})" if os.path.islink(path) else ""
        raise FormatError(path, None, "a regular file" if not stat.S_ISDIR(mode) else "a file",
                          atomic.describe_kind(mode) + link)
    try:
        # O_NONBLOCK: should the path have become a FIFO since the stat, opening it must not hang
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as error:
        raise FormatError(path, None, "a readable file", error.strerror or str(error)) from None
    with os.fdopen(descriptor, "rb") as stream:
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode):
            raise FormatError(path, None, "a regular file", atomic.describe_kind(status.st_mode))
        if status.st_size > limit.max_bytes:
            raise FormatError(path, None, f"a file of at most {limit.max_bytes:,} bytes ({limit.reason})",
                              f"{status.st_size:,} bytes")
        try:
            raw = stream.read(limit.max_bytes + 1)
        except OSError as error:
            raise FormatError(path, None, "a readable file", error.strerror or str(error)) from None
    if len(raw) > limit.max_bytes:  # it grew while being read
        raise FormatError(path, None, f"a file of at most {limit.max_bytes:,} bytes ({limit.reason})", "more")
    return raw


def read_text_file(path: Path, limit: ReadLimit = DEFAULT_LIMIT) -> TextFile:
    path = path if isinstance(path, Path) else Path(path)
    raw = read_regular_file(path, limit)
    if raw.startswith(_BOM):
        raw = raw[len(_BOM):]
    if b"\r" in raw:
        raw = raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    raw = raw.rstrip(b"\n\t ")
    if not raw:
        raise FormatError(path, 1, "a header line", "an empty file")
    header_bytes, _, body = raw.partition(b"\n")
    try:
        header = header_bytes.decode("utf-8")
    except UnicodeDecodeError:
        raise FormatError(path, 1, "a UTF-8 text header", "bytes that are not UTF-8 text") from None
    n_rows = body.count(b"\n") + 1 if body else 0
    return TextFile(path, header, body, n_rows)


def _looks_like_data(cells: tuple[str, ...]) -> bool:
    return all(_FLOAT_TOKEN.fullmatch(cell) or cell.lower() in ("nan", "inf", "-inf") for cell in cells)


def check_header(text: TextFile, columns: tuple[str, ...], edition_hint: str = "") -> None:
    """Raise unless the header's cells equal ``columns`` (spaces around cells ignored)."""
    cells = split_header(text.header)
    if cells == columns:
        return
    expected = f"the header {_quote(','.join(columns), 120)}"
    if _looks_like_data(cells) or (columns and columns[0] == IMAGE_LOCATION and "/" in cells[0]):
        raise FormatError(text.path, 1, expected, f"a data row {_quote(text.header)}",
                          "the header line is missing")
    hint = None
    known = detect_track(",".join(cells[1:] if cells[:1] == (IMAGE_LOCATION,) else cells))
    if known:
        track, found_columns = known
        expected_columns = columns[1:] if columns[:1] == (IMAGE_LOCATION,) else columns
        if found_columns == expected_columns:
            hint = f"only the letter case differs: submissions spell the header {','.join(columns)!r}"
        else:
            hint = f"that header is the {len(found_columns)}-column {track.upper()} one"
            if edition_hint:
                hint += f"; {edition_hint}"
    raise FormatError(text.path, 1, expected, _quote(text.header, 120), hint)


# ------------------------------------------------------------------ row parsing


def _small_integers(buffer: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray | None:
    """Fields of one digit, or a minus and one digit (the usual EXPR/AU files), read directly."""
    if lengths.max() > 2:
        return None
    last = buffer[starts + lengths - 1].astype(np.int64) - ord("0")
    two = lengths == 2
    if not ((last >= 0) & (last <= 9)).all() or not (buffer[starts[two]] == ord("-")).all():
        return None
    return np.where(two, -last, last)


def _single_digit_rows(buffer: np.ndarray, n_rows: int, n_values: int) -> np.ndarray | None:
    """The common case of predictions, every value one digit (``4`` or ``0,1,0,…``): digits sit
    at even offsets and separators at odd ones, so a strided view reads them all."""
    if buffer.size != n_rows * 2 * n_values - 1:
        return None
    separators = np.append(buffer[1::2], _NEWLINE).reshape(n_rows, n_values)
    if not ((separators[:, -1] == _NEWLINE).all() and (separators[:, :-1] == _COMMA).all()):
        return None
    digits = buffer[0::2].astype(np.int64) - ord("0")
    if not ((digits >= 0) & (digits <= 9)).all():
        return None
    return digits.reshape(n_rows, n_values)


def _fast_parse(body: bytes, n_rows: int, n_values: int, integer: bool) -> np.ndarray | None:
    """Vectorised parse of well-formed rows; None when anything looks off.

    Integers (EXPR, AU) are checked byte-wise and read directly. Floats (VA) go through
    pandas' C reader, whose leniencies are closed here: only bytes that numbers are made
    of may reach it (no quotes, NUL, True/False), skipped blank lines show as a row count
    mismatch, and overflow as non-finite values.
    The slow path then finds and names the exact problem.
    """
    if not integer:
        if body.translate(None, _FLOAT_BYTES):
            return None  # a byte no number has (quotes, NUL, letters of True/False/nan …)
        try:
            values = pd.read_csv(io.BytesIO(body), header=None, engine="c", na_filter=False,
                                 dtype=np.float64).to_numpy()
        except (ValueError, OverflowError, TypeError, UnicodeDecodeError, pd.errors.ParserError):
            return None
        if values.shape != (n_rows, n_values) or not np.isfinite(values).all():
            return None
        return values
    buffer = np.frombuffer(body, dtype=np.uint8)
    single_digits = _single_digit_rows(buffer, n_rows, n_values)
    if single_digits is not None:
        return single_digits
    if not _INT_CHARACTERS[buffer].all():
        return None
    separators = np.flatnonzero((buffer == _COMMA) | (buffer == _NEWLINE))
    if separators.size != n_rows * n_values - 1:
        return None
    # every row: n_values − 1 commas, then a newline (the last row has none)
    kinds = np.append(buffer[separators], _NEWLINE).reshape(n_rows, n_values)
    if not ((kinds[:, -1] == _NEWLINE).all() and (kinds[:, :-1] == _COMMA).all()):
        return None
    bounds = np.concatenate(([-1], separators, [buffer.size]))
    lengths = np.diff(bounds) - 1
    if lengths.min() <= 0:
        return None  # an empty field or row
    values = _small_integers(buffer, bounds[:-1] + 1, lengths)
    if values is not None:
        return values.reshape(n_rows, n_values)
    try:
        if n_values == 1:
            values = np.array(body.split(b"\n"), dtype=np.int64)[:, None]
        else:
            values = pd.read_csv(io.BytesIO(body), header=None, engine="c", na_filter=False,
                                 dtype=np.int64).to_numpy()
    except (ValueError, OverflowError, TypeError, pd.errors.ParserError):
        return None
    return values if values.shape == (n_rows, n_values) else None


def _slow_parse(text: TextFile, n_values: int, integer: bool, kind: str, first_row: int = 0) -> np.ndarray:
    """Line-by-line parse that raises at the first bad row: the reference semantics."""
    token = _INT_TOKEN if integer else _FLOAT_TOKEN
    what = "an integer" if integer else "a number"
    rows = []
    for index, raw in enumerate(text.body.split(b"\n")):
        line = first_row + index + 2
        try:
            row = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise FormatError(text.path, line, "UTF-8 text", "bytes that are not UTF-8") from None
        if not row.strip():
            raise FormatError(text.path, line, f"a row of {kind}", "an empty line")
        cells = [cell.strip() for cell in row.split(",")]
        if len(cells) != n_values:
            raise FormatError(text.path, line, f"{n_values} comma-separated value{'s' * (n_values > 1)} ({kind})",
                              f"{len(cells)} in {_quote(row)}")
        for cell in cells:
            if cell.lower().lstrip("+-") in ("nan", "inf", "infinity"):
                raise FormatError(text.path, line, f"a finite number ({kind})", _quote(cell))
            if not token.fullmatch(cell):
                raise FormatError(text.path, line, f"{what} ({kind})", _quote(cell) if cell else "an empty field")
        values = [int(c) if integer else float(c) for c in cells]
        if integer and any(abs(v) > _INT_LIMIT for v in values):
            raise FormatError(text.path, line, kind, _quote(row))
        rows.append(values)
    dtype = np.int64 if integer else np.float64
    return np.array(rows, dtype=dtype).reshape(len(rows), n_values)


def parse_rows(text: TextFile, spec: TrackSpec) -> np.ndarray:
    """The data rows of a per-video file as ``(n_rows, spec.n_values)`` (int64 for EXPR/AU)."""
    integer = spec.track != "va"
    if text.n_rows == 0:
        return np.zeros((0, spec.n_values), dtype=np.int64 if integer else np.float64)
    values = _fast_parse(text.body, text.n_rows, spec.n_values, integer)
    if values is None:
        values = _slow_parse(text, spec.n_values, integer, spec.value_description())
    return values


def first_bad_row(values: np.ndarray, spec: TrackSpec, allow_invalid: bool) -> int | None:
    """Index of the first row holding a value outside the track's range, or None.

    ``allow_invalid`` admits the track's invalid marker (ground truth only).
    """
    if spec.track == "va":
        bad = ~np.isfinite(values) | (np.abs(values) > 1)
    elif spec.track == "expr":
        bad = (values < 0) | (values >= spec.n_classes)
    else:
        bad = (values != 0) & (values != 1)
    if allow_invalid:
        bad &= values != spec.invalid
    rows = np.flatnonzero(bad.any(axis=1))
    return int(rows[0]) if rows.size else None


def check_values(text: TextFile, values: np.ndarray, spec: TrackSpec, allow_invalid: bool) -> None:
    """Raise at the first row of ``text`` holding a value outside the track's range."""
    row = first_bad_row(values, spec, allow_invalid)
    if row is not None:
        marker = f", or {spec.invalid:g} for an invalid frame" if allow_invalid else ""
        raise FormatError(text.path, row + 2, f"{spec.value_description()}{marker}", _quote(text.row_text(row)))


# -------------------------------------------------------------- public readers


def read_annotation(path: Path, spec: TrackSpec | None = None) -> tuple[TrackSpec | None, tuple[str, ...], np.ndarray]:
    """Read an Aff-Wild2 annotation file: ``(spec, columns, values)``.

    The track is detected from the header. With ``spec`` the header must match it.
    Values keep the invalid markers (EXPR −1, VA −5, AU −1).
    """
    text = read_text_file(path)
    detected = detect_track(text.header)
    if detected is None:
        raise FormatError(path, 1, "an EXPR, VA or AU annotation header", _quote(text.header, 120))
    track, columns = detected
    if spec is not None:
        if track != spec.track or columns != spec.columns:
            raise FormatError(path, 1, f"the header {_quote(spec.header, 120)}", _quote(text.header, 120))
    else:
        spec = replace(track_spec(LATEST, track), columns=columns)
    values = parse_rows(text, spec)
    check_values(text, values, spec, allow_invalid=True)
    return spec, columns, values


def read_prediction(path: Path, spec: TrackSpec, edition_hint: str = "") -> np.ndarray:
    """Read one per-video prediction file: ``(frames, spec.n_values)``."""
    text = read_text_file(path)
    check_header(text, spec.columns, edition_hint)
    values = parse_rows(text, spec)
    check_values(text, values, spec, allow_invalid=False)
    return values


def read_stacked(paths: list[Path], spec: TrackSpec, allow_invalid: bool, edition_hint: str = "",
                 limits: list[ReadLimit] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Read many per-video files of one track in one vectorised parse.

    Every header must equal ``spec.columns`` (case ignored for ground truth, whose
    copies differ). Returns ``(values, rows)``: the files' rows stacked in ``paths``
    order, ``(sum(rows), n_values)``, and each file's row count ``(len(paths),)``.
    ``limits[i]`` bounds the size of ``paths[i]`` (:func:`rows_limit`).
    """
    limits = limits if limits is not None else [DEFAULT_LIMIT] * len(paths)
    texts = [read_text_file(path, limit) for path, limit in zip(paths, limits)]
    for text in texts:
        if allow_invalid:
            found = detect_track(text.header)
            if found is None or found[1] != spec.columns:
                raise FormatError(text.path, 1, f"the header {_quote(spec.header, 120)}", _quote(text.header, 120),
                                  edition_hint or None)
        else:
            check_header(text, spec.columns, edition_hint)
    rows = np.array([text.n_rows for text in texts], dtype=np.int64)
    values = None
    if rows.sum():
        body = b"\n".join(text.body for text in texts if text.n_rows)
        values = _fast_parse(body, int(rows.sum()), spec.n_values, spec.track != "va")
    if values is None:  # something is off: per file, so the error names the file
        parts = [parse_rows(text, spec) for text in texts]
        values = np.concatenate(parts) if parts else np.zeros((0, spec.n_values))
    _check_stacked_values(texts, values, rows, spec, allow_invalid)
    return values, rows


def _check_stacked_values(texts: list[TextFile], values: np.ndarray, rows: np.ndarray, spec: TrackSpec,
                          allow_invalid: bool) -> None:
    """:func:`check_values` on every file at once; the file of the first bad row names the error."""
    bad = first_bad_row(values, spec, allow_invalid)
    if bad is None:
        return
    index = int(np.searchsorted(np.cumsum(rows), bad, side="right"))
    start = int(rows[:index].sum())
    check_values(texts[index], values[start: start + rows[index]], spec, allow_invalid)


def read_many(paths: list[Path], spec: TrackSpec, allow_invalid: bool, edition_hint: str = "") -> list[np.ndarray]:
    """:func:`read_stacked`, split into one ``(rows, n_values)`` array (a view) per path."""
    values, rows = read_stacked(paths, spec, allow_invalid, edition_hint)
    return np.split(values, np.cumsum(rows)[:-1]) if len(rows) else []


@dataclass
class LocatedRows:
    """An ``image_location`` file: row i names ``videos[i]``/``frames[i]`` with ``values[i]``."""

    path: Path
    locations: list[str]
    videos: np.ndarray  # (n,) str
    frames: np.ndarray  # (n,) int64, 1-based
    values: np.ndarray | None  # (n, n_values); None for a template

    def line(self, row: int) -> int:
        return row + 2

    def runs(self) -> tuple[list[str], np.ndarray, np.ndarray]:
        """Consecutive rows of one video: ``(videos, starts, ends)``, rows ``starts[i]:ends[i]``."""
        starts = np.flatnonzero(np.concatenate(([True], self.videos[1:] != self.videos[:-1]))) \
            if self.videos.size else np.zeros(0, dtype=np.int64)
        ends = np.append(starts[1:], len(self.videos))
        return [str(v) for v in self.videos[starts]], starts, ends


def _split_location(text: TextFile, row: int, location: str) -> tuple[str, int]:
    video, slash, file_name = location.rpartition("/")
    match = _FRAME_FILE.fullmatch(file_name)
    if not slash or not video or match is None:
        raise FormatError(text.path, row + 2, "an image_location like 'video/00001.jpg' (5-digit frame "
                          "number, as cropped_aligned names the crops)", _quote(location))
    frame = int(match.group(1))
    if frame < 1:
        raise FormatError(text.path, row + 2, "a frame number of 1 or more (1-based)", _quote(location))
    return video, frame


def read_image_location(path: Path, spec: TrackSpec, template: bool = False, edition_hint: str = "",
                        limit: ReadLimit = DEFAULT_LIMIT) -> LocatedRows:
    """Read an ABAW4+ single-file submission (or, with ``template``, the organisers'
    template, whose value fields are empty), checking order and duplicates; ``limit``
    bounds the file's size (:func:`rows_limit`)."""
    text = read_text_file(path, limit)
    check_header(text, (IMAGE_LOCATION,) + spec.columns, edition_hint)
    if text.n_rows == 0:
        raise FormatError(path, 2, "one row per frame after the header", "no rows")
    lines = text.body.split(b"\n")
    locations: list[str] = []
    value_parts: list[bytes] = []
    for row, raw in enumerate(lines):
        location_bytes, comma, rest = raw.partition(b",")
        try:
            location = location_bytes.decode("utf-8").strip()
        except UnicodeDecodeError:
            raise FormatError(path, row + 2, "UTF-8 text", "bytes that are not UTF-8") from None
        if not location:
            raise FormatError(path, row + 2, "an image_location like 'video/00001.jpg'",
                              "an empty line" if not raw.strip() else "an empty first field")
        if not template and (not comma or not rest.strip()):
            raise FormatError(path, row + 2, f"{spec.n_values} value(s) after the image_location",
                              "an empty field" if comma else _quote(raw.decode("utf-8", "replace")))
        locations.append(location)
        value_parts.append(rest)
    split = [_split_location(text, row, location) for row, location in enumerate(locations)]
    videos = np.array([video for video, _ in split], dtype=str)
    frames = np.fromiter((frame for _, frame in split), dtype=np.int64, count=len(split))
    rows = LocatedRows(Path(path), locations, videos, frames, None)
    check_row_order(rows)
    if not template:
        values_text = TextFile(text.path, text.header, b"\n".join(value_parts), text.n_rows)
        rows.values = parse_rows(values_text, spec)
        check_values(values_text, rows.values, spec, allow_invalid=False)
    return rows


def check_row_order(rows: LocatedRows) -> None:
    """Each video's rows must be contiguous, in increasing frame order, without repeats."""
    videos, frames = rows.videos, rows.frames
    if videos.size < 2:
        return
    same = videos[1:] == videos[:-1]
    step = np.diff(frames)
    repeated = same & (step == 0)
    backwards = same & (step < 0)
    run_list, starts, _ = rows.runs()
    run_videos = np.array(run_list, dtype=str)
    _, first_run = np.unique(run_videos, return_index=True)
    resumed = np.setdiff1d(np.arange(run_videos.size), first_run)
    problems = []
    if repeated.any():
        row = int(np.flatnonzero(repeated)[0]) + 1
        problems.append((row, "no duplicate rows", f"{_quote(rows.locations[row])} again (line {rows.line(row - 1)})"))
    if backwards.any():
        row = int(np.flatnonzero(backwards)[0]) + 1
        problems.append((row, f"frames of a video in increasing order (after {_quote(rows.locations[row - 1])})",
                         _quote(rows.locations[row])))
    if resumed.size:
        row = int(starts[resumed[0]])
        video = videos[row]
        first = int(starts[np.flatnonzero(run_videos == video)[0]])
        problems.append((row, f"the rows of each video together (video '{video}' began at line {rows.line(first)})",
                         f"{_quote(rows.locations[row])} after other videos' rows"))
    if problems:
        row, expected, found = min(problems)
        raise FormatError(rows.path, rows.line(row), expected, found)


# ---------------------------------------------------------------------- writers


def _format_rows(values: np.ndarray, spec: TrackSpec) -> list[str]:
    values = np.asarray(values)
    if spec.track == "va":
        return [f"{v:.6g},{a:.6g}" for v, a in values.reshape(-1, 2)]
    return [",".join(str(int(v)) for v in row) for row in values.reshape(len(values), -1)]


def write_per_video(folder: Path, spec: TrackSpec, predictions: dict[str, np.ndarray]) -> None:
    """Write a per-video submission folder atomically (all files appear, or none)."""
    with atomic.staged_folder(Path(folder)) as staging:
        for video, values in predictions.items():
            lines = [spec.header] + _format_rows(values, spec)
            (staging / f"{video}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_image_location(path: Path, spec: TrackSpec, predictions: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
    """Write a single-file submission atomically; ``predictions[video] = (frames, values)``."""
    lines = [f"{IMAGE_LOCATION},{spec.header}"]
    for video, (frames, values) in predictions.items():
        for frame, row in zip(np.asarray(frames), _format_rows(values, spec)):
            lines.append(f"{video}/{int(frame):05d}.jpg,{row}")
    atomic.write_text(Path(path), "\n".join(lines) + "\n")


def read_video_list(path: Path) -> dict[str, int | None]:
    """The organisers' list of test videos, one name per line, optionally ``name,frames``."""
    text = read_text_file(path, ReadLimit(16 * 1024 * 1024, "a list of video names"))
    rows = [text.header] + (text.body.decode("utf-8", "replace").split("\n") if text.n_rows else [])
    videos: dict[str, int | None] = {}
    for index, row in enumerate(rows):
        cells = [cell.strip() for cell in row.split(",")]
        if not cells[0]:
            raise FormatError(path, index + 1, "a video name", "an empty line")
        # ASCII digits only: str.isdigit() admits '²' (int() then fails) and '٣٧' (read as 37)
        if len(cells) > 2 or (len(cells) == 2 and not (cells[1].isascii() and cells[1].isdigit())):
            raise FormatError(path, index + 1, "'video' or 'video,frames'", _quote(row))
        if cells[0] in videos:
            raise FormatError(path, index + 1, "each video once", f"{cells[0]!r} again")
        videos[cells[0]] = int(cells[1]) if len(cells) == 2 else None
    return videos
