"""Normalisation of uint8 image batches on the device, as late as possible.

Workers hand over uint8 crops (4x fewer bytes than float32 across the worker pipe and
the host-to-device bus); :func:`normalize_on_device` or the :class:`InputNormalizer`
module converts and normalises them where the model runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

__all__ = ["IMAGENET", "FERPLUS", "UNIT", "NORMALIZATIONS", "Normalization", "InputNormalizer", "normalize_on_device"]


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
