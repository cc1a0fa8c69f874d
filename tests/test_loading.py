"""Tests for abawbench.data.loading: datasets, augmentation, loader, normalisation.

Images are written with PIL into tmp_path. Sequence tests use flat grey frames whose
grey level encodes the frame number (5·frame), so the order, the gap filling and the
padding can be read back from the pixels; augmentation tests use noise images already at
the resized size (1.2 × crop), so the expected crop is an exact slice of the decoded file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torchvision.transforms.v2.functional as TF

from abawbench.data.loading import (
    FERPLUS,
    IMAGENET,
    FrameDataset,
    InputNormalizer,
    SequenceDataset,
    augmentation_draws,
    collate_batch,
    crop_and_flip,
    make_loader,
    normalize_on_device,
    read_image,
    read_images,
)

rng_global = np.random.default_rng(1234)


def write_jpeg(path: Path, pixels: np.ndarray, quality: int = 95) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, quality=quality)


def grey(value: int, side: int) -> np.ndarray:
    return np.full((side, side, 3), value, dtype=np.uint8)


def noise(side: int, seed: int) -> np.ndarray:
    # Smooth-ish noise: JPEG keeps it recognisable, and every shift changes it.
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, size=(side // 4 + 1, side // 4 + 1, 3)).astype(np.uint8)
    return np.kron(small, np.ones((4, 4, 1), dtype=np.uint8))[:side, :side]


def frame_table(root: Path, pixels: list[np.ndarray], **columns) -> pd.DataFrame:
    paths = []
    for i, image in enumerate(pixels):
        relative = f"stills/{i:04d}.jpg"
        write_jpeg(root / relative, image)
        paths.append(relative)
    n = len(paths)
    table = pd.DataFrame(
        {
            "path": paths,
            "expr": columns.get("expr", np.arange(n) % 7).astype(np.int8),
            "valence": np.asarray(columns.get("valence", np.linspace(-1, 1, n)), dtype=np.float32),
            "arousal": np.asarray(columns.get("arousal", np.linspace(1, -1, n)), dtype=np.float32),
        }
    )
    for name, values in columns.items():
        if name not in table:
            table[name] = values
    table.attrs["root"] = str(root)
    return table


def video_table(root: Path, videos: dict[str, int], no_crop=(), no_row=(), side: int = 16) -> pd.DataFrame:
    """Aff-Wild2-like table: frame f of a video is a flat grey image of level 5·f.

    ``no_crop``: (video, frame) pairs with has_crop False (no file written);
    ``no_row``: (video, frame) pairs absent from the table.
    """
    rows = []
    for video, length in videos.items():
        for frame in range(1, length + 1):
            if (video, frame) in no_row:
                continue
            has_crop = (video, frame) not in no_crop
            relative = f"cropped_aligned/{video}/{frame:05d}.jpg"
            if has_crop:
                write_jpeg(root / relative, grey(min(5 * frame, 255), side))
            rows.append(
                {
                    "video": video,
                    "frame": frame,
                    "path": relative,
                    "expr": frame % 7,
                    "valence": frame / 100,
                    "arousal": -frame / 100,
                    "has_crop": has_crop,
                }
            )
    table = pd.DataFrame(rows)
    table["video"] = table["video"].astype("category")
    table["frame"] = table["frame"].astype(np.int32)
    table["expr"] = table["expr"].astype(np.int8)
    table[["valence", "arousal"]] = table[["valence", "arousal"]].astype(np.float32)
    table.attrs["root"] = str(root)
    return table


def frame_numbers_from_pixels(images: torch.Tensor) -> np.ndarray:
    """(..., 3, H, W) grey frames → frame numbers (level / 5)."""
    centre = images[..., 0, images.shape[-2] // 2, images.shape[-1] // 2].numpy().astype(float)
    return np.rint(centre / 5).astype(int)


# --------------------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------------------


def test_read_images_decodes_and_rejects_truncated_and_missing(tmp_path):
    pixels = noise(40, seed=0)
    write_jpeg(tmp_path / "good.jpg", pixels)
    data = (tmp_path / "good.jpg").read_bytes()
    (tmp_path / "truncated.jpg").write_bytes(data[: len(data) // 2])
    (tmp_path / "text.jpg").write_bytes(b"not an image at all")
    from PIL import Image

    Image.fromarray(pixels).save(tmp_path / "lossless.png")

    names = ("good.jpg", "truncated.jpg", "missing.jpg", "text.jpg", "lossless.png")
    images = read_images([tmp_path / name for name in names])
    assert images[0] is not None and images[0].dtype == torch.uint8 and images[0].shape == (3, 40, 40)
    # Same pixels as PIL's decoder (both libjpeg); PNG is exact.
    reference = np.asarray(Image.open(tmp_path / "good.jpg").convert("RGB")).astype(int)
    assert np.abs(images[0].permute(1, 2, 0).numpy().astype(int) - reference).mean() < 1
    assert images[1] is None and images[2] is None and images[3] is None
    assert torch.equal(images[4].permute(1, 2, 0), torch.from_numpy(pixels))
    assert read_image(tmp_path / "truncated.jpg") is None


# --------------------------------------------------------------------------------------
# Frames: labels, dtype, augmentation geometry
# --------------------------------------------------------------------------------------


def test_frame_item_is_uint8_with_labels_and_skips_rows_without_crop(tmp_path):
    table = frame_table(tmp_path, [grey(10 * i, 112) for i in range(5)], has_crop=[True, False, True, True, True])
    dataset = FrameDataset(table, train=True, seed=3)
    assert len(dataset) == 4 and dataset.n_without_crop == 1
    item = dataset[1]  # second kept row = table position 2
    assert item["valid"] and item["image"].dtype == torch.uint8 and item["image"].shape == (3, 112, 112)
    assert int(item["row"]) == 2
    assert item["expr"].dtype == torch.int64 and int(item["expr"]) == int(table["expr"].iloc[2])
    assert item["valence"].dtype == torch.float32 and float(item["valence"]) == pytest.approx(table["valence"].iloc[2])
    assert float(item["arousal"]) == pytest.approx(table["arousal"].iloc[2])
    assert abs(int(item["image"][0, 56, 56]) - 20) <= 1  # the image of table row 2


def test_action_unit_columns_become_a_per_item_vector(tmp_path):
    au1, au12 = np.array([1, -1], np.int8), np.array([0, 1], np.int8)
    table = frame_table(tmp_path, [grey(9, 16), grey(99, 16)], AU1=au1, AU12=au12)
    batch = FrameDataset(table, size=16).__getitems__([0, 1])
    assert batch["au"].dtype == torch.int8 and batch["au"].tolist() == [[1, 0], [-1, 1]]
    videos = video_table(tmp_path / "v", {"vid": 3})
    videos["AU4"] = np.array([1, 0, 1], np.int8)
    item = SequenceDataset(videos, length=5, size=16, train=False)[0]
    assert item["au"].shape == (5, 1) and item["au"][:, 0].tolist() == [1, 0, 1, -1, -1]  # padding: missing


def test_eval_transform_is_resize_134_then_centre_crop(tmp_path):
    table = frame_table(tmp_path, [noise(112, seed=1)])
    item = FrameDataset(table, train=False)[0]
    decoded = read_image(tmp_path / table["path"].iloc[0])
    expected = TF.center_crop(TF.resize(decoded, [134], antialias=True), [112])
    assert (int(item["top"]), int(item["left"]), bool(item["flipped"])) == (11, 11, False)
    assert (item["image"].int() - expected.int()).abs().max() <= 1


def test_training_crops_are_the_drawn_translation_and_flip(tmp_path):
    # Sources already at 134×134, so no resize: the crop must be an exact slice.
    images = [noise(134, seed=s) for s in range(24)]
    table = frame_table(tmp_path, images)
    dataset = FrameDataset(table, train=True, seed=11)
    batch = dataset.__getitems__(list(range(len(table))))
    tops, lefts, flips = batch["top"].numpy(), batch["left"].numpy(), batch["flipped"].numpy()
    assert tops.min() >= 0 and tops.max() <= 22 and lefts.min() >= 0 and lefts.max() <= 22
    assert flips.any() and not flips.all() and len(set(zip(tops, lefts))) > 5
    for k in range(len(table)):
        source = read_image(tmp_path / table["path"].iloc[k])
        expected = source[:, tops[k] : tops[k] + 112, lefts[k] : lefts[k] + 112]
        if flips[k]:
            expected = expected.flip(-1)
        assert torch.equal(batch["image"][k], expected), k
        # A crop one pixel off would not match: the check can fail.
        other = source[:, tops[k] : tops[k] + 112, (lefts[k] + 1) % 23 : (lefts[k] + 1) % 23 + 112]
        assert not torch.equal(batch["image"][k], other.flip(-1) if flips[k] else other)


def test_images_of_different_sizes_are_resized_by_shorter_side(tmp_path):
    # ExpW-like crops of any size: shorter side to int(1.2·16) = 19, then the crop.
    table = frame_table(tmp_path, [noise(40, seed=2)[:, :28], noise(24, seed=3)])
    batch = FrameDataset(table, size=16, train=False).__getitems__([0, 1])
    assert batch["image"].shape == (2, 3, 16, 16)
    for k in range(2):
        decoded = read_image(tmp_path / table["path"].iloc[k])
        expected = TF.center_crop(TF.resize(decoded, [19], antialias=True), [16])
        assert (batch["image"][k].int() - expected.int()).abs().max() <= 1
    assert batch["top"].tolist() == [round((int(19 * 40 / 28) - 16) / 2), 2] and batch["left"].tolist() == [2, 2]


def test_crop_and_flip_reverses_columns_and_shares_sources():
    images = torch.arange(2 * 1 * 4 * 5, dtype=torch.uint8).reshape(2, 1, 4, 5)
    top, left = torch.tensor([0, 1, 1]), torch.tensor([2, 0, 0])
    flip = torch.tensor([False, True, False])
    out = crop_and_flip(images, top, left, flip, 3, source=torch.tensor([1, 0, 0]))
    assert out.shape == (3, 1, 3, 3) and out.dtype == torch.uint8
    assert torch.equal(out[0], images[1, :, 0:3, 2:5])
    assert torch.equal(out[1], images[0, :, 1:4, 0:3].flip(-1))
    assert torch.equal(out[1, 0, 0], torch.tensor([7, 6, 5], dtype=torch.uint8))
    assert torch.equal(out[2], images[0, :, 1:4, 0:3])


def test_draws_are_uniform_offsets_and_fair_flips():
    draws = augmentation_draws(seed=5, epoch=0, item=np.arange(20000))
    assert draws.shape == (20000, 3) and draws.min() >= 0 and draws.max() < 1
    offsets = (draws[:, 0] * 23).astype(int)
    counts = np.bincount(offsets, minlength=23)
    assert len(counts) == 23 and counts.min() > 700 and counts.max() < 1050  # ~870 each
    assert abs((draws[:, 2] < 0.5).mean() - 0.5) < 0.02
    assert abs(np.corrcoef(draws[:, 0], draws[:, 1])[0, 1]) < 0.03  # streams independent
    again = augmentation_draws(seed=5, epoch=0, item=np.arange(20000))
    assert np.array_equal(draws, again)
    assert not np.array_equal(draws, augmentation_draws(seed=6, epoch=0, item=np.arange(20000)))
    assert not np.array_equal(draws, augmentation_draws(seed=5, epoch=1, item=np.arange(20000)))


def test_training_offsets_are_uniform_over_every_shift(tmp_path):
    # 16-px crops: resized to int(1.2·16) = 19, so offsets 0..3 on each axis.
    table = frame_table(tmp_path, [noise(16, seed=0)])
    dataset = FrameDataset(table, size=16, train=True, seed=4)
    batch = dataset.__getitems__([(epoch, 0) for epoch in range(800)])
    for offsets in (batch["top"], batch["left"]):
        counts = np.bincount(offsets.numpy(), minlength=4)
        assert len(counts) == 4 and counts.min() > 150  # ~200 each, the extreme shifts included
    assert 0.4 < batch["flipped"].float().mean() < 0.6


def _epoch_draws(loader) -> dict[int, tuple]:
    seen = {}
    for batch in loader:
        columns = (batch["row"], batch["top"], batch["left"], batch["flipped"], batch["image"])
        for row, top, left, flip, image in zip(*columns):
            seen[int(row)] = (int(top), int(left), bool(flip), image.sum().item())
    return seen


def test_augmentation_reproducible_whatever_workers_batch_and_order(tmp_path):
    table = frame_table(tmp_path, [noise(112, seed=s) for s in range(12)])
    single = make_loader(FrameDataset(table, seed=7), batch_size=5, workers=0, shuffle=True, seed=1)
    first = _epoch_draws(single)
    second = _epoch_draws(single)  # next epoch: new draws
    assert len(first) == len(second) == 12 and first != second
    parallel = make_loader(FrameDataset(table, seed=7), batch_size=3, workers=2, shuffle=True, seed=99)
    assert _epoch_draws(parallel) == first
    parallel.set_epoch(1)
    assert _epoch_draws(parallel) == second
    other_seed = make_loader(FrameDataset(table, seed=8), batch_size=5, workers=0)
    assert _epoch_draws(other_seed) != first


def test_shuffled_order_is_seeded(tmp_path):
    table = frame_table(tmp_path, [grey(i, 16) for i in range(10)])

    def order(seed):
        loader = make_loader(FrameDataset(table, size=8), batch_size=4, workers=0, shuffle=True, seed=seed)
        return [int(r) for batch in loader for r in batch["row"]]

    assert order(3) == order(3) and sorted(order(3)) == list(range(10)) and order(3) != order(4)


# --------------------------------------------------------------------------------------
# Unreadable images
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("workers", [0, 2])
def test_truncated_jpeg_is_skipped_and_counted(tmp_path, workers):
    table = frame_table(tmp_path, [grey(20 * i, 32) for i in range(7)])
    bad = tmp_path / table["path"].iloc[3]
    data = bad.read_bytes()
    bad.write_bytes(data[: len(data) // 2])
    (tmp_path / table["path"].iloc[5]).unlink()
    loader = make_loader(FrameDataset(table, size=32), batch_size=4, workers=workers)
    rows = [int(r) for batch in loader for r in batch["row"]]
    assert rows == [0, 1, 2, 4, 6]
    assert loader.n_unreadable == 2 and loader.unreadable_rows == {3, 5} and loader.n_dropped == 2
    for batch in loader:  # counts accumulate over passes
        assert batch["image"].shape[0] == len(batch["row"]) == len(batch["expr"])
        # labels travel from workers as numpy but arrive as tensors
        assert isinstance(batch["expr"], torch.Tensor) and batch["expr"].dtype == torch.int64
        assert isinstance(batch["valence"], torch.Tensor) and batch["valence"].dtype == torch.float32
    assert loader.n_unreadable == 4 and loader.n_dropped == 4
    loader.reset_counts()
    assert loader.n_unreadable == 0


def test_single_item_access_to_unreadable_frame_is_flagged(tmp_path):
    table = frame_table(tmp_path, [grey(50, 16), grey(90, 16)])
    (tmp_path / table["path"].iloc[0]).write_bytes(b"\xff\xd8\xff\xe0 broken")
    dataset = FrameDataset(table, size=16)
    item = dataset[0]
    assert item["valid"] is False and item["unreadable"] == [0]
    batch = collate_batch([dataset[0], dataset[1]])
    assert batch["dropped"] == 1 and batch["unreadable"] == [0]
    assert batch["image"].shape == (1, 3, 16, 16) and int(batch["row"][0]) == 1


# --------------------------------------------------------------------------------------
# Sequences
# --------------------------------------------------------------------------------------


def _windows(dataset) -> list[dict]:
    return [dataset[i] for i in range(len(dataset))]


@pytest.mark.parametrize("length,stride,n_frames", [(8, 8, 21), (8, 4, 21), (8, 8, 16), (8, 4, 8)])
def test_windows_cover_every_frame_exactly_once_via_new(tmp_path, length, stride, n_frames):
    table = video_table(tmp_path, {"vid": n_frames})
    dataset = SequenceDataset(table, length=length, stride=stride, size=16, train=False)
    writes = np.zeros(n_frames + 1, dtype=int)
    windows = _windows(dataset)
    for item in windows:
        frames = item["frame"].numpy()
        assert np.array_equal(frames, np.arange(frames[0], frames[0] + length))  # consecutive
        assert np.array_equal(frame_numbers_from_pixels(item["images"]), frames)  # images in order
        np.add.at(writes, frames[item["new"].numpy()], 1)
    assert writes[0] == 0 and np.all(writes[1:] == 1)
    assert windows[-1]["frame"][-1] == n_frames  # end-aligned last window
    starts = [int(item["frame"][0]) for item in windows]
    assert starts[: len(starts) - 1] == list(range(1, 1 + stride * (len(starts) - 1), stride))


def test_end_aligned_window_marks_only_unseen_frames_new(tmp_path):
    table = video_table(tmp_path, {"vid": 21})
    windows = _windows(SequenceDataset(table, length=8, size=16, train=False))  # eval: stride 8
    assert [int(w["frame"][0]) for w in windows] == [1, 9, 14]
    assert windows[2]["new"].tolist() == [False] * 3 + [True] * 5  # frames 17..21


def test_default_strides_are_half_length_train_and_length_eval(tmp_path):
    table = video_table(tmp_path, {"vid": 70})
    assert SequenceDataset(table, size=16, train=True).stride == 16
    assert SequenceDataset(table, size=16, train=False).stride == 32
    assert len(SequenceDataset(table, size=16, train=False)) == 3  # 1, 33, 39(end-aligned)


def test_gaps_are_filled_from_the_nearest_earlier_crop_and_flagged(tmp_path):
    no_crop = {("vid", 1), ("vid", 2), ("vid", 6), ("vid", 7)}
    table = video_table(tmp_path, {"vid": 12}, no_crop=no_crop, no_row={("vid", 10)})
    item = SequenceDataset(table, length=12, size=16, train=False)[0]
    assert item["unreadable"] == []  # gaps are filled from the table, not by failed reads
    shown = frame_numbers_from_pixels(item["images"])
    # leading gap: the first later crop (3); inner gaps: the previous crop; 10 has no row
    assert shown.tolist() == [3, 3, 3, 4, 5, 5, 5, 8, 9, 9, 11, 12]
    assert item["filled"].tolist() == [f in (1, 2, 6, 7, 10) for f in range(1, 13)]
    assert item["frame"].tolist() == list(range(1, 13))
    # labels stay those of each frame's own row; the frame without a row is missing
    assert item["expr"].tolist() == [f % 7 if f != 10 else -1 for f in range(1, 13)]
    assert float(item["valence"][9]) == -5.0 and float(item["valence"][5]) == pytest.approx(0.06)
    assert item["row"][9] == -1


def test_drop_gapped_reproduces_the_code_and_video_without_crops_is_listed(tmp_path):
    table = video_table(tmp_path, {"a": 24, "b": 5}, no_crop={("a", 10)} | {("b", f) for f in range(1, 6)})
    dataset = SequenceDataset(table, length=8, size=16, train=False, drop_gapped=True)
    assert dataset.videos_without_crops == ["b"]
    assert [int(w["frame"][0]) for w in _windows(dataset)] == [1, 17]  # 9..16 has a gap
    kept = SequenceDataset(table, length=8, size=16, train=False)
    assert len(kept) == 3 and all(w["video"] == "a" for w in _windows(kept))


def test_short_video_is_padded_and_padding_is_never_new(tmp_path):
    table = video_table(tmp_path, {"short": 5})
    item = SequenceDataset(table, length=8, size=16, train=False)[0]
    assert item["images"].shape == (8, 3, 16, 16)
    assert item["frame"].tolist() == [1, 2, 3, 4, 5, 0, 0, 0]
    assert item["new"].tolist() == [True] * 5 + [False] * 3
    assert item["filled"].tolist() == [False] * 5 + [True] * 3
    assert frame_numbers_from_pixels(item["images"]).tolist() == [1, 2, 3, 4, 5, 5, 5, 5]
    assert item["expr"].tolist()[5:] == [-1, -1, -1]


def test_one_augmentation_draw_per_sequence(tmp_path):
    # 134-px noise frames: no resize, so each crop is an exact slice of its own frame.
    rows = []
    for frame in range(1, 7):
        relative = f"v/{frame:05d}.jpg"
        write_jpeg(tmp_path / relative, noise(134, seed=frame))
        rows.append({"video": "v", "frame": frame, "path": relative, "expr": 0, "valence": 0.0, "arousal": 0.0})
    table = pd.DataFrame(rows)
    table.attrs["root"] = str(tmp_path)
    dataset = SequenceDataset(table, length=3, stride=1, train=True, seed=2)
    draws = set()
    for index in range(len(dataset)):
        item = dataset[index]
        top, left, flip = int(item["top"]), int(item["left"]), bool(item["flipped"])
        draws.add((top, left, flip))
        for position, frame in enumerate(item["frame"].tolist()):
            source = read_image(tmp_path / f"v/{frame:05d}.jpg")[:, top : top + 112, left : left + 112]
            assert torch.equal(item["images"][position], source.flip(-1) if flip else source)
    assert len(draws) > 1  # windows do get different draws


def test_paper_code_sequence_augmentation_is_diagonal_and_tied_to_flip(tmp_path):
    table = video_table(tmp_path, {"vid": 60})
    dataset = SequenceDataset(table, length=4, stride=1, size=16, train=True, augmentation="paper-code")
    batch = dataset.__getitems__(list(range(len(dataset))))
    span = int(1.2 * 16) - 16  # 3
    assert torch.equal(batch["top"], batch["left"])
    # v < 1/2 <=> flip; offset int(span·v) is then <= span/2
    assert torch.all(batch["top"][batch["flipped"]] <= span // 2 + (span % 2))
    assert torch.all(batch["top"][~batch["flipped"]] >= span // 2)
    assert batch["flipped"].any() and not batch["flipped"].all()


def test_unreadable_frame_in_window_is_substituted_flagged_and_counted(tmp_path):
    table = video_table(tmp_path, {"vid": 8})
    bad = tmp_path / table["path"].iloc[4]  # frame 5
    bad.write_bytes(bad.read_bytes()[:40])
    loader = make_loader(SequenceDataset(table, length=8, size=16, train=False), batch_size=2, workers=0)
    (batch,) = list(loader)
    assert frame_numbers_from_pixels(batch["images"][0]).tolist() == [1, 2, 3, 4, 4, 6, 7, 8]
    assert batch["filled"][0].tolist() == [False] * 4 + [True] + [False] * 3
    assert int(batch["expr"][0, 4]) == 5 % 7  # its label is still there
    assert loader.n_unreadable == 1 and loader.unreadable_rows == {4} and loader.n_dropped == 0


def test_window_without_any_readable_frame_is_dropped(tmp_path):
    table = video_table(tmp_path, {"a": 4, "b": 4})
    for path in table["path"][table["video"] == "a"]:
        (tmp_path / path).write_bytes(b"")
    loader = make_loader(SequenceDataset(table, length=4, size=16, train=False), batch_size=2, workers=0)
    (batch,) = list(loader)
    assert batch["video"] == ["b"] and batch["images"].shape == (1, 4, 3, 16, 16)
    assert loader.n_dropped == 1 and loader.n_unreadable == 4


def test_sequence_batches_keep_uint8_and_stack(tmp_path):
    table = video_table(tmp_path, {"a": 10, "b": 9})
    loader = make_loader(SequenceDataset(table, length=4, size=16, train=True), batch_size=3, workers=0)
    batches = list(loader)
    assert sum(len(b["video"]) for b in batches) == len(loader.dataset)
    first = batches[0]
    assert first["images"].dtype == torch.uint8 and first["images"].shape == (3, 4, 3, 16, 16)
    assert first["new"].shape == first["filled"].shape == first["expr"].shape == (3, 4)
    assert first["valence"].dtype == torch.float32


# --------------------------------------------------------------------------------------
# Normalisation
# --------------------------------------------------------------------------------------


def test_normalize_on_device_matches_hand_computation():
    pixels = torch.from_numpy(rng_global.integers(0, 256, size=(2, 3, 5, 4)).astype(np.uint8))
    out = normalize_on_device(pixels, device="cpu")
    mean = np.array(IMAGENET.mean).reshape(3, 1, 1)
    std = np.array(IMAGENET.std).reshape(3, 1, 1)
    expected = (pixels.numpy().astype(np.float64) / 255.0 - mean) / std
    assert out.dtype == torch.float32 and out.shape == pixels.shape
    np.testing.assert_allclose(out.numpy(), expected, atol=2e-6)
    assert pixels.dtype == torch.uint8  # input untouched

    # The authors' FER+ backbone: pixel·255/255 − mean, std 1.
    ferplus = normalize_on_device(pixels, FERPLUS.mean, FERPLUS.std, "cpu", scale=FERPLUS.scale)
    hand = pixels.numpy().astype(np.float64) - np.array([131.0912, 103.8827, 91.4953]).reshape(3, 1, 1)
    np.testing.assert_allclose(ferplus.numpy(), hand, atol=1e-4)
    np.testing.assert_allclose(InputNormalizer("ferplus")(pixels).numpy(), hand, atol=1e-4)
    np.testing.assert_allclose(InputNormalizer()(pixels).numpy(), expected, atol=2e-6)


def test_normalize_handles_sequences_layouts_and_rejects_floats():
    batch = torch.randint(0, 256, (2, 4, 3, 6, 6), dtype=torch.uint8)
    out = normalize_on_device(batch, mean=(0, 0, 0), std=(1, 1, 1), scale=1.0)
    assert out.shape == (2, 4, 3, 6, 6) and torch.equal(out, batch.float())
    frames = batch[0].contiguous(memory_format=torch.channels_last)
    assert normalize_on_device(frames).is_contiguous(memory_format=torch.channels_last)
    assert normalize_on_device(frames, channels_last=False).is_contiguous()
    assert normalize_on_device(batch[0], channels_last=True).is_contiguous(memory_format=torch.channels_last)
    with pytest.raises(TypeError):
        normalize_on_device(batch.float())
    with pytest.raises(ValueError):
        normalize_on_device(torch.zeros((2, 4, 6, 6), dtype=torch.uint8))
    with pytest.raises(ValueError):
        InputNormalizer("no-such-preset")


def test_normalize_into_reused_buffer_and_any_layout():
    pixels = torch.randint(0, 256, (3, 3, 4, 5), dtype=torch.uint8)
    expected = normalize_on_device(pixels.contiguous(), channels_last=False)
    buffer = torch.full((3, 3, 4, 5), float("nan"))
    result = normalize_on_device(pixels, out=buffer)
    assert result.data_ptr() == buffer.data_ptr()
    torch.testing.assert_close(buffer, expected)
    strided = pixels.transpose(-1, -2).contiguous().transpose(-1, -2)  # neither layout
    torch.testing.assert_close(normalize_on_device(strided), expected)
    with pytest.raises(ValueError):
        normalize_on_device(pixels, out=torch.empty((2, 3, 4, 5)))


def test_loader_batch_normalises_to_model_input(tmp_path):
    table = frame_table(tmp_path, [grey(255, 32), grey(0, 32)])
    (batch,) = list(make_loader(FrameDataset(table, size=32, train=False), batch_size=2, workers=0))
    assert batch["image"].dtype == torch.uint8
    out = normalize_on_device(batch["image"], device="cpu")
    white = (1 - np.array(IMAGENET.mean)) / np.array(IMAGENET.std)
    black = -np.array(IMAGENET.mean) / np.array(IMAGENET.std)
    np.testing.assert_allclose(out[0, :, 16, 16].numpy(), white, atol=0.02)
    np.testing.assert_allclose(out[1, :, 16, 16].numpy(), black, atol=0.02)


# ------------------------------------------- the synthetic Aff-Wild2 with every quirk


def test_loaders_over_the_synthetic_affwild2_index(synthetic_data):
    """Index -> frame and sequence loaders on the synthetic tree: the planted corrupt crops are
    counted and skipped, missing crops are filled and flagged, every frame is covered once."""
    from abawbench.data import affwild2
    from abawbench.data.loading import FrameDataset, SequenceDataset, make_loader

    out, manifest = synthetic_data
    planted = manifest["affwild2_abaw2"]
    table = affwild2.index(out / "affwild2_abaw2", cache=False)
    frames = table[table["has_crop"]]  # every crop file, labelled or not
    expected_unreadable = planted["totals"]["corrupt_crops"]
    assert expected_unreadable >= 1

    loader = make_loader(FrameDataset(frames, train=True, seed=0), batch_size=64, workers=0)
    seen = sum(len(batch["expr"]) for batch in loader)
    assert loader.n_unreadable == expected_unreadable
    assert seen == len(frames) - expected_unreadable

    video = next(v for v, e in planted["videos"].items() if e["missing_crops"] and e["split"])
    rows = table[table["video"] == video]
    sequences = SequenceDataset(rows, length=32, train=False)
    covered, filled = [], set()
    for i in range(len(sequences)):
        item = sequences[i]
        new = np.asarray(item["new"])
        covered += np.asarray(item["frame"])[new].tolist()
        filled |= set(np.asarray(item["frame"])[np.asarray(item["filled"])].tolist())
    assert sorted(covered) == sorted(rows["frame"].tolist())  # each frame exactly once
    assert set(planted["videos"][video]["missing_crops"]) <= filled


def test_training_parts_through_make_loader_with_the_multi_part_sampler(synthetic_data, tmp_path):
    from abawbench.data import affwild2, expw, mixing
    from abawbench.data.loading import FrameDataset, make_loader

    out, manifest = synthetic_data
    faces = expw.read_expw(out / "expw", cache_dir=tmp_path / "crops")  # a cache outside the root
    parts = mixing.build_parts(affwild2.index(out / "affwild2_abaw2", cache=False), expw=faces,
                               expr_va_source="affwild2-shared")
    sampler = mixing.MultiPartBatchSampler.from_parts(parts, per_part=4, steps=6, seed=0)
    dataset = FrameDataset(mixing.ConcatParts(parts).table, train=True, seed=0)
    loader = make_loader(dataset, None, workers=0, batch_sampler=sampler)
    first = [batch for batch in loader]
    second = [batch for batch in loader]
    assert len(first) == 6 and all(len(b["row"]) + b["dropped"] == 12 for b in first)
    rows_first = [b["row"].tolist() for b in first]
    assert rows_first != [b["row"].tolist() for b in second]  # the sampler's epoch moved on
    assert all(str(p).startswith(str(tmp_path)) for p in faces["path"])  # absolute crop paths...
    # ...that load (the reader already left out the corrupt picture); only the Aff-Wild2
    # crops planted corrupt may fail, when the sampler happens to draw them
    table = mixing.ConcatParts(parts).table
    planted = {(v, f) for v, e in manifest["affwild2_abaw2"]["videos"].items() for f in e["corrupt_crops"]}
    assert all((str(table["video"].iloc[r]), int(table["frame"].iloc[r])) in planted and
               table["source"].iloc[r] == "affwild2" for r in loader.unreadable_rows)
    # repeated draws of one row within a pass are augmented independently
    seen: dict[int, set] = {}
    for batch in first + second:
        for row, top, left, flip in zip(batch["row"].tolist(), batch["top"].tolist(), batch["left"].tolist(),
                                        batch["flipped"].tolist()):
            seen.setdefault(row, set()).add((top, left, flip))
    assert any(len(draws) > 1 for draws in seen.values())


def test_drop_gapped_writes_every_frame_of_kept_windows(tmp_path):
    import pandas as pd
    from PIL import Image

    from abawbench.data.loading import SequenceDataset

    (tmp_path / "v").mkdir()
    for f in range(1, 71):
        Image.new("RGB", (112, 112), (f, f, f)).save(tmp_path / "v" / f"{f:05d}.jpg")
    table = pd.DataFrame({"video": "v", "frame": np.arange(1, 71), "path": [f"v/{f:05d}.jpg" for f in range(1, 71)],
                          "expr": np.zeros(70, np.int8), "valence": np.zeros(70, np.float32),
                          "arousal": np.zeros(70, np.float32), "has_crop": np.arange(1, 71) != 34})
    table.attrs["root"] = str(tmp_path)
    sequences = SequenceDataset(table, length=32, train=False, drop_gapped=True)
    written = []
    for i in range(len(sequences)):
        item = sequences[i]
        frames = np.asarray(item["frame"])
        written += frames[np.asarray(item["new"])].tolist()
        kept = set(frames[frames > 0].tolist())
        assert kept <= set(written)  # every frame of a kept window gets its prediction
    assert len(written) == len(set(written)) and 34 not in written


# --------------------------------------------------------------------------------------
# Augmentation draws: independence within an epoch and between flip and offsets
# --------------------------------------------------------------------------------------


def _draws_of(loader) -> list[tuple[int, int, bool]]:
    return [(int(t), int(l), bool(f)) for batch in loader
            for t, l, f in zip(batch["top"], batch["left"], batch["flipped"])]


@pytest.mark.parametrize("how", ["sampler", "batch_sampler"])
def test_repeated_draws_of_one_item_in_one_epoch_are_augmented_independently(tmp_path, how):
    # One 134-px image: 23 × 23 offsets × 2 flips = 1058 augmentations. 200 independent
    # draws hit about 1058·(1 − (1 − 1/1058)^200) ≈ 182 distinct ones; shared draws hit 1.
    table = frame_table(tmp_path, [noise(134, seed=0)])
    dataset = FrameDataset(table, train=True, seed=3)
    if how == "sampler":
        loader = make_loader(dataset, batch_size=50, workers=0, sampler=[0] * 200)
    else:
        loader = make_loader(dataset, None, workers=0, batch_sampler=[[0] * 50] * 4)
    draws = _draws_of(loader)  # one pass: one epoch
    assert len(draws) == 200 and loader.epoch == 1
    assert len(set(draws)) > 150
    assert 0.35 < np.mean([flip for _, _, flip in draws]) < 0.65


def test_flip_is_independent_of_the_offsets(tmp_path):
    # 16-px crops of a 16-px image resized to 19: offsets 0..3 on each axis. 4000 draws:
    # each offset value ~1000 times, flipped about half of them (sd ≈ 0.016); each of the
    # 16 (top, left) cells ~250 times (sd ≈ 15).
    table = frame_table(tmp_path, [noise(16, seed=0)])
    dataset = FrameDataset(table, size=16, train=True, seed=9)
    batch = dataset.__getitems__([(epoch, 0) for epoch in range(4000)])
    top, left, flip = batch["top"].numpy(), batch["left"].numpy(), batch["flipped"].numpy()
    for offsets in (top, left):
        for value in range(4):
            chosen = offsets == value
            assert chosen.sum() > 800
            assert abs(flip[chosen].mean() - 0.5) < 0.08, (value, flip[chosen].mean())
    cells = np.bincount(top * 4 + left, minlength=16)
    assert np.abs(cells - 250).max() < 80, cells


# --------------------------------------------------------------------------------------
# CUDA paths (skipped by conftest.py where torch.cuda.is_available() is False)
# --------------------------------------------------------------------------------------


@pytest.mark.gpu
def test_normalize_on_cuda_equals_the_hand_computation():
    pixels = torch.from_numpy(np.random.default_rng(5).integers(0, 256, size=(4, 3, 8, 6)).astype(np.uint8))
    expected = (pixels.numpy().astype(np.float64) / 255.0 - np.array(IMAGENET.mean).reshape(3, 1, 1)) \
        / np.array(IMAGENET.std).reshape(3, 1, 1)
    for batch in (pixels, pixels.contiguous(memory_format=torch.channels_last), pixels.pin_memory()):
        out = normalize_on_device(batch, device="cuda")
        assert out.device.type == "cuda" and out.dtype == torch.float32 and out.shape == pixels.shape
        np.testing.assert_allclose(out.cpu().numpy(), expected, atol=2e-6)
    normalizer = InputNormalizer("ferplus").to("cuda")
    hand = pixels.numpy().astype(np.float64) - np.array(FERPLUS.mean).reshape(3, 1, 1)
    np.testing.assert_allclose(normalizer(pixels).cpu().numpy(), hand, atol=1e-4)
    half = normalize_on_device(pixels, device="cuda", dtype=torch.float16)
    np.testing.assert_allclose(half.float().cpu().numpy(), expected, atol=2e-2)


@pytest.mark.gpu
@pytest.mark.parametrize("workers", [0, 2])
def test_loader_pins_memory_by_default_on_cuda_machines(tmp_path, workers):
    table = frame_table(tmp_path, [grey(255, 32), grey(0, 32), grey(128, 32)])
    loader = make_loader(FrameDataset(table, size=32, train=False), batch_size=3, workers=workers)
    (batch,) = list(loader)
    assert batch["image"].is_pinned()
    out = normalize_on_device(batch["image"], device="cuda", non_blocking=True)
    torch.cuda.synchronize()
    white = (1 - np.array(IMAGENET.mean)) / np.array(IMAGENET.std)
    np.testing.assert_allclose(out[0, :, 16, 16].cpu().numpy(), white, atol=0.02)


# --------------------------------------------------------------------------------------
# What the training stages rely on: part codes, label masks, resuming a pass
# --------------------------------------------------------------------------------------


def _two_part_table(root: Path) -> pd.DataFrame:
    """A ConcatParts-style table: 6 rows of part ``expr`` then 6 of part ``va``."""
    from abawbench.data.mixing import PARTS

    table = frame_table(root, [noise(16, i) for i in range(12)])
    table["part"] = pd.Categorical(["expr"] * 6 + ["va"] * 6, categories=list(PARTS))
    return table


def test_batches_say_each_items_part_even_when_an_unreadable_image_is_dropped(tmp_path):
    from abawbench.data.mixing import MultiPartBatchSampler

    table = _two_part_table(tmp_path)
    (tmp_path / table["path"].iloc[2]).write_bytes(b"\xff\xd8 garbage")  # an expr image
    sampler = MultiPartBatchSampler({"expr": 6, "va": 6}, per_part=3, steps=6, seed=0)
    dataset = FrameDataset(table, size=16)
    loader = make_loader(dataset, None, workers=0, batch_sampler=sampler)
    assert dataset.part_names == ("expr", "va", "expr_va")
    dropped = 0
    for batch in loader:
        dropped += batch["dropped"]
        names = np.asarray(dataset.part_names)[batch["part"].numpy()]
        assert (names == table["part"].astype(str).to_numpy()[batch["row"].numpy()]).all()
        # after a drop, position 3 is no longer the first va item: the part code says so
        if batch["dropped"]:
            assert batch["part"].tolist()[:2] == [0, 0] and batch["part"].tolist()[2] == 1
    assert dropped >= 1


def test_label_masks_follow_the_one_valid_label_rule(tmp_path):
    table = frame_table(tmp_path, [grey(10, 16)] * 5, expr=np.array([0, -1, 6, 3, -1]),
                        valence=[0.5, -5.0, 0.2, 1.0, np.nan], arousal=[0.1, 0.3, -5.0, -1.0, 0.2])
    batch = next(iter(make_loader(FrameDataset(table, size=16), batch_size=5, workers=0)))
    assert batch["expr_valid"].tolist() == [True, False, True, True, False]
    assert batch["va_valid"].tolist() == [True, False, False, True, False]
    assert batch["part"].tolist() == [-1] * 5  # no part column


def test_the_index_the_parts_and_the_datasets_share_one_valid_label_rule():
    from abawbench.data import affwild2, mixing, valid_expr, valid_va

    assert mixing.valid_va is valid_va and mixing.valid_expr is valid_expr
    table = pd.DataFrame({"expr": np.array([0, -1], np.int8), "valence": np.array([0.3, 0.3], np.float32),
                          "arousal": np.array([0.2, -5.0], np.float32)})
    assert affwild2.has_label(table, "va").tolist() == [True, False]  # arousal counts too
    assert affwild2.has_label(table, "expr").tolist() == [True, False]


def test_a_va_pair_is_valid_exactly_when_both_values_lie_in_minus_one_to_one():
    """The rule written out: both ends of [-1, 1] count; -1.5, 1.5, AffectNet's -2 and -5,
    NaN and a missing value (None, as an object column holds it) in either column do not."""
    from abawbench.data import valid_va

    inside = [-1.0, 1.0, 0.0, 0.25]
    outside = [-1.5, 1.5, -2.0, -5.0, 1.0000001, float("nan")]
    for value in outside:
        assert valid_va([value, 0.5], [0.5, value]).tolist() == [False, False], value
    values = inside + outside
    assert valid_va(values, [0.5] * len(values)).tolist() == [True] * 4 + [False] * 6
    assert valid_va([0.5] * len(values), values).tolist() == [True] * 4 + [False] * 6
    valence = pd.Series([0.5, None, 0.1], dtype=object)  # a column with a missing label
    arousal = pd.Series([-0.2, 0.3, None], dtype=object)
    assert valid_va(valence, arousal).tolist() == [True, False, False]


def test_filled_sequence_frames_carry_no_usable_label(tmp_path):
    table = video_table(tmp_path, {"v": 10}, no_crop={("v", 4)})
    item = SequenceDataset(table, length=8, stride=8, train=False, size=16)[0]
    filled = item["filled"].numpy()
    assert filled[3] and not item["expr_valid"][3] and not item["va_valid"][3]
    assert item["expr_valid"][~filled].all() and item["va_valid"][~filled].all()


def test_a_resumed_pass_yields_exactly_the_rest_of_the_uninterrupted_pass(tmp_path):
    from abawbench.data.mixing import MultiPartBatchSampler

    table = _two_part_table(tmp_path)
    sampler = MultiPartBatchSampler({"expr": np.ones(6), "va": np.ones(6)}, per_part=4, steps=5, seed=3)
    dataset = FrameDataset(table, size=16, train=True, seed=1)

    def keys(batches):
        return [(b["row"].tolist(), b["top"].tolist(), b["left"].tolist(), b["flipped"].tolist()) for b in batches]

    loader = make_loader(dataset, None, workers=0, batch_sampler=sampler)
    loader.set_epoch(2)
    full = keys(list(loader))
    resumed = make_loader(dataset, None, workers=0, batch_sampler=sampler)
    resumed.set_position(2, 3)
    assert keys(list(resumed)) == full[3:]
    assert keys(list(resumed)) != full  # the next pass is epoch 3, from its start
    # with replacement, items repeat within a pass: their occurrence survives the skip
    rows = [r for batch in full for r in batch[0]]
    assert len(rows) > len(set(rows))


def test_making_and_iterating_a_loader_leaves_the_global_torch_generator_alone(tmp_path):
    table = frame_table(tmp_path, [grey(10, 16)] * 4)
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    for _ in make_loader(FrameDataset(table, size=16), batch_size=2, workers=0, shuffle=True, seed=4):
        pass
    assert torch.equal(torch.rand(3), expected)
