"""Sequence training data of the GRU stages: the sequence parts of Aff-Wild2, the
evaluation tables, and windows over cached per-frame features.

Sequence parts (the GRU is trained on Aff-Wild2 only, EXPR and VA, method-from-code.md
§1): the ``expr`` part is every frame, with or without a crop, of the videos whose EXPR
split is train; the ``va`` part the same for VA. A frame keeps its primary label; its
*secondary* label (VA on an ``expr`` frame, EXPR on a ``va`` frame) is kept only when
the frame's split of that other track is train too, the rule of
:func:`abawbench.data.mixing.build_parts` for frames: a video that is train for one track
and validation for the other must not leak its validation labels into training.

Both parts go into one table (``ConcatParts(parts).table``) and one dataset; windows
group by ``(part, video)`` (:class:`abawbench.data.windows.Windows`), are ordered by
part, and ``dataset.part_sizes`` is the mapping :class:`~abawbench.data.mixing.
MultiPartBatchSampler` needs to draw windows of every part into each batch. Each item
carries its part code, ``PARTS.index(name)``.

:class:`FeatureSequenceDataset` serves windows of cached features instead of images: a
feature array ``(views, n_rows, heads, D)`` (float16, usually a memory map) holds one
row per Aff-Wild2 index row; view 0 is the evaluation transform, views 1.. augmented
ones. A training window shows one view, drawn from ``(seed, epoch, window)`` like an
image window's crop, so a resumed epoch reproduces it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from abawbench.data import MISSING_EXPR, MISSING_VA, valid_expr, valid_va
from abawbench.data.datasets import TableLabels, _single
from abawbench.data.draws import choose_views, split_keys
from abawbench.data.mixing import OTHER_CLASS, PARTS
from abawbench.data.windows import Windows

__all__ = [
    "SEQUENCE_TRACKS",
    "build_sequence_parts",
    "sequence_split_table",
    "evaluation_windows",
    "FeatureSequenceDataset",
]

#: The tracks the GRU stages train on, in part order.
SEQUENCE_TRACKS = ("expr", "va")
_OTHER_TRACK = {"expr": "va", "va": "expr"}
_INDEX_COLUMNS = ("video", "frame", "path", "expr", "valence", "arousal", "has_crop", "split_expr", "split_va")


def _require_index(index: pd.DataFrame) -> None:
    missing = [c for c in _INDEX_COLUMNS if c not in index.columns]
    if missing:
        raise ValueError(f"the Aff-Wild2 index lacks the column(s) {', '.join(missing)}; expected "
                         f"abawbench.data.affwild2.index(root)'s table with {', '.join(_INDEX_COLUMNS)}")


def _in_split(index: pd.DataFrame, track: str, split: str) -> np.ndarray:
    return np.asarray(index[f"split_{track}"].astype(str) == split)


def _label_rows(index: pd.DataFrame, keep_other: bool) -> dict[str, np.ndarray]:
    """(N,) bool per track: the frame's label of that track is valid (EXPR class 7
    "Other" counts as missing unless ``keep_other``, as in build_parts)."""
    expr = index["expr"].to_numpy()
    return {
        "expr": valid_expr(expr) & (keep_other | (expr < OTHER_CLASS)),
        "va": valid_va(index["valence"].to_numpy(), index["arousal"].to_numpy()),
    }


def _table(index: pd.DataFrame, rows: np.ndarray, keep_expr: np.ndarray, keep_va: np.ndarray,
           part: str | None) -> pd.DataFrame:
    """``index.iloc[rows]`` as a sequence table: contract columns, ``has_crop``, labels
    set missing where not kept, ``feature_row`` = the index position, and ``part``."""
    def take(column: str) -> np.ndarray:
        return index[column].to_numpy()[rows]

    video = index["video"].take(rows).reset_index(drop=True)
    video = video.cat.remove_unused_categories() if isinstance(video.dtype, pd.CategoricalDtype) \
        else video.astype(str).astype("category")
    table = pd.DataFrame({
        "video": video,
        "frame": take("frame").astype(np.int32),
        "path": pd.Series(take("path"), dtype=object),
        "expr": np.where(keep_expr, take("expr"), MISSING_EXPR).astype(np.int8),
        "valence": np.where(keep_va, take("valence"), MISSING_VA).astype(np.float32),
        "arousal": np.where(keep_va, take("arousal"), MISSING_VA).astype(np.float32),
        "has_crop": take("has_crop").astype(bool),
        "feature_row": rows.astype(np.int64),
    })
    if "source" in index:
        table.insert(0, "source", index["source"].take(rows).reset_index(drop=True))
    if part is not None:
        table["part"] = pd.Categorical(np.full(len(table), part, dtype=object), categories=list(PARTS))
        table.attrs["part"] = part
    if "root" in index.attrs:
        table.attrs["root"] = index.attrs["root"]
    return table


def build_sequence_parts(index: pd.DataFrame, share_annotations: bool = True, keep_other: bool = False,
                         tracks: Sequence[str] = SEQUENCE_TRACKS) -> dict[str, pd.DataFrame]:
    """The GRU's training parts ``{"expr": table, "va": table}`` (module docstring).

    Args:
        index: the Aff-Wild2 frame table (:func:`abawbench.data.affwild2.index`), one row
            per frame, in the order the feature cache follows.
        share_annotations: keep the secondary label where the frame's other-track split
            is train; False: the secondary label is always missing.
        keep_other: keep EXPR class 7 "Other" (the method has 7 classes).
        tracks: the parts to build, a subset of ``("expr", "va")``.
    Returns:
        ``{track: table}``: rows = every index row of the track's train videos, in index
        order, with ``video``, ``frame``, ``path``, ``expr`` (int8, -1 missing),
        ``valence``/``arousal`` (float32, -5 missing), ``has_crop``, ``feature_row``
        (int64 index position), ``part`` (categorical over ``PARTS``), ``source`` when
        the index has it; ``attrs["root"]`` from the index.
    """
    _require_index(index)
    unknown = [t for t in tracks if t not in SEQUENCE_TRACKS]
    if unknown:
        raise ValueError(f"sequence parts are {', '.join(SEQUENCE_TRACKS)}; got {', '.join(map(str, unknown))}")
    has_label = _label_rows(index, keep_other)
    train = {track: _in_split(index, track, "train") for track in SEQUENCE_TRACKS}
    parts = {}
    for track in tracks:
        rows = np.flatnonzero(train[track])
        other = _OTHER_TRACK[track]
        # Primary: the track's own label (its split is train on every row here).
        # Secondary: only a train label of the other track, and only when sharing.
        keep = {track: has_label[track][rows],
                other: bool(share_annotations) & has_label[other][rows] & train[other][rows]}
        parts[track] = _table(index, rows, keep["expr"], keep["va"], track)
    return parts


def sequence_split_table(index: pd.DataFrame, track: str, split: str = "validation",
                         keep_other: bool = False) -> pd.DataFrame:
    """Every frame of the videos whose ``track`` split is ``split``, with that track's
    label only (the other set missing) and ``feature_row``; no ``part`` column. The
    table to window with evaluation stride and to stitch back per frame."""
    _require_index(index)
    if track not in SEQUENCE_TRACKS:
        raise ValueError(f"track must be one of {', '.join(SEQUENCE_TRACKS)}, got {track!r}")
    rows = np.flatnonzero(_in_split(index, track, split))
    has_label = _label_rows(index, keep_other)[track][rows]
    none = np.zeros(len(rows), dtype=bool)
    return _table(index, rows, has_label if track == "expr" else none, has_label if track == "va" else none, None)


def evaluation_windows(index: pd.DataFrame, track: str, length: int = 32, split: str = "validation",
                       keep_other: bool = False) -> tuple[pd.DataFrame, Windows]:
    """``(table, windows)``: :func:`sequence_split_table` and its evaluation windows
    (stride = ``length``, the last window of each video end-aligned, no window
    dropped), ready for :class:`abawbench.data.windows.Stitcher`."""
    table = sequence_split_table(index, track, split, keep_other)
    return table, Windows(table, length=length, stride=length, train=False)


class FeatureSequenceDataset(Dataset):
    """Windows over cached per-frame features; the twin of
    :class:`~abawbench.data.datasets.SequenceDataset` without images.

    Args:
        table: frame rows with ``video``, ``frame``, ``feature_row`` (int64 row of
            ``features``), labels, optionally ``has_crop`` and ``part`` (e.g.
            ``ConcatParts(build_sequence_parts(index)).table`` or
            :func:`sequence_split_table`).
        features: (V, n_rows, H, D) array (float16 memory map or any ndarray): view 0 the
            evaluation transform, views 1..V-1 augmented; head 0 EXPR, head 1 VA.
        length, stride, drop_gapped: the windowing (:class:`abawbench.data.windows.
            Windows`); default stride L // 2 for training, L for evaluation.
        train: draw one view per window (from ``train_views``); False shows view 0.
        seed: seeds the view draws (a pure function of ``(seed, epoch, window)``).
        train_views: views a training window may show; default 1..V-1, or (0,) when
            V = 1.

    ``dataset[i]`` (and, with a leading (B,) axis, a batch from :func:`~abawbench.data.
    loading.make_loader`) is a dict:

    ===============  ==================  ==============================================
    ``features``     (L, H, D) float32   features of the frame shown (filled frames: the
                                         neighbour's)
    ``expr``         (L,) int64          -1 missing
    ``valence``      (L,) float32        -5 missing
    ``arousal``      (L,) float32        -5 missing
    ``expr_valid``   (L,) bool           usable EXPR label on the frame's own features
    ``va_valid``     (L,) bool           the same for VA
    ``part``         (L,) int64          part code (``PARTS.index``), -1 none/padding
    ``frame``        (L,) int64          frame numbers, 0 on padding
    ``row``          (L,) int64          table position of the frame's row, -1 none
    ``feature_row``  (L,) int64          ``features`` row shown
    ``filled``       (L,) bool           features are not the frame's own
    ``new``          (L,) bool           first window of the video to cover the frame
    ``video``        str
    ``window``       () int64            window id (for stitching)
    ``window_part``  () int64            the window's part code (``part`` is -1 on
                                         gaps without a row; split batches by this)
    ``view``         () int64            the view shown by the whole window
    ===============  ==================  ==============================================

    A batch also has ``unreadable`` (always empty) and ``dropped`` (0), as the image
    datasets' do. Gathering is a single fancy index per batch; ``workers=0`` is usually
    fastest.
    """

    def __init__(
        self,
        table: pd.DataFrame,
        features: Any,
        length: int = 32,
        stride: int | None = None,
        train: bool = True,
        seed: int = 0,
        drop_gapped: bool = False,
        train_views: Sequence[int] | None = None,
    ) -> None:
        if "feature_row" not in table:
            raise ValueError("the table has no feature_row column (the row of each frame in the feature array)")
        if getattr(features, "ndim", None) != 4:
            shape = getattr(features, "shape", None)
            raise ValueError(f"features must be (views, rows, heads, dim), got shape {shape}")
        self.features = features
        self.n_views = int(features.shape[0])
        self.feature_row = np.asarray(table["feature_row"], dtype=np.int64)
        if len(self.feature_row) and (self.feature_row.min() < 0 or self.feature_row.max() >= features.shape[1]):
            raise ValueError(f"feature_row outside 0..{features.shape[1] - 1} (the feature array's rows)")
        if train_views is None:
            train_views = range(1, self.n_views) if self.n_views > 1 else (0,)
        self.train_views = np.asarray(list(train_views), dtype=np.int64)
        if self.train_views.size == 0 or self.train_views.min() < 0 or self.train_views.max() >= self.n_views:
            raise ValueError(f"train_views must be non-empty views in 0..{self.n_views - 1}, got {list(train_views)}")
        self.train = bool(train)
        self.seed = int(seed)
        self.epoch = 0
        self.labels = TableLabels(table)
        self.windows = Windows(table, length, stride, train, drop_gapped)
        self.length, self.stride = self.windows.length, self.windows.stride

    def __len__(self) -> int:
        return len(self.windows)

    @property
    def part_sizes(self) -> dict[str, int]:
        """``{part: windows}`` in window order: ``MultiPartBatchSampler(dataset.part_sizes,
        per_part, steps, seed, balanced=False)`` draws window ids of every part."""
        return self.windows.part_sizes

    def set_epoch(self, epoch: int) -> None:
        """Epoch for bare-index access; :class:`~abawbench.data.loading.FaceLoader` tags
        keys itself."""
        self.epoch = int(epoch)

    def views_of(self, keys: Sequence[Any]) -> np.ndarray:
        """(B,) int64 view each window of ``keys`` shows (0 when not training)."""
        epochs, windows = split_keys(keys, self.epoch)
        return self._views(epochs, windows)

    def _views(self, epochs: np.ndarray, windows: np.ndarray) -> np.ndarray:
        if not self.train:
            return np.zeros(len(windows), dtype=np.int64)
        return choose_views(self.seed, epochs, windows, self.train_views)

    def __getitem__(self, key: int | tuple[int, ...]) -> dict[str, Any]:
        return _single(self.__getitems__([key]))

    def __getitems__(self, keys: Sequence[int | tuple[int, ...]]) -> dict[str, Any]:
        """A whole batch of windows in one call: one gather from the feature array."""
        epochs, windows = split_keys(keys, self.epoch)
        at = self.windows.positions(windows)
        views = self._views(epochs, windows)
        shown = self.feature_row[at.source]  # (B, L)
        features = np.asarray(self.features[views[:, None], shown], dtype=np.float32)  # (B, L, H, D)
        return {
            "unreadable": [],
            "dropped": 0,
            "features": torch.from_numpy(features),
            "frame": torch.from_numpy(at.frame),
            "row": torch.from_numpy(at.row),
            "feature_row": torch.from_numpy(shown),
            "filled": torch.from_numpy(at.filled),
            "new": torch.from_numpy(at.new),
            "video": [str(v) for v in self.windows.video_names[self.windows.window_video[windows]]],
            "window": torch.from_numpy(windows),
            "window_part": torch.from_numpy(self.windows.window_part[windows]),
            "view": torch.from_numpy(views),
            **self.labels.labels(at.row, at.filled),
        }
