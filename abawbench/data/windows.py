"""Windows of consecutive frames over a frame table, and stitching window outputs back
to one value per frame.

The windowing serves every sequence dataset (images: :class:`~abawbench.data.datasets.
SequenceDataset`; cached features: :class:`~abawbench.data.sequences.
FeatureSequenceDataset`) and the whole-video inference of the GRU stages. It knows
nothing of images, features or labels: it maps window ids to table rows.

The rules (the authors' code, with the gaps and the last frames handled):

* rows are grouped by video (by ``(part, video)`` when the table has a ``part`` column,
  so one table can hold the EXPR and VA sequence parts, which share videos) and ordered
  by ``frame``; a group spans frame numbers ``min..max`` of its rows, all of them on a
  dense *grid* (one grid position per frame number, every group laid end to end);
* a frame number with no row, or whose row has ``has_crop`` False, has no crop of its
  own: it shows the nearest earlier crop of its group (the nearest later one before the
  first crop) and is *filled*; a group without any crop gets no window and is listed in
  ``videos_without_crops``;
* windows start at 0, stride, 2·stride, … of each group and the last one is end-aligned
  (starts at ``n - length``) so every frame is covered; ``new`` marks the positions the
  group's previous window did not cover. A group shorter than ``length`` gives one window
  padded at the end (positions with ``inside`` False repeat the last frame; frame 0 and
  no row there);
* ``drop_gapped=True`` drops windows with any filled frame (the authors' code), at the
  price of frames no window covers.

Evaluation uses stride = length, so windows overlap only at each group's end (the
end-aligned window). :class:`Stitcher` turns per-window, per-step outputs into exactly
one value per grid frame by averaging every window position that covers the frame
(padding ignored); it never shifts frames (method-from-code.md §7.5: the authors' test
writer flattened frame ids time-major and predictions batch-major).

Everything is vectorised over rows, windows and batch positions; nothing loops over
frames or videos.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["Windows", "WindowPositions", "Stitcher", "StitchedVideo", "stitch"]


@dataclass(frozen=True)
class WindowPositions:
    """Per (window, step) facts of a batch of ``B`` windows of length ``L``; all (B, L).

    ==========  =======  =================================================================
    ``grid``    int64    grid position (padding repeats the window's last frame)
    ``row``     int64    table position of the frame's own row, -1 none (gap, padding)
    ``source``  int64    table position of the row whose image/feature is shown
    ``filled``  bool     the shown image is not the frame's own crop (gap, no crop,
                         padding)
    ``frame``   int64    frame number, 0 on padding
    ``inside``  bool     a real frame of the video (False on short-video padding)
    ``new``     bool     the first window of the group to cover this frame
    ==========  =======  =================================================================
    """

    grid: np.ndarray
    row: np.ndarray
    source: np.ndarray
    filled: np.ndarray
    frame: np.ndarray
    inside: np.ndarray
    new: np.ndarray


class Windows:
    """The windows of a frame table (rules in the module docstring).

    Args:
        table: rows with ``video`` and ``frame`` (int), optionally ``has_crop`` (bool,
            default all True) and ``part`` (windows then group by ``(part, video)``).
        length: L, frames per window.
        stride: step between window starts, 1..L; default L // 2 when ``train``, else L.
        train: only chooses the default stride.
        drop_gapped: drop windows holding a filled frame.

    Attributes (G groups, W windows, n_grid grid positions):
        grid_row: (n_grid,) int64 table position of each frame's row, -1 none.
        grid_source: (n_grid,) int64 table position of the row shown there.
        grid_frame: (n_grid,) int64 frame numbers.
        grid_group: (n_grid,) int64 group of each grid position.
        group_video: (G,) int64 index into ``video_names``.
        group_part: (G,) int64 part code (index into ``part_names``), -1 without parts.
        group_offset, group_length: (G,) int64 first grid position and frame count.
        window_video: (W,) int64 index into ``video_names``.
        window_part: (W,) int64 part code, -1 without parts.
        window_group: (W,) int64.
        window_start: (W,) int64 grid position of the first frame.
        window_span: (W,) int64 real frames in the window (< L only for short groups).
        window_new_from: (W,) int64 first step not covered by the group's previous window.
        video_names: (n_videos,) object, all videos of the table, sorted.
        part_names: the ``part`` column's categories (empty without one).
        videos_without_crops: names of the groups that got no window, in group order.
    """

    def __init__(
        self,
        table: pd.DataFrame,
        length: int = 32,
        stride: int | None = None,
        train: bool = True,
        drop_gapped: bool = False,
    ) -> None:
        self.length = int(length)
        if self.length < 1:
            raise ValueError(f"length must be >= 1, got {length}")
        self.stride = int(stride if stride is not None else (self.length // 2 if train else self.length))
        if not 1 <= self.stride <= self.length:
            raise ValueError(f"stride must be in 1..length ({self.length}), got {self.stride}")
        self.drop_gapped = bool(drop_gapped)
        self._build(table)

    # ------------------------------------------------------------------ construction

    def _build(self, table: pd.DataFrame) -> None:
        n_rows = len(table)
        frames = np.asarray(table["frame"], dtype=np.int64)
        has_crop = np.asarray(table["has_crop"], dtype=bool) if "has_crop" in table else np.ones(n_rows, bool)
        video_codes, video_names = pd.factorize(table["video"].astype(str).to_numpy(), sort=True)
        self.video_names = np.asarray(video_names, dtype=object)
        if "part" in table:
            parts = table["part"]
            if not isinstance(parts.dtype, pd.CategoricalDtype):
                parts = parts.astype(str).astype("category")
            self.part_names: tuple[str, ...] = tuple(str(c) for c in parts.cat.categories)
            part_codes = parts.cat.codes.to_numpy().astype(np.int64)
        else:
            self.part_names = ()
            part_codes = np.full(n_rows, -1, dtype=np.int64)

        # Rows sorted by (part, video, frame): each group is a run of the sorted rows.
        order = np.lexsort((frames, video_codes, part_codes))
        sorted_part, sorted_video, sorted_frame = part_codes[order], video_codes[order], frames[order]
        starts_group = np.ones(n_rows, dtype=bool)
        starts_group[1:] = (np.diff(sorted_part) != 0) | (np.diff(sorted_video) != 0)
        if np.any(~starts_group[1:] & (np.diff(sorted_frame) == 0)):
            raise ValueError("a video has the same frame number twice in the table")
        row_group = np.cumsum(starts_group) - 1  # (n_rows,) group of each sorted row
        first_row = np.flatnonzero(starts_group)
        last_row = np.append(first_row[1:], n_rows) - 1
        first_frame, last_frame = sorted_frame[first_row], sorted_frame[last_row]
        crops_in_group = np.bincount(row_group, weights=has_crop[order], minlength=len(first_row))

        # Groups without any crop get no grid and no window.
        kept = crops_in_group > 0
        self.videos_without_crops: list[str] = [str(v) for v in self.video_names[sorted_video[first_row[~kept]]]]
        new_code = np.cumsum(kept) - 1  # old group -> kept group
        self.group_video = sorted_video[first_row[kept]]
        self.group_part = sorted_part[first_row[kept]]
        self.group_length = (last_frame - first_frame + 1)[kept]
        self.group_offset = np.cumsum(self.group_length) - self.group_length
        group_first = first_frame[kept]
        n_grid = int(self.group_length.sum())

        # Dense grid: scatter every kept row to offset[group] + frame - first frame.
        self.grid_group = np.repeat(np.arange(len(self.group_length), dtype=np.int64), self.group_length)
        step_in_group = np.arange(n_grid, dtype=np.int64) - self.group_offset[self.grid_group]
        self.grid_frame = group_first[self.grid_group] + step_in_group
        self.grid_row = np.full(n_grid, -1, dtype=np.int64)
        row_kept = kept[row_group]
        g = new_code[row_group[row_kept]]
        self.grid_row[self.group_offset[g] + sorted_frame[row_kept] - group_first[g]] = order[row_kept]
        available = self.grid_row >= 0
        available[available] = has_crop[self.grid_row[available]]

        # Forward fill within each group: the last available position at or before each
        # one; positions before the group's first crop take that first crop.
        position = np.arange(n_grid, dtype=np.int64)
        last_seen = np.maximum.accumulate(np.where(available, position, -1)) if n_grid else position
        if n_grid:
            first_available = np.minimum.reduceat(np.where(available, position, n_grid), self.group_offset)
            group_start = self.group_offset[self.grid_group]
            last_seen = np.where(last_seen >= group_start, last_seen, first_available[self.grid_group])
        self.grid_source = self.grid_row[last_seen] if n_grid else self.grid_row.copy()
        self._build_windows(available)

    def _build_windows(self, available: np.ndarray) -> None:
        L, stride, n = self.length, self.stride, self.group_length
        # Starts 0, stride, ... up to n - L, then one end-aligned start if frames remain.
        regular = np.maximum(n - L, 0) // stride + 1
        extra = ((regular - 1) * stride + L < n).astype(np.int64)
        count = regular + extra
        group = np.repeat(np.arange(len(n), dtype=np.int64), count)
        j = np.arange(int(count.sum()), dtype=np.int64) - np.repeat(np.cumsum(count) - count, count)
        start = np.where(j < regular[group], j * stride, n[group] - L)
        if self.drop_gapped:
            gaps_before = np.concatenate([[0], np.cumsum(~available)])
            begin = self.group_offset[group] + start
            end = self.group_offset[group] + np.minimum(start + L, n[group])
            clean = gaps_before[end] == gaps_before[begin]
            group, start = group[clean], start[clean]
        # "new" from the previous (kept) window of the same group: a frame after a
        # dropped window still gets written by the next kept one.
        first_of_group = np.ones(len(start), dtype=bool)
        first_of_group[1:] = group[1:] != group[:-1]
        previous_end = np.concatenate([[0], start[:-1] + L])
        self.window_new_from = np.where(first_of_group, 0, np.maximum(previous_end - start, 0)).astype(np.int64)
        self.window_group = group
        self.window_start = self.group_offset[group] + start
        self.window_span = np.minimum(n[group] - start, L).astype(np.int64)
        self.window_video = self.group_video[group]
        self.window_part = self.group_part[group]

    # ------------------------------------------------------------------ queries

    def __len__(self) -> int:
        return len(self.window_start)

    @property
    def n_grid(self) -> int:
        return len(self.grid_frame)

    @property
    def part_sizes(self) -> dict[str, int]:
        """``{part: number of windows}`` in window-id order (windows are ordered by part
        code): the ``parts`` mapping of :class:`~abawbench.data.mixing.
        MultiPartBatchSampler`, whose global indices are then these window ids. Every
        part present in the table's rows is listed, even with no window."""
        present = np.unique(self.group_part)
        counts = np.bincount(self.window_part[self.window_part >= 0], minlength=len(self.part_names))
        return {self.part_names[c]: int(counts[c]) for c in present if c >= 0}

    def positions(self, window_ids: Any) -> WindowPositions:
        """The (B, L) facts of windows ``window_ids`` ((B,) ints); see
        :class:`WindowPositions`."""
        ids = np.asarray(window_ids, dtype=np.int64).reshape(-1)
        if ids.size and (ids.min() < 0 or ids.max() >= len(self)):
            raise IndexError(f"window id outside 0..{len(self) - 1}")
        steps = np.arange(self.length, dtype=np.int64)
        span = self.window_span[ids]
        inside = steps[None, :] < span[:, None]
        # Padding steps point at the window's last real frame (safe to gather from).
        grid = self.window_start[ids][:, None] + np.minimum(steps[None, :], span[:, None] - 1)
        row = np.where(inside, self.grid_row[grid], -1)
        source = self.grid_source[grid]
        return WindowPositions(
            grid=grid,
            row=row,
            source=source,
            filled=(source != row) | ~inside,
            frame=np.where(inside, self.grid_frame[grid], 0),
            inside=inside,
            new=inside & (steps[None, :] >= self.window_new_from[ids][:, None]),
        )


# --------------------------------------------------------------------------------------
# Stitching
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StitchedVideo:
    """One value per frame of a video (n = its frame count on the grid).

    ==========  ============  ==============================================================
    ``frames``  (n,) int64    frame numbers, consecutive from the video's first to its last
    ``values``  (n, K) float  mean of the window outputs covering the frame; NaN where no
                              window covered it (only with ``drop_gapped``)
    ``count``   (n,) int64    window positions averaged
    ``filled``  (n,) bool     the frame had no own crop (its input was a neighbour's):
                              callers fill or mark it
    ``rows``    (n,) int64    table position of the frame's row, -1 none
    ==========  ============  ==============================================================
    """

    frames: np.ndarray
    values: np.ndarray
    count: np.ndarray
    filled: np.ndarray
    rows: np.ndarray


def _as_numpy(values: Any) -> np.ndarray:
    if hasattr(values, "detach"):  # a torch tensor, possibly on a GPU
        values = values.detach().to("cpu").float().numpy()
    return np.asarray(values)


class Stitcher:
    """Accumulates per-window outputs batch by batch into one value per grid frame.

    ``add(window_ids, outputs)`` with (B,) window ids and (B, L, K) outputs (numpy or
    torch, any device) sums each real (``inside``) position into its grid frame and
    counts it; padding positions are ignored. :meth:`result` divides sum by count.
    Sums are float64, so averaging a few overlapping windows is exact to float32.
    """

    def __init__(self, windows: Windows, width: int) -> None:
        self.windows = windows
        self.width = int(width)
        self.sums = np.zeros((windows.n_grid, self.width), dtype=np.float64)
        self.count = np.zeros(windows.n_grid, dtype=np.int64)

    def add(self, window_ids: Any, outputs: Any) -> Stitcher:
        ids = _as_numpy(window_ids).astype(np.int64).reshape(-1)
        values = _as_numpy(outputs)
        if values.ndim == 2:
            values = values[..., None]
        expected = (len(ids), self.windows.length, self.width)
        if values.shape != expected:
            raise ValueError(f"outputs must be (B, L, K) = {expected}, got {values.shape}")
        at = self.windows.positions(ids)
        grid = at.grid[at.inside]  # (P,) every real position of the batch
        np.add.at(self.sums, grid, values[at.inside].astype(np.float64))
        self.count += np.bincount(grid, minlength=self.windows.n_grid)
        return self

    def grid_values(self, dtype: Any = np.float32) -> np.ndarray:
        """(n_grid, K) means per grid frame, NaN where nothing was added."""
        with np.errstate(invalid="ignore", divide="ignore"):
            means = self.sums / self.count[:, None]
        return means.astype(dtype)

    def result(self, dtype: Any = np.float32) -> dict[str, StitchedVideo]:
        """``{video: StitchedVideo}`` for every video that has windows.

        Raises ValueError when one video forms several groups (a table with parts):
        stitch windows built over one part's, or an evaluation, table.
        """
        windows = self.windows
        names = windows.video_names[windows.group_video]
        if len(set(names)) != len(names):
            raise ValueError("a video appears in several groups (parts): stitch the windows of one part only")
        values = self.grid_values(dtype)
        filled = windows.grid_source != windows.grid_row
        out = {}
        for name, lo, n in zip(names, windows.group_offset, windows.group_length):
            span = slice(int(lo), int(lo + n))
            out[str(name)] = StitchedVideo(windows.grid_frame[span], values[span], self.count[span],
                                           filled[span], windows.grid_row[span])
        return out


def stitch(windows: Windows, window_ids: Any, outputs: Any, dtype: Any = np.float32) -> dict[str, StitchedVideo]:
    """:class:`Stitcher` in one call: (W',) window ids and their (W', L, K) outputs →
    ``{video: StitchedVideo}``."""
    width = _as_numpy(outputs).shape[-1] if _as_numpy(outputs).ndim == 3 else 1
    return Stitcher(windows, width).add(window_ids, outputs).result(dtype)
