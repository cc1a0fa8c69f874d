"""Windows, stitching, sequence parts and the cached-feature sequence dataset.

Expectations are derived apart from the code under test: a frame-by-frame reference of
the windowing rules written here with plain loops, hand-worked stitching cases, and the
labels and splits read straight from the index-like table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from abawbench.data.loading import (
    FeatureSequenceDataset,
    SequenceDataset,
    Stitcher,
    Windows,
    build_sequence_parts,
    evaluation_windows,
    make_loader,
    stitch,
)
from abawbench.data.mixing import PARTS, ConcatParts, MultiPartBatchSampler
from examples_budget import examples

# --------------------------------------------------------------------------------------
# A frame-by-frame reference of the windowing rules (loops, no vectorisation)
# --------------------------------------------------------------------------------------


def reference_windows(table: pd.DataFrame, length: int, stride: int, drop_gapped: bool) -> dict[str, list]:
    """Per group (part, video) in (part code, video name) order: grid rows, shown rows,
    frames, and per window (start on the grid, span, first new step)."""
    has_crop = table["has_crop"].to_numpy() if "has_crop" in table else np.ones(len(table), bool)
    if "part" in table:
        part_code = table["part"].cat.codes.to_numpy()
    else:
        part_code = np.full(len(table), -1)
    groups: dict[tuple[int, str], dict[int, int]] = {}
    for position, (video, frame) in enumerate(zip(table["video"].astype(str), table["frame"])):
        groups.setdefault((int(part_code[position]), video), {})[int(frame)] = position
    out = {k: [] for k in ("grid_row", "grid_source", "grid_frame", "window_start", "window_span", "window_new_from")}
    offset = 0
    for key in sorted(groups):
        rows = groups[key]
        first, last = min(rows), max(rows)
        frames = list(range(first, last + 1))
        own = [rows.get(f, -1) for f in frames]
        available = [r >= 0 and bool(has_crop[r]) for r in own]
        if not any(available):
            continue
        shown = []
        for i in range(len(frames)):
            earlier = [j for j in range(i + 1) if available[j]]
            shown.append(own[earlier[-1]] if earlier else own[available.index(True)])
        n = len(frames)
        starts, s = [], 0
        while s <= max(n - length, 0):
            starts.append(s)
            s += stride
        if starts[-1] + length < n:
            starts.append(n - length)
        if drop_gapped:
            starts = [s for s in starts if all(available[s:min(s + length, n)])]
        previous = None
        for s in starts:
            out["window_start"].append(offset + s)
            out["window_span"].append(min(n - s, length))
            out["window_new_from"].append(0 if previous is None else max(previous + length - s, 0))
            previous = s
        out["grid_row"] += own
        out["grid_source"] += shown
        out["grid_frame"] += frames
        offset += n
    return out


def random_table(rng: np.random.Generator, parts: bool) -> pd.DataFrame:
    pieces = []
    for v in range(rng.integers(1, 5)):
        n = int(rng.integers(1, 40))
        frames = np.arange(1, n + 1) + int(rng.integers(0, 3))
        keep = rng.random(n) > 0.2  # missing rows
        keep[rng.integers(0, n)] = True
        frames = frames[keep]
        piece = pd.DataFrame({"video": f"v{v}", "frame": frames, "has_crop": rng.random(len(frames)) > 0.25})
        if parts:
            for part in rng.choice(["expr", "va"], size=rng.integers(1, 3), replace=False):
                pieces.append(piece.assign(part=part))
        else:
            pieces.append(piece)
    table = pd.concat(pieces, ignore_index=True).sample(frac=1.0, random_state=int(rng.integers(1 << 30)))
    table = table.reset_index(drop=True)
    if parts:
        table["part"] = pd.Categorical(table["part"], categories=list(PARTS))
    return table


@settings(max_examples=examples(120), deadline=None)
@given(seed=st.integers(0, 2**32 - 1), length=st.integers(1, 12), stride_fraction=st.floats(0.01, 1.0),
       drop_gapped=st.booleans(), parts=st.booleans())
def test_windows_follow_the_rules_frame_by_frame(seed, length, stride_fraction, drop_gapped, parts):
    table = random_table(np.random.default_rng(seed), parts)
    stride = max(1, int(round(stride_fraction * length)))
    windows = Windows(table, length=length, stride=stride, drop_gapped=drop_gapped)
    expected = reference_windows(table, length, stride, drop_gapped)
    for name, values in expected.items():
        np.testing.assert_array_equal(getattr(windows, name), np.asarray(values, dtype=np.int64), err_msg=name)


def test_windows_are_ordered_by_part_and_part_sizes_count_them():
    table = pd.DataFrame({
        "video": ["a"] * 40 + ["b"] * 10 + ["a"] * 40,
        "frame": list(range(1, 41)) + list(range(1, 11)) + list(range(1, 41)),
        "part": pd.Categorical(["va"] * 50 + ["expr"] * 40, categories=list(PARTS)),
    })
    windows = Windows(table, length=16, stride=8)
    # expr/a: 40 frames -> starts 0, 8, 16, 24 (24+16 = 40, no end-aligned extra) = 4
    # va/a: 4 windows, va/b: 10 frames -> one padded window
    assert windows.part_sizes == {"expr": 4, "va": 5}
    np.testing.assert_array_equal(windows.window_part, [0] * 4 + [1] * 5)
    assert list(windows.video_names[windows.window_video]) == ["a"] * 4 + ["a"] * 4 + ["b"]


# --------------------------------------------------------------------------------------
# Stitching
# --------------------------------------------------------------------------------------


def gapped_table() -> tuple[pd.DataFrame, dict[str, int]]:
    """Videos shorter than (5), equal to (8) and longer than (21) one window of 8, with a
    missing row (frame 3 of 'long') and frames without a crop (2 of 'short', 10-11 of
    'long')."""
    lengths = {"short": 5, "equal": 8, "long": 21}
    rows = []
    for video, n in lengths.items():
        for frame in range(1, n + 1):
            if (video, frame) == ("long", 3):
                continue
            no_crop = (video, frame) in {("short", 2), ("long", 10), ("long", 11)}
            rows.append((video, frame, not no_crop))
    table = pd.DataFrame(rows, columns=["video", "frame", "has_crop"]).sample(frac=1.0, random_state=3)
    return table.reset_index(drop=True), lengths


VIDEO_ID = {"short": 1, "equal": 2, "long": 3}


def test_stitching_recovers_a_per_frame_signal_exactly():
    table, lengths = gapped_table()
    windows = Windows(table, length=8, train=False)  # evaluation: stride 8, end-aligned last
    assert windows.stride == 8
    ids = np.random.default_rng(0).permutation(len(windows))
    stitcher = Stitcher(windows, width=2)
    for batch in np.array_split(ids, 3):  # batch by batch, out of order
        at = windows.positions(batch)
        video_id = np.array([VIDEO_ID[str(windows.video_names[windows.window_video[w]])] for w in batch])
        signal = 1000.0 * video_id[:, None] + at.frame
        outputs = np.stack([signal, -signal], axis=-1)
        outputs[~at.inside] = 1e9  # padding must be ignored
        stitcher.add(torch.from_numpy(batch), torch.from_numpy(outputs))
    result = stitcher.result()
    assert set(result) == set(lengths)
    for video, n in lengths.items():
        got = result[video]
        frames = np.arange(1, n + 1)
        np.testing.assert_array_equal(got.frames, frames)
        np.testing.assert_array_equal(got.values[:, 0], 1000.0 * VIDEO_ID[video] + frames)
        np.testing.assert_array_equal(got.values[:, 1], -(1000.0 * VIDEO_ID[video] + frames))
    # filled: frames without their own crop (missing row or has_crop False)
    assert np.flatnonzero(result["short"].filled).tolist() == [1]
    assert np.flatnonzero(result["long"].filled).tolist() == [2, 9, 10]
    assert not result["equal"].filled.any()
    assert result["long"].rows[2] == -1
    # 'long' (21 frames): windows at 0, 8 and 13 (end-aligned): frames 14-16 twice
    np.testing.assert_array_equal(result["long"].count, [1] * 13 + [2] * 3 + [1] * 5)
    np.testing.assert_array_equal(result["short"].count, [1] * 5)


def test_stitching_averages_where_windows_overlap():
    table, _ = gapped_table()
    windows = Windows(table, length=8, train=False)
    long = [w for w in range(len(windows)) if windows.video_names[windows.window_video[w]] == "long"]
    starts = windows.window_start[long] - windows.window_start[long[0]]
    assert starts.tolist() == [0, 8, 13]
    # each window outputs one constant: 10, 20, 40
    outputs = np.repeat(np.array([10.0, 20.0, 40.0])[:, None, None], 8, axis=1)
    got = stitch(windows, long, outputs)["long"].values[:, 0]
    # hand-computed: frames 1-8 -> 10, 9-13 -> 20, 14-16 -> (20 + 40) / 2, 17-21 -> 40
    np.testing.assert_array_equal(got, [10] * 8 + [20] * 5 + [30] * 3 + [40] * 5)


def test_frames_no_window_covers_are_nan_and_counted_zero():
    table = pd.DataFrame({"video": "v", "frame": np.arange(1, 13), "has_crop": np.arange(1, 13) != 10})
    windows = Windows(table, length=4, train=False, drop_gapped=True)  # drops the window 9-12
    got = stitch(windows, np.arange(len(windows)), np.ones((len(windows), 4, 1)))["v"]
    assert np.isnan(got.values[8:, 0]).all() and not np.isnan(got.values[:8, 0]).any()
    np.testing.assert_array_equal(got.count, [1] * 8 + [0] * 4)


# --------------------------------------------------------------------------------------
# Sequence parts: no validation label reaches a training window
# --------------------------------------------------------------------------------------

SPLITS = {  # video: (frames, split_expr, split_va)
    "expr_train_va_val": (45, "train", "validation"),
    "expr_val_va_train": (40, "validation", "train"),
    "both_train": (37, "train", "train"),
    "expr_only": (20, "train", ""),
    "va_only": (12, "", "train"),
    "both_val": (30, "validation", "validation"),
}


def index_like(seed: int = 0) -> pd.DataFrame:
    """An Aff-Wild2-index-like table: one row per frame, labels on most frames of every
    annotated track, some frames without a crop, splits per video as in SPLITS."""
    rng = np.random.default_rng(seed)
    pieces = []
    for video, (n, split_expr, split_va) in SPLITS.items():
        expr = rng.integers(0, 8, n).astype(np.int8)  # 7 = "Other"
        expr[(rng.random(n) < 0.15) | (split_expr == "")] = -1
        va = rng.uniform(-1, 1, (n, 2)).astype(np.float32)
        va[(rng.random(n) < 0.15) | (split_va == "")] = -5
        pieces.append(pd.DataFrame({
            "source": "affwild2", "video": video, "frame": np.arange(1, n + 1, dtype=np.int32),
            "path": [f"cropped_aligned/{video}/{f:05d}.jpg" for f in range(1, n + 1)],
            "expr": expr, "valence": va[:, 0], "arousal": va[:, 1],
            "has_crop": rng.random(n) > 0.1,
            "split_expr": split_expr, "split_va": split_va,
        }))
    index = pd.concat(pieces, ignore_index=True)
    for column in ("video", "split_expr", "split_va", "source"):
        index[column] = index[column].astype("category")
    index.attrs["root"] = "/nowhere"
    return index


def feature_array(n_rows: int, views: int = 3, dim: int = 4) -> np.ndarray:
    """features[v, r, h] = (r, v, h, 0, ...): the row, view and head read back from the values."""
    features = np.zeros((views, n_rows, 2, dim), dtype=np.float16)
    features[..., 0] = np.arange(n_rows)[None, :, None]
    features[..., 1] = np.arange(views)[:, None, None]
    features[..., 2] = np.arange(2)[None, None, :]
    return features


@pytest.mark.parametrize("share", [True, False])
def test_no_validation_label_reaches_a_training_window(share):
    index = index_like()
    parts = build_sequence_parts(index, share_annotations=share)
    table = ConcatParts(parts).table
    dataset = FeatureSequenceDataset(table, feature_array(len(index)), length=8, train=True)
    batch = dataset.__getitems__(list(range(len(dataset))))
    split_expr = dict(zip(index["video"].astype(str), index["split_expr"].astype(str)))
    split_va = dict(zip(index["video"].astype(str), index["split_va"].astype(str)))
    video = np.repeat(np.array(batch["video"], dtype=object)[:, None], dataset.length, axis=1)
    expr_seen = batch["expr"].numpy() >= 0  # any EXPR label at all, masked or not
    va_seen = batch["valence"].numpy() != -5
    assert expr_seen.any() and va_seen.any()
    assert {split_expr[v] for v in video[expr_seen]} == {"train"}
    assert {split_va[v] for v in video[va_seen]} == {"train"}
    # the labels are the index's own at (video, frame)
    by_frame = index.set_index([index["video"].astype(str), "frame"])
    keys = list(zip(video[expr_seen], batch["frame"].numpy()[expr_seen]))
    np.testing.assert_array_equal(by_frame.loc[keys, "expr"].to_numpy(), batch["expr"].numpy()[expr_seen])
    assert (batch["expr"].numpy() != 7).all()  # "Other" is no label of the 7-class method
    window_part = np.repeat(batch["window_part"].numpy()[:, None], dataset.length, axis=1)
    if share:
        # secondary labels do appear, and only from videos train for both tracks
        secondary_va = va_seen & (window_part == PARTS.index("expr"))
        assert secondary_va.any()
        assert {(split_expr[v], split_va[v]) for v in video[secondary_va]} == {("train", "train")}
    else:
        assert not (va_seen & (window_part == PARTS.index("expr"))).any()
        assert not (expr_seen & (window_part == PARTS.index("va"))).any()
    # every frame of each train video is in its part, crops or not
    for track, split in (("expr", split_expr), ("va", split_va)):
        train_videos = {v for v, s in split.items() if s == "train"}
        assert set(parts[track]["video"].astype(str)) == train_videos
        assert len(parts[track]) == sum(SPLITS[v][0] for v in train_videos)
        np.testing.assert_array_equal(parts[track]["feature_row"],
                                      np.flatnonzero(index["video"].astype(str).isin(train_videos)))


# --------------------------------------------------------------------------------------
# FeatureSequenceDataset
# --------------------------------------------------------------------------------------


def test_feature_windows_show_the_features_of_the_right_rows():
    index = index_like()
    table, windows = evaluation_windows(index, "va", length=8)
    features = feature_array(len(index))
    dataset = FeatureSequenceDataset(table, features, length=8, train=False)
    batch = dataset.__getitems__(list(range(len(dataset))))
    got = batch["features"].numpy()
    assert got.dtype == np.float32 and got.shape == (len(dataset), 8, 2, 4)
    # the row shown, by hand: the frame's own index row when it has a crop, else the
    # nearest earlier frame with a crop of the same video (the first one before any)
    crop = dict(zip(zip(index["video"].astype(str), index["frame"]), index["has_crop"]))
    position = {key: i for i, key in enumerate(zip(index["video"].astype(str), index["frame"]))}
    for b, video in enumerate(batch["video"]):
        for step, frame in enumerate(batch["frame"][b].tolist()):
            if frame == 0:
                continue  # padding
            with_crop = sorted(f for (v, f), c in crop.items() if v == video and c)
            earlier = [f for f in with_crop if f <= frame]
            shown = earlier[-1] if earlier else with_crop[0]
            assert got[b, step, 0, 0] == position[(video, shown)]
            assert bool(batch["filled"][b, step]) == (shown != frame)
    assert (got[..., 1] == 0).all()  # evaluation: view 0
    np.testing.assert_array_equal(got[:, :, :, 2], np.broadcast_to([0.0, 1.0], got.shape[:3]))
    # evaluation windows: only validation videos of the track, stride = length
    assert set(table["video"].astype(str)) == {v for v, s in SPLITS.items() if s[2] == "validation"}
    assert windows.stride == 8 and len(windows) == len(dataset)
    assert not batch["expr_valid"].any()  # the other track's labels are not in the table


def test_one_view_per_window_drawn_from_the_augmented_views():
    index = index_like()
    dataset = FeatureSequenceDataset(ConcatParts(build_sequence_parts(index)).table, feature_array(len(index), views=4),
                                     length=8, train=True, seed=5)
    views_seen = set()
    for epoch in range(3):
        keys = [(epoch, w, 0) for w in range(len(dataset))]
        batch = dataset.__getitems__(keys)
        shown = batch["features"].numpy()[..., 1]  # (B, L, 2) view encoded in the values
        assert (shown == shown[:, :1, :1]).all()  # one view for every frame of a window
        np.testing.assert_array_equal(shown[:, 0, 0], batch["view"].numpy())
        views_seen |= set(batch["view"].tolist())
    assert views_seen == {1, 2, 3}  # augmented views only, each of them used


def _epoch(loader, epoch: int, skip: int = 0) -> list[tuple]:
    loader.set_position(epoch, skip)
    return [(b["window"].tolist(), b["view"].tolist(), b["window_part"].tolist()) for b in loader]


def test_expr_and_va_windows_batch_together_and_a_resumed_epoch_reproduces():
    index = index_like()
    parts = build_sequence_parts(index)
    dataset = FeatureSequenceDataset(ConcatParts(parts).table, feature_array(len(index)), length=8, seed=1)

    def loader():
        sampler = MultiPartBatchSampler(dataset.part_sizes, per_part=3, steps=5, seed=2, balanced=False)
        return make_loader(dataset, None, workers=0, batch_sampler=sampler)

    full = _epoch(loader(), 1)
    assert len(full) == 5
    expr_videos = set(parts["expr"]["video"].astype(str))
    for windows, views, window_part in full:
        assert window_part == [PARTS.index("expr")] * 3 + [PARTS.index("va")] * 3
        assert {dataset.windows.video_names[dataset.windows.window_video[w]] for w in windows[:3]} <= expr_videos
    resumed = _epoch(loader(), 1, skip=2)
    assert resumed == full[2:]
    assert _epoch(loader(), 2) != full  # another epoch, other windows and views
    # per-position part codes agree with the window's wherever the frame has a row
    batch = next(iter(loader()))
    has_row = batch["row"] >= 0
    assert torch.equal(batch["part"][has_row], batch["window_part"][:, None].expand_as(batch["part"])[has_row])


def test_image_sequence_parts_batch_through_the_multi_part_sampler(tmp_path):
    from PIL import Image

    index = index_like()
    for video, frame in zip(index["video"].astype(str), index["frame"]):
        folder = tmp_path / "cropped_aligned" / video
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((16, 16, 3), frame % 250, np.uint8)).save(folder / f"{frame:05d}.jpg", quality=95)
    index.attrs["root"] = str(tmp_path)
    dataset = SequenceDataset(ConcatParts(build_sequence_parts(index)).table, length=4, size=16, train=True)
    sampler = MultiPartBatchSampler(dataset.part_sizes, per_part=2, steps=2, seed=0, balanced=False)
    batches = list(make_loader(dataset, None, workers=0, batch_sampler=sampler))
    assert len(batches) == 2
    for batch in batches:
        assert batch["images"].shape == (4, 4, 3, 16, 16)
        assert batch["window_part"].tolist() == [PARTS.index("expr")] * 2 + [PARTS.index("va")] * 2
