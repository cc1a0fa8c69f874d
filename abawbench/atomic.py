"""Atomic writes: a crash or an error never leaves half a file or half a folder.

Regular files are written to a temporary sibling and renamed over the target, with the
permissions a plain ``open`` would give (``0666`` less the umask; ``mkstemp``'s own
``0600`` would hide shared results from teammates). A symbolic link is followed: the
file it points to is replaced and the link stays. A target that is not a regular file
(a FIFO, ``/dev/stdout``, a device) is written directly and never replaced.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
from collections.abc import Iterable
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def _umask() -> int:
    mask = os.umask(0o022)  # the only portable way to read it is to set it, then restore it
    os.umask(mask)
    return mask


def describe_kind(mode: int) -> str:
    """What a file that is not regular is, from its ``st_mode``, in words for a message."""
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def write_chunks(path: Path, chunks: Iterable) -> None:
    """Write the byte chunks (``bytes`` or any buffer, e.g. a NumPy array's memoryview) to
    ``path`` as one file: atomically for a regular file or a new one (see the module
    docstring), directly for a FIFO or device."""
    path = Path(os.path.realpath(path))  # a symlink's target is replaced, the link kept
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None and not stat.S_ISREG(mode):
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(21, "Is a directory", str(path))
        descriptor = os.open(path, os.O_WRONLY | getattr(os, "O_CLOEXEC", 0))
        with os.fdopen(descriptor, "wb") as stream:
            for chunk in chunks:
                stream.write(chunk)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(handle, 0o666 & ~_umask())
        with os.fdopen(handle, "wb") as stream:
            for chunk in chunks:
                stream.write(chunk)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder, then rename."""
    write_chunks(path, (data,))


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: Path, payload) -> None:
    write_text(path, json.dumps(payload, indent=2, sort_keys=False) + "\n")


def output_problem(path: Path) -> str | None:
    """Why ``path`` cannot be written as an output file, or None when it looks writable.

    Checked before any work, so that a long job does not end in "permission denied":
    an existing folder, an unwritable FIFO or device, or a folder (the nearest that
    exists) in which a file cannot be created. ``-`` (standard output) is always fine.
    """
    if str(path) == "-":
        return None
    real = Path(os.path.realpath(path))
    try:
        mode = os.stat(real).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as error:
        return f"{path}: {error.strerror}"
    if mode is not None and stat.S_ISDIR(mode):
        return f"{path} is a folder"
    if mode is not None and not stat.S_ISREG(mode):
        return None if os.access(real, os.W_OK) else f"{path}: {describe_kind(mode)} that cannot be written"
    return folder_problem(real.parent)


def folder_problem(folder: Path) -> str | None:
    """Why no file or folder can be created in ``folder`` (made if missing), or None."""
    existing = Path(os.path.realpath(folder))
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is not a folder"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{existing}: the folder is not writable"
    return None


class TargetNotEmpty(ValueError):
    """A result folder would replace a folder that holds something (``--force`` allows it)."""


def check_new_folder(path: Path, force: bool = False) -> None:
    """Raise :class:`TargetNotEmpty` unless ``path`` is missing or empty, or ``force``."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise TargetNotEmpty(f"{path} exists and is not a folder")
    if force or not path.exists():
        return
    try:
        entries = sorted(os.listdir(path))
    except OSError as error:
        raise TargetNotEmpty(f"{path}: cannot list the folder ({error.strerror})") from None
    if entries:
        raise TargetNotEmpty(f"{path} is not empty (it holds {len(entries)} entr{'y' if len(entries) == 1 else 'ies'}, "
                             f"e.g. {entries[0]!r}); pass --force to replace it whole, or choose another folder")


@contextmanager
def staged_folder(path: Path) -> Iterator[Path]:
    """Yield a temporary sibling folder to fill; it replaces ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        os.chmod(staging, 0o777 & ~_umask())  # mkdtemp's 0700 would hide the result from teammates
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if path.exists():
        backup = Path(tempfile.mkdtemp(prefix=f".{path.name}.old.", dir=path.parent))
        os.replace(path, backup / "old")
        os.replace(staging, path)
        shutil.rmtree(backup, ignore_errors=True)
    else:
        os.replace(staging, path)
