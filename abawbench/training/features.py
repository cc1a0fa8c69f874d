"""The ``features`` stage: the frozen CNN student's per-frame head features, computed
once per run and kept in the run folder for the GRU stages.

Layout of ``RUN/features/`` (written in a hidden sibling and renamed into place, so a
killed extraction leaves the previous cache or none)::

    features.npy   (views, N, 2, D) float16, memory-mapped when read: row i is row i of
                   the Aff-Wild2 index (its frame table, in index order); head 0 the EXPR
                   head's feature, head 1 the VA head's (D = 128 in the paper); view 0 is
                   the evaluation transform (resize + centre crop), views 1.. augmented
                   (random offset + flip, an independent draw per view and frame); rows
                   without a crop stay 0 and are never read as a frame's own feature
    frames.npz     the frame index beside it: ``videos`` (names), ``video`` (N,) int32
                   codes into them, ``frame`` (N,) int32 frame numbers; no pickle
    meta.json      written last: the student checkpoint's SHA-256, shapes, views, the
                   index's signature, the seconds it took

The cache is valid while the student checkpoint, the index and the view count are the
ones it was made from; otherwise the stage extracts again. Under DDP each rank computes
a contiguous share of the frames into the same memory-mapped file.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from abawbench import atomic
from abawbench.models.multitask import HEADS
from abawbench.models.weights import file_sha256  # noqa: F401 - the checkpoint's identity, used by the stages

FOLDER = "features"
SCHEMA = 1


def index_signature(index: pd.DataFrame) -> str:
    """SHA-256 of the index's (video, frame, has_crop) columns: the rows the cache is aligned to."""
    digest = hashlib.sha256()
    digest.update("\n".join(index["video"].astype(str).tolist()).encode())
    digest.update(np.ascontiguousarray(index["frame"].to_numpy(np.int64)).tobytes())
    digest.update(np.ascontiguousarray(index["has_crop"].to_numpy(bool)).tobytes())
    return digest.hexdigest()


@dataclass
class FeatureCache:
    """A finished cache: ``features`` (views, N, 2, D) float16 memmap and its ``meta``."""

    path: Path
    features: np.ndarray
    meta: dict[str, Any]

    @property
    def views(self) -> int:
        return int(self.features.shape[0])


def read_cache(run_path: Path) -> FeatureCache | None:
    """The run's feature cache, or None when there is none (or it is incomplete)."""
    folder = Path(run_path) / FOLDER
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        features = np.load(folder / "features.npy", mmap_mode="r")
    except (OSError, ValueError):
        return None
    if list(features.shape) != meta.get("shape") or features.dtype != np.float16:
        return None
    return FeatureCache(folder, features, meta)


def cache_problem(cache: FeatureCache | None, checkpoint_sha: str, signature: str, views: int) -> str | None:
    """Why ``cache`` cannot serve this run (None: it can)."""
    if cache is None:
        return "no feature cache"
    meta = cache.meta
    if meta.get("schema") != SCHEMA:
        return "the cache was written by another version"
    if meta.get("checkpoint_sha256") != checkpoint_sha:
        return "the CNN student checkpoint changed"
    if meta.get("index_signature") != signature:
        return "the Aff-Wild2 frames changed"
    if cache.views != views:
        return f"{cache.views} view(s) cached, {views} wanted"
    return None


def _view_dataset(table: pd.DataFrame, view: int, size: int, scale: float, seed: int):
    from abawbench.data.loading import FrameDataset

    # view 0: the evaluation transform; view v >= 1: the training augmentation of "epoch" v - 1
    dataset = FrameDataset(table, train=view > 0, seed=seed, size=size, scale=scale)
    if view > 0:
        dataset.set_epoch(view - 1)
    return dataset


@torch.no_grad()
def _extract_share(model, normalizer, table: pd.DataFrame, share: np.ndarray, out: np.ndarray, views: int,
                   device, size: int, scale: float, batch_size: int, workers: int, seed: int, progress) -> int:
    """Fill ``out[:, share]`` with the features of the table rows ``share``; returns the
    images processed. ``progress(n)`` is called with the images of each batch."""
    from abawbench.data.loading import make_loader

    local = table.iloc[share]
    local.attrs = dict(table.attrs)
    images = 0
    for view in range(views):
        dataset = _view_dataset(local, view, size, scale, seed)
        loader = make_loader(dataset, batch_size, workers=workers, shuffle=False, pin_memory=device.cuda)
        loader.set_epoch(max(view - 1, 0))
        pending = []
        for batch in loader:
            x = normalizer(batch["image"])
            with device.autocast():
                features = model.forward_features(x)
            stacked = torch.stack([features[head] for head in HEADS], dim=1)  # (n, 2, D)
            pending.append((batch["row"], stacked.to(torch.float16)))
            images += len(x)
            if progress is not None:
                progress(len(x))
            if len(pending) >= 16:  # bound device memory; one host read per 16 batches
                _drain(pending, out, view, share)
        _drain(pending, out, view, share)
    return images


def _drain(pending: list, out: np.ndarray, view: int, share: np.ndarray) -> None:
    for rows, values in pending:
        out[view, share[rows.numpy()]] = values.cpu().numpy()
    pending.clear()


def frame_features(model, normalizer, frames: pd.DataFrame, device, *, size: int, scale: float, batch_size: int,
                   workers: int) -> np.ndarray:
    """``(N, 2, D)`` float32 evaluation-view features of the rows of ``frames`` (rows
    without a crop stay 0), in memory: what ``predict`` feeds a GRU stage."""
    width = int(model.heads["expr"].classifier.in_features)
    out = np.zeros((1, len(frames), len(HEADS), width), dtype=np.float32)
    share = np.flatnonzero(frames["has_crop"].to_numpy(bool))
    was_training = model.training
    _extract_share(model.eval(), normalizer, frames, share, out, 1, device, size, scale, batch_size, workers, 0,
                   None)
    model.train(was_training)
    return out[0]


def extract(run_path: Path, model, normalizer, index: pd.DataFrame, device, *, views: int, size: int, scale: float,
            batch_size: int, workers: int, seed: int, checkpoint_sha: str, console=None,
            show_progress: bool = True) -> FeatureCache:
    """Compute and write ``RUN/features/`` (see the module docstring); every rank
    returns the finished cache. ``model`` is the CNN student (eval mode, frozen)."""
    from abawbench.training.device import barrier

    run_path = Path(run_path)
    started = time.perf_counter()
    table = index.reset_index(drop=True)
    table.attrs = dict(index.attrs)
    n, width = len(table), int(model.heads["expr"].classifier.in_features)
    shape = (views, n, len(HEADS), width)
    staging = run_path / f".{FOLDER}.tmp"
    if device.is_main:
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        np.lib.format.open_memmap(staging / "features.npy", mode="w+", dtype=np.float16, shape=shape).flush()
    barrier(device)
    out = np.load(staging / "features.npy", mmap_mode="r+")
    with_crop = np.flatnonzero(table["has_crop"].to_numpy(bool))
    share = np.array_split(with_crop, device.world_size)[device.rank]
    was_training = model.training
    model.eval()
    bar = None
    if show_progress and device.is_main:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        bar = Progress(TextColumn("[bold]features"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                       console=console, transient=False)
        bar.start()
        task = bar.add_task("features", total=len(share) * views)
    try:
        images = _extract_share(model, normalizer, table, share, out, views, device, size, scale, batch_size,
                                workers, seed, (lambda k: bar.advance(task, k)) if bar is not None else None)
    finally:
        if bar is not None:
            bar.stop()
    model.train(was_training)
    out.flush()
    del out
    barrier(device)
    if device.is_main:
        codes, names = pd.factorize(table["video"].astype(str), sort=True)
        with open(staging / "frames.npz", "wb") as stream:
            np.savez(stream, videos=np.asarray(names, dtype=str), video=codes.astype(np.int32),
                     frame=table["frame"].to_numpy(np.int32))
        seconds = time.perf_counter() - started
        meta = {"schema": SCHEMA, "shape": list(shape), "dtype": "float16", "heads": list(HEADS),
                "views": views, "view_0": "evaluation transform", "rows": n, "rows_with_crop": int(len(with_crop)),
                "checkpoint_sha256": checkpoint_sha, "index_signature": index_signature(table),
                "seconds": round(seconds, 2), "images": images * device.world_size,
                "bytes": int(np.prod(shape)) * 2}
        atomic.write_json(staging / "meta.json", meta)
        target = run_path / FOLDER
        if target.exists():
            old = run_path / f".{FOLDER}.old"
            shutil.rmtree(old, ignore_errors=True)
            os.replace(target, old)
            os.replace(staging, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, target)
    barrier(device)
    cache = read_cache(run_path)
    if cache is None:  # pragma: no cover - the rename above just made it
        raise RuntimeError(f"{run_path / FOLDER}: the feature cache was not written")
    return cache
