"""The user's cache folder: the one place abawbench keeps what it can rebuild.

Where (first that applies): :func:`configure` (the CLI's ``--no-cache`` and
``--cache-dir DIR``), ``$ABAWBENCH_CACHE``, ``$XDG_CACHE_HOME/abawbench``,
``~/.cache/abawbench``. The user's dataset folders are never written.

What: one sub-folder per *kind* (:data:`KINDS`: ``truth``, parsed ground truth;
``index``, Aff-Wild2 frame tables; ``crops``, external-database face crops). An entry
is named by a hash of its *identity* (the data's absolute path and whatever else
selects it, e.g. the track header); the entry stores a *key* (the signatures of the
files it was made from) that a read must match. A changed dataset therefore rewrites
its entry instead of adding one.

Format: data only, never pickle (loading a cache must not be able to run code)::

    magic b"ABAWBNCH" | format version u32 | header bytes u32 | payload bytes u64 |
    CRC-32 of header + payload u32 | 4 zero bytes | header (JSON) | payload

The header names the kind, identity and key, a ``meta`` JSON object, and every array's
dtype (numbers and booleans only), shape and offset in the payload. A read checks the
magic, the version, that the lengths add up to the file's size, the checksum, the
identity and key, and that every array lies inside the payload; any failure returns
None and the caller rebuilds, silently. A cache folder that cannot be written costs
speed, with one warning per process, never a failure. Writes go to a temporary file
renamed into place, so concurrent writers of one entry are safe (the last one wins,
and every one wrote the same data).

API (``identity`` is a sequence of strings, ``key`` a string)::

    location() -> Path | None                  # None: caching is off
    configure(folder=None, enabled=True)       # the CLI's --cache-dir / --no-cache
    path_for(kind, identity, suffix=".bin") -> Path | None
    read(kind, identity, key) -> Entry | None  # Entry(arrays: dict[str, ndarray], meta: dict)
    write(kind, identity, key, arrays, meta=None) -> bool
    folder_for(kind, identity) -> Path         # a folder of files (crops); a temporary
                                               # folder when caching is off or impossible
    frame_to_arrays(table) / frame_from_arrays(arrays, meta)   # DataFrames as data
    info() -> dict ; clear() -> dict           # ``abawbench cache info|clear``
"""

from __future__ import annotations

import atexit
import hashlib
import json
import logging
import math
import os
import shutil
import stat
import struct
import tempfile
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

KINDS = {
    "truth": "parsed ground truth of split folders (score, validate)",
    "index": "Aff-Wild2 frame tables (data splits, affwild2.index)",
    "crops": "ExpW, AFEW-VA and AffectNet face crops (their readers)",
}
MAGIC = b"ABAWBNCH"
FORMAT_VERSION = 1
_PREFIX = struct.Struct("<8sIIQII")  # magic, version, header bytes, payload bytes, crc32, zero
_MAX_HEADER = 64 * 1024 * 1024
_ALIGN = 64
_MAX_DIMENSIONS = 8
_TAG = "CACHEDIR.TAG"
_TAG_TEXT = ("Signature: 8a477f597d28d172789f06886806bc55\n"
             "# This file is a cache directory tag created by abawbench (https://bford.info/cachedir/).\n"
             "# Everything here can be rebuilt: `abawbench cache clear` removes it.\n")

_configured_folder: Path | None = None
_enabled = True
_warned = False


def configure(folder: Path | str | None = None, enabled: bool = True) -> None:
    """Set the cache folder for this process (``folder``) or turn caching off."""
    global _configured_folder, _enabled
    _configured_folder = Path(folder).expanduser().absolute() if folder is not None else None
    _enabled = enabled


def source() -> str:
    """Where :func:`location` comes from, in words (``abawbench cache info``)."""
    if not _enabled:
        return "--no-cache"
    if _configured_folder is not None:
        return "--cache-dir"
    if os.environ.get("ABAWBENCH_CACHE"):
        return "$ABAWBENCH_CACHE"
    if os.path.isabs(os.environ.get("XDG_CACHE_HOME", "")):
        return "$XDG_CACHE_HOME"
    return "default (~/.cache)"


def location() -> Path | None:
    """The cache folder (it may not exist yet), or None when caching is off."""
    if not _enabled:
        return None
    if _configured_folder is not None:
        return _configured_folder
    if os.environ.get("ABAWBENCH_CACHE"):
        return Path(os.environ["ABAWBENCH_CACHE"]).expanduser().absolute()
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    if os.path.isabs(xdg):  # the XDG specification: a relative path is to be ignored
        return Path(xdg) / "abawbench"
    try:
        return Path.home() / ".cache" / "abawbench"
    except (RuntimeError, KeyError):  # no home folder (a service account)
        _warn_once("no home folder to hold ~/.cache/abawbench; set ABAWBENCH_CACHE", None)
        return None


def _warn_once(message: str, error: OSError | None) -> None:
    global _warned
    if not _warned:
        _warned = True
        reason = f" ({error.strerror or error})" if error is not None else ""
        log.warning("warning: %s%s; working without the cache (slower)", message, reason)


def _entry_name(identity: Sequence[str]) -> str:
    return hashlib.sha256("\0".join(identity).encode("utf-8", "surrogateescape")).hexdigest()[:32]


def path_for(kind: str, identity: Sequence[str], suffix: str = ".bin") -> Path | None:
    """Where the entry of ``kind`` for ``identity`` lives, or None when caching is off."""
    if kind not in KINDS:
        raise ValueError(f"unknown cache kind {kind!r}; known: {', '.join(KINDS)}")
    folder = location()
    return None if folder is None else folder / kind / f"{_entry_name(identity)}{suffix}"


def _make_folder(folder: Path) -> None:
    """Create ``folder`` (and the cache root, private to the user, with its tag)."""
    root = location()
    if root is not None and not root.is_dir():
        root.parent.mkdir(parents=True, exist_ok=True)
        try:
            root.mkdir(mode=0o700)
        except FileExistsError:
            pass
        try:
            (root / _TAG).write_text(_TAG_TEXT)
        except OSError:
            pass  # the tag only helps backup tools skip the folder
    folder.mkdir(parents=True, exist_ok=True)


# ----------------------------------------------------------------- entries


@dataclass
class Entry:
    """What :func:`read` returns: the arrays (writable, in their stored dtypes) and ``meta``."""

    arrays: dict[str, np.ndarray]
    meta: dict = field(default_factory=dict)


def _storable(array: np.ndarray) -> bool:
    return array.dtype.kind in "biuf" and not array.dtype.hasobject and array.ndim <= _MAX_DIMENSIONS


def write(kind: str, identity: Sequence[str], key: str, arrays: Mapping[str, np.ndarray],
          meta: dict | None = None) -> bool:
    """Store an entry; False (and at most one warning per process) when it cannot be."""
    from abawbench import atomic

    path = path_for(kind, identity)
    if path is None:
        return False
    contiguous = {name: np.ascontiguousarray(value) for name, value in arrays.items()}
    if not all(_storable(a) for a in contiguous.values()):
        raise TypeError("cache entries hold arrays of numbers or booleans only")
    described, chunks, offset = {}, [], 0
    for name, array in contiguous.items():
        padding = -offset % _ALIGN
        if padding:
            chunks.append(bytes(padding))
            offset += padding
        described[name] = {"dtype": array.dtype.str, "shape": list(array.shape), "offset": offset}
        chunks.append(memoryview(array).cast("B") if array.size else b"")
        offset += array.nbytes
    try:
        header = json.dumps({"kind": kind, "identity": list(identity), "key": key, "arrays": described,
                             "meta": meta or {}}, allow_nan=False).encode()
    except (TypeError, ValueError):
        raise TypeError("cache meta must be plain JSON (str, numbers, lists, dicts)") from None
    header += b" " * (-(_PREFIX.size + len(header)) % _ALIGN)  # the payload starts aligned
    checksum = zlib.crc32(header)
    for chunk in chunks:
        checksum = zlib.crc32(chunk, checksum)
    prefix = _PREFIX.pack(MAGIC, FORMAT_VERSION, len(header), offset, checksum, 0)
    try:
        _make_folder(path.parent)
        atomic.write_chunks(path, [prefix, header, *chunks])
    except OSError as error:
        _warn_once(f"cannot write the cache folder {location()}", error)
        return False
    return True


def read(kind: str, identity: Sequence[str], key: str) -> Entry | None:
    """The entry of ``kind`` for ``identity`` if it exists, is whole and was made for
    ``key``; otherwise None (the caller rebuilds it). Never raises for a bad file."""
    path = path_for(kind, identity)
    if path is None:
        return None
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    try:
        with os.fdopen(descriptor, "rb", buffering=0) as stream:
            size = os.fstat(stream.fileno())
            if not stat.S_ISREG(size.st_mode) or size.st_size < _PREFIX.size:
                return None
            magic, version, header_bytes, payload_bytes, checksum, zero = _PREFIX.unpack(stream.read(_PREFIX.size))
            if (magic != MAGIC or version != FORMAT_VERSION or zero != 0 or header_bytes > _MAX_HEADER
                    or _PREFIX.size + header_bytes + payload_bytes != size.st_size):
                return None
            body = bytearray(header_bytes + payload_bytes)  # writable: the arrays returned are too
            if stream.readinto(body) != len(body) or zlib.crc32(body) != checksum:
                return None
    except OSError:
        return None
    try:
        return _decode(body, header_bytes, payload_bytes, kind, identity, key)
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError, UnicodeDecodeError):
        return None  # a well-checksummed file from a different (newer) writer: rebuild


def _decode(body: bytearray, header_bytes: int, payload_bytes: int, kind: str, identity: Sequence[str],
            key: str) -> Entry | None:
    header = json.loads(bytes(body[:header_bytes]))
    if header["kind"] != kind or header["identity"] != list(identity) or header["key"] != key:
        return None
    payload = memoryview(body)[header_bytes:]
    arrays = {}
    for name, described in header["arrays"].items():
        dtype = np.dtype(described["dtype"])
        shape = described["shape"]
        offset = described["offset"]
        if (dtype.kind not in "biuf" or dtype.hasobject or not isinstance(shape, list)
                or len(shape) > _MAX_DIMENSIONS or not all(isinstance(n, int) and n >= 0 for n in shape)
                or not isinstance(offset, int) or offset < 0):
            return None
        count = math.prod(shape)
        if offset + count * dtype.itemsize > payload_bytes:
            return None
        arrays[name] = (np.frombuffer(payload, dtype=dtype, count=count, offset=offset).reshape(shape) if count
                        else np.zeros(shape, dtype=dtype))
    meta = header["meta"]
    return Entry(arrays, meta) if isinstance(meta, dict) else None


# ------------------------------------------------------------ folders of files


_scratch: list[Path] = []


def folder_for(kind: str, identity: Sequence[str]) -> Path:
    """A folder of files for ``identity`` (created): in the cache, or, when caching is off
    or the cache folder cannot be written, a temporary folder removed at exit."""
    path = path_for(kind, identity, suffix="")
    if path is not None:
        try:
            _make_folder(path)
            if os.access(path, os.W_OK | os.X_OK):
                return path
            raise PermissionError(13, "Permission denied", str(path))
        except OSError as error:
            _warn_once(f"cannot write the cache folder {location()}", error)
    scratch = Path(tempfile.mkdtemp(prefix=f"abawbench-{kind}-"))
    if not _scratch:
        atexit.register(lambda: [shutil.rmtree(p, ignore_errors=True) for p in _scratch])
    _scratch.append(scratch)
    return scratch


# ------------------------------------------------------------ data frames


def frame_to_arrays(table) -> tuple[dict[str, np.ndarray], dict] | None:
    """A DataFrame as arrays and JSON meta (:func:`frame_from_arrays` inverts it), or None
    when a column or ``attrs`` cannot be stored as plain data.

    Numeric and boolean columns are stored as they are; categoricals as codes plus their
    (string) categories; text columns as one UTF-8 blob split by NUL bytes.
    """
    import pandas as pd

    arrays, columns = {}, []
    for position, name in enumerate(table.columns):
        column = table[name]
        slot = f"c{position}"
        if isinstance(column.dtype, pd.CategoricalDtype):
            categories = column.cat.categories
            if not all(isinstance(c, str) for c in categories):
                return None
            arrays[slot] = column.cat.codes.to_numpy()
            columns.append({"name": name, "kind": "categorical", "categories": list(categories),
                            "ordered": bool(column.cat.ordered)})
        elif column.dtype == object:
            values = column.tolist()
            if not all(isinstance(v, str) for v in values):
                return None
            blob = "\0".join(values).encode("utf-8", "surrogateescape")
            if blob.count(b"\0") != max(len(values) - 1, 0):
                return None  # a NUL inside a value would split it
            arrays[slot] = np.frombuffer(blob, dtype=np.uint8)
            columns.append({"name": name, "kind": "text", "rows": len(values)})
        else:
            values = column.to_numpy()
            if not _storable(values):
                return None
            arrays[slot] = values
            columns.append({"name": name, "kind": "array"})
    if not all(isinstance(name, str) for name in table.columns):
        return None
    try:
        json.dumps(table.attrs)
    except (TypeError, ValueError):
        return None
    return arrays, {"columns": columns, "attrs": table.attrs, "rows": len(table)}


def frame_from_arrays(arrays: Mapping[str, np.ndarray], meta: dict):
    """The DataFrame :func:`frame_to_arrays` stored; ``ValueError`` if the parts disagree."""
    import pandas as pd

    rows = meta["rows"]
    data = {}
    for position, column in enumerate(meta["columns"]):
        values = arrays[f"c{position}"]
        if column["kind"] == "categorical":
            dtype = pd.CategoricalDtype(column["categories"], ordered=column["ordered"])
            if len(values) and (values.min() < -1 or values.max() >= len(column["categories"])):
                raise ValueError("category code out of range")
            data[column["name"]] = pd.Categorical.from_codes(values, dtype=dtype)
        elif column["kind"] == "text":
            text = str(memoryview(values), "utf-8", "surrogateescape")  # no copy of the blob first
            parts = text.split("\0") if column["rows"] else []
            data[column["name"]] = pd.Series(parts, dtype=object)
        else:
            data[column["name"]] = values
        if len(data[column["name"]]) != rows:
            raise ValueError("column length differs from the table's")
    table = pd.DataFrame(data, copy=False)  # the arrays are already this table's own
    table.attrs.update(meta["attrs"])
    return table


# ---------------------------------------------------------- info and clear


def _usage(folder: Path) -> tuple[int, int]:
    files = size = 0
    for directory, _, names in os.walk(folder):
        for name in names:
            try:
                size += os.lstat(os.path.join(directory, name)).st_size
                files += 1
            except OSError:
                pass
    return files, size


def info() -> dict:
    """Where the cache is and what it holds: ``{"location", "source", "exists", "kinds":
    {kind: {"what", "entries", "files", "bytes"}}}`` (entries: files or folders at the top)."""
    folder = location()
    report = {"location": str(folder) if folder else None, "source": source(),
              "exists": bool(folder and folder.is_dir()), "kinds": {}}
    for kind, what in KINDS.items():
        entries = files = size = 0
        if folder is not None and (folder / kind).is_dir():
            entries = sum(1 for name in os.listdir(folder / kind) if not name.startswith("."))
            files, size = _usage(folder / kind)
        report["kinds"][kind] = {"what": what, "entries": entries, "files": files, "bytes": size}
    return report


def clear() -> dict:
    """Remove every kind's folder (only those: the cache folder may be shared with other
    things when ``ABAWBENCH_CACHE`` points somewhere). Returns ``{kind: bytes removed}``."""
    folder = location()
    removed = {}
    if folder is None:
        return removed
    for kind in KINDS:
        target = folder / kind
        if target.is_dir() and not target.is_symlink():
            removed[kind] = _usage(target)[1]
            shutil.rmtree(target)
    return removed
