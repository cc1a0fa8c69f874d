"""The official ABAW metrics as pure NumPy functions (no I/O, no torch).

Every metric is computed from *sufficient statistics* so that pooled scores, per-video
scores and bootstrap resamples (re-weightings of videos) share one code path:

* EXPR and AU: confusion counts. EXPR: ``(..., K, K)`` with ``[truth, prediction]``;
  AU: ``(..., A, 4)`` holding ``(tn, fp, fn, tp)`` per action unit.
* VA: centred moments ``(..., 6)`` holding ``(n, mean_x, mean_y, M2_x, M2_y, C_xy)`` where
  ``M2`` and ``C`` are sums of squared / crossed deviations from the group's own mean
  (centred sums avoid the cancellation of ``Σx² − n·mean²`` in float64).

Defined behaviour on degenerate input (documented because the organisers' helper
scripts disagree among themselves):

* Macro F1 averages over the classes present in the truth *or* the prediction, as
  scikit-learn's ``f1_score(average="macro")`` does without ``labels``; a present class
  with no true positive scores 0. ``classes="all"`` averages over every class instead.
* Binary F1 of an AU with no positive in truth and prediction is 0 (scikit-learn's
  ``zero_division`` default).
* CCC uses population (biased) moments. When its denominator is zero (both series
  constant and equal) it is defined as 0, and a constant prediction yields 0 through the
  covariance (Deng et al.'s helper returns NaN there). :func:`concordance_cc` warns with
  :class:`DegenerateInputWarning` in both cases.
* Zero samples are an error (``ValueError``), never a NaN.
"""

from __future__ import annotations

import warnings

import numpy as np

from abawbench.tracks import AU_CRITERION_WEIGHTS, EXPR_CRITERION_WEIGHTS


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


def macro_f1_from_confusion(confusion: np.ndarray, classes: str = "present") -> np.ndarray:
    """Macro F1 ``(...)`` from confusion counts ``(..., K, K)``.

    ``classes="present"`` averages over classes that occur in truth or prediction
    (scikit-learn, organisers); ``"all"`` over all K classes.
    """
    confusion = np.asarray(confusion, dtype=np.float64)
    f1 = per_class_f1(confusion)
    if classes == "all":
        return f1.mean(axis=-1)
    if classes != "present":
        raise ValueError(f"classes must be 'present' or 'all', not {classes!r}")
    present = (confusion.sum(axis=-1) + confusion.sum(axis=-2)) > 0
    n_present = present.sum(axis=-1)
    _check_not_empty(n_present)
    return (f1 * present).sum(axis=-1) / n_present


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


def macro_f1(truth, prediction, n_classes: int | None = None, classes: str = "present") -> float:
    """Macro F1 of integer class ids (1-D arrays of equal length)."""
    truth, prediction = np.asarray(truth), np.asarray(prediction)
    k = n_classes if n_classes is not None else int(max(truth.max(initial=0), prediction.max(initial=0))) + 1
    return float(macro_f1_from_confusion(confusion_matrix(truth, prediction, k), classes))


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


def combine_moments(moments: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Pool groups' moments ``(G, ..., 6)`` into ``(B, ..., 6)`` with group weights ``(B, G)``.

    A weight is how many times a group is taken (1 for plain pooling, bootstrap counts
    for a resample). Uses the parallel-variance identity, so no raw sums of squares.
    """
    moments = np.asarray(moments, dtype=np.float64)
    if weights is None:
        weights = np.ones((1, moments.shape[0]))
    weights = np.asarray(weights, dtype=np.float64)
    n, mean_x, mean_y, m2_x, m2_y, c_xy = np.moveaxis(moments, -1, 0)  # each (G, ...)
    tail = (slice(None), slice(None)) + (None,) * (moments.ndim - 2)
    w = weights[tail]  # (B, G, 1...)
    total = np.einsum("bg,g...->b...", weights, n)
    _check_not_empty(total)
    pooled_x = np.einsum("bg,g...->b...", weights, n * mean_x) / total
    pooled_y = np.einsum("bg,g...->b...", weights, n * mean_y) / total
    dx = mean_x[None] - pooled_x[:, None]  # (B, G, ...)
    dy = mean_y[None] - pooled_y[:, None]
    pooled_m2_x = (w * (m2_x[None] + n[None] * dx * dx)).sum(axis=1)
    pooled_m2_y = (w * (m2_y[None] + n[None] * dy * dy)).sum(axis=1)
    pooled_c_xy = (w * (c_xy[None] + n[None] * dx * dy)).sum(axis=1)
    return np.stack([total, pooled_x, pooled_y, pooled_m2_x, pooled_m2_y, pooled_c_xy], axis=-1)


def ccc_from_moments(moments: np.ndarray) -> np.ndarray:
    """Concordance correlation ``(...)`` from moments ``(..., 6)``; 0 where undefined."""
    n, mean_x, mean_y, m2_x, m2_y, c_xy = np.moveaxis(np.asarray(moments, dtype=np.float64), -1, 0)
    _check_not_empty(n)
    denominator = m2_x / n + m2_y / n + (mean_x - mean_y) ** 2
    numerator = 2 * c_xy / n
    return np.divide(numerator, denominator, out=np.zeros_like(numerator), where=denominator > 0)


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


def au_mean_f1_from_counts(counts: np.ndarray) -> np.ndarray:
    """Mean over AUs of the per-AU F1, ``(...)``."""
    return au_f1_from_counts(counts).mean(axis=-1)


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


def scores_from_stats(track: str, stats: np.ndarray, criterion_era: bool, f1_classes: str = "present") -> dict:
    """Every metric of a track from its stacked sufficient statistics.

    ``stats``: EXPR ``(..., K, K)``; VA ``(..., 2, 6)`` (valence, arousal); AU ``(..., A, 4)``.
    Returns ``{name: array (...)}`` with the names of :attr:`TrackSpec.metrics`.
    """
    if track == "va":
        valence = ccc_from_moments(stats[..., 0, :])
        arousal = ccc_from_moments(stats[..., 1, :])
        return {"mean": (valence + arousal) / 2, "valence": valence, "arousal": arousal}
    if track == "expr":
        f1 = macro_f1_from_confusion(stats, f1_classes)
        acc = accuracy_from_confusion(stats)
        combine = expr_criterion
    elif track == "au":
        f1 = au_mean_f1_from_counts(stats)
        acc = au_accuracy_from_counts(stats)
        combine = au_criterion
    else:
        raise ValueError(f"unknown track {track!r}")
    if criterion_era:
        return {"criterion": combine(f1, acc), "f1": f1, "acc": acc}
    return {"f1": f1, "acc": acc}


def _check_pair(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape:
        raise ValueError(f"truth and prediction differ in shape: {a.shape} vs {b.shape}")


def _check_not_empty(count: np.ndarray) -> None:
    if np.any(np.asarray(count) == 0):
        raise ValueError("metric of zero samples is undefined: no valid frames to score")
