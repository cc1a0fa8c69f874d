"""Torch datasets over a sample table: face crops per frame, windows of crops per video.

* :class:`FrameDataset`: one face crop and its labels per item (the CNN stages).
* :class:`SequenceDataset`: windows of consecutive frames of one video (the GRU stages on
  images), the windowing of :class:`abawbench.data.windows.Windows` (gap filling, an
  end-aligned last window, a per-frame ``new`` mask so that evaluation writes each
  frame's prediction once).

Both fetch a whole batch at once (``__getitems__``), decode each distinct file once
(:mod:`abawbench.data.decoding`) and draw their augmentation from ``(seed, epoch,
item)`` (:mod:`abawbench.data.draws`). An unreadable image never stops a loader: a frame
item is dropped from its batch, a sequence frame is replaced by its nearest readable
neighbour and flagged. Every item carries its ``part`` (when the table has a ``part``
column) and the label masks ``expr_valid`` / ``va_valid``: split batches and mask losses
with those, never by position or marker. :class:`TableLabels` is the label side, shared
with the feature datasets of :mod:`abawbench.data.sequences`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from abawbench.data import MISSING_EXPR, MISSING_VA, valid_expr, valid_va
from abawbench.data.decoding import crop_and_flip, read_images, resize_shorter_side
from abawbench.data.draws import augmentation_draws, split_keys
from abawbench.data.windows import Windows

__all__ = ["TableLabels", "FrameDataset", "SequenceDataset"]

_AU_COLUMN = re.compile(r"^AU\d+$")


# --------------------------------------------------------------------------------------
# Shared machinery of the datasets
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


class TableLabels:
    """The label side of a sample table, as arrays by table position.

    Attributes: ``expr`` (N,) int64 (-1 missing), ``valence``/``arousal`` (N,) float32
    (-5 missing), ``au`` (N, n_AU) int8 or None, ``expr_ok``/``va_ok`` (N,) bool (the one
    valid-label rule of :mod:`abawbench.data`), ``part_codes`` (N,) int64 codes into
    ``part_names`` (the ``part`` column's categories) or None without that column.
    """

    def __init__(self, table: pd.DataFrame) -> None:
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

    def labels(self, rows: np.ndarray, filled: np.ndarray | None = None) -> dict[str, torch.Tensor]:
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


class _AugmentedImages(TableLabels, Dataset):
    """What the image datasets share: the table's labels, paths and the crop geometry."""

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
        TableLabels.__init__(self, table)

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
        epochs, items = split_keys(keys, self.epoch)
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
            **self.labels(kept),
        )
        return batch


# --------------------------------------------------------------------------------------
# Sequences
# --------------------------------------------------------------------------------------


class SequenceDataset(_AugmentedImages):
    """Windows of ``length`` consecutive frame numbers of one video, as face crops.

    The windows are those of :class:`abawbench.data.windows.Windows` (``self.windows``):
    gaps and frames without a crop show the nearest earlier crop and are ``filled``, the
    last window of a video is end-aligned, ``new`` marks the positions not covered by
    the video's previous window (writing ``prediction[new]`` at ``frame[new]`` covers
    each frame once), a video shorter than ``length`` is padded at the end (``frame`` 0,
    ``new`` and labels missing there, ``filled`` True), ``drop_gapped=True`` drops windows
    with any filled frame (the authors' code). A table with a ``part`` column (e.g.
    ``ConcatParts(build_sequence_parts(index)).table``) is windowed per ``(part, video)``
    with the windows ordered by part, so ``MultiPartBatchSampler(dataset.part_sizes,
    per_part)`` draws windows of every part into one loader.

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
    ``window_part`` () int64                    the window's part code, -1 without parts
                                                (``part`` is -1 on gaps without a row)
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
        if augmentation not in ("independent", "paper-code"):
            raise ValueError(f"augmentation must be 'independent' or 'paper-code', got {augmentation!r}")
        self.augmentation = augmentation
        #: The windowing (window ids are this dataset's item indices).
        self.windows = Windows(table, length, stride, train, drop_gapped)
        self.length, self.stride = self.windows.length, self.windows.stride

    # The windowing's arrays, under the names this class has always had.
    video_names = property(lambda self: self.windows.video_names)
    videos_without_crops = property(lambda self: self.windows.videos_without_crops)
    grid_row = property(lambda self: self.windows.grid_row)
    grid_source = property(lambda self: self.windows.grid_source)
    grid_frame = property(lambda self: self.windows.grid_frame)
    window_video = property(lambda self: self.windows.window_video)
    window_start = property(lambda self: self.windows.window_start)
    window_span = property(lambda self: self.windows.window_span)
    window_new_from = property(lambda self: self.windows.window_new_from)
    part_sizes = property(lambda self: self.windows.part_sizes,
                          doc="``{part: windows}``: the parts mapping of a MultiPartBatchSampler over this dataset")

    def __len__(self) -> int:
        return len(self.window_start)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        return _single(self.__getitems__([key]))

    def __getitems__(self, keys: Sequence[int | tuple[int, int]]) -> dict[str, Any]:
        """A whole batch of windows in one call; each distinct file is decoded once."""
        epochs, windows = split_keys(keys, self.epoch)
        count, length = len(windows), self.length
        steps = np.arange(length)
        at = self.windows.positions(windows)
        rows, source, frame, new = at.row, at.source, at.frame, at.new
        filled = at.filled.copy()  # unreadable files add to it below

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
            window_part=torch.from_numpy(self.windows.window_part[kept]),
            top=torch.from_numpy(top),
            left=torch.from_numpy(left),
            flipped=torch.from_numpy(flip),
            **self.labels(rows[keep], filled[keep]),
        )
        return batch


