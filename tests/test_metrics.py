"""Metrics against independent references: scikit-learn and a NumPy CCC written here."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn.metrics import accuracy_score, f1_score

from abawbench import metrics

from examples_budget import MUTATING, examples


def reference_ccc(x, y):
    """Lin's CCC written out from the definition, population moments."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    covariance = np.mean((x - x.mean()) * (y - y.mean()))
    return 2 * covariance / (x.var() + y.var() + (x.mean() - y.mean()) ** 2)


labels = st.integers(min_value=1, max_value=400).flatmap(
    lambda n: st.tuples(hnp.arrays(np.int64, n, elements=st.integers(0, 7)),
                        hnp.arrays(np.int64, n, elements=st.integers(0, 7))))


@settings(max_examples=examples(200), deadline=None)
@given(labels)
def test_macro_f1_and_accuracy_equal_sklearn(pair):
    truth, prediction = pair
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected_f1 = f1_score(truth, prediction, average="macro")
    assert metrics.macro_f1(truth, prediction, 8, average="present") == pytest.approx(expected_f1, abs=1e-9)
    assert metrics.accuracy(truth, prediction) == pytest.approx(accuracy_score(truth, prediction), abs=1e-9)
    confusion = metrics.confusion_matrix(truth, prediction, 8)
    assert metrics.accuracy_from_confusion(confusion) == pytest.approx(accuracy_score(truth, prediction), abs=1e-9)


@settings(max_examples=examples(100), deadline=None)
@given(labels)
def test_macro_f1_over_all_classes_equals_sklearn_with_labels(pair):
    truth, prediction = pair
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = f1_score(truth, prediction, average="macro", labels=list(range(8)), zero_division=0)
    assert metrics.macro_f1(truth, prediction, 8, average="all") == pytest.approx(expected, abs=1e-9)


# VA values as the files hold them: at most 6 decimals in [-1, 1]
va_values = st.floats(-1, 1, allow_nan=False).map(lambda v: round(v, 6))
series = st.integers(min_value=2, max_value=300).flatmap(
    lambda n: st.tuples(hnp.arrays(np.float64, n, elements=va_values),
                        hnp.arrays(np.float64, n, elements=va_values)))


@settings(max_examples=examples(200), deadline=None)
@given(series)
def test_ccc_equals_reference(pair):
    x, y = pair
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = metrics.concordance_cc(x, y)
    # a constant series has covariance 0, so CCC 0 (documented); decided exactly here, since
    # NumPy's var() of a constant can round to a tiny non-zero value (0.691406 three times)
    if x.min() == x.max() or y.min() == y.max():
        assert value == 0.0
    else:
        assert value == pytest.approx(reference_ccc(x, y), abs=1e-9)


# shorter series for the tests that draw several: six of up to 300 pairs can pass
# hypothesis' input-size bound and fail its health check (data_too_large) by chance
short_series = st.integers(min_value=2, max_value=40).flatmap(
    lambda n: st.tuples(hnp.arrays(np.float64, n, elements=va_values),
                        hnp.arrays(np.float64, n, elements=va_values)))


@settings(max_examples=examples(100), deadline=None)
@given(st.lists(short_series, min_size=1, max_size=6), st.lists(st.integers(0, 3), min_size=6, max_size=6))
def test_pooled_moments_equal_concatenation(groups, counts):
    """Pooling per-group moments with weights equals the CCC of the repeated concatenation."""
    counts = counts[: len(groups)]
    if sum(counts) == 0:
        counts[0] = 1
    moments = np.stack([metrics.centred_moments(x, y) for x, y in groups])
    pooled = metrics.combine_moments(moments, np.array([counts]))[0]
    x = np.concatenate([np.tile(x, c) for (x, _), c in zip(groups, counts)])
    y = np.concatenate([np.tile(y, c) for (_, y), c in zip(groups, counts)])
    direct = metrics.centred_moments(x, y)
    assert pooled == pytest.approx(direct, abs=1e-8)


aus = st.integers(min_value=1, max_value=200).flatmap(
    lambda n: st.tuples(hnp.arrays(np.int64, (n, 12), elements=st.integers(0, 1)),
                        hnp.arrays(np.int64, (n, 12), elements=st.integers(0, 1))))


@settings(max_examples=examples(150), deadline=None)
@given(aus)
def test_au_metrics_equal_sklearn(pair):
    truth, prediction = pair
    counts = metrics.au_counts(truth, prediction)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected_f1 = np.mean([f1_score(truth[:, a], prediction[:, a], zero_division=0) for a in range(12)])
    assert metrics.au_mean_f1_from_counts(counts) == pytest.approx(expected_f1, abs=1e-9)
    assert metrics.au_accuracy_from_counts(counts) == pytest.approx(np.mean(truth == prediction), abs=1e-9)


# ------------------------------------------------------------- hand-worked cases


def test_f1_present_classes_versus_all_classes_from_the_formats_doc():
    # abaw-formats.md: truth [0,1,1,4,4], prediction [0,1,4,4,4] -> 0.822 present, 0.352 over 7.
    truth, prediction = [0, 1, 1, 4, 4], [0, 1, 4, 4, 4]
    # per class: 0 -> 1, 1 -> 2·1/(2+0+1) = 2/3, 4 -> 2·2/(4+1+0) = 4/5
    assert metrics.macro_f1(truth, prediction, 7, average="present") == pytest.approx((1 + 2 / 3 + 4 / 5) / 3)
    assert metrics.macro_f1(truth, prediction, 7, average="present") == pytest.approx(0.822, abs=5e-4)
    assert metrics.macro_f1(truth, prediction, 7, average="all") == pytest.approx((1 + 2 / 3 + 4 / 5) / 7)
    assert metrics.macro_f1(truth, prediction, 7, average="all") == pytest.approx(0.352, abs=5e-4)


def test_expr_criterion_weights():
    assert metrics.expr_criterion(0.351, 0.668) == pytest.approx(0.67 * 0.351 + 0.33 * 0.668)
    # the seed paper's test-set row: F1 0.351, Acc 0.668 -> criterion 0.456
    assert metrics.expr_criterion(0.351, 0.668) == pytest.approx(0.456, abs=1e-3)
    assert metrics.au_criterion(0.4, 0.8) == pytest.approx(0.6)


def test_single_frame_and_constant_inputs_have_defined_values():
    assert metrics.macro_f1([3], [3], 7, average="present") == 1.0
    assert metrics.macro_f1([3], [2], 7) == 0.0
    with pytest.warns(metrics.DegenerateInputWarning):
        assert metrics.concordance_cc([0.5], [0.5]) == 0.0
    with pytest.warns(metrics.DegenerateInputWarning):
        assert metrics.concordance_cc([0.1, 0.4, -0.3], [0.2, 0.2, 0.2]) == 0.0
    # perfect agreement is 1, a constant offset lowers it: 2·var / (2·var + d²)
    x = np.array([0.0, 0.5, -0.5, 1.0])
    assert metrics.concordance_cc(x, x) == pytest.approx(1.0)
    assert metrics.concordance_cc(x, x + 0.2) == pytest.approx(2 * x.var() / (2 * x.var() + 0.04))


def test_ccc_is_population_not_unbiased():
    # design.md: torchmetrics' mixed-variance CCC gives 0.5183 where the organisers' gives 0.5096
    # at n = 5; check the population value by hand on a small case instead.
    x = np.array([1.0, 2.0, 3.0])
    y = np.array([1.0, 3.0, 2.0])
    # means 2, 2; population var 2/3 each; cov = (0·... ) -> (−1·−1 + 0·1 + 1·0)/3 = 1/3
    assert metrics.concordance_cc(x, y) == pytest.approx(2 * (1 / 3) / (2 / 3 + 2 / 3))


def test_au_with_no_positive_anywhere_scores_zero_f1():
    truth = np.array([[0, 1], [0, 0]])
    prediction = np.array([[0, 1], [0, 1]])
    f1 = metrics.au_f1_from_counts(metrics.au_counts(truth, prediction))
    assert f1[0] == 0.0  # AU never present: sklearn's zero_division default
    assert f1[1] == pytest.approx(2 / 3)


def test_empty_input_is_an_error_not_nan():
    with pytest.raises(ValueError, match="zero samples"):
        metrics.accuracy([], [])
    with pytest.raises(ValueError, match="zero samples"):
        metrics.macro_f1(np.array([], int), np.array([], int), 7)
    with pytest.raises(ValueError, match="zero samples"):
        metrics.concordance_cc([], [])


def test_class_ids_out_of_range_are_rejected():
    with pytest.raises(ValueError, match="outside 0..6"):
        metrics.confusion_matrix([0, 7], [0, 1], 7)


def test_scores_from_stats_batches_match_single_computation():
    rng = np.random.default_rng(0)
    confusions = np.stack([metrics.confusion_matrix(rng.integers(0, 7, 50), rng.integers(0, 7, 50), 7)
                           for _ in range(4)])
    batched = metrics.scores_from_stats("expr", confusions, criterion_era=True)
    for i in range(4):
        single = metrics.scores_from_stats("expr", confusions[i], criterion_era=True)
        assert batched["criterion"][i] == pytest.approx(float(single["criterion"]))
    assert set(metrics.scores_from_stats("expr", confusions, criterion_era=False)) == {"f1", "acc"}


# ------------------------------------------------- edges the mutation run found untested


def test_ccc_warns_exactly_when_a_series_is_constant():
    varying = np.array([0.1, 0.4, -0.3, 0.2])
    for x, y in ((np.full(4, 0.2), varying), (varying, np.full(4, 0.2))):  # either argument constant
        with pytest.warns(metrics.DegenerateInputWarning) as caught:
            assert metrics.concordance_cc(x, y) == 0.0
        (warning,) = caught
        assert str(warning.message) == ("CCC of a constant series: covariance is 0, so CCC is 0 "
                                        "(Deng et al.'s helper would give NaN)")
        if not MUTATING:  # mutmut calls through a trampoline, one frame deeper
            assert warning.filename == __file__  # stacklevel: the caller's line, not metrics.py
    orthogonal_x, orthogonal_y = np.array([1.0, -1.0, 1.0, -1.0]), np.array([1.0, 1.0, -1.0, -1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # neither series constant: no warning, even at covariance 0
        assert metrics.concordance_cc(orthogonal_x, orthogonal_y) == 0.0
        assert metrics.concordance_cc(varying, varying * 0.5) == pytest.approx(reference_ccc(varying, varying * 0.5))


def test_class_ids_out_of_range_name_the_array():
    with pytest.raises(ValueError, match="^truth holds class ids outside 0..6$"):
        metrics.confusion_matrix([0, 7], [0, 1], 7)
    with pytest.raises(ValueError, match="^prediction holds class ids outside 0..6$"):
        metrics.confusion_matrix([0, 1], [0, -1], 7)


def test_macro_f1_infers_the_class_count_from_the_largest_id():
    truth, prediction = [0, 2, 2, 3], [0, 1, 2, 2]
    k = 4  # ids 0..3
    expected = f1_score(truth, prediction, labels=list(range(k)), average="macro", zero_division=0)
    assert metrics.macro_f1(truth, prediction, average="all") == pytest.approx(expected)
    assert metrics.macro_f1([0, 0], [0, 0], average="all") == 1.0  # one class: k = 1
    with pytest.raises(ValueError, match="zero samples"):
        metrics.macro_f1(np.array([], int), np.array([], int))


def test_confusion_reductions_take_integer_counts_and_batches():
    confusion = metrics.confusion_matrix([0, 1, 1, 2], [0, 1, 2, 2], 4)  # int64, class 3 absent
    assert metrics.per_class_f1(confusion).tolist() == pytest.approx([1.0, 2 / 3, 2 / 3, 0.0])
    batch = np.stack([confusion, metrics.confusion_matrix([3, 3], [3, 0], 4)])
    assert metrics.macro_f1_from_confusion(batch, "all").tolist() == pytest.approx(
        [(1 + 2 / 3 + 2 / 3) / 4, (0 + 2 / 3) / 4])
    assert metrics.macro_f1_from_confusion(batch, "present").tolist() == pytest.approx(
        [(1 + 2 / 3 + 2 / 3) / 3, (0 + 2 / 3) / 2])
    assert metrics.accuracy_from_confusion(batch).tolist() == pytest.approx([0.75, 0.5])
    with pytest.raises(ValueError, match="zero samples"):
        metrics.accuracy_from_confusion(np.zeros((7, 7)))


def test_absent_classes_and_undefined_ccc_score_exactly_zero():
    confusion = metrics.confusion_matrix([0, 1, 1], [0, 1, 0], 8)  # classes 2-7 absent
    assert metrics.per_class_f1(confusion).tolist() == pytest.approx([2 / 3, 2 / 3] + [0.0] * 6)
    undefined = np.array([[2.0, 0.5, 0.5, 0.0, 0.0, 0.0], [3.0, 0.1, 0.2, 0.5, 0.5, 0.1]])
    assert metrics.ccc_from_moments(undefined).tolist() == pytest.approx([0.0, 2 * (0.1 / 3) / (1 / 3 + 0.01)])


def test_macro_f1_defaults_to_all_classes_and_checks_the_rule():
    confusion = metrics.confusion_matrix([0, 1, 1, 4, 4], [0, 1, 4, 4, 4], 7)
    assert metrics.macro_f1_from_confusion(confusion) == pytest.approx((1 + 2 / 3 + 4 / 5) / 7)
    assert metrics.macro_f1_from_confusion(confusion, "present") == pytest.approx((1 + 2 / 3 + 4 / 5) / 3)
    with pytest.raises(ValueError, match="^the F1 average must be one of all, present, not 'some'$"):
        metrics.macro_f1_from_confusion(confusion, "some")


def test_moments_are_computed_in_float64_whatever_the_input_dtype():
    rng = np.random.default_rng(3)
    x = rng.uniform(-1, 1, 2000).astype(np.float32)
    y = (0.5 * x + rng.normal(0, 0.3, 2000)).astype(np.float32)
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    expected = [2000, x64.mean(), y64.mean(), ((x64 - x64.mean()) ** 2).sum(), ((y64 - y64.mean()) ** 2).sum(),
                ((x64 - x64.mean()) * (y64 - y64.mean())).sum()]
    assert metrics.centred_moments(x, y) == pytest.approx(expected, rel=1e-12, abs=1e-12)
    ccc = metrics.ccc_from_moments(np.asarray(expected, dtype=np.float32))
    assert ccc.dtype == np.float64
    with pytest.raises(ValueError, match="zero samples"):
        metrics.ccc_from_moments(np.zeros(6))


def test_au_inputs_are_checked_and_counts_batch():
    with pytest.raises(ValueError, match=r"^AU arrays must be \(frames, AUs\), got shape \(3,\)$"):
        metrics.au_counts(np.zeros(3, int), np.zeros(3, int))
    with pytest.raises(ValueError, match="^AU truth must be 0 or 1$"):
        metrics.au_counts(np.array([[2, 0]]), np.array([[1, 0]]))
    with pytest.raises(ValueError, match="^AU prediction must be 0 or 1$"):
        metrics.au_counts(np.array([[1, 0]]), np.array([[1, -1]]))
    first = metrics.au_counts(np.array([[1, 0], [1, 1]]), np.array([[1, 1], [0, 1]]))  # cells: 2 of 4 right
    second = metrics.au_counts(np.array([[0, 0]]), np.array([[0, 0]]))  # 2 of 2 right
    assert metrics.au_accuracy_from_counts(np.stack([first, second])).tolist() == [0.5, 1.0]
    with pytest.raises(ValueError, match="zero samples"):
        metrics.au_accuracy_from_counts(np.zeros((12, 4)))


def test_error_messages_of_the_metrics_are_whole():
    with pytest.raises(ValueError, match=r"^truth and prediction differ in shape: \(2,\) vs \(3,\)$"):
        metrics.accuracy([0, 1], [0, 1, 1])
    with pytest.raises(ValueError, match=r"^truth and prediction differ in shape: \(1, 2\) vs \(1, 3\)$"):
        metrics.au_counts(np.zeros((1, 2), int), np.zeros((1, 3), int))
    with pytest.raises(ValueError, match="^metric of zero samples is undefined: no valid frames to score$"):
        metrics.accuracy([], [])
    with pytest.raises(ValueError, match="^unknown track 'xyz'$"):
        metrics.scores_from_stats("xyz", np.ones((2, 2)), criterion_era=False)


# ------------------------------------------ edges the second mutation run found untested


def test_plain_pooling_is_one_pool_and_its_mean_is_exact_only_over_the_groups_taken():
    # (1·0.1 + 2·0.1) / 3 rounds to 0.10000000000000002: a pool of a constant series must
    # still have that constant as its mean and no spread (combine_moments' docstring)
    assert (1 * 0.1 + 2 * 0.1) / 3 != 0.1
    constant = np.array([[1, 0.1, 0.2, 0.0, 0.0, 0.0], [2, 0.1, 0.4, 0.0, 0.02, 0.0]])
    plain = metrics.combine_moments(constant)
    assert plain.shape == (1, 6)  # no weights: one pool of every group
    assert plain[0, 1] == 0.1 and plain[0, 3] == 0.0
    # an empty group (an MTL video without VA labels) adds no sample, so its mean of 0 is not taken
    with_empty = np.vstack([constant, np.zeros(6)])
    pooled = metrics.combine_moments(with_empty, np.array([[1, 1, 1]]), allow_empty=True)[0]
    assert pooled[0] == 3 and pooled[1] == 0.1 and pooled[3] == 0.0
    # a group a resample does not draw (weight 0) is not taken either, whatever its mean
    undrawn = np.vstack([constant, [4, 0.5, 0.0, 0.1, 0.1, 0.0]])
    pooled = metrics.combine_moments(undrawn, np.array([[1, 1, 0]]))[0]
    assert pooled[0] == 3 and pooled[1] == 0.1 and pooled[3] == 0.0
    # a group of one frame taken once is taken: the means differ, so the weighted average
    one_frame = np.array([[1, 0.3, 0.0, 0.0, 0.0, 0.0], [2, 0.1, 0.0, 0.0, 0.0, 0.0]])
    pooled = metrics.combine_moments(one_frame)[0]
    assert pooled[1] == pytest.approx((0.3 + 2 * 0.1) / 3)
    x = np.array([0.3, 0.1, 0.1])  # the three frames themselves: M2 = Σ (x - mean)²
    assert pooled[3] == pytest.approx(((x - x.mean()) ** 2).sum())


def test_au_mean_f1_of_one_au_and_of_batches_with_empty_or_negative_members():
    one_au = np.array([[0, 1, 0, 3]])  # (A=1, 4): tn 0, fp 1, fn 0, tp 3 -> F1 = 6/7
    assert metrics.au_mean_f1_from_counts(one_au) == pytest.approx(6 / 7)
    assert metrics.au_mean_f1_from_counts(one_au, "present") == pytest.approx(6 / 7)
    # a frame with no AU active in truth or prediction: no AU is present, whose mean is 0
    negative = metrics.au_counts(np.zeros((3, 2), int), np.zeros((3, 2), int))
    some = metrics.au_counts(np.array([[1, 0], [0, 0]]), np.array([[1, 0], [1, 0]]))  # AU 0: tp 1, fp 1
    batch = np.stack([negative, some])
    assert metrics.au_mean_f1_from_counts(batch, "present").tolist() == pytest.approx([0.0, 2 / 3])
    assert metrics.au_mean_f1_from_counts(batch, "all").tolist() == pytest.approx([0.0, 1 / 3])
    # one member of no frame makes the batch an error, as the member alone is
    with pytest.raises(ValueError, match="zero samples"):
        metrics.au_mean_f1_from_counts(np.stack([some, np.zeros((2, 4), int)]))


def _mtl_parts():
    va = np.array([[3, 0.1, 0.2, 0.5, 0.4, 0.3], [3, -0.1, 0.0, 0.2, 0.6, 0.1]])
    expr = np.zeros((8, 8), int)
    expr[0, 0], expr[2, 1] = 2, 1  # truth 0 -> 0 twice, truth 2 -> 1 once
    au = np.tile([2, 0, 0, 1], (12, 1))  # every AU: tn 2, tp 1
    au[1] = [1, 1, 1, 0]
    return va, expr, au


def test_mtl_statistics_of_one_video_and_of_batches():
    va, expr, au = _mtl_parts()
    joined = metrics.join_mtl_stats(va, expr, au)  # one video: no leading axis
    assert joined.shape == (124,) and joined.dtype == np.float64
    assert joined.tolist() == va.ravel().tolist() + expr.ravel().tolist() + au.ravel().tolist()
    assert metrics.join_mtl_stats(np.zeros((2, 6), int), expr, au).dtype == np.float64  # documented float64
    parts = metrics.split_mtl_stats(joined)
    assert [p.shape for p in parts] == [(2, 6), (8, 8), (12, 4)]
    assert [p.tolist() for p in parts] == [va.tolist(), expr.tolist(), au.tolist()]
    assert metrics.mtl_part_sizes(joined).tolist() == [3, 3, 3]
    batch = np.stack([np.stack([joined, joined]), np.stack([joined, np.zeros(124)])])  # (2, 2, 124)
    assert [p.shape for p in metrics.split_mtl_stats(batch)] == [(2, 2, 2, 6), (2, 2, 8, 8), (2, 2, 12, 4)]
    assert metrics.mtl_part_sizes(batch).tolist() == [[[3, 3, 3], [3, 3, 3]], [[3, 3, 3], [0, 0, 0]]]
    assert metrics.join_mtl_stats(*metrics.split_mtl_stats(batch)).tolist() == batch.tolist()
    with pytest.raises(ValueError, match=r"^MTL statistics must end in 124 numbers, found shape \(124, 2\)$"):
        metrics.split_mtl_stats(np.zeros((124, 2)))


def test_mtl_scores_take_the_f1_rule_and_score_a_part_of_one_row():
    va, expr, au = _mtl_parts()
    scores = {average: metrics.mtl_scores_from_stats(metrics.join_mtl_stats(va, expr, au), average)
              for average in ("all", "present")}
    # EXPR: class 0 F1 = 2·2/(2·2+0+0) = 1, classes 1 and 2 F1 = 0 (fp 1 / fn 1)
    assert scores["all"]["expr_f1"] == pytest.approx(1 / 8)
    assert scores["present"]["expr_f1"] == pytest.approx(1 / 3)
    # AU: 11 AUs of F1 1 (tp 1, no fp/fn), AU 1 of F1 0 with a positive: present either way
    assert scores["all"]["au_f1"] == pytest.approx(11 / 12) and scores["present"]["au_f1"] == pytest.approx(11 / 12)
    absent = au.copy()
    absent[1] = [3, 0, 0, 0]  # AU 1 never active: counts 0 under "all", left out under "present"
    scores = metrics.mtl_scores_from_stats(metrics.join_mtl_stats(va, expr, absent), "present")
    assert scores["au_f1"] == pytest.approx(1.0)
    # a part with a single row has a value (only a part with no row is NaN)
    one_row = np.zeros((8, 8), int)
    one_row[4, 4] = 1
    scores = metrics.mtl_scores_from_stats(metrics.join_mtl_stats(va, one_row, au), "present")
    assert scores["expr_f1"] == 1.0


def test_pooling_mtl_videos_without_va_labels():
    va, expr, au = _mtl_parts()
    without_va = metrics.join_mtl_stats(np.zeros((2, 6)), expr, au)
    pooled = metrics.pool_mtl_stats(np.stack([without_va, without_va]), np.array([[1, 2]]))
    assert pooled.shape == (1, 124)
    assert pooled[0, :12].tolist() == [0.0] * 12  # no VA row: an empty pool, not an error
    assert pooled[0, 12:].tolist() == (3 * np.concatenate([expr.ravel(), au.ravel()])).tolist()
    assert np.isnan(metrics.mtl_scores_from_stats(pooled)["va_mean"][0])


def test_each_resample_keeps_its_own_exact_mean():
    # resample 0 draws the two groups of mean 0.1 only: its mean is exactly 0.1 however the
    # other resamples (drawing groups of means -0.5 and 0.5 too) come out
    groups = np.array([[1, 0.1, 0.0, 0.0, 0.0, 0.0], [2, 0.1, 0.0, 0.0, 0.0, 0.0],
                       [4, -0.5, 0.0, 0.0, 0.0, 0.0], [4, 0.5, 0.0, 0.0, 0.0, 0.0]])
    pooled = metrics.combine_moments(groups, np.array([[1, 1, 0, 0], [1, 1, 1, 0], [1, 1, 0, 1]]))
    assert pooled[0, 1] == 0.1 and pooled[0, 3] == 0.0
    assert pooled[1:, 1].tolist() == pytest.approx([(0.3 - 2.0) / 7, (0.3 + 2.0) / 7])


def test_batched_macro_f1_counts_a_class_present_in_truth_only():
    # member 0: class 1 is in the truth only; member 1: class 2 in the prediction only
    pairs = [([0, 1, 0], [0, 0, 0]), ([0, 1, 1], [0, 1, 2])]
    batch = np.stack([metrics.confusion_matrix(t, p, 4) for t, p in pairs])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn warns about the zero F1 of a class
        expected = [f1_score(t, p, average="macro") for t, p in pairs]
    assert metrics.macro_f1_from_confusion(batch, "present").tolist() == pytest.approx(expected)
    assert expected == pytest.approx([(0.8 + 0) / 2, (1 + 2 / 3 + 0) / 3])  # by hand
    with pytest.raises(ValueError, match="zero samples"):  # a member without frames, as alone
        metrics.macro_f1_from_confusion(np.stack([batch[0], np.zeros((4, 4), int)]))


def test_metrics_of_ordinary_input_warn_nothing_and_print_no_minus_zero():
    confusion = metrics.confusion_matrix([0, 1, 1], [0, 1, 0], 8)  # classes 2-7 absent: 0/0 masked
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert metrics.per_class_f1(confusion).tolist() == pytest.approx([2 / 3, 2 / 3] + [0.0] * 6)
        assert metrics.au_f1_from_counts(np.array([[3, 0, 0, 0], [1, 1, 0, 1]])).tolist() == pytest.approx([0, 2 / 3])
    # a covariance of -0.0 (a zero covariance times a negative rounding): CCC 0.0, not -0.0
    ccc = metrics.ccc_from_moments(np.array([3, 0.1, 0.2, 0.5, 0.4, -0.0]))
    assert ccc == 0.0 and not np.signbit(ccc)


def test_mtl_scores_from_stats_take_the_f1_rule():
    expr = np.zeros((8, 8), int)
    expr[0, 0], expr[2, 1] = 2, 1  # present: classes 0, 1, 2 -> F1 1, 0, 0
    au = np.tile([2, 0, 0, 1], (12, 1))
    au[1] = [3, 0, 0, 0]  # AU 1 absent
    stats = metrics.join_mtl_stats(np.array([[3, 0.1, 0.2, 0.5, 0.4, 0.3]] * 2), expr, au)
    present = metrics.scores_from_stats("mtl", stats, criterion_era=False, f1_average="present")
    every = metrics.scores_from_stats("mtl", stats, criterion_era=False, f1_average="all")
    assert (present["expr_f1"], present["au_f1"]) == pytest.approx((1 / 3, 1.0))
    assert (every["expr_f1"], every["au_f1"]) == pytest.approx((1 / 8, 11 / 12))


def test_the_truths_pooled_mean_is_exact_too():
    # the truth (y) side of the moments: a constant truth over groups keeps its mean exactly
    groups = np.array([[1, 0.3, 0.1, 0.0, 0.0, 0.0], [2, -0.2, 0.1, 0.1, 0.0, 0.0]])
    pooled = metrics.combine_moments(groups)[0]
    assert pooled[2] == 0.1 and pooled[4] == 0.0 and pooled[5] == 0.0
    assert pooled[1] == pytest.approx((0.3 - 0.4) / 3)
