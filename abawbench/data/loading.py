"""Torch datasets and loaders over a sample table (see :mod:`abawbench.data`).

Two datasets:

* :class:`FrameDataset`: one face crop and its labels per item (the CNN stages).
* :class:`SequenceDataset`: windows of consecutive frames of one video (the GRU stages),
  with gap filling, an end-aligned last window and a per-frame ``new`` mask so that
  evaluation writes each frame's prediction exactly once.

The input path is built for throughput on a small CPU budget:

* images stay ``uint8`` from decoding to the device; :func:`normalize_on_device` (or the
  :class:`InputNormalizer` module) converts and normalises them there, so workers never
  touch float pixels and the worker-to-main transfer is 4× smaller;
* workers fetch a whole batch at once (``__getitems__``): files are decoded with
  libjpeg-turbo through ``torchvision.io.decode_jpeg`` (about 2× faster than PIL here),
  the 1.2× resize runs once over the stacked batch, and each crop (+ flip) is a single
  copy into a batch tensor allocated in shared memory (no copy on the way out);
* augmentation draws are a pure function of ``(seed, epoch, item)`` (a counter-based
  hash), so they do not depend on the number of workers, their order or the batch size;
* an unreadable image never stops a loader: a frame item is dropped from its batch, a
  sequence frame is replaced by its nearest readable neighbour and flagged; both are
  counted on the :class:`FaceLoader`. Since a batch can therefore be shorter than the
  sampler's index list, every item carries its ``part`` (the training part it was drawn
  from, when the table has a ``part`` column) and the label masks ``expr_valid`` /
  ``va_valid``: split batches and mask losses with those, never by position or marker.

Augmentation (paper and authors' code): resize the shorter side to ``int(1.2·size)``,
then a random ``size``×``size`` crop (a random translation of up to ±11 px at 112) and a
horizontal flip with probability ½; evaluation: the same resize and a centre crop.
"""

from __future__ import annotations

import functools
import io
import os
import re
import warnings
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset, RandomSampler, Sampler, SequentialSampler, get_worker_info

try:  # torchvision 0.29 deprecates its decoders (for TorchCodec); PIL takes over without them
    from torchvision.io import ImageReadMode, decode_image, decode_jpeg
except ImportError:  # pragma: no cover - depends on the installed torchvision
    decode_jpeg = decode_image = ImageReadMode = None

from abawbench.data import MISSING_EXPR, MISSING_VA, valid_expr, valid_va

__all__ = [
    "IMAGENET",
    "FERPLUS",
    "UNIT",
    "NORMALIZATIONS",
    "Normalization",
    "InputNormalizer",
    "normalize_on_device",
    "read_image",
    "read_images",
    "resize_shorter_side",
    "crop_and_flip",
    "augmentation_draws",
    "FrameDataset",
    "SequenceDataset",
    "FaceLoader",
    "collate_batch",
    "make_loader",
]

_AU_COLUMN = re.compile(r"^AU\d+$")
_JPEG_MAGIC = b"\xff\xd8"


# --------------------------------------------------------------------------------------
# Normalisation (on the device, as late as possible)
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Normalization:
    """Per-channel affine map from uint8 pixels to network inputs.

    ``out = (pixel · scale − mean) / std`` with ``pixel`` in 0..255; ``mean`` and ``std``
    are in the units of ``pixel · scale`` (so ImageNet's usual [0, 1] numbers go with
    ``scale = 1/255``).
    """

    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    scale: float = 1.0 / 255.0


#: torchvision/timm ImageNet statistics on [0, 1] inputs.
IMAGENET = Normalization(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
#: The authors' FER+ ResNet-50 (converted MatConvNet weights): ToTensor ×255 minus the
#: VGGFace2 mean, std 1, RGB order.
FERPLUS = Normalization(mean=(131.0912, 103.8827, 91.4953), std=(1.0, 1.0, 1.0), scale=1.0)
#: Plain ToTensor: pixels / 255.
UNIT = Normalization(mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
NORMALIZATIONS: dict[str, Normalization] = {"imagenet": IMAGENET, "ferplus": FERPLUS, "unit": UNIT}


def _affine_constants(
    mean: Sequence[float], std: Sequence[float], scale: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """(multiplier, offset), each (C,) float64, with out = pixel · multiplier + offset."""
    mean_t = torch.as_tensor(mean, dtype=torch.float64)
    std_t = torch.as_tensor(std, dtype=torch.float64)
    if mean_t.shape != std_t.shape or mean_t.ndim != 1:
        raise ValueError(f"mean and std must be equal-length 1-D, got {tuple(mean_t.shape)} and {tuple(std_t.shape)}")
    # Folding scale, mean and std into one multiply-add halves the passes over the batch.
    return scale / std_t, -mean_t / std_t


def _apply_affine(
    batch: torch.Tensor,
    multiplier: torch.Tensor,
    offset: torch.Tensor,
    device: torch.device | str | None,
    dtype: torch.dtype,
    channels_last: bool | None,
    non_blocking: bool,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    if batch.dtype != torch.uint8:
        raise TypeError(f"expected a uint8 image batch, got {batch.dtype}")
    channels = multiplier.numel()
    if batch.ndim < 3 or batch.shape[-3] != channels:
        raise ValueError(f"expected (..., {channels}, H, W), got {tuple(batch.shape)}")
    device = batch.device if device is None else torch.device(device)
    # The uint8 tensor crosses the bus (4× fewer bytes than float32); the float copy is
    # made on the device.
    x = batch.to(device, non_blocking=non_blocking)
    if channels_last and x.ndim == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    elif channels_last is False:
        x = x.contiguous()  # transposing uint8 is 4× less traffic than transposing floats
    if out is None:
        out = _empty_in_layout_of(x, dtype)
    elif out.shape != x.shape or out.device != x.device or not out.is_floating_point():
        raise ValueError(f"out must be a float tensor of shape {tuple(x.shape)} on {x.device}")
    out.copy_(x)
    _affine_in_place(out, multiplier.to(device=device, dtype=out.dtype), offset.to(device=device, dtype=out.dtype))
    return out


def _empty_in_layout_of(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """An empty float tensor shaped like ``x`` with the same channels-last or
    contiguous memory, so the conversion is a straight copy."""
    pixels_last = x.movedim(-3, -1)
    if pixels_last.is_contiguous() and not x.is_contiguous():
        return torch.empty(pixels_last.shape, dtype=dtype, device=x.device).movedim(-1, -3)
    return torch.empty(x.shape, dtype=dtype, device=x.device)


def _affine_in_place(out: torch.Tensor, mul: torch.Tensor, add: torch.Tensor) -> None:
    """out = out · mul + add per channel (dim -3), in place, along the memory order."""
    channels, width = mul.numel(), out.shape[-1]
    pixels_last = out.movedim(-3, -1)
    if out.is_contiguous():
        planes = out.view(*out.shape[:-2], -1)  # (..., C, H·W)
        planes.mul_(mul[:, None]).add_(add[:, None])
    elif pixels_last.is_contiguous():
        # Broadcasting a (C,) constant over a last axis of 3 is slow on CPU (~70 µs per
        # 112² image); constants tiled over a whole W·C row make the inner loop long and
        # vectorised (~18 µs).
        rows = pixels_last.view(-1, width * channels)
        rows.mul_(mul.repeat(width)).add_(add.repeat(width))
    else:
        out.mul_(mul[:, None, None]).add_(add[:, None, None])


def normalize_on_device(
    batch: torch.Tensor,
    mean: Sequence[float] = IMAGENET.mean,
    std: Sequence[float] = IMAGENET.std,
    device: torch.device | str | None = None,
    *,
    scale: float = 1.0 / 255.0,
    dtype: torch.dtype = torch.float32,
    channels_last: bool | None = None,
    non_blocking: bool = True,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """Move a uint8 image batch to ``device`` and normalise it there.

    Args:
        batch: (..., C, H, W) uint8, e.g. (N, 3, H, W) frames or (N, L, 3, H, W)
            sequences, any memory layout.
        mean, std: per channel (C,), in the units of ``pixel · scale``; ImageNet's by
            default. Use ``**vars(FERPLUS)`` (or ``normalization=``-style presets through
            :class:`InputNormalizer`) for the authors' FER+ backbone.
        device: target device; ``None`` keeps the batch where it is.
        scale: multiplies the 0..255 pixels before ``mean`` is subtracted.
        dtype: output float dtype.
        channels_last: memory layout of the result: ``None`` keeps the batch's (the
            loaders deliver channels-last, which GPU convolutions prefer), ``True``
            channels-last (4-D only), ``False`` contiguous.
        out: optional float tensor of the batch's shape on ``device`` to write into.
            Reusing one buffer across steps saves allocating (and, on CPU, page-faulting)
            a fresh batch every step; the previous result is then overwritten.

    Returns:
        (..., C, H, W) ``dtype`` on ``device``: ``(pixel · scale − mean) / std``.
    """
    multiplier, offset = _affine_constants(mean, std, scale)
    return _apply_affine(batch, multiplier, offset, device, dtype, channels_last, non_blocking, out)


class InputNormalizer(torch.nn.Module):
    """:func:`normalize_on_device` as a module, so the constants follow ``.to(device)``.

    ``InputNormalizer("ferplus")`` or ``InputNormalizer(Normalization(...))``; calling it
    on a (..., C, H, W) uint8 batch (on any device) returns float on the module's device.
    """

    def __init__(
        self,
        normalization: str | Normalization = "imagenet",
        dtype: torch.dtype = torch.float32,
        channels_last: bool | None = None,
    ) -> None:
        super().__init__()
        if isinstance(normalization, str):
            try:
                normalization = NORMALIZATIONS[normalization]
            except KeyError:
                raise ValueError(f"unknown normalization {normalization!r}; known: {sorted(NORMALIZATIONS)}") from None
        self.normalization = normalization
        self.dtype = dtype
        self.channels_last = channels_last
        multiplier, offset = _affine_constants(normalization.mean, normalization.std, normalization.scale)
        # float64 buffers: the cast to ``dtype`` happens per call, on the device.
        self.register_buffer("multiplier", multiplier, persistent=False)
        self.register_buffer("offset", offset, persistent=False)

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        return _apply_affine(
            batch, self.multiplier, self.offset, self.multiplier.device, self.dtype, self.channels_last, True
        )


# --------------------------------------------------------------------------------------
# Decoding and uint8 augmentation
# --------------------------------------------------------------------------------------


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


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix64(z: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser on a uint64 array (wrapping arithmetic is intended)."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def augmentation_draws(seed: int, epoch: np.ndarray | int, item: np.ndarray, streams: int = 3) -> np.ndarray:
    """Uniform [0, 1) draws that are a pure function of (seed, epoch, item, stream).

    A counter-based generator instead of a stateful one: the draw for an item does not
    depend on which worker fetched it, on the batch it landed in or on what was fetched
    before, so a run is reproducible for a seed whatever ``workers`` and ``batch_size``.

    Args:
        epoch, item: broadcastable int arrays (K,).
    Returns:
        (K, streams) float64.
    """
    with np.errstate(over="ignore"):
        item = np.asarray(item, dtype=np.int64).astype(np.uint64)
        epoch = np.broadcast_to(np.asarray(epoch, dtype=np.int64).astype(np.uint64), item.shape)
        key = _mix64(np.full(item.shape, np.uint64(seed & 0xFFFFFFFFFFFFFFFF)) + _GOLDEN)
        key = _mix64(key ^ (epoch * _GOLDEN))
        key = _mix64(key ^ item)
        lanes = key[:, None] + (np.arange(1, streams + 1, dtype=np.uint64) * _GOLDEN)[None, :]
        bits = _mix64(lanes) >> np.uint64(11)  # 53 random bits
    return bits.astype(np.float64) * (1.0 / (1 << 53))


# --------------------------------------------------------------------------------------
# Shared machinery of the two datasets
# --------------------------------------------------------------------------------------


class _PackedPaths:
    """Many paths as one byte buffer + offsets.

    A Python list of millions of ``str`` in a forked worker gets copied page by page as
    reference counts change (copy-on-access); two numpy arrays do not.
    """

    def __init__(self, root: Path, relative: Sequence[str]) -> None:
        encoded = [str(p).encode("utf-8") for p in relative]
        lengths = np.fromiter((len(b) for b in encoded), dtype=np.int64, count=len(encoded))
        self.ends = np.cumsum(lengths)
        self.buffer = np.frombuffer(b"".join(encoded), dtype=np.uint8) if encoded else np.zeros(0, np.uint8)
        self.root = str(root)

    def __len__(self) -> int:
        return len(self.ends)

    def __getitem__(self, i: int) -> str:
        start = 0 if i == 0 else int(self.ends[i - 1])
        relative = self.buffer[start : int(self.ends[i])].tobytes().decode("utf-8")
        # an absolute path (a crop cache outside the root) stays as it is
        return os.path.join(self.root, relative)


def _split_keys(keys: Sequence[Any], default_epoch: int) -> tuple[np.ndarray, np.ndarray]:
    """Item keys are ``index``, ``(epoch, index)`` or ``(epoch, index, occurrence)`` (what
    :class:`FaceLoader` sends). Returns ``(draw keys, items)``: the draw key is the epoch,
    with the occurrence in its high bits, so that an item drawn twice in one epoch (a
    balanced sampler draws with replacement) is augmented twice, differently, while a
    first draw keeps the plain epoch."""
    epochs = np.empty(len(keys), dtype=np.int64)
    items = np.empty(len(keys), dtype=np.int64)
    for k, key in enumerate(keys):
        if isinstance(key, tuple):
            epoch, items[k], *occurrence = key
            epochs[k] = int(epoch) + (int(occurrence[0]) << 32 if occurrence else 0)
        else:
            epochs[k], items[k] = default_epoch, key
    return epochs, items


class _AugmentedImages(Dataset):
    """What both datasets share: the table's labels, paths and the crop geometry."""

    def __init__(
        self,
        table: pd.DataFrame,
        root: str | Path | None,
        size: int,
        scale: float,
        train: bool,
        seed: int,
    ) -> None:
        if root is None:
            root = table.attrs.get("root")
            if root is None:
                raise ValueError("no image root: pass root= or set table.attrs['root']")
        self.root = Path(root)
        self.size = int(size)
        self.scale = float(scale)
        # Resize the shorter side to int(1.2 · size) as the authors' code does (134 at 112).
        self.resized = int(self.scale * self.size)
        if self.resized < self.size:
            raise ValueError(f"scale must be >= 1, got {scale}")
        self.train = bool(train)
        self.seed = int(seed)
        #: Epoch used when an item is fetched by a bare index (``dataset[i]``).
        self.epoch = 0
        self.paths = _PackedPaths(self.root, table["path"].astype(str).tolist())
        self.expr = np.asarray(table["expr"], dtype=np.int64) if "expr" in table else np.full(len(table), MISSING_EXPR)
        self.valence = self._va(table, "valence")
        self.arousal = self._va(table, "arousal")
        self.au_names = tuple(c for c in table.columns if _AU_COLUMN.match(str(c)))
        self.au = np.asarray(table[list(self.au_names)], dtype=np.int8) if self.au_names else None
        # The one valid-label rule (abawbench.data), evaluated once per row.
        self.expr_ok = valid_expr(self.expr)
        self.va_ok = valid_va(self.valence, self.arousal)
        #: Training part of each row (codes into ``part_names``), from a ``part`` column
        #: (``ConcatParts(parts).table``); None without one.
        self.part_names: tuple[str, ...] = ()
        self.part_codes: np.ndarray | None = None
        if "part" in table:
            parts = table["part"]
            if not isinstance(parts.dtype, pd.CategoricalDtype):
                parts = parts.astype(str).astype("category")
            self.part_names = tuple(str(c) for c in parts.cat.categories)
            self.part_codes = parts.cat.codes.to_numpy().astype(np.int64)

    @staticmethod
    def _va(table: pd.DataFrame, column: str) -> np.ndarray:
        if column in table:
            return np.asarray(table[column], dtype=np.float32)
        return np.full(len(table), MISSING_VA, dtype=np.float32)

    def set_epoch(self, epoch: int) -> None:
        """Epoch for bare-index access; :class:`FaceLoader` tags keys itself."""
        self.epoch = int(epoch)

    def _corners(
        self, epochs: np.ndarray, items: np.ndarray, span_y: np.ndarray, span_x: np.ndarray, diagonal: bool = False
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Crop corners and flips, (K,) int64, int64, bool, for outputs whose resized image
        exceeds the crop by ``span_y`` rows and ``span_x`` columns ((K,) int64 each)."""
        if not self.train:
            # torchvision CenterCrop: round((H' - size) / 2).
            top = np.round(span_y / 2.0).astype(np.int64)
            left = np.round(span_x / 2.0).astype(np.int64)
            return top, left, np.zeros(len(items), dtype=bool)
        draws = augmentation_draws(self.seed, epochs, items)
        if diagonal:
            # The authors' sequence transform: one v sets both offsets and the flip.
            v = draws[:, 0]
            return (span_y * v).astype(np.int64), (span_x * v).astype(np.int64), v < 0.5
        # Uniform integer offset in 0..span on each axis, as RandomCrop after the resize.
        top = np.minimum((draws[:, 0] * (span_y + 1)).astype(np.int64), span_y)
        left = np.minimum((draws[:, 1] * (span_x + 1)).astype(np.int64), span_x)
        return top, left, draws[:, 2] < 0.5

    def _decode_resized(self, positions: np.ndarray) -> tuple[torch.Tensor | list[torch.Tensor], np.ndarray, list[int]]:
        """Decode the images at ``positions`` of ``self.paths`` and resize them.

        Returns:
            images: (M, 3, H', W') uint8 when all readable images share a size (the usual
                case), else a list of M (3, H'_m, W'_m) uint8;
            slot: (len(positions),) int64, index into ``images`` of each position, -1
                where the file could not be read;
            unreadable: the positions that could not be read.
        """
        decoded = read_images([self.paths[int(p)] for p in positions])
        slot = np.full(len(positions), -1, dtype=np.int64)
        good = [k for k, image in enumerate(decoded) if image is not None]
        slot[good] = np.arange(len(good))
        unreadable = [int(positions[k]) for k, image in enumerate(decoded) if image is None]
        readable = [decoded[k] for k in good]
        if len({tuple(image.shape) for image in readable}) == 1:
            # One resize call for the whole batch, on channels-last memory (what the decoder
            # writes): ~25 µs per image against ~50 µs for one call per image.
            stacked = torch.stack([image.permute(1, 2, 0) for image in readable]).permute(0, 3, 1, 2)
            return resize_shorter_side(stacked, self.resized), slot, unreadable
        return [resize_shorter_side(image[None], self.resized)[0] for image in readable], slot, unreadable

    def _crops(
        self,
        images: torch.Tensor | list[torch.Tensor],
        source: np.ndarray,
        epochs: np.ndarray,
        items: np.ndarray,
        diagonal: bool = False,
    ) -> tuple[torch.Tensor, np.ndarray, np.ndarray, np.ndarray]:
        """Augmented crops: output k is ``images[source[k]]`` with the draw of
        ``(epochs[k], items[k])``. Returns (K, 3, size, size) uint8 and (top, left, flip)."""
        if isinstance(images, torch.Tensor):
            span_y = np.full(len(source), images.shape[-2] - self.size, dtype=np.int64)
            span_x = np.full(len(source), images.shape[-1] - self.size, dtype=np.int64)
        else:
            span_y = np.array([images[s].shape[-2] - self.size for s in source], dtype=np.int64)
            span_x = np.array([images[s].shape[-1] - self.size for s in source], dtype=np.int64)
        top, left, flip = self._corners(epochs, items, span_y, span_x, diagonal)
        return crop_and_flip(images, top, left, flip, self.size, source), top, left, flip

    def _labels(self, rows: np.ndarray, filled: np.ndarray | None = None) -> dict[str, torch.Tensor]:
        """Labels of table positions ``rows`` (any shape); -1 rows are 'no row' (missing).

        ``expr_valid`` / ``va_valid`` are the masks the losses use: the label is valid
        (:func:`abawbench.data.valid_expr` / :func:`~abawbench.data.valid_va`) and the
        image shown is the frame's own (``filled`` False), since a label on a borrowed
        image would teach the wrong picture. ``part`` is the row's training part code
        (-1 without a ``part`` column or row).
        """
        has_row = rows >= 0
        safe = np.where(has_row, rows, 0)
        own_image = has_row if filled is None else has_row & ~filled
        labels = {
            "expr": torch.from_numpy(np.where(has_row, self.expr[safe], MISSING_EXPR).astype(np.int64)),
            "valence": torch.from_numpy(np.where(has_row, self.valence[safe], MISSING_VA).astype(np.float32)),
            "arousal": torch.from_numpy(np.where(has_row, self.arousal[safe], MISSING_VA).astype(np.float32)),
            "expr_valid": torch.from_numpy(own_image & self.expr_ok[safe]),
            "va_valid": torch.from_numpy(own_image & self.va_ok[safe]),
            "part": torch.from_numpy(np.where(has_row, self.part_codes[safe], -1).astype(np.int64)
                                     if self.part_codes is not None else np.full(rows.shape, -1, dtype=np.int64)),
        }
        if self.au is not None:
            au = np.where(has_row[..., None], self.au[safe], -1).astype(np.int8)
            labels["au"] = torch.from_numpy(au)
        return labels


def _single(batch: dict[str, Any]) -> dict[str, Any]:
    """The one item of a batch of one, for ``dataset[i]`` (without the batch axis)."""
    if batch["dropped"]:
        return {"valid": False, "unreadable": batch["unreadable"]}
    item = {
        key: (value[0] if isinstance(value, (torch.Tensor, list)) and key != "unreadable" else value)
        for key, value in batch.items()
        if key != "dropped"
    }
    item["valid"] = True
    return item


# --------------------------------------------------------------------------------------
# Frames
# --------------------------------------------------------------------------------------


class FrameDataset(_AugmentedImages):
    """One face crop and its labels per item.

    Rows whose ``has_crop`` is False (Aff-Wild2 frames without a face) are left out; their
    count is ``n_without_crop``.

    ``dataset[i]`` returns a dict:

    ==============  ======================  ==============================================
    ``image``       (3, size, size) uint8   augmented crop (channels-last memory)
    ``expr``        () int64                class, -1 missing (ready for ``ignore_index``)
    ``valence``     () float32              -5 missing
    ``arousal``     () float32              -5 missing
    ``expr_valid``  () bool                 the EXPR label is usable (the one rule of
                                            :func:`abawbench.data.valid_expr`)
    ``va_valid``    () bool                 valence and arousal both usable
    ``part``        () int64                training part code (index into the dataset's
                                            ``part_names``; -1 without a ``part`` column)
    ``au``          (n_AU,) int8            only if the table has AU columns; -1 missing
    ``row``         () int64                position (``iloc``) in the table passed in
    ``top``/``left`` () int64               crop corner in the resized image
    ``flipped``     () bool                 horizontal flip applied
    ``valid``       bool                    False if the file could not be read (then only
                                            ``unreadable`` is present)
    ==============  ======================  ==============================================

    Through :func:`make_loader` a batch carries the same keys with a leading (N,) axis,
    minus unreadable items, plus ``unreadable`` (list of table positions) and
    ``dropped`` (int).
    """

    def __init__(
        self,
        table: pd.DataFrame,
        root: str | Path | None = None,
        size: int = 112,
        train: bool = True,
        seed: int = 0,
        scale: float = 1.2,
    ) -> None:
        if "has_crop" in table:
            keep = np.asarray(table["has_crop"], dtype=bool)
        else:
            keep = np.ones(len(table), dtype=bool)
        self.rows = np.flatnonzero(keep).astype(np.int64)
        self.n_without_crop = int(len(table) - len(self.rows))
        super().__init__(table.iloc[self.rows], root, size, scale, train, seed)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        return _single(self.__getitems__([key]))

    def __getitems__(self, keys: Sequence[int | tuple[int, int]]) -> dict[str, Any]:
        """A whole batch in one call (DataLoader uses this when it exists)."""
        epochs, items = _split_keys(keys, self.epoch)
        images, slot, unreadable = self._decode_resized(items)
        good = np.flatnonzero(slot >= 0)
        batch: dict[str, Any] = {
            "unreadable": [int(self.rows[i]) for i in unreadable],
            "dropped": int(len(items) - len(good)),
        }
        kept = items[good]
        if len(good):
            crops, top, left, flip = self._crops(images, slot[good], epochs[good], kept)
        else:
            crops = torch.zeros((0, 3, self.size, self.size), dtype=torch.uint8)
            top = left = np.zeros(0, dtype=np.int64)
            flip = np.zeros(0, dtype=bool)
        batch.update(
            image=crops,
            row=torch.from_numpy(self.rows[kept]),
            top=torch.from_numpy(top),
            left=torch.from_numpy(left),
            flipped=torch.from_numpy(flip),
            **self._labels(kept),
        )
        return batch


# --------------------------------------------------------------------------------------
# Sequences
# --------------------------------------------------------------------------------------


class SequenceDataset(_AugmentedImages):
    """Windows of ``length`` consecutive frame numbers of one video.

    Construction (vectorised per video; no loop over frames):

    * rows are grouped by ``video`` and ordered by ``frame``; a video spans frame numbers
      ``min..max`` of its rows, and a number with no row, or a row whose ``has_crop`` is
      False, has no crop of its own;
    * such a frame shows the nearest earlier crop of the video (the nearest later one
      before the first crop), and ``filled`` marks it; a video without any crop yields no
      window (listed in ``videos_without_crops``);
    * windows start at 0, stride, 2·stride, … and the last one is end-aligned so every
      frame is covered; ``new`` marks the positions not covered by the video's previous
      window, so writing ``prediction[new]`` at ``frame[new]`` covers each frame once.
      A video shorter than ``length`` gives one window padded at the end by repeating its
      last image (``frame`` 0, ``new`` and labels missing there, ``filled`` True).
    * ``drop_gapped=True`` drops windows with any filled frame (the authors' code), at the
      price of frames that no window covers.

    Augmentation is drawn once per window and applied to all its frames. ``augmentation``
    is ``"independent"`` (offsets and flip drawn independently, default) or
    ``"paper-code"`` (one v ~ U(0,1): offset ``int(22·v)`` on both axes, flip iff v < ½).

    An unreadable file inside a window is replaced like a gap (``filled`` True) and
    counted; a window with no readable frame is dropped from its batch.

    ``dataset[i]`` returns a dict:

    ==============  ==========================  ==========================================
    ``images``      (L, 3, size, size) uint8    crops (channels-last memory per frame)
    ``expr``        (L,) int64                  -1 missing
    ``valence``     (L,) float32                -5 missing
    ``arousal``     (L,) float32                -5 missing
    ``expr_valid``  (L,) bool                   usable EXPR label on the frame's own image
                                                (False where ``filled``)
    ``va_valid``    (L,) bool                   the same for valence and arousal
    ``part``        (L,) int64                  training part code, -1 none
    ``au``          (L, n_AU) int8              only with AU columns
    ``frame``       (L,) int64                  frame numbers (0 = padding)
    ``row``         (L,) int64                  table position of the frame's row, -1 none
    ``filled``      (L,) bool                   image is not the frame's own crop
    ``new``         (L,) bool                   first window of the video to cover it
    ``video``       str
    ``window``      () int64                    window index in this dataset
    ``top``/``left``/``flipped``                one draw for the whole window
    ==============  ==========================  ==========================================
    """

    def __init__(
        self,
        table: pd.DataFrame,
        length: int = 32,
        stride: int | None = None,
        root: str | Path | None = None,
        size: int = 112,
        train: bool = True,
        seed: int = 0,
        scale: float = 1.2,
        augmentation: str = "independent",
        drop_gapped: bool = False,
    ) -> None:
        super().__init__(table, root, size, scale, train, seed)
        self.length = int(length)
        self.stride = int(stride if stride is not None else (length // 2 if train else length))
        if not 1 <= self.stride <= self.length:
            raise ValueError(f"stride must be in 1..length ({self.length}), got {self.stride}")
        if augmentation not in ("independent", "paper-code"):
            raise ValueError(f"augmentation must be 'independent' or 'paper-code', got {augmentation!r}")
        self.augmentation = augmentation
        self._build(table, drop_gapped)

    def _build(self, table: pd.DataFrame, drop_gapped: bool) -> None:
        videos = table["video"].astype(str).to_numpy()
        frames = np.asarray(table["frame"], dtype=np.int64)
        has_crop = np.asarray(table["has_crop"], dtype=bool) if "has_crop" in table else np.ones(len(table), bool)
        video_codes, video_names = pd.factorize(videos, sort=True)
        order = np.lexsort((frames, video_codes))
        sorted_codes, sorted_frames = video_codes[order], frames[order]
        if np.any((np.diff(sorted_codes) == 0) & (np.diff(sorted_frames) == 0)):
            raise ValueError("a video has the same frame number twice in the table")
        bounds = np.flatnonzero(np.diff(sorted_codes)) + 1
        starts_of_video = np.concatenate([[0], bounds])
        ends_of_video = np.concatenate([bounds, [len(order)]])

        # Dense per-frame grid, all videos concatenated: grid_row (table position or -1),
        # grid_source (row whose image is shown), grid_frame (frame number).
        grid_row, grid_source, grid_frame = [], [], []
        windows_video, windows_start, windows_span, windows_new_from = [], [], [], []
        self.videos_without_crops: list[str] = []
        offset = 0
        for code, lo, hi in zip(sorted_codes[starts_of_video], starts_of_video, ends_of_video):
            rows = order[lo:hi]
            first, last = sorted_frames[lo], sorted_frames[hi - 1]
            n = int(last - first + 1)
            row_at = np.full(n, -1, dtype=np.int64)
            row_at[sorted_frames[lo:hi] - first] = rows
            available = row_at >= 0
            available[available] = has_crop[row_at[available]]
            if not available.any():
                self.videos_without_crops.append(str(video_names[code]))
                continue
            # Forward fill: index of the last available position at or before each one;
            # leading gaps take the first available position.
            last_seen = np.maximum.accumulate(np.where(available, np.arange(n), -1))
            last_seen[last_seen < 0] = np.flatnonzero(available)[0]
            grid_row.append(row_at)
            grid_source.append(row_at[last_seen])
            grid_frame.append(np.arange(first, last + 1, dtype=np.int64))

            starts = np.arange(0, max(n - self.length, 0) + 1, self.stride, dtype=np.int64)
            if starts[-1] + self.length < n:
                starts = np.append(starts, n - self.length)  # end-aligned last window
            new_from = np.zeros(len(starts), dtype=np.int64)
            new_from[1:] = starts[:-1] + self.length - starts[1:]  # first position not seen before
            if drop_gapped:
                gap_prefix = np.concatenate([[0], np.cumsum(~available)])
                window_end = np.minimum(starts + self.length, n)
                clean = gap_prefix[window_end] == gap_prefix[starts]
                starts = starts[clean]
                # "new" counts from the previous *kept* window, or frames after a dropped
                # one would sit in a kept window and never be written
                new_from = np.zeros(len(starts), dtype=np.int64)
                new_from[1:] = np.maximum(starts[:-1] + self.length - starts[1:], 0)
            windows_video.append(np.full(len(starts), code, dtype=np.int64))
            windows_start.append(starts + offset)
            windows_span.append(np.minimum(n - starts, self.length))
            windows_new_from.append(new_from)
            offset += n

        def cat(parts: list[np.ndarray], dtype: type) -> np.ndarray:
            return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)

        self.video_names = np.asarray(video_names, dtype=object)
        self.grid_row = cat(grid_row, np.int64)
        self.grid_source = cat(grid_source, np.int64)
        self.grid_frame = cat(grid_frame, np.int64)
        self.window_video = cat(windows_video, np.int64)
        self.window_start = cat(windows_start, np.int64)
        self.window_span = cat(windows_span, np.int64)
        self.window_new_from = cat(windows_new_from, np.int64)

    def __len__(self) -> int:
        return len(self.window_start)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        return _single(self.__getitems__([key]))

    def __getitems__(self, keys: Sequence[int | tuple[int, int]]) -> dict[str, Any]:
        """A whole batch of windows in one call; each distinct file is decoded once."""
        epochs, windows = _split_keys(keys, self.epoch)
        count, length = len(windows), self.length
        steps = np.arange(length)
        span = self.window_span[windows]
        inside = steps[None, :] < span[:, None]  # (B, L) False on short-video padding
        # Padding positions repeat the window's last frame.
        position = self.window_start[windows][:, None] + np.minimum(steps[None, :], span[:, None] - 1)
        rows = np.where(inside, self.grid_row[position], -1)
        source = self.grid_source[position]
        filled = (source != rows) | ~inside
        frame = np.where(inside, self.grid_frame[position], 0)
        new = inside & (steps[None, :] >= self.window_new_from[windows][:, None])

        unique_rows, which = np.unique(source, return_inverse=True)
        which = which.reshape(count, length)
        images, slot, unreadable = self._decode_resized(unique_rows)
        good_position = slot[which] >= 0
        ok_window = np.ones(count, dtype=bool)
        if not good_position.all():
            # Re-fill inside each window from readable positions only (same rule as gaps:
            # nearest earlier readable frame, nearest later one at the start).
            filled |= ~good_position
            ok_window = good_position.any(axis=1)
            last_good = np.maximum.accumulate(np.where(good_position, steps[None, :], -1), axis=1)
            first_good = np.argmax(good_position, axis=1)
            last_good = np.where(last_good < 0, first_good[:, None], last_good)
            which = np.take_along_axis(which, last_good, axis=1)
        keep = np.flatnonzero(ok_window)

        batch: dict[str, Any] = {"unreadable": unreadable, "dropped": int(count - len(keep))}
        kept = windows[keep]
        if len(keep):
            crops, top, left, flip = self._crops(
                images,
                slot[which[keep]].reshape(-1),
                np.repeat(epochs[keep], length),
                np.repeat(kept, length),  # one draw per window, shared by its frames
                diagonal=self.augmentation == "paper-code",
            )
            crops = crops.reshape(len(keep), length, 3, self.size, self.size)
            top, left, flip = top[::length], left[::length], flip[::length]
        else:
            crops = torch.zeros((0, length, 3, self.size, self.size), dtype=torch.uint8)
            top = left = np.zeros(0, dtype=np.int64)
            flip = np.zeros(0, dtype=bool)
        batch.update(
            images=crops,
            frame=torch.from_numpy(frame[keep]),
            row=torch.from_numpy(rows[keep]),
            filled=torch.from_numpy(filled[keep]),
            new=torch.from_numpy(new[keep]),
            video=[str(self.video_names[v]) for v in self.window_video[kept]],
            window=torch.from_numpy(kept),
            top=torch.from_numpy(top),
            left=torch.from_numpy(left),
            flipped=torch.from_numpy(flip),
            **self._labels(rows[keep], filled[keep]),
        )
        return batch


# --------------------------------------------------------------------------------------
# Loader
# --------------------------------------------------------------------------------------


def collate_batch(data: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Collate for these datasets.

    A dict from ``__getitems__`` is already a batch and passes through. A list of item
    dicts (``dataset[i]`` results) is stacked, dropping items with ``valid`` False and
    counting them in ``dropped``.
    """
    if isinstance(data, Mapping):
        return _for_transport(dict(data))
    unreadable = [row for item in data for row in item.get("unreadable", [])]
    good = [item for item in data if item.get("valid", True)]
    batch: dict[str, Any] = {"unreadable": unreadable, "dropped": len(data) - len(good)}
    if not good:
        return batch
    for key, value in good[0].items():
        if key in ("valid", "unreadable", "dropped"):
            continue
        values = [item[key] for item in good]
        batch[key] = torch.stack(values) if isinstance(value, torch.Tensor) else values
    return _for_transport(batch)


_SMALL_BYTES = 1 << 16


class _SmallArray(np.ndarray):
    """A small label array travelling from a worker; :class:`FaceLoader` turns it back
    into a tensor. (A subclass, so arrays a user put in a batch are left alone.)"""


def _for_transport(batch: dict[str, Any]) -> dict[str, Any]:
    """In a worker, send small tensors as numpy arrays.

    Each tensor leaving a worker gets its own shared-memory segment and file descriptor
    (~0.3 ms apiece here): for the ten label tensors of a batch that was ~25 µs per image,
    a seventh of the whole pipeline. Small arrays are pickled inline instead.
    """
    if get_worker_info() is None:
        return batch
    for key, value in batch.items():
        if isinstance(value, torch.Tensor) and value.numel() * value.element_size() <= _SMALL_BYTES:
            batch[key] = value.numpy().view(_SmallArray)
    return batch


def _from_transport(batch: dict[str, Any]) -> dict[str, Any]:
    for key, value in batch.items():
        if isinstance(value, _SmallArray):
            batch[key] = torch.from_numpy(value.view(np.ndarray))
    return batch


class _EpochTaggedSampler(Sampler):
    """Yields ``(epoch, index)`` so workers know the epoch without shared state.

    Samplers run in the main process, so updating ``epoch`` here reaches persistent
    workers too (a dataset attribute set in the main process would not).
    """

    def __init__(self, sampler: Sampler | Sequence[int]) -> None:
        self.sampler = sampler
        self.epoch = 0
        self.skip = 0  # indices of this pass already consumed (resume), counted but not yielded

    def __iter__(self) -> Iterator[tuple[int, int, int]]:
        epoch, seen, skip = self.epoch, Counter(), self.skip
        self.skip = 0
        for position, index in enumerate(self.sampler):
            index = int(index)
            if position >= skip:
                yield epoch, index, seen[index]
            seen[index] += 1

    def __len__(self) -> int:
        return len(self.sampler)


class _EpochTaggedBatches(Sampler):
    """A batch sampler's batches with every index tagged ``(epoch, index, occurrence)``;
    the wrapped sampler's own ``set_epoch`` (e.g. :class:`MultiPartBatchSampler`) is
    called before each pass, so every pass draws new batches."""

    def __init__(self, batch_sampler: Any) -> None:
        self.batch_sampler = batch_sampler
        self.epoch = 0
        self.skip = 0  # batches of this pass already consumed (resume), counted but not yielded

    def __iter__(self) -> Iterator[list[tuple[int, int, int]]]:
        epoch, seen, skip = self.epoch, Counter(), self.skip
        self.skip = 0
        if hasattr(self.batch_sampler, "set_epoch"):
            self.batch_sampler.set_epoch(epoch)
        for position, batch in enumerate(self.batch_sampler):
            tagged = []
            for index in batch:
                index = int(index)
                tagged.append((epoch, index, seen[index]))
                seen[index] += 1
            # Skipped batches still count their draws, so an item drawn again later in
            # the pass gets the same occurrence number (and augmentation) as without the
            # interruption.
            if position >= skip:
                yield tagged

    def __len__(self) -> int:
        return len(self.batch_sampler)


class FaceLoader(DataLoader):
    """A DataLoader that tags items with the epoch and counts unreadable images.

    Each full pass uses ``epoch`` for its augmentation draws and then increments it;
    ``set_epoch(e)`` chooses the next pass's epoch (e.g. when resuming).

    Attributes (cumulative over passes; :meth:`reset_counts` clears them):
        n_unreadable: images that could not be read (a file counts once per read).
        unreadable_rows: set of their table positions.
        n_dropped: items removed from batches (unreadable frames, unreadable windows).
    """

    def __init__(self, dataset: Dataset, *args: Any, epoch: int = 0, **kwargs: Any) -> None:
        super().__init__(dataset, *args, **kwargs)
        self.epoch = int(epoch)
        self.reset_counts()

    def reset_counts(self) -> None:
        self.n_unreadable = 0
        self.unreadable_rows: set[int] = set()
        self.n_dropped = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def set_position(self, epoch: int, batches_done: int) -> None:
        """Make the next pass epoch ``epoch`` resumed after its first ``batches_done``
        batches (a resumed run): those are drawn, counted and skipped without loading a
        single image, so the remaining batches, their items and their augmentation are
        exactly those of an uninterrupted pass."""
        self.epoch = int(epoch)
        self._skip_batches = int(batches_done)

    def _tagger(self) -> _EpochTaggedSampler | _EpochTaggedBatches | None:
        tagger = self.batch_sampler
        if not isinstance(tagger, _EpochTaggedBatches):
            tagger = getattr(tagger, "sampler", None)
        return tagger if isinstance(tagger, (_EpochTaggedSampler, _EpochTaggedBatches)) else None

    def __iter__(self) -> Iterator[dict[str, Any]]:  # type: ignore[override]
        tagger = self._tagger()
        skip, self._skip_batches = getattr(self, "_skip_batches", 0), 0
        if tagger is not None:
            tagger.epoch = self.epoch
            # the item tagger counts items: a batch is batch_size of them
            tagger.skip = skip if isinstance(tagger, _EpochTaggedBatches) else skip * (self.batch_size or 1)
        elif skip:
            raise ValueError("this loader cannot resume inside a pass (no epoch-tagged sampler)")
        self.epoch += 1
        for batch in super().__iter__():
            batch = _from_transport(batch)
            self.n_unreadable += len(batch.get("unreadable", ()))
            self.unreadable_rows.update(batch.get("unreadable", ()))
            self.n_dropped += batch.get("dropped", 0)
            yield batch


def _die_with_parent(worker_id: int, parent: int) -> None:
    """Worker start-up: on Linux, ask the kernel to kill this worker when the process
    that made it dies. A training run killed with SIGKILL otherwise leaves its workers
    behind (blocked on their own full result pipe), holding memory and files."""
    import ctypes
    import signal
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(0)


def make_loader(
    dataset: FrameDataset | SequenceDataset,
    batch_size: int | None,
    workers: int = 2,
    *,
    shuffle: bool = False,
    sampler: Sampler | Sequence[int] | None = None,
    batch_sampler: Any = None,
    seed: int = 0,
    drop_last: bool = False,
    pin_memory: bool | None = None,
    persistent_workers: bool = False,
    prefetch_factor: int | None = 4,
    epoch: int = 0,
) -> FaceLoader:
    """A :class:`FaceLoader` for one of the datasets above.

    Args:
        batch_size: items per batch before unreadable ones are dropped.
        workers: decoding processes (0 = in the main process).
        shuffle: random order (a ``RandomSampler`` seeded with ``seed``); ignored when a
            ``sampler`` is given (e.g. the weighted balancing samplers).
        batch_sampler: yields whole batches of indices instead (e.g.
            :class:`abawbench.data.mixing.MultiPartBatchSampler` over
            ``ConcatParts(parts).table``); ``batch_size``, ``shuffle`` and ``sampler``
            are then unused, and the sampler's ``set_epoch`` follows the loader's epoch.
        pin_memory: page-locked batches for fast, asynchronous host-to-GPU copies;
            default: when CUDA is available.
        prefetch_factor: batches each worker keeps ready.

    The loader draws its workers' base seed from a private generator seeded with
    ``seed``, never from torch's global one: creating an iterator must not move the
    global stream that dropout draws from, or a resumed run would drift from an
    uninterrupted one.

    Batches are dicts (see :class:`FrameDataset` / :class:`SequenceDataset`); feed
    ``batch["image"]`` / ``batch["images"]`` to :func:`normalize_on_device`.

    On a CPU-only machine whose cores are all taken by workers, give the main process
    one intra-op thread (``torch.set_num_threads(1)``): idle OpenMP threads spin-wait
    after every parallel op and took ~160 µs of CPU per image from the workers here.
    """
    if pin_memory is None:
        pin_memory = torch.cuda.is_available()
    extra: dict[str, Any] = {"generator": torch.Generator().manual_seed(int(seed)),
                             "worker_init_fn": functools.partial(_die_with_parent, parent=os.getpid())}
    if workers > 0:
        extra["persistent_workers"] = persistent_workers
        extra["prefetch_factor"] = prefetch_factor
    if batch_sampler is not None:
        return FaceLoader(dataset, batch_sampler=_EpochTaggedBatches(batch_sampler), num_workers=workers,
                          collate_fn=collate_batch, pin_memory=pin_memory, epoch=epoch, **extra)
    if sampler is None:
        if shuffle:
            sampler = RandomSampler(dataset, generator=torch.Generator().manual_seed(seed))
        else:
            sampler = SequentialSampler(dataset)
    return FaceLoader(
        dataset,
        batch_size=batch_size,
        sampler=_EpochTaggedSampler(sampler),
        num_workers=workers,
        collate_fn=collate_batch,
        pin_memory=pin_memory,
        drop_last=drop_last,
        epoch=epoch,
        **extra,
    )
