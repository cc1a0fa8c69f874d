"""va_histogram_cells and its edges, value by value: the VA cells that balance the ``va`` and ``expr_va`` parts.

Every expected cell id and edge below is worked out by hand (cell id = valence_bin * bins + arousal_bin).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from abawbench.data.mixing import _edges, va_histogram_cells


def test_fixed_range_cells_at_and_around_every_edge():
    """bins=4 on [-1, 1]: edges -1, -0.5, 0, 0.5, 1; a value on an edge opens the bin to its right,
    1 closes the last."""
    np.testing.assert_array_equal(_edges(np.array([0.0]), 4, (-1.0, 1.0)), [-1.0, -0.5, 0.0, 0.5, 1.0])
    values = [-1.0, -0.9999, -0.5001, -0.5, -0.4999, -0.0001, 0.0, 0.0001, 0.4999, 0.5, 0.5001, 0.9999, 1.0]
    bins_of = [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 3]
    # valence walks the values up, arousal walks them down
    cells = va_histogram_cells(values, values[::-1], bins=4)
    assert cells.dtype == np.int64
    assert cells.tolist() == [v * 4 + a for v, a in zip(bins_of, bins_of[::-1])]
    assert cells.tolist() == [3, 3, 3, 7, 6, 6, 10, 9, 9, 13, 12, 12, 12]


def test_default_cells_follow_the_linspace_edges_not_exact_tenths():
    """20 bins on [-1, 1]: edges[11] is 0.10000000000000009, so 0.1 still falls in bin 10, as in np.histogram2d."""
    edges = _edges(np.array([0.0]), 20, (-1.0, 1.0))
    assert edges.tolist() == [
        -1.0, -0.9, -0.8, -0.7, -0.6, -0.5, -0.3999999999999999, -0.29999999999999993, -0.19999999999999996,
        -0.09999999999999998, 0.0, 0.10000000000000009, 0.20000000000000018, 0.30000000000000004,
        0.40000000000000013, 0.5, 0.6000000000000001, 0.7000000000000002, 0.8, 0.9000000000000001, 1.0]
    cells = va_histogram_cells([-1.0, -0.9, 0.1, 0.5, 0.95, 1.0], [1.0, 0.0, -0.05, 0.1, -1.0, -0.9])
    assert cells.tolist() == [0 * 20 + 19, 1 * 20 + 10, 10 * 20 + 9, 15 * 20 + 10, 19 * 20 + 0, 19 * 20 + 1]
    counts, _, _ = np.histogram2d([0.1], [0.5], bins=20, range=[[-1, 1], [-1, 1]])
    assert np.argwhere(counts).tolist() == [[10, 15]]


@pytest.mark.parametrize("valence, arousal, shown", [
    ([0.0, 1.0000001], [0.0, 0.0], "1.0000001"),
    ([0.0, 0.0], [0.0, 5.0], "5.0"),
    ([np.nan, 0.2], [0.0, 0.0], "nan"),
    ([0.0, 0.0], [0.3, np.nan], "nan"),
])
def test_fixed_range_rejects_values_above_it_and_nan(valence, arousal, shown):
    with pytest.raises(ValueError) as caught:
        va_histogram_cells(valence, arousal)
    assert str(caught.value) == f"1 value(s) outside [-1.0, 1.0], e.g. {shown} (a missing -5 label?)"


def test_fixed_range_error_counts_the_values_outside_on_both_sides():
    with pytest.raises(ValueError) as caught:
        va_histogram_cells([0.0, 0.0, 0.0], [-5.0, 2.0, np.nan])
    assert str(caught.value) == "3 value(s) outside [-1.0, 1.0], e.g. -5.0 (a missing -5 label?)"


def test_data_range_of_one_repeated_value_is_widened_by_half_on_each_side():
    """As np.histogram2d: min == max spans [value - 0.5, value + 0.5]; bins=4 puts the value itself on edge 2."""
    assert _edges(np.array([0.0, 0.0]), 4, None).tolist() == [-0.5, -0.25, 0.0, 0.25, 0.5]
    assert _edges(np.array([0.3]), 4, None) == pytest.approx([-0.2, 0.05, 0.3, 0.55, 0.8])
    assert va_histogram_cells([0.0, 0.0], [0.3, 0.3], bins=4, value_range=None).tolist() == [2 * 4 + 2] * 2
    # one axis constant, the other spread: [-1, 1] on 4 bins for arousal
    cells = va_histogram_cells([0.0, 0.0, 0.0], [-1.0, 0.2, 1.0], bins=4, value_range=None)
    assert cells.tolist() == [2 * 4 + 0, 2 * 4 + 2, 2 * 4 + 3]


def test_data_range_spans_the_data_min_to_max_even_outside_minus_one_to_one():
    """value_range=None (authors' code): edges 2, 3, 4 for valence; -5 .. 5 in 2 bins for arousal."""
    assert _edges(np.array([2.0, 2.5, 3.0, 4.0]), 2, None).tolist() == [2.0, 3.0, 4.0]
    cells = va_histogram_cells([2.0, 2.5, 3.0, 4.0], [-5.0, -0.1, 0.0, 5.0], bins=2, value_range=None)
    assert cells.tolist() == [0 * 2 + 0, 0 * 2 + 0, 1 * 2 + 1, 1 * 2 + 1]


def test_no_samples_give_no_cells_on_either_range():
    for value_range in (None, (-1.0, 1.0)):
        cells = va_histogram_cells([], [], value_range=value_range)
        assert cells.dtype == np.int64 and cells.shape == (0,)


@pytest.mark.parametrize("valence, arousal, message", [
    ([0.1, 0.2], [0.1], "valence and arousal must be 1-D of one length, got (2,) and (1,)"),
    ([0.1], [0.1, 0.2, 0.3], "valence and arousal must be 1-D of one length, got (1,) and (3,)"),
    ([[0.1, 0.2]], [[0.1, 0.2]], "valence and arousal must be 1-D of one length, got (1, 2) and (1, 2)"),
    (0.1, 0.1, "valence and arousal must be 1-D of one length, got () and ()"),
])
def test_valence_and_arousal_must_be_1d_of_one_length(valence, arousal, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        va_histogram_cells(valence, arousal)


@pytest.mark.parametrize("object_axis", ["valence", "arousal", "both"])
def test_object_dtype_columns_are_read_as_floats(object_axis):
    """An object column (e.g. a table read with mixed types) bins like the floats it holds; NaN in it is refused."""
    plain = [0.5, -0.5, 1.0]
    as_object = pd.Series(plain, dtype=object)
    valence = as_object if object_axis in ("valence", "both") else plain
    arousal = as_object if object_axis in ("arousal", "both") else plain
    assert va_histogram_cells(valence, arousal).tolist() == [15 * 20 + 15, 5 * 20 + 5, 19 * 20 + 19]
    assert va_histogram_cells(valence, arousal, bins=2, value_range=None).tolist() == [3, 0, 3]
