"""Encoding the drawn pictures, and spoiling some on purpose (the planted corrupt files)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

JPEG_QUALITY = 90


def encode(image: Image.Image, fmt: str = "JPEG") -> bytes:
    """JPEG at :data:`JPEG_QUALITY` (Aff-Wild2's crops, ExpW, AffectNet) or fast PNG (AFEW-VA)."""
    buffer = io.BytesIO()
    if fmt == "JPEG":
        image.save(buffer, format="JPEG", quality=JPEG_QUALITY)
    else:
        image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def corrupt_bytes(rng: np.random.Generator, good: bytes, kind: str) -> bytes:
    """A spoiled copy of an encoded picture: ``truncated`` keeps the header and stops the
    data a third of the way in; ``garbage`` is 600 random bytes, no picture at all."""
    if kind == "truncated":
        return good[: len(good) // 3]
    return rng.integers(0, 256, 600, dtype=np.uint8).tobytes()
