"""Crop corners and the crop + horizontal flip of face images, on hand-made inputs.

Pixel values encode their position (``10 * row + col``), so every expected crop is written out.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image

from abawbench.data.loading import FrameDataset, augmentation_draws, crop_and_flip

_MASK = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_C1, _C2 = 0xBF58476D1CE4E5B9, 0x94D049BB133111EB


def _positions(rows: int = 4, cols: int = 5, channels: int = 1) -> torch.Tensor:
    """(channels, rows, cols) uint8 with pixel (r, c) = 10 r + c (+ 100 per channel)."""
    grid = 10 * torch.arange(rows)[:, None] + torch.arange(cols)[None, :]
    return torch.stack([grid + 100 * c for c in range(channels)]).to(torch.uint8)


def test_crop_without_source_takes_output_k_from_image_k():
    images = torch.stack([_positions(), _positions() + 50])  # (2, 1, 4, 5)
    out = crop_and_flip(images, [1, 0], [2, 1], [False, True], 3)
    assert out.shape == (2, 1, 3, 3) and out.dtype == torch.uint8
    assert out[0, 0].tolist() == [[12, 13, 14], [22, 23, 24], [32, 33, 34]]
    assert out[1, 0].tolist() == [[53, 52, 51], [63, 62, 61], [73, 72, 71]]  # image 1, columns reversed


def test_crop_of_a_list_of_images_flips_every_channel():
    images = [_positions(4, 4, channels=3), _positions(5, 6, channels=3)]
    out = crop_and_flip(images, torch.tensor([2, 0]), torch.tensor([0, 4]), torch.tensor([True, False]), 2)
    assert out.shape == (2, 3, 2, 2)
    assert out[0].tolist() == [[[21, 20], [31, 30]], [[121, 120], [131, 130]], [[221, 220], [231, 230]]]
    assert out[1].tolist() == [[[4, 5], [14, 15]], [[104, 105], [114, 115]], [[204, 205], [214, 215]]]


def test_crop_of_no_images_is_an_empty_three_channel_batch():
    for images in ([], torch.zeros((0, 3, 8, 8), dtype=torch.uint8)):
        out = crop_and_flip(images, [], [], [], 4)
        assert out.shape == (0, 3, 4, 4) and out.dtype == torch.uint8


def _dataset(tmp_path: Path, train: bool, seed: int = 0) -> FrameDataset:
    Image.fromarray(np.zeros((16, 16, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    table = pd.DataFrame({"path": ["a.png"], "expr": np.int8([0]), "valence": [0.0], "arousal": [0.0]})
    return FrameDataset(table, root=tmp_path, size=16, train=train, seed=seed)


def test_eval_item_is_centred_and_flagged_not_flipped_as_bool(tmp_path):
    item = _dataset(tmp_path, train=False)[0]
    assert item["flipped"].dtype == torch.bool and not bool(item["flipped"])
    assert (int(item["top"]), int(item["left"])) == (2, 2)  # round((19 - 16) / 2)
    top, left, flip = _dataset(tmp_path, train=False)._corners(
        np.zeros(2, dtype=np.int64), np.arange(2), np.array([3, 0]), np.array([4, 1]), diagonal=True
    )
    assert top.tolist() == [2, 0] and left.tolist() == [2, 0]
    assert flip.dtype == np.bool_ and flip.tolist() == [False, False]


def test_independent_corners_reach_both_ends_and_never_exceed_them(tmp_path):
    """Without ``diagonal`` (the default): top, left = int(u (span + 1)) of draws 0 and 1, flip iff draw 2 < 1/2."""
    dataset = _dataset(tmp_path, train=True, seed=5)
    items = np.arange(400)
    epochs = np.full(400, 2, dtype=np.int64)
    span_y, span_x = np.full(400, 3), np.full(400, 1)
    top, left, flip = dataset._corners(epochs, items, span_y, span_x)
    assert sorted(set(top.tolist())) == [0, 1, 2, 3] and sorted(set(left.tolist())) == [0, 1]
    draws = augmentation_draws(5, epochs, items)
    assert top.tolist() == [int(u * 4) for u in draws[:, 0]]
    assert left.tolist() == [int(u * 2) for u in draws[:, 1]]
    assert flip.tolist() == [bool(u < 0.5) for u in draws[:, 2]]
    assert set(flip.tolist()) == {False, True}
    top0, left0, _ = dataset._corners(epochs, items, np.zeros(400, dtype=np.int64), np.zeros(400, dtype=np.int64))
    assert set(top0.tolist()) == {0} and set(left0.tolist()) == {0}


def test_diagonal_corners_use_the_first_draw_for_both_offsets_and_the_flip(tmp_path):
    dataset = _dataset(tmp_path, train=True, seed=9)
    items, epochs = np.arange(200), np.zeros(200, dtype=np.int64)
    top, left, flip = dataset._corners(epochs, items, np.full(200, 22), np.full(200, 11), diagonal=True)
    v = augmentation_draws(9, epochs, items)[:, 0]
    assert top.tolist() == [int(22 * u) for u in v] and left.tolist() == [int(11 * u) for u in v]
    assert flip.tolist() == [bool(u < 0.5) for u in v]
    assert min(top) <= 1 and max(top) >= 21


def _mix(z: int) -> int:
    z = ((z ^ (z >> 30)) * _C1) & _MASK
    z = ((z ^ (z >> 27)) * _C2) & _MASK
    return z ^ (z >> 31)


def _unshift(y: int, s: int) -> int:
    x = y
    for _ in range(64 // s + 1):
        x = y ^ (x >> s)
    return x


def _unmix(z: int) -> int:
    z = (_unshift(z, 31) * pow(_C2, -1, 1 << 64)) & _MASK
    z = (_unshift(z, 27) * pow(_C1, -1, 1 << 64)) & _MASK
    return _unshift(z, 30)


def _item_drawing_exactly_half(seed: int, stream: int) -> int:
    """The item (epoch 0) whose draw on ``stream`` is exactly 0.5: SplitMix64 inverted by hand."""
    key1 = _mix(_mix((seed + _GOLDEN) & _MASK))  # epoch 0: key1 = mix(key0 ^ 0)
    key2 = (_unmix(1 << 63) - (stream + 1) * _GOLDEN) & _MASK  # mix(lane) = 2^63 -> 53 bits = 2^52
    item = _unmix(key2) ^ key1
    return item - (1 << 64) if item >= 1 << 63 else item


def test_a_draw_of_exactly_one_half_does_not_flip(tmp_path):
    """Flip iff the draw is < 1/2, strictly, in both modes."""
    dataset = _dataset(tmp_path, train=True, seed=0)
    epochs = np.zeros(1, dtype=np.int64)
    for stream, diagonal in ((0, True), (2, False)):
        items = np.array([_item_drawing_exactly_half(0, stream)], dtype=np.int64)
        assert augmentation_draws(0, epochs, items)[0, stream] == 0.5
        top, left, flip = dataset._corners(epochs, items, np.array([6]), np.array([4]), diagonal=diagonal)
        assert flip.tolist() == [False]
        if diagonal:
            assert (top.tolist(), left.tolist()) == ([3], [2])
