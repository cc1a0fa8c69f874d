"""Loaders over the datasets of :mod:`abawbench.data` (and the home of their names).

This module holds the loader: :class:`FaceLoader` (epoch-tagged keys, resume inside a
pass, counts of unreadable images), :func:`make_loader` and :func:`collate_batch`. The
pieces it used to hold live in their own modules and are re-exported here, so
``from abawbench.data.loading import X`` keeps working:

* :mod:`abawbench.data.normalization`: uint8 → float on the device
  (:func:`normalize_on_device`, :class:`InputNormalizer`, the presets);
* :mod:`abawbench.data.decoding`: reading, decoding, resizing, cropping;
* :mod:`abawbench.data.draws`: the per-item random draws;
* :mod:`abawbench.data.windows`: windows over videos and stitching their outputs;
* :mod:`abawbench.data.datasets`: :class:`FrameDataset`, :class:`SequenceDataset`;
* :mod:`abawbench.data.sequences`: sequence parts and :class:`FeatureSequenceDataset`.

The input path is built for throughput on a small CPU budget: images stay ``uint8`` from
decoding to the device; workers fetch a whole batch at once (``__getitems__``);
augmentation draws are a pure function of ``(seed, epoch, item)``, so they do not depend
on the number of workers, their order or the batch size; an unreadable image never stops
a loader (a frame item is dropped, a sequence frame replaced by a neighbour; both counted
on the :class:`FaceLoader`). Since a batch can therefore be shorter than the sampler's
index list, every item carries its ``part`` and the label masks ``expr_valid`` /
``va_valid``: split batches and mask losses with those, never by position or marker.

Augmentation (paper and authors' code): resize the shorter side to ``int(1.2·size)``,
then a random ``size``×``size`` crop (a random translation of up to ±11 px at 112) and a
horizontal flip with probability ½; evaluation: the same resize and a centre crop.
"""

from __future__ import annotations

import functools
import os
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler, Sampler, SequentialSampler, get_worker_info

from abawbench.data.datasets import FrameDataset, SequenceDataset, TableLabels
from abawbench.data.decoding import crop_and_flip, read_image, read_images, resize_shorter_side
from abawbench.data.draws import augmentation_draws, choose_views, split_keys
from abawbench.data.normalization import (
    FERPLUS,
    IMAGENET,
    NORMALIZATIONS,
    UNIT,
    InputNormalizer,
    Normalization,
    normalize_on_device,
)
from abawbench.data.sequences import (
    FeatureSequenceDataset,
    build_sequence_parts,
    evaluation_windows,
    sequence_split_table,
)
from abawbench.data.windows import Stitcher, StitchedVideo, WindowPositions, Windows, stitch

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
    "choose_views",
    "split_keys",
    "TableLabels",
    "FrameDataset",
    "SequenceDataset",
    "FeatureSequenceDataset",
    "build_sequence_parts",
    "sequence_split_table",
    "evaluation_windows",
    "Windows",
    "WindowPositions",
    "Stitcher",
    "StitchedVideo",
    "stitch",
    "FaceLoader",
    "collate_batch",
    "make_loader",
]

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
    dataset: FrameDataset | SequenceDataset | FeatureSequenceDataset,
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
