"""Reading, decoding, resizing and cropping face images, all on uint8 tensors.

* files are decoded with libjpeg-turbo through ``torchvision.io.decode_jpeg`` (about 2x
  faster than PIL here), PIL when torchvision has no decoders; an unreadable file gives
  ``None``, never an exception;
* the 1.2x resize runs once over a stacked batch (:func:`resize_shorter_side`);
* each crop (+ flip) is one copy into a batch tensor allocated in shared memory when
  running in a DataLoader worker (:func:`crop_and_flip`).
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import get_worker_info

try:  # torchvision 0.29 deprecates its decoders (for TorchCodec); PIL takes over without them
    from torchvision.io import ImageReadMode, decode_image, decode_jpeg
except ImportError:  # pragma: no cover - depends on the installed torchvision
    decode_jpeg = decode_image = ImageReadMode = None

__all__ = ["read_image", "read_images", "resize_shorter_side", "crop_and_flip"]

_JPEG_MAGIC = b"\xff\xd8"


def _decode_pil(data: bytes) -> torch.Tensor:
    with Image.open(io.BytesIO(data)) as image:
        array = np.asarray(image.convert("RGB"))
    return torch.from_numpy(array.copy()).permute(2, 0, 1)


def _decode_one(data: bytes) -> torch.Tensor | None:
    try:
        if decode_jpeg is None:
            return _decode_pil(data)
        encoded = torch.frombuffer(bytearray(data), dtype=torch.uint8)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            if data[:2] == _JPEG_MAGIC:
                return decode_jpeg(encoded, mode=ImageReadMode.RGB)
            return decode_image(encoded, mode=ImageReadMode.RGB)
    except Exception:  # noqa: BLE001 - any decoder failure means "unreadable", by design
        return None


def _read_bytes(path: str | Path) -> bytes | None:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError:
        return None


def read_images(paths: Sequence[str | Path]) -> list[torch.Tensor | None]:
    """Read and decode image files as RGB.

    JPEGs go to libjpeg-turbo through ``torchvision.io.decode_jpeg`` in one call for the
    whole list (about 80 µs for a 112×112 crop here, against about 180 µs for PIL open +
    convert + asarray); other formats to ``decode_image``; PIL when torchvision has no
    decoders.

    Returns:
        One entry per path: (3, H, W) uint8 (memory laid out H, W, C, as the decoder
        writes it), or ``None`` when the file is missing, empty, truncated or otherwise
        undecodable. Callers count the ``None``s; a loader must never die on one bad crop
        out of millions.
    """
    blobs = [_read_bytes(p) for p in paths]
    images: list[torch.Tensor | None] = [None] * len(blobs)
    jpegs = [k for k, b in enumerate(blobs) if b is not None and b[:2] == _JPEG_MAGIC]
    if decode_jpeg is not None and jpegs:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                decoded = decode_jpeg(
                    [torch.frombuffer(bytearray(blobs[k]), dtype=torch.uint8) for k in jpegs], mode=ImageReadMode.RGB
                )
            for k, image in zip(jpegs, decoded):
                images[k] = image
        except Exception:  # noqa: BLE001 - a bad file spoils the list call; redo one by one
            for k in jpegs:
                images[k] = _decode_one(blobs[k])
        done = set(jpegs)
    else:
        done = set()
    for k, blob in enumerate(blobs):
        if blob is not None and k not in done:
            images[k] = _decode_one(blob)
    return images


def read_image(path: str | Path) -> torch.Tensor | None:
    """:func:`read_images` for one path: (3, H, W) uint8, or ``None`` if unreadable."""
    return read_images([path])[0]


def _resized_shape(height: int, width: int, shorter: int) -> tuple[int, int]:
    # Same rounding as torchvision's Resize(int): the longer side is truncated.
    if height <= width:
        return shorter, int(shorter * width / height)
    return int(shorter * height / width), shorter


def resize_shorter_side(images: torch.Tensor, shorter: int) -> torch.Tensor:
    """Bilinear resize so the shorter side is ``shorter`` (torchvision ``Resize(int)``).

    Args:
        images: (N, C, H, W) uint8, all the same size. Channels-last memory is fastest:
            torch's uint8 resize kernel is vectorised over interleaved channels.
    Returns:
        (N, C, H', W') uint8 in channels-last memory; the input itself when already there.
    """
    height, width = images.shape[-2:]
    target = _resized_shape(height, width, shorter)
    if (height, width) == target:
        return images
    images = images.contiguous(memory_format=torch.channels_last)
    return F.interpolate(images, size=target, mode="bilinear", antialias=True, align_corners=False)


def crop_and_flip(
    images: torch.Tensor | Sequence[torch.Tensor],
    top: Sequence[int] | torch.Tensor,
    left: Sequence[int] | torch.Tensor,
    flip: Sequence[bool] | torch.Tensor,
    size: int,
    source: Sequence[int] | torch.Tensor | None = None,
) -> torch.Tensor:
    """Per-item ``size``×``size`` crops with optional horizontal flip.

    Args:
        images: (M, C, H, W) uint8, or a list of M (C, H_m, W_m) uint8 of any sizes.
        top, left: (K,) crop corners, ``0 <= top <= H - size``.
        flip: (K,) bool; a flipped crop has its columns reversed.
        source: (K,) index into ``images`` of each output (default ``range(M)``), so
            several outputs can share one decoded image (sequence gap filling).
    Returns:
        (K, C, size, size) uint8 in channels-last memory (what the workers hand over;
        :func:`normalize_on_device` makes the layout the model wants on the device):
        ``out[k] = images[source[k]][:, top[k]:top[k]+size, left[k]:left[k]+size]``,
        columns reversed where ``flip[k]``.
    """
    top, left, flip = _as_list(top), _as_list(left), _as_list(flip)
    source = list(range(len(top))) if source is None else _as_list(source)
    channels = images[0].shape[0] if len(images) else 3
    out = _new_batch((len(top), size, size, channels))  # (K, size, size, C)
    # One copy per crop into a preallocated batch, in H, W, C order on both sides (the
    # decoder's and the resize's layout): ~5 µs per 112² crop here, where a fancy-index
    # gather took ~130 µs and a transposing copy ~25 µs.
    for k, (s, t, l, f) in enumerate(zip(source, top, left, flip)):
        view = images[s].permute(1, 2, 0)[t : t + size, l : l + size]
        out[k].copy_(view.flip(1) if f else view)
    return out.permute(0, 3, 1, 2)


def _new_batch(shape: tuple[int, ...], dtype: torch.dtype = torch.uint8) -> torch.Tensor:
    """An empty tensor, in shared memory when called in a DataLoader worker.

    Sending a tensor to the main process moves it to shared memory anyway; allocating it
    there directly (as torch's default_collate does) saves one copy of every batch.
    """
    if get_worker_info() is None:
        return torch.empty(shape, dtype=dtype)
    numel = int(np.prod(shape))
    storage = torch.UntypedStorage._new_shared(numel * torch.empty(0, dtype=dtype).element_size())
    return torch.empty(0, dtype=dtype).set_(storage, 0, shape)


def _as_list(values: Sequence[Any] | torch.Tensor | np.ndarray) -> list:
    return values.tolist() if isinstance(values, (torch.Tensor, np.ndarray)) else list(values)
