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

and the multi-task (MTL) file of ABAW3/4/7: one file per split, header
``image,valence,arousal,expression,aus`` (or one naming all 16 fields), rows
``video/00001.jpg,v,a,expression,AU1,…,AU26``; the organisers' test list is the same
header and one image per row (with or without a trailing comma).

Parsing is vectorised: files are checked byte-wise with NumPy (characters, fields per
line, empty lines), then converted without a Python loop over rows: one-digit integers
by strided views or masks, decimals digit column by digit column, ``video/00001.jpg``
locations by gathering the bytes around each row's first comma. Anything the fast path
does not accept goes through a line-by-line path that either finds the exact error or
parses the file after all; that slow path is the reference the fast path is tested
against. pandas' C reader is a middle tier for numbers the decimal path leaves (exponents,
17-digit reprs), imported only then.
"""

from __future__ import annotations

import io
import os
import re
import stat
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from abawbench import atomic
from abawbench.tracks import (IMAGE_LOCATION, LATEST, MTL_COLUMNS, MTL_HEADER, MTL_LONG_HEADER, TrackSpec,
                              detect_mtl_header, detect_track, split_header, track_spec)

_BOM = b"\xef\xbb\xbf"
_NEWLINE, _COMMA, _SPACE, _TAB, _MINUS, _PLUS, _POINT, _SLASH = 10, 44, 32, 9, 45, 43, 46, 47


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
    """Fields of one digit, or a minus and one digit (the usual EXPR/AU files), read directly (int8)."""
    if lengths.size == 0 or lengths.max() > 2 or lengths.min() < 1:
        return None
    last = buffer[starts + lengths - 1] - np.uint8(ord("0"))  # wraps below '0': caught by <= 9
    two = lengths == 2
    if not (last <= 9).all() or not (buffer[starts[two]] == _MINUS).all():
        return None
    values = last.astype(np.int8)
    np.negative(values, out=values, where=two)
    return values


def _single_digit_rows(buffer: np.ndarray, n_rows: int, n_values: int) -> np.ndarray | None:
    """The common case of predictions, every value one digit (``4`` or ``0,1,0,…``): digits sit
    at even offsets and separators at odd ones, so a strided view reads them all (int8)."""
    if buffer.size != n_rows * 2 * n_values - 1:
        return None
    separators = buffer[1::2]  # a view: newlines after every n_values-th digit, commas elsewhere
    newlines = np.flatnonzero(separators == _NEWLINE)
    if newlines.size != n_rows - 1 or not np.array_equal(newlines, np.arange(n_values - 1, separators.size, n_values)):
        return None
    if np.count_nonzero(separators == _COMMA) != separators.size - newlines.size:
        return None
    digits = buffer[0::2] - np.uint8(ord("0"))
    if not (digits <= 9).all():
        return None
    return digits.view(np.int8).reshape(n_rows, n_values)


def _signed_digit_rows(buffer: np.ndarray, n_rows: int, n_values: int) -> np.ndarray | None:
    """Every value one digit with an optional minus (ground truth with -1 markers): the text
    without its minus signs must be one-digit rows (:func:`_single_digit_rows`), and each
    minus must open a field and precede its digit. A few passes over the bytes, and index
    arrays only as long as the minus signs (int8)."""
    minus = buffer == _MINUS
    signs = np.flatnonzero(minus)
    if not signs.size or signs[-1] == buffer.size - 1:
        return None
    values = _single_digit_rows(buffer[~minus], n_rows, n_values)
    if values is None:
        return None
    if not ((buffer[signs + 1] - np.uint8(ord("0"))) <= 9).all():
        return None  # '--1', '-,'
    before = buffer[np.maximum(signs - 1, 0)]
    if not ((signs == 0) | (before == _COMMA) | (before == _NEWLINE)).all():
        return None  # '1-1'
    # the digit after the k-th minus is digit number (position - k) / 2 of the text without signs
    flat = values.reshape(-1)
    digit_index = (signs - np.arange(signs.size)) // 2
    flat[digit_index] = -flat[digit_index]
    return flat.reshape(n_rows, n_values)


def _field_bounds(buffer: np.ndarray, n_rows: int, n_values: int) -> tuple[np.ndarray, np.ndarray] | None:
    """``(starts, lengths)`` ``(n_rows * n_values,)`` of the fields of rows of ``n_values``
    comma-separated fields joined by newlines; None unless every row has exactly that shape
    and no field is empty."""
    separators = np.flatnonzero((buffer == _COMMA) | (buffer == _NEWLINE))
    if separators.size != n_rows * n_values - 1:
        return None
    kinds = np.append(buffer[separators], _NEWLINE).reshape(n_rows, n_values)
    if not ((kinds[:, -1] == _NEWLINE).all() and (kinds[:, :-1] == _COMMA).all()):
        return None
    bounds = np.concatenate(([-1], separators, [buffer.size]))
    lengths = np.diff(bounds) - 1
    if lengths.min() <= 0:
        return None
    return bounds[:-1] + 1, lengths


# 10**k for k = 0..22 is exact in float64, so mantissa / 10**k is rounded once, correctly
_POWERS_OF_TEN = 10.0 ** np.arange(23)
_EXACT_MANTISSA = 2**53
_MAX_DECIMAL_DIGITS = 18  # int64 holds any 18-digit mantissa


def _decimal_fields(buffer: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray | None:
    """float64 of fields written as plain decimals (``[+-]digits[.digits]``, ``.5`` and
    ``1.`` too), equal to Python's ``float()`` of each; None when any field is something
    else (exponent, spaces, text) or has a mantissa of 2**53 or more (17-digit reprs),
    whose correct rounding needs more than one division.

    Reads the fields digit column by digit column (a loop over at most 24 columns, each
    vectorised over all fields): mantissa = mantissa·10 + digit, and the digits after the
    point give the power of ten to divide by.
    """
    n = starts.size
    if n == 0:
        return np.zeros(0)
    width = int(lengths.max())
    if width > 24 or lengths.min() < 1:
        return None
    mantissa = np.zeros(n, dtype=np.int64)
    scale, digits, points = (np.zeros(n, dtype=np.int8) for _ in range(3))
    index = starts.copy()
    byte, digit = np.empty(n, dtype=np.uint8), np.empty(n, dtype=np.uint8)
    for column in range(width):
        if column:
            index += 1
        np.take(buffer, index, out=byte, mode="clip")  # past a field's end: bytes that are ignored
        np.subtract(byte, np.uint8(ord("0")), out=digit)  # wraps below '0': caught by <= 9
        inside = lengths > column
        is_digit = (digit <= 9) & inside
        is_point = (byte == _POINT) & inside
        known = is_digit | is_point | ~inside
        if column == 0:
            negative = byte == _MINUS
            known |= negative | (byte == _PLUS)
        if not known.all():
            return None
        np.multiply(mantissa, 10, out=mantissa, where=is_digit)
        np.add(mantissa, digit, out=mantissa, where=is_digit, casting="unsafe")
        scale += is_digit & (points > 0)
        points += is_point
        digits += is_digit
    if (points > 1).any() or (digits == 0).any() or (digits > _MAX_DECIMAL_DIGITS).any():
        return None
    if (mantissa >= _EXACT_MANTISSA).any():
        return None
    values = mantissa.astype(np.float64) / _POWERS_OF_TEN[scale]
    np.negative(values, out=values, where=negative)
    return values


def _pandas_floats(body: bytes, n_rows: int, n_values: int) -> np.ndarray | None:
    """pandas' C reader for the numbers :func:`_decimal_fields` leaves (exponents, long
    reprs), its leniencies closed: only bytes numbers are made of may reach it (no quotes,
    NUL, True/False), skipped blank lines show as a row-count mismatch, overflow as
    non-finite values. Imported here: the scorer starts without pandas."""
    if body.translate(None, _FLOAT_BYTES):
        return None  # a byte no number has (quotes, NUL, letters of True/False/nan …)
    import pandas as pd

    try:
        values = pd.read_csv(io.BytesIO(body), header=None, engine="c", na_filter=False,
                             dtype=np.float64).to_numpy()
    except (ValueError, OverflowError, TypeError, UnicodeDecodeError, pd.errors.ParserError):
        return None
    if values.shape != (n_rows, n_values) or not np.isfinite(values).all():
        return None
    return values


def _as_buffer(body: bytes | np.ndarray) -> np.ndarray:
    return body if isinstance(body, np.ndarray) else np.frombuffer(body, dtype=np.uint8)


def _fast_parse(body: bytes | np.ndarray, n_rows: int, n_values: int, integer: bool) -> np.ndarray | None:
    """Vectorised parse of well-formed rows; None when anything looks off.

    Integers (EXPR, AU) are checked byte-wise and read directly: int8 for one-digit
    values (predictions, and ground truth with -1), int64 otherwise. Numbers (VA) are
    read as decimals (:func:`_decimal_fields`), else by pandas (:func:`_pandas_floats`).
    The slow path then finds and names the exact problem.
    """
    buffer = _as_buffer(body)
    if not integer:
        bounds = _field_bounds(buffer, n_rows, n_values)
        values = _decimal_fields(buffer, *bounds) if bounds is not None else None
        if values is not None:
            return values.reshape(n_rows, n_values)
        return _pandas_floats(buffer.tobytes() if isinstance(body, np.ndarray) else body, n_rows, n_values)
    for reader in (_single_digit_rows, _signed_digit_rows):
        values = reader(buffer, n_rows, n_values)
        if values is not None:
            return values
    if not _INT_CHARACTERS[buffer].all():
        return None
    bounds = _field_bounds(buffer, n_rows, n_values)
    if bounds is None:
        return None
    values = _small_integers(buffer, *bounds)
    if values is not None:
        return values.reshape(n_rows, n_values)
    text = buffer.tobytes() if isinstance(body, np.ndarray) else body
    try:
        # a multi-digit integer: int() of each field (rare in EXPR/AU files)
        values = np.array(text.replace(b"\n", b",").split(b","), dtype=np.int64)
    except (ValueError, OverflowError, TypeError):
        return None
    return values.reshape(n_rows, n_values) if values.size == n_rows * n_values else None


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
    """The data rows of a per-video file as ``(n_rows, spec.n_values)``: float64 for VA;
    for EXPR/AU an integer array, int8 when every value is one digit (the usual files)."""
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
    """Rows that start with an image location ``video/00001.jpg``: an ``image_location``
    submission, an MTL file, or a template or test list (then without values).

    Rows come in *runs* of consecutive rows of one video: run r covers rows
    ``run_starts[r]:run_starts[r + 1]`` of ``run_videos[r]`` (a video may have several runs
    in an MTL file). ``frames`` ``(n,)`` int64 1-based; ``values`` ``(n, n_values)`` or None.
    Row i is line ``i + 2`` of the file.
    """

    path: Path
    run_videos: list[str]
    run_starts: np.ndarray
    frames: np.ndarray
    values: np.ndarray | None = None
    header: tuple[str, ...] = ()
    empty_fields: bool = False  # a template whose rows end in empty fields ('video/00001.jpg,')

    def __len__(self) -> int:
        return int(self.frames.size)

    def line(self, row: int) -> int:
        return row + 2

    @property
    def run_ends(self) -> np.ndarray:
        return np.append(self.run_starts[1:], len(self)).astype(np.int64)[: len(self.run_starts)]

    def runs(self) -> tuple[list[str], np.ndarray, np.ndarray]:
        """Consecutive rows of one video: ``(videos, starts, ends)``, rows ``starts[i]:ends[i]``."""
        return list(self.run_videos), self.run_starts, self.run_ends

    def video_codes(self, codes: dict[str, int]) -> np.ndarray:
        """``(n,)`` int64: each row's video as numbered by ``codes`` (names missing from it
        are added with the next numbers)."""
        for video in self.run_videos:
            codes.setdefault(video, len(codes))
        run_codes = np.array([codes[video] for video in self.run_videos], dtype=np.int64)
        return np.repeat(run_codes, self.run_ends - self.run_starts)

    def video_of(self, row: int) -> str:
        return self.run_videos[int(np.searchsorted(self.run_starts, row, side="right")) - 1]

    def location(self, row: int) -> str:
        """Row ``row``'s image as written (the fast and slow readers accept only that form)."""
        return f"{self.video_of(row)}/{int(self.frames[row]):05d}.jpg"

    @property
    def videos(self) -> np.ndarray:
        """``(n,)`` str: each row's video (built on demand; the scorer works with runs)."""
        return np.repeat(np.array(self.run_videos, dtype=str), self.run_ends - self.run_starts)

    @property
    def locations(self) -> list[str]:
        """Every row's image (built on demand, for messages and tests)."""
        return [self.location(row) for row in range(len(self))]


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


# bytes of a row on the fast path: printable ASCII (no space) and UTF-8; a video name then
# holds no comma (the first comma ends it) and no space or control character
_ROW_BYTES = bytes(range(33, 127)) + bytes(range(128, 256)) + b"\n"
_JPG = np.frombuffer(b".jpg", dtype=np.uint8)
_SUFFIX = len("/00001.jpg")


@dataclass
class _Split:
    """Where the fast path found each row's parts: ``cut[i]`` the offset of row i's first
    comma (its end when it has none), and the rows' frames and runs."""

    cut: np.ndarray
    ends: np.ndarray
    has_comma: np.ndarray
    frames: np.ndarray
    run_starts: np.ndarray
    run_videos: list[str]


def _runs_of_names(buffer: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """``(n,)`` bool: row i's name (``lengths[i]`` bytes at ``starts[i]`` of ``buffer``) differs
    from row i−1's. Compares 8 bytes at a time through an unaligned uint64 view (a loop over
    the words of the longest name, not over rows). A word of two names of one length lies
    inside the buffer: each name is followed by at least its 10-byte '/00001.jpg'."""
    if buffer.size < 8:
        buffer = np.concatenate((buffer, np.zeros(8, dtype=np.uint8)))
    words = np.ndarray((buffer.size - 7,), dtype="<u8", buffer=buffer.data, strides=(1,))
    new = np.ones(starts.size, dtype=bool)
    if starts.size < 2:
        return new
    same = lengths[1:] == lengths[:-1]
    left = lengths[1:].astype(np.int64)
    for offset in range(0, int(lengths.max()), 8):
        remaining = left - offset
        mask = np.where(remaining >= 8, np.uint64(2**64 - 1),
                        (np.uint64(1) << (8 * np.clip(remaining, 0, 7)).astype(np.uint64)) - np.uint64(1))
        # clipped: only a pair of names of other lengths (already different) can reach past the end;
        # fancy indexing, as np.take would first copy the unaligned view whole
        current = words[np.minimum(starts[1:] + offset, words.size - 1)]
        previous = words[np.minimum(starts[:-1] + offset, words.size - 1)]
        same &= ((current ^ previous) & mask) == 0
    new[1:] = ~same
    return new


def _split_locations(body: bytes, n_rows: int, commas_per_row: int | None = None) -> _Split | None:
    """Vectorised split of rows ``video/00001.jpg[,…]``: None when any row is not exactly
    that (spaces or control characters anywhere, another frame format, an empty name,
    bytes that are not UTF-8…), which the line-by-line reader then names or accepts.

    A row's location ends at its first ``.jpg,`` (or the row's end). That it is the row's
    first comma follows from the count: ``commas_per_row`` commas a row (a submission), so
    a comma inside a name shows as one too many; without it (a template) every comma is
    located and checked. Only the candidate positions are listed, never every comma of a
    12-AU file.
    """
    if body.translate(None, _ROW_BYTES):
        return None  # a space, tab or control character somewhere
    buffer = np.frombuffer(body, dtype=np.uint8)
    newlines = np.flatnonzero(buffer == _NEWLINE)
    if newlines.size != n_rows - 1:
        return None
    starts = np.concatenate(([0], newlines + 1))
    ends = np.append(newlines, buffer.size)
    if commas_per_row is None:
        commas = np.flatnonzero(buffer == _COMMA)
    else:
        if np.count_nonzero(buffer == _COMMA) != n_rows * commas_per_row:
            return None
        commas = np.flatnonzero((buffer[1:] == _COMMA) & (buffer[:-1] == _JPG[-1])) + 1  # the ',' of 'g,'
    first = np.searchsorted(commas, starts)
    cut = np.minimum(np.append(commas, buffer.size)[first], ends)
    name_length = cut - _SUFFIX - starts
    if name_length.min() < 1:
        return None
    slash = cut - _SUFFIX
    if not (buffer[slash] == _SLASH).all():
        return None
    frames = np.zeros(n_rows, dtype=np.int64)
    for position in range(1, 6):
        digit = buffer[slash + position] - np.uint8(ord("0"))
        if not (digit <= 9).all():
            return None
        frames = frames * 10 + digit
    for position in range(4):
        if not (buffer[slash + 6 + position] == _JPG[position]).all():
            return None
    if frames.min() < 1:
        return None
    run_starts = np.flatnonzero(_runs_of_names(buffer, starts, name_length))
    try:
        run_videos = [buffer[starts[r]: slash[r]].tobytes().decode("utf-8") for r in run_starts]
    except UnicodeDecodeError:
        return None
    return _Split(cut, ends, cut < ends, frames, run_starts.astype(np.int64), run_videos)


def _values_part(buffer: np.ndarray, split: _Split) -> np.ndarray:
    """The bytes after each row's location and its comma (newlines kept): the value rows."""
    starts = np.concatenate(([0], split.ends[:-1] + 1))
    values_start = split.cut + split.has_comma
    # per row: the location and its comma (dropped), then the values and the newline (kept)
    segments = np.stack([values_start - starts, split.ends + 1 - values_start], axis=1).ravel()
    segments[-1] -= 1  # the last row has no newline
    keep = np.repeat(np.tile(np.array([False, True]), starts.size), segments)
    return buffer[keep]


def _slow_locations(text: TextFile, template: bool, n_values: int) -> tuple[list[str], list[bytes]]:
    """Line by line: each row's location and the bytes after its first comma; raises at the
    first row that is not ``location[,values]`` (the reference the fast path is tested against)."""
    locations: list[str] = []
    value_parts: list[bytes] = []
    for row, raw in enumerate(text.body.split(b"\n")):
        location_bytes, comma, rest = raw.partition(b",")
        try:
            location = location_bytes.decode("utf-8").strip()
        except UnicodeDecodeError:
            raise FormatError(text.path, row + 2, "UTF-8 text", "bytes that are not UTF-8") from None
        if not location:
            raise FormatError(text.path, row + 2, "an image_location like 'video/00001.jpg'",
                              "an empty line" if not raw.strip() else "an empty first field")
        if not template and (not comma or not rest.strip()):
            raise FormatError(text.path, row + 2, f"{n_values} value(s) after the image_location",
                              "an empty field" if comma else _quote(raw.decode("utf-8", "replace")))
        locations.append(location)
        value_parts.append(rest)
    return locations, value_parts


def _rows_from_locations(text: TextFile, locations: list[str]) -> tuple[list[str], np.ndarray, np.ndarray]:
    split = [_split_location(text, row, location) for row, location in enumerate(locations)]
    videos = [video for video, _ in split]
    frames = np.fromiter((frame for _, frame in split), dtype=np.int64, count=len(split))
    starts = [row for row in range(len(videos)) if row == 0 or videos[row] != videos[row - 1]]
    return [videos[row] for row in starts], np.array(starts, dtype=np.int64), frames


def read_located_rows(text: TextFile, n_values: int, template: bool,
                      parse_values) -> LocatedRows:
    """The rows of an image-located file (header already checked): locations split by the
    fast path or, failing it, line by line; values by ``parse_values(values_text)``. A
    template's rows may carry anything after the image (the organisers' leave the fields
    empty, 'video/00001.jpg,'); it is ignored, and ``empty_fields`` says whether any row
    had a comma."""
    buffer = np.frombuffer(text.body, dtype=np.uint8)
    split = _split_locations(text.body, text.n_rows, None if template else n_values) if text.n_rows else None
    if split is not None and not template and not (split.has_comma & (split.cut + 1 < split.ends)).all():
        split = None  # a row without values: the line-by-line reader names it
    rows = LocatedRows(text.path, [], np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
    if split is not None:
        rows.run_videos, rows.run_starts, rows.frames = split.run_videos, split.run_starts, split.frames
        if template:
            rows.empty_fields = bool(split.has_comma.any())
        else:
            values_body = _values_part(buffer, split).tobytes()
            rows.values = parse_values(TextFile(text.path, text.header, values_body, text.n_rows))
    else:
        locations, rests = _slow_locations(text, template, n_values)
        rows.run_videos, rows.run_starts, rows.frames = _rows_from_locations(text, locations)
        if template:
            rows.empty_fields = any(b"," in raw for raw in text.body.split(b"\n"))
        else:
            rows.values = parse_values(TextFile(text.path, text.header, b"\n".join(rests), text.n_rows))
    return rows


def read_image_location(path: Path, spec: TrackSpec, template: bool = False, edition_hint: str = "",
                        limit: ReadLimit = DEFAULT_LIMIT) -> LocatedRows:
    """Read an ABAW4+ single-file submission (or, with ``template``, the organisers'
    template, whose value fields are empty), checking order and duplicates; ``limit``
    bounds the file's size (:func:`rows_limit`)."""
    text = read_text_file(path, limit)
    check_header(text, (IMAGE_LOCATION,) + spec.columns, edition_hint)
    if text.n_rows == 0:
        raise FormatError(path, 2, "one row per frame after the header", "no rows")

    def parse_values(values_text: TextFile) -> np.ndarray:
        values = parse_rows(values_text, spec)
        check_values(values_text, values, spec, allow_invalid=False)
        return values

    rows = read_located_rows(text, spec.n_values, template, parse_values)
    rows.path = Path(path)
    check_row_order(rows)
    return rows


def check_row_order(rows: LocatedRows) -> None:
    """Each video's rows must be contiguous, in increasing frame order, without repeats."""
    if len(rows) < 2:
        return
    run_videos, starts, _ = rows.runs()
    step = np.diff(rows.frames)
    same = np.ones(len(rows) - 1, dtype=bool)
    same[starts[1:] - 1] = False  # a run's first row does not continue the row before it
    repeated = same & (step == 0)
    backwards = same & (step < 0)
    seen: dict[str, int] = {}
    resumed = next(((r, seen[video]) for r, video in enumerate(run_videos) if seen.setdefault(video, r) != r), None)
    problems = []
    if repeated.any():
        row = int(np.flatnonzero(repeated)[0]) + 1
        problems.append((row, "no duplicate rows", f"{_quote(rows.location(row))} again (line {rows.line(row - 1)})"))
    if backwards.any():
        row = int(np.flatnonzero(backwards)[0]) + 1
        problems.append((row, f"frames of a video in increasing order (after {_quote(rows.location(row - 1))})",
                         _quote(rows.location(row))))
    if resumed is not None:
        run, first_run = resumed
        row = int(starts[run])
        problems.append((row, f"the rows of each video together (video '{run_videos[run]}' began at line "
                              f"{rows.line(int(starts[first_run]))})",
                         f"{_quote(rows.location(row))} after other videos' rows"))
    if problems:
        row, expected, found = min(problems)
        raise FormatError(rows.path, rows.line(row), expected, found)


# ---------------------------------------------------------------- multi-task files


MTL_ROLES = ("truth", "prediction", "template")
_MTL_FIELDS = len(MTL_LONG_HEADER)  # 16: the image, valence, arousal, expression, 12 AUs
_MTL_NAMES = MTL_COLUMNS


def check_mtl_header(text: TextFile, role: str) -> tuple[str, ...]:
    """The MTL header the file carries: ``image,valence,arousal,expression,aus`` (the
    organisers' test lists and every participant's writer) or one naming all 16 fields.
    Ground truth and test lists may differ in letter case; a submission may not."""
    cells = split_header(text.header)
    if cells in (MTL_HEADER, MTL_LONG_HEADER):
        return cells
    found = detect_mtl_header(text.header)
    expected = f"the header {','.join(MTL_HEADER)!r} (or one naming all 16 fields)"
    if found is not None and role != "prediction":
        return found
    if found is not None:
        raise FormatError(text.path, 1, expected, _quote(text.header, 120),
                          f"only the letter case differs: submissions spell it {','.join(MTL_HEADER)!r}")
    if cells and ("/" in cells[0] or _looks_like_data(cells)):
        raise FormatError(text.path, 1, expected, f"a data row {_quote(text.header)}", "the header line is missing")
    hint = None
    if cells and cells[0].lower() == IMAGE_LOCATION:
        hint = "'image_location' starts the uni-task files; MTL files start with 'image'"
    elif detect_track(",".join(cells[1:])) or detect_track(",".join(cells)):
        hint = "that is a uni-task header: pass the --track it belongs to"
    raise FormatError(text.path, 1, expected, _quote(text.header, 120), hint)


def _mtl_slow_parse(text: TextFile) -> np.ndarray:
    """Line by line, the reference: 15 values per row after the image (2 numbers, 13 integers)."""
    rows = []
    for index, raw in enumerate(text.body.split(b"\n")):
        line = index + 2
        try:
            row = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise FormatError(text.path, line, "UTF-8 text", "bytes that are not UTF-8") from None
        cells = [cell.strip() for cell in row.split(",")]
        if len(cells) != _MTL_FIELDS - 1:
            raise FormatError(text.path, line, f"{_MTL_FIELDS} comma-separated fields (the image, valence, arousal, "
                              "expression and 12 AUs)", f"{len(cells) + 1}")
        values = []
        for column, (name, cell) in enumerate(zip(_MTL_NAMES, cells)):
            number = column < 2
            if number and cell.lower().lstrip("+-") in ("nan", "inf", "infinity"):
                raise FormatError(text.path, line, f"a finite number ({name})", _quote(cell))
            if not (_FLOAT_TOKEN if number else _INT_TOKEN).fullmatch(cell):
                raise FormatError(text.path, line, f"{'a number' if number else 'an integer'} ({name})",
                                  _quote(cell) if cell else "an empty field")
            value = float(cell) if number else int(cell)
            if not number and abs(value) > _INT_LIMIT:
                raise FormatError(text.path, line, f"an integer ({name})", _quote(cell))
            values.append(value)
        rows.append(values)
    return np.array(rows, dtype=np.float64).reshape(len(rows), _MTL_FIELDS - 1)


def _mtl_fast_parse(values_text: TextFile) -> np.ndarray | None:
    """The 15 values of every row at once: decimals for valence and arousal (pandas for
    exponents and long reprs), one-digit integers for the expression and the AUs."""
    n = values_text.n_rows
    buffer = np.frombuffer(values_text.body, dtype=np.uint8)
    bounds = _field_bounds(buffer, n, _MTL_FIELDS - 1)
    if bounds is None:
        return None
    starts, lengths = (bound.reshape(n, _MTL_FIELDS - 1) for bound in bounds)
    labels = _small_integers(buffer, starts[:, 2:].ravel(), lengths[:, 2:].ravel())
    if labels is None:
        return None
    va = _decimal_fields(buffer, starts[:, :2].ravel(), lengths[:, :2].ravel())
    if va is None:
        # keep each row up to its second comma: the two VA fields, for pandas' reader
        marks = np.zeros(buffer.size + 1, dtype=np.int8)
        marks[starts[:, 0]] = 1
        marks[starts[:, 2] - 1] -= 1
        keep = np.cumsum(marks[:-1], dtype=np.int8).view(bool) | (buffer == _NEWLINE)
        va = _pandas_floats(buffer[keep].tobytes(), n, 2)
        if va is None:
            return None
    values = np.empty((n, _MTL_FIELDS - 1))
    values[:, :2] = va.reshape(n, 2)
    values[:, 2:] = labels.reshape(n, _MTL_FIELDS - 3)
    return values


def first_bad_mtl_row(values: np.ndarray, allow_invalid: bool) -> tuple[int, int] | None:
    """``(row, column)`` of the first value out of range (column 0 valence … 14 AU26), or None.
    ``allow_invalid`` admits the markers of the ground truth: VA -5 (in either column), EXPR -1, AU -1."""
    va, expr, au = values[:, :2], values[:, 2:3], values[:, 3:]
    bad = np.concatenate([~np.isfinite(va) | (np.abs(va) > 1), (expr < 0) | (expr > 7), (au != 0) & (au != 1)],
                         axis=1)
    if allow_invalid:
        bad[:, :2] &= va != -5
        bad[:, 2:] &= values[:, 2:] != -1
    rows = np.flatnonzero(bad.any(axis=1))
    if not rows.size:
        return None
    row = int(rows[0])
    return row, int(np.flatnonzero(bad[row])[0])


def read_mtl(path: Path, role: str, limit: ReadLimit = DEFAULT_LIMIT) -> LocatedRows:
    """Read a multi-task file: ground truth (``role="truth"``: VA -5, EXPR -1, AU -1 allowed),
    a submission (``"prediction"``) or the organisers' test list (``"template"``: images
    only, with or without a trailing comma). Returns the rows with ``values`` ``(n, 15)``
    float64 (valence, arousal, expression, 12 AUs; None for a template) and ``header``,
    the header as the file spells it. Rows need not be grouped by video, and may repeat.
    """
    if role not in MTL_ROLES:
        raise ValueError(f"role must be one of {', '.join(MTL_ROLES)}")
    text = read_text_file(path, limit)
    header = check_mtl_header(text, role)
    if text.n_rows == 0:
        raise FormatError(path, 2, "one row per image after the header", "no rows")

    def parse_values(values_text: TextFile) -> np.ndarray:
        values = _mtl_fast_parse(values_text)
        if values is None:
            values = _mtl_slow_parse(values_text)
        bad = first_bad_mtl_row(values, allow_invalid=role == "truth")
        if bad is not None:
            row, column = bad
            name = _MTL_NAMES[column]
            marker = {0: -5, 1: -5, 2: -1}.get(column, -1)
            what = ("a number in [-1, 1]" if column < 2 else "an integer class id 0-7" if column == 2 else "0 or 1")
            if role == "truth":
                what += f", or {marker} for no label"
            raise FormatError(path, row + 2, f"{name} {what}", _quote(text.row_text(row), 120))
        return values

    rows = read_located_rows(text, _MTL_FIELDS - 1, role == "template", parse_values)
    rows.path, rows.header = Path(path), header
    return rows


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
