"""Batched inference of the multitask CNN over a table of face crops.

Used by validation inside training (every epoch) and by ``predict``. Images go through
the evaluation transform (resize the shorter side to int(1.2·size), centre crop), the
loader keeps them uint8 and the normaliser converts them on the device. A frame set small
enough (``eval_cache_mb``) is decoded once and kept in memory, so per-epoch validation
on small data costs only the forward passes. Under DDP each rank predicts a contiguous
share of the frames and the shares are gathered.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from abawbench.data.loading import FrameDataset, InputNormalizer, make_loader
from abawbench.training.device import Device, all_gather


@dataclass
class FramePredictions:
    """Predictions for the rows of a frame table: ``expr`` (N,) int64 class ids,
    ``va`` (N, 2) float32, ``predicted`` (N,) bool (False where the crop was unreadable
    or missing: those rows hold 0 and are filled from neighbours when written)."""

    expr: np.ndarray
    va: np.ndarray
    predicted: np.ndarray


class FrameInference:
    """Predict every row of ``frames`` (a sample table with ``path``, ``video``,
    ``frame``; rows without ``has_crop`` are never read).

    Args:
        size, scale: the evaluation transform (the training config's image size and
            resize scale).
        batch_size: images per forward pass.
        workers: decoding processes.
        cache_mb: keep the decoded uint8 crops in memory when they take at most this
            many MiB (0: never).
    """

    def __init__(self, frames: pd.DataFrame, device: Device, size: int, scale: float = 1.2, batch_size: int = 256,
                 workers: int = 0, cache_mb: int = 0) -> None:
        self.frames = frames.reset_index(drop=True)
        self.frames.attrs = dict(frames.attrs)
        self.device = device
        share = np.array_split(np.arange(len(self.frames)), device.world_size)[device.rank]
        self.share_start = int(share[0]) if len(share) else 0
        local = self.frames.iloc[share]
        local.attrs = dict(self.frames.attrs)
        self.dataset = FrameDataset(local, train=False, size=size, scale=scale)
        self.batch_size = int(batch_size)
        self.workers = int(workers)
        self.cache_allowed = len(self.dataset) * 3 * size * size <= cache_mb * (1 << 20)
        self._cache: list[tuple[torch.Tensor, torch.Tensor]] | None = None

    def _batches(self):
        if self._cache is not None:
            yield from self._cache
            return
        loader = make_loader(self.dataset, self.batch_size, workers=self.workers, shuffle=False,
                             pin_memory=self.device.cuda)
        kept = [] if self.cache_allowed else None
        for batch in loader:
            item = (batch["image"], batch["row"])
            if kept is not None:
                kept.append(item)
            yield item
        if kept is not None:
            self._cache = kept

    @torch.no_grad()
    def predict(self, model: nn.Module, normalizer: InputNormalizer) -> FramePredictions:
        """Every row's prediction, in table order (all ranks get the whole table)."""
        was_training = model.training
        model.eval()
        n_local = len(self.dataset)
        expr = np.zeros(n_local, dtype=np.int64)
        va = np.zeros((n_local, 2), dtype=np.float32)
        predicted = np.zeros(n_local, dtype=bool)
        pending = []
        for images, rows in self._batches():
            x = normalizer(images)
            with self.device.autocast():
                logits = model(x)
            decoded = model.decode(logits) if hasattr(model, "decode") else model.module.decode(logits)
            # results stay on the device until the pass ends: no per-batch host sync
            pending.append((rows, decoded["expr"], decoded["va"]))
        for rows, batch_expr, batch_va in pending:
            positions = rows.numpy() - self.share_start
            expr[positions] = batch_expr.cpu().numpy()
            va[positions] = batch_va.float().cpu().numpy()
            predicted[positions] = True
        model.train(was_training)
        shares = all_gather((expr, va, predicted), self.device)
        return FramePredictions(np.concatenate([s[0] for s in shares]), np.concatenate([s[1] for s in shares]),
                                np.concatenate([s[2] for s in shares]))
