"""Process-level tuning for commands that parse large annotation folders.

glibc serves every allocation above 128 KiB with a fresh ``mmap`` and returns it on
``free``, so each large NumPy temporary of a scoring run is paid again in page faults:
measured on the validation-sized benchmark, 40% of ``abawbench score``'s time. Raising
the mmap and trim thresholds keeps freed blocks in the heap for reuse. It is set once,
by the CLI (and the benchmarks, for both scorers they compare), never on import.
"""

from __future__ import annotations

import ctypes
import ctypes.util

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_THRESHOLD = 256 * 1024 * 1024


def tune_allocator() -> bool:
    """Raise glibc's mmap/trim thresholds to 256 MiB; False (and nothing done) elsewhere."""
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False  # not glibc (musl, macOS): leave the allocator alone
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return bool(mallopt(_M_MMAP_THRESHOLD, _THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, 2 * _THRESHOLD))
