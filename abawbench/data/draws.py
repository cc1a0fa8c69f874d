"""Random draws that are a pure function of ``(seed, epoch, item)``.

A counter-based hash (SplitMix64) instead of a stateful generator: an item's draw does
not depend on which worker fetched it, the batch it landed in or what was fetched
before, so a run is reproducible for a seed whatever the number of workers and the
batch size, and a resumed epoch redraws exactly what the interrupted one drew.
:class:`abawbench.data.loading.FaceLoader` sends every item as ``(epoch, index,
occurrence)``; :func:`split_keys` turns those keys into draw keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["augmentation_draws", "split_keys", "choose_views"]

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


def split_keys(keys: Sequence[Any], default_epoch: int) -> tuple[np.ndarray, np.ndarray]:
    """Item keys are ``index``, ``(epoch, index)`` or ``(epoch, index, occurrence)`` (what
    :class:`~abawbench.data.loading.FaceLoader` sends). Returns ``(draw keys, items)``: the draw key is the epoch,
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


def choose_views(seed: int, epochs: np.ndarray, items: np.ndarray, views: Sequence[int] | np.ndarray) -> np.ndarray:
    """One of ``views`` per item, uniformly, from the item's draw (its first stream).

    Used to pick, once per training window, which cached augmented view of the frame
    features the whole window shows (as an image window shares one crop and flip).

    Args:
        epochs, items: (K,) draw keys as returned by :func:`split_keys`.
        views: (V,) the view numbers to choose from, V >= 1.
    Returns:
        (K,) int64 view numbers, each an element of ``views``.
    """
    views = np.asarray(views, dtype=np.int64)
    if views.ndim != 1 or views.size == 0:
        raise ValueError(f"views must be a non-empty 1-D list of view numbers, got {views!r}")
    u = augmentation_draws(seed, epochs, items, streams=1)[:, 0]
    # u < 1, so floor(u·V) <= V-1; the minimum guards a rounding up of u·V to V.
    return views[np.minimum((u * len(views)).astype(np.int64), len(views) - 1)]
