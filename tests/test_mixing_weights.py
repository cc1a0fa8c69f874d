"""Balance weights of abawbench.data.mixing, hand-worked on tiny label arrays.

The four points below (both axes alike) fall into the 20x20 histogram over [-1, 1] (bins 0.1 wide) as
cells {0.01, 0.06, 0.06} and {0.31}. On 21 bins (2/21 ~ 0.095 wide, bin 10 = [-0.048, 0.048)) 0.01 and
0.06 part ways, and on the data's own range [0.01, 0.31] (bins 0.015 wide) 0.01 is bin 0, 0.06 bin 3 and
0.31 the last bin: both give cells {0.01}, {0.06, 0.06}, {0.31}.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from abawbench.data.mixing import balance_weights, expr_balance_weights, expr_va_balance_weights, va_balance_weights

VA = np.array([0.01, 0.06, 0.06, 0.31])
LABELS = np.array([0, 0, 2, 5])  # classes 1, 3 and 4 absent

VA_FIXED = [1 / 3, 1 / 3, 1 / 3, 1.0]  # 20 bins on [-1, 1]
VA_OWN_RANGE = [1.0, 1 / 2, 1 / 2, 1.0]  # 20 bins on the data's min/max (also what 21 bins on [-1, 1] give)
EXPR = [1 / 2, 1 / 2, 1.0, 1.0]
# 1/count(class) + 1/count(cell), divided by the largest sum (2 = 1 + 1, the last row)
EXPR_VA_FIXED = [(1 / 2 + 1 / 3) / 2, (1 / 2 + 1 / 3) / 2, (1 + 1 / 3) / 2, 1.0]
EXPR_VA_OWN_RANGE = [(1 / 2 + 1) / 2, (1 / 2 + 1 / 2) / 2, (1 + 1 / 2) / 2, 1.0]


def close(actual, expected):
    np.testing.assert_allclose(actual, expected, rtol=1e-12, atol=0)


def test_weights_on_a_tiny_array_by_hand():
    close(expr_balance_weights(LABELS), EXPR)
    close(va_balance_weights(VA, VA), VA_FIXED)
    close(va_balance_weights(VA, VA, value_range=None), VA_OWN_RANGE)
    close(expr_va_balance_weights(LABELS, VA, VA), EXPR_VA_FIXED)
    close(expr_va_balance_weights(LABELS, VA, VA, value_range=None), EXPR_VA_OWN_RANGE)


def test_balance_weights_default_to_20_bins_on_the_fixed_range_and_pass_value_range_on():
    """Each part's weights from its primary labels; ``bins``/``value_range`` reach the va and expr_va parts."""
    parts = {
        "expr": pd.DataFrame({"expr": LABELS}),
        "va": pd.DataFrame({"valence": VA, "arousal": VA}),
        "expr_va": pd.DataFrame({"expr": LABELS, "valence": VA, "arousal": VA}),
    }
    weights = balance_weights(parts)
    assert list(weights) == ["expr", "va", "expr_va"]
    close(weights["expr"], EXPR)
    close(weights["va"], VA_FIXED)
    close(weights["expr_va"], EXPR_VA_FIXED)

    own = balance_weights(parts, value_range=None)
    close(own["expr"], EXPR)
    close(own["va"], VA_OWN_RANGE)
    close(own["expr_va"], EXPR_VA_OWN_RANGE)


def test_unknown_part_is_named_with_the_known_ones():
    with pytest.raises(ValueError) as error:
        balance_weights({"expr": pd.DataFrame({"expr": [0]}), "au": pd.DataFrame({"expr": [0]})})
    assert str(error.value) == "unknown part 'au'; expected one of expr, va, expr_va"


def test_expr_labels_must_be_one_dimensional():
    with pytest.raises(ValueError) as error:
        expr_balance_weights(np.zeros((2, 3), dtype=int))
    assert str(error.value) == "labels must be 1-D, got shape (2, 3)"


@pytest.mark.parametrize("value_range", [(-1.0, 1.0), None])
def test_empty_input_gives_empty_float64_weights(value_range):
    for weights in (expr_balance_weights(np.array([], dtype=np.int64)),
                    va_balance_weights([], [], value_range=value_range),
                    expr_va_balance_weights(np.array([], dtype=np.int64), [], [], value_range=value_range)):
        assert weights.shape == (0,)
        assert weights.dtype == np.float64


def test_a_single_sample_has_weight_one():
    close(va_balance_weights([0.2], [-0.4]), [1.0])
    close(expr_balance_weights([3]), [1.0])
    close(expr_va_balance_weights([3], [0.2], [-0.4]), [1.0])
