"""Tests for abawbench.data.draws: the draw keys of loader items and the key ranges the draws accept."""

from __future__ import annotations

import numpy as np
import pytest

from abawbench.data.draws import augmentation_draws, split_keys


def test_split_keys_keeps_the_plain_epoch_and_puts_the_occurrence_in_the_high_32_bits():
    """A bare index takes the default epoch, ``(epoch, index)`` and a first draw keep the plain epoch, and
    a repeated draw adds ``occurrence << 32``; the keys are exact int64 even past float64's 2**53."""
    keys = [5, (3, 7), (3, 8, 0), (3, 9, 2), (1, 4, 2**30)]
    epochs, items = split_keys(keys, default_epoch=6)
    assert epochs.dtype == np.int64 and items.dtype == np.int64
    assert epochs.tolist() == [6, 3, 3, 8589934595, 4611686018427387905]  # 3 + 2·2**32, 1 + 2**62
    assert items.tolist() == [5, 7, 8, 9, 4]


def test_draw_keys_outside_int64_are_refused_not_aliased():
    """Keys are int64, as :func:`split_keys` makes them: an item or epoch of 2**63 raises rather than
    wrapping onto -2**63 and drawing exactly what that key draws."""
    with pytest.raises(OverflowError):
        augmentation_draws(seed=0, epoch=0, item=[2**63])
    with pytest.raises(OverflowError):
        augmentation_draws(seed=0, epoch=2**63, item=[1])
    draws = augmentation_draws(seed=0, epoch=[-(2**63)], item=[2**63 - 1])  # the int64 ends themselves are fine
    assert draws.shape == (1, 3) and draws.dtype == np.float64
