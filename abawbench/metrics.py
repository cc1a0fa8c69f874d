"""The official ABAW metrics as pure NumPy functions (no I/O, no torch).

Every metric is computed from *sufficient statistics* so that pooled scores, per-video
scores and bootstrap resamples (re-weightings of videos) share one code path:

* EXPR and AU: confusion counts. EXPR: ``(..., K, K)`` with ``[truth, prediction]``;
  AU: ``(..., A, 4)`` holding ``(tn, fp, fn, tp)`` per action unit.
* VA: centred moments ``(..., 6)`` holding ``(n, mean_x, mean_y, M2_x, M2_y, C_xy)`` where
  ``M2`` and ``C`` are sums of squared / crossed deviations from the group's own mean
  (centred sums avoid the cancellation of ``Σx² − n·mean²`` in float64).

* MTL: the three parts side by side, ``(..., 124)``: VA moments ``(2, 6)``, EXPR counts
  ``(8, 8)``, AU counts ``(12, 4)``, flattened in that order (:func:`split_mtl_stats`).
  Each part carries only the rows whose own label is valid.

F1 averaging (``average``, EXPR macro F1 and AU mean F1):

* ``"all"`` (default): the sum of the per-class F1 over every class divided by the number
  of classes (8 expressions, 12 AUs), the ABAW papers' formula; a class absent from truth
  and prediction counts 0.
* ``"present"``: the mean over the classes that occur in the truth *or* the prediction,
  as scikit-learn's ``f1_score(average="macro")`` does without ``labels`` (participants'
  scripts); for AUs, over the AUs with a positive in truth or prediction.

The two agree whenever every class occurs, and differ on small splits, single videos and
bootstrap resamples.

Defined behaviour on degenerate input (documented because the organisers' helper
scripts disagree among themselves):

* A class with no true positive scores 0, and so does an AU with no positive in truth and
  prediction (scikit-learn's ``zero_division`` default).
* CCC uses population (biased) moments. When its denominator is zero (both series
  constant and equal) it is defined as 0, and a constant prediction yields 0 through the
  covariance (Deng et al.'s helper returns NaN there). :func:`concordance_cc` warns with
  :class:`DegenerateInputWarning` in both cases.
* Zero samples are an error (``ValueError``), never a NaN — except in an MTL part of a
  single video or a bootstrap resample that has no valid label of that part: there the
  part (and P_MTL) is NaN, which the scorer reports as "no value".
"""

from __future__ import annotations

import warnings

import numpy as np

from abawbench.tracks import (AU_CRITERION_WEIGHTS, AU_NAMES_12, DEFAULT_F1_AVERAGE, EXPR_CLASSES_8,
                              EXPR_CRITERION_WEIGHTS, MTL, check_f1_average)


class DegenerateInputWarning(UserWarning):
    """A metric was asked about input on which it is undefined and took its documented value."""


# ---------------------------------------------------------------------------- EXPR


def confusion_matrix(truth: np.ndarray, prediction: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts ``(K, K)`` int64, ``[i, j]`` = frames of true class i predicted as j."""
    truth = np.asarray(truth)
    prediction = np.asarray(prediction)
    _check_pair(truth, prediction)
    for name, values in (("truth", truth), ("prediction", prediction)):
        if values.size and (values.min() < 0 or values.max() >= n_classes):
            raise ValueError(f"{name} holds class ids outside 0..{n_classes - 1}")
    flat = truth.astype(np.int64) * n_classes + prediction.astype(np.int64)
    return np.bincount(flat.ravel(), minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def per_class_f1(confusion: np.ndarray) -> np.ndarray:
    """F1 of each class, ``(..., K)`` from ``(..., K, K)``; 0 where a class has no TP/FP/FN."""
    confusion = np.asarray(confusion, dtype=np.float64)
    true_positive = np.diagonal(confusion, axis1=-2, axis2=-1)
    # 2·TP / (2·TP + FP + FN) equals 2PR/(P+R) and stays defined when P or R is 0/0.
    denominator = confusion.sum(axis=-1) + confusion.sum(axis=-2)
    return np.divide(2 * true_positive, denominator, out=np.zeros_like(true_positive), where=denominator > 0)


def macro_f1_from_confusion(confusion: np.ndarray, average: str = DEFAULT_F1_AVERAGE) -> np.ndarray:
    """Macro F1 ``(...)`` from confusion counts ``(..., K, K)``.

    ``average="all"``: sum of the per-class F1 over all K classes / K (the papers');
    ``"present"``: the mean over the classes that occur in truth or prediction
    (scikit-learn's default). Zero frames is a ValueError under both.
    """
    check_f1_average(average)
    confusion = np.asarray(confusion, dtype=np.float64)
    _check_not_empty(confusion.sum(axis=(-2, -1)))
    f1 = per_class_f1(confusion)
    if average == "all":
        return f1.sum(axis=-1) / f1.shape[-1]
    present = (confusion.sum(axis=-1) + confusion.sum(axis=-2)) > 0
    return (f1 * present).sum(axis=-1) / present.sum(axis=-1)


def accuracy_from_confusion(confusion: np.ndarray) -> np.ndarray:
    """Fraction of frames on the diagonal, ``(...)`` from ``(..., K, K)``."""
    confusion = np.asarray(confusion, dtype=np.float64)
    total = confusion.sum(axis=(-2, -1))
    _check_not_empty(total)
    return np.trace(confusion, axis1=-2, axis2=-1) / total


def expr_criterion(f1: np.ndarray | float, accuracy: np.ndarray | float) -> np.ndarray | float:
    """ABAW1/ABAW2 EXPR score: 0.67·F1 + 0.33·accuracy."""
    f1_weight, accuracy_weight = EXPR_CRITERION_WEIGHTS
    return f1_weight * f1 + accuracy_weight * accuracy


def macro_f1(truth, prediction, n_classes: int | None = None, average: str = DEFAULT_F1_AVERAGE) -> float:
    """Macro F1 of integer class ids (1-D arrays of equal length) over ``n_classes``
    classes (default: the largest id + 1) under the F1 rule ``average``."""
    truth, prediction = np.asarray(truth), np.asarray(prediction)
    k = n_classes if n_classes is not None else int(max(truth.max(initial=0), prediction.max(initial=0))) + 1
    return float(macro_f1_from_confusion(confusion_matrix(truth, prediction, k), average))


def accuracy(truth, prediction) -> float:
    """Fraction of equal entries."""
    truth, prediction = np.asarray(truth), np.asarray(prediction)
    _check_pair(truth, prediction)
    _check_not_empty(np.asarray(truth.size))
    return float(np.mean(truth == prediction))


# ------------------------------------------------------------------------------ VA


def centred_moments(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``(6,)`` moments ``(n, mean_x, mean_y, M2_x, M2_y, C_xy)`` of two equal-length series."""
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    _check_pair(x, y)
    _check_not_empty(np.asarray(x.size))
    mean_x, mean_y = _exact_mean(x), _exact_mean(y)
    dx, dy = x - mean_x, y - mean_y
    return np.array([x.size, mean_x, mean_y, dx @ dx, dy @ dy, dx @ dy])


def _exact_mean(values: np.ndarray) -> float:
    # A constant series must have deviations of exactly 0, which mean() rounding can break.
    return float(values[0]) if values.min() == values.max() else float(values.mean())


def combine_moments(moments: np.ndarray, weights: np.ndarray | None = None, allow_empty: bool = False) -> np.ndarray:
    """Pool groups' moments ``(G, ..., 6)`` into ``(B, ..., 6)`` with group weights ``(B, G)``.

    A weight is how many times a group is taken (1 for plain pooling, bootstrap counts
    for a resample). Uses the parallel-variance identity, so no raw sums of squares.
    When every group taken has the same mean, the pooled mean is that value exactly, so
    a constant series keeps deviations (and a CCC) of exactly 0. A pool of no sample is
    a ValueError, or with ``allow_empty`` all zeros (an MTL part without valid labels).
    """
    moments = np.asarray(moments, dtype=np.float64)
    if weights is None:
        weights = np.ones((1, moments.shape[0]))
    weights = np.asarray(weights, dtype=np.float64)
    n, mean_x, mean_y, m2_x, m2_y, c_xy = np.moveaxis(moments, -1, 0)  # each (G, ...)
    tail = (slice(None), slice(None)) + (None,) * (moments.ndim - 2)
    w = weights[tail]  # (B, G, 1...)
    total = np.einsum("bg,g...->b...", weights, n)
    if not allow_empty:
        _check_not_empty(total)
    divisor = np.where(total > 0, total, 1.0)
    taken = (w * n[None]) > 0  # (B, G, ...): groups that add samples to the pool
    pooled_x = _exact_pooled_mean(np.einsum("bg,g...->b...", weights, n * mean_x) / divisor, mean_x, taken)
    pooled_y = _exact_pooled_mean(np.einsum("bg,g...->b...", weights, n * mean_y) / divisor, mean_y, taken)
    dx = mean_x[None] - pooled_x[:, None]  # (B, G, ...)
    dy = mean_y[None] - pooled_y[:, None]
    pooled_m2_x = (w * (m2_x[None] + n[None] * dx * dx)).sum(axis=1)
    pooled_m2_y = (w * (m2_y[None] + n[None] * dy * dy)).sum(axis=1)
    pooled_c_xy = (w * (c_xy[None] + n[None] * dx * dy)).sum(axis=1)
    return np.stack([total, pooled_x, pooled_y, pooled_m2_x, pooled_m2_y, pooled_c_xy], axis=-1)


def _exact_pooled_mean(pooled: np.ndarray, means: np.ndarray, taken: np.ndarray) -> np.ndarray:
    """``pooled`` ``(B, ...)``, replaced by the groups' common mean where every group taken
    has the same one (a weighted average of equal numbers can round away from them)."""
    low = np.where(taken, means[None], np.inf).min(axis=1)
    high = np.where(taken, means[None], -np.inf).max(axis=1)
    return np.where(low == high, low, pooled)


def ccc_from_moments(moments: np.ndarray) -> np.ndarray:
    """Concordance correlation ``(...)`` from moments ``(..., 6)``; 0 where undefined."""
    n, mean_x, mean_y, m2_x, m2_y, c_xy = np.moveaxis(np.asarray(moments, dtype=np.float64), -1, 0)
    _check_not_empty(n)
    denominator = m2_x / n + m2_y / n + (mean_x - mean_y) ** 2
    numerator = 2 * c_xy / n
    # + 0.0 turns a -0.0 (a zero covariance times a negative rounding) into 0.0
    return np.divide(numerator, denominator, out=np.zeros_like(numerator), where=denominator > 0) + 0.0


def concordance_cc(x, y) -> float:
    """Lin's concordance correlation coefficient of two series, population moments.

    CCC = 2·cov(x, y) / (var(x) + var(y) + (mean(x) − mean(y))²). Warns and returns
    the documented value (see module docstring) when either series is constant.
    """
    moments = centred_moments(x, y)
    if moments[3] == 0 or moments[4] == 0:  # exact: _exact_mean keeps constants exact
        warnings.warn("CCC of a constant series: covariance is 0, so CCC is 0 "
                      "(Deng et al.'s helper would give NaN)", DegenerateInputWarning, stacklevel=2)
    return float(ccc_from_moments(moments))


# ------------------------------------------------------------------------------ AU


def au_counts(truth: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    """``(A, 4)`` int64 counts ``(tn, fp, fn, tp)`` of 0/1 arrays ``(N, A)``."""
    truth, prediction = np.asarray(truth), np.asarray(prediction)
    _check_pair(truth, prediction)
    if truth.ndim != 2:
        raise ValueError(f"AU arrays must be (frames, AUs), got shape {truth.shape}")
    for name, values in (("truth", truth), ("prediction", prediction)):
        if values.size and not np.isin(values, (0, 1)).all():
            raise ValueError(f"AU {name} must be 0 or 1")
    n_aus = truth.shape[1]
    cell = 2 * truth.astype(np.int64) + prediction.astype(np.int64)  # 0 tn, 1 fp, 2 fn, 3 tp
    flat = np.arange(n_aus)[None, :] * 4 + cell
    return np.bincount(flat.ravel(), minlength=4 * n_aus).reshape(n_aus, 4)


def au_f1_from_counts(counts: np.ndarray) -> np.ndarray:
    """Per-AU binary F1 ``(..., A)`` from ``(..., A, 4)``; 0 with no positives anywhere."""
    counts = np.asarray(counts, dtype=np.float64)
    _, false_positive, false_negative, true_positive = np.moveaxis(counts, -1, 0)
    denominator = 2 * true_positive + false_positive + false_negative
    return np.divide(2 * true_positive, denominator, out=np.zeros_like(true_positive), where=denominator > 0)


def au_mean_f1_from_counts(counts: np.ndarray, average: str = DEFAULT_F1_AVERAGE) -> np.ndarray:
    """Mean per-AU F1 ``(...)`` from ``(..., A, 4)``: over all A AUs (``"all"``, an AU
    without positives counting 0) or over the AUs with a positive in truth or prediction
    (``"present"``). Zero frames is a ValueError under both."""
    check_f1_average(average)
    counts = np.asarray(counts, dtype=np.float64)
    _check_not_empty(counts[..., 0, :].sum(axis=-1))
    f1 = au_f1_from_counts(counts)
    if average == "all":
        return f1.sum(axis=-1) / f1.shape[-1]
    # tp + fp + fn > 0: a positive in the truth (tp, fn) or the prediction (tp, fp)
    present = counts[..., 1:].sum(axis=-1) > 0
    return np.divide((f1 * present).sum(axis=-1), present.sum(axis=-1),
                     out=np.zeros(f1.shape[:-1]), where=present.any(axis=-1))


def au_accuracy_from_counts(counts: np.ndarray) -> np.ndarray:
    """Accuracy over all frame×AU cells, ``(...)``."""
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum(axis=(-2, -1))
    _check_not_empty(total)
    return (counts[..., 0] + counts[..., 3]).sum(axis=-1) / total


def au_criterion(f1: np.ndarray | float, accuracy: np.ndarray | float) -> np.ndarray | float:
    """ABAW1/ABAW2 AU score: 0.5·F1 + 0.5·accuracy."""
    f1_weight, accuracy_weight = AU_CRITERION_WEIGHTS
    return f1_weight * f1 + accuracy_weight * accuracy


# ----------------------------------------------------------- track-level dispatch


def scores_from_stats(track: str, stats: np.ndarray, criterion_era: bool,
                      f1_average: str = DEFAULT_F1_AVERAGE) -> dict:
    """Every metric of a track from its stacked sufficient statistics.

    ``stats``: EXPR ``(..., K, K)``; VA ``(..., 2, 6)`` (valence, arousal); AU ``(..., A, 4)``;
    MTL ``(..., 124)`` (:func:`split_mtl_stats`). ``f1_average`` is the F1 rule of EXPR
    and AU (``"all"`` or ``"present"``). Returns ``{name: array (...)}`` with the names of
    :attr:`TrackSpec.metrics`.
    """
    check_f1_average(f1_average)
    if track == MTL:
        return mtl_scores_from_stats(stats, f1_average)
    if track == "va":
        valence = ccc_from_moments(stats[..., 0, :])
        arousal = ccc_from_moments(stats[..., 1, :])
        return {"mean": (valence + arousal) / 2, "valence": valence, "arousal": arousal}
    if track == "expr":
        f1 = macro_f1_from_confusion(stats, f1_average)
        acc = accuracy_from_confusion(stats)
        combine = expr_criterion
    elif track == "au":
        f1 = au_mean_f1_from_counts(stats, f1_average)
        acc = au_accuracy_from_counts(stats)
        combine = au_criterion
    else:
        raise ValueError(f"unknown track {track!r}")
    if criterion_era:
        return {"criterion": combine(f1, acc), "f1": f1, "acc": acc}
    return {"f1": f1, "acc": acc}


# ----------------------------------------------------------------------------- MTL

MTL_VA_SHAPE = (2, 6)
MTL_EXPR_SHAPE = (len(EXPR_CLASSES_8), len(EXPR_CLASSES_8))
MTL_AU_SHAPE = (len(AU_NAMES_12), 4)
_MTL_SIZES = (12, MTL_EXPR_SHAPE[0] * MTL_EXPR_SHAPE[1], MTL_AU_SHAPE[0] * 4)
MTL_STATS_SIZE = sum(_MTL_SIZES)  # 124


def join_mtl_stats(va: np.ndarray, expr: np.ndarray, au: np.ndarray) -> np.ndarray:
    """``(..., 124)`` float64 from the parts ``(..., 2, 6)``, ``(..., 8, 8)``, ``(..., 12, 4)``."""
    lead = np.shape(va)[:-2]
    return np.concatenate([np.asarray(part, dtype=np.float64).reshape(lead + (-1,)) for part in (va, expr, au)],
                          axis=-1)


def split_mtl_stats(stats: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The VA ``(..., 2, 6)``, EXPR ``(..., 8, 8)`` and AU ``(..., 12, 4)`` parts of ``(..., 124)``."""
    stats = np.asarray(stats, dtype=np.float64)
    if stats.shape[-1] != MTL_STATS_SIZE:
        raise ValueError(f"MTL statistics must end in {MTL_STATS_SIZE} numbers, found shape {stats.shape}")
    lead = stats.shape[:-1]
    va, expr, au = np.split(stats, np.cumsum(_MTL_SIZES)[:-1], axis=-1)
    return va.reshape(lead + MTL_VA_SHAPE), expr.reshape(lead + MTL_EXPR_SHAPE), au.reshape(lead + MTL_AU_SHAPE)


def pool_mtl_stats(stats: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Pool per-video MTL statistics ``(V, 124)`` with video weights ``(B, V)`` into ``(B, 124)``:
    each part on its own (a video without valid labels of a part adds nothing to it)."""
    va, expr, au = split_mtl_stats(stats)
    weights = np.asarray(weights, dtype=np.float64)
    return join_mtl_stats(combine_moments(va, weights, allow_empty=True),
                          np.tensordot(weights, expr, axes=1), np.tensordot(weights, au, axes=1))


def mtl_part_sizes(stats: np.ndarray) -> np.ndarray:
    """``(..., 3)`` how many rows each part holds (VA, EXPR, AU) in ``(..., 124)``."""
    va, expr, au = split_mtl_stats(stats)
    return np.stack([va[..., 0, 0], expr.sum(axis=(-2, -1)), au[..., 0, :].sum(axis=-1)], axis=-1)


def mtl_scores_from_stats(stats: np.ndarray, f1_average: str = DEFAULT_F1_AVERAGE) -> dict:
    """P_MTL and its parts ``{name: (...)}`` from ``(..., 124)``: ``va_mean`` (mean CCC),
    ``valence``, ``arousal``, ``expr_f1`` (macro F1 over 8 classes), ``au_f1`` (mean F1
    over 12 AUs), ``mtl`` = va_mean + expr_f1 + au_f1. A part without rows is NaN, and so
    is ``mtl`` then (the caller decides whether that is an error)."""
    va, expr, au = split_mtl_stats(stats)
    sizes = mtl_part_sizes(stats)
    has = sizes > 0

    def where_defined(score, defined, part):
        out = np.full(defined.shape, np.nan)
        if defined.any():
            out[defined] = score(part[defined])
        return out

    valence = where_defined(ccc_from_moments, has[..., 0], va[..., 0, :])
    arousal = where_defined(ccc_from_moments, has[..., 0], va[..., 1, :])
    expr_f1 = where_defined(lambda part: macro_f1_from_confusion(part, f1_average), has[..., 1], expr)
    au_f1 = where_defined(lambda part: au_mean_f1_from_counts(part, f1_average), has[..., 2], au)
    va_mean = (valence + arousal) / 2
    return {"mtl": va_mean + expr_f1 + au_f1, "va_mean": va_mean, "valence": valence, "arousal": arousal,
            "expr_f1": expr_f1, "au_f1": au_f1}


def _check_pair(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape:
        raise ValueError(f"truth and prediction differ in shape: {a.shape} vs {b.shape}")


def _check_not_empty(count: np.ndarray) -> None:
    if np.any(np.asarray(count) == 0):
        raise ValueError("metric of zero samples is undefined: no valid frames to score")
