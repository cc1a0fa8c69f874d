"""Is a difference between two scores real? Intervals for the difference of two entries.

* :func:`paired_bootstrap`: two entries scored on the same videos. Each resample draws
  the videos with replacement and re-weights *both* entries' per-video sufficient
  statistics with the same draw (frames of one video are not independent, so the video
  is the unit); the interval is the 2.5-97.5 percentile of the resampled differences.
* :func:`seed_interval`: two groups of training seeds; Welch's t interval from the
  spread across seeds (the paper reports means of 10 runs and no spread).

Student's t quantiles are computed here (regularised incomplete beta by its continued
fraction) so that abawbench needs no SciPy.
"""

from __future__ import annotations

import math

import numpy as np

CONFIDENCE = 0.95


def paired_bootstrap(track: str, stats_a: np.ndarray, stats_b: np.ndarray, criterion_era: bool = True,
                     resamples: int = 1000, seed: int = 0, f1_average: str = "all") -> dict[str, dict]:
    """Paired bootstrap over videos of the difference a − b of every metric of ``track``.

    ``stats_a``, ``stats_b``: ``(V, ...)`` per-video sufficient statistics of the same
    videos in the same order. Every resample draws V videos with replacement
    (:func:`abawbench.scoring.bootstrap_weights`, ``seed``) and applies the *same* draw
    to both entries; ``f1_average`` is the F1 rule both were scored with. Returns
    ``{metric: {"delta", "ci95": [low, high], "flip_share"}}``:
    the observed pooled difference, the 2.5-97.5 percentile interval of the resampled
    differences, and the share of resamples whose difference has not the observed sign
    (a tie counts as a flip unless the observed difference is itself 0).
    """
    from abawbench import metrics, scoring
    from abawbench.tracks import track_spec

    stats_a, stats_b = np.asarray(stats_a, dtype=np.float64), np.asarray(stats_b, dtype=np.float64)
    if stats_a.shape != stats_b.shape:
        raise ValueError(f"statistics of different shapes: {stats_a.shape} vs {stats_b.shape}")
    spec = track_spec("abaw4" if track == "mtl" else "abaw2", track)  # pool() reads only the track from it
    weights = scoring.bootstrap_weights(len(stats_a), resamples, seed)

    def scores(stats, w):
        return metrics.scores_from_stats(track, scoring.pool(spec, stats, w), criterion_era, f1_average)

    observed_a, observed_b = scores(stats_a, None), scores(stats_b, None)
    resampled_a, resampled_b = scores(stats_a, weights), scores(stats_b, weights)
    result = {}
    for name in observed_a:
        observed = float(observed_a[name][0] - observed_b[name][0])
        differences = resampled_a[name] - resampled_b[name]
        # an MTL resample without any valid label of a part has no value: left out
        differences = differences[np.isfinite(differences)]
        low, high = np.percentile(differences, [2.5, 97.5])
        result[name] = {"delta": observed, "ci95": [float(low), float(high)],
                        "flip_share": float(np.mean(np.sign(differences) != np.sign(observed)))}
    return result


def _regularized_beta(a: float, b: float, x: float) -> float:
    """I_x(a, b) by its continued fraction (modified Lentz), using the symmetry
    I_x(a, b) = 1 − I_{1−x}(b, a) where the fraction converges slowly."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    if x > (a + 1) / (a + b + 2):
        return 1.0 - _regularized_beta(b, a, 1.0 - x)
    tiny = 1e-300
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    fraction = d
    for m in range(1, 500):
        for numerator in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                          -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            step = c * d
            fraction *= step
        if abs(step - 1.0) < 1e-15:
            break
    return math.exp(log_front) * fraction / a


def student_t_cdf(t: float, df: float) -> float:
    """P(T ≤ t) for Student's t with ``df`` > 0 degrees of freedom (fractional allowed)."""
    tail = 0.5 * _regularized_beta(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t > 0 else tail


def student_t_quantile(p: float, df: float) -> float:
    """The ``p`` quantile of Student's t (bisection on :func:`student_t_cdf`, |error| < 1e-10)."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be in (0, 1), got {p}")
    if p < 0.5:
        return -student_t_quantile(1.0 - p, df)
    low, high = 0.0, 1.0
    while student_t_cdf(high, df) < p:
        low, high = high, high * 2.0
    while high - low > 1e-12 * max(1.0, high):
        middle = 0.5 * (low + high)
        if student_t_cdf(middle, df) < p:
            low = middle
        else:
            high = middle
    return 0.5 * (low + high)


def seed_interval(values_a, values_b) -> dict:
    """The difference of the means of two groups of seeds and its 95% interval.

    Both groups with ≥ 2 seeds: Welch's t interval (Welch–Satterthwaite degrees of
    freedom). One group of a single run: that run's number is taken as fixed and the
    interval is the other group's one-sample t interval. Returns ``{"delta", "ci95",
    "method"}`` (``ci95`` None when neither group has a spread).
    """
    a, b = np.asarray(values_a, dtype=np.float64), np.asarray(values_b, dtype=np.float64)
    delta = float(a.mean() - b.mean())
    parts = [(x.var(ddof=1) / len(x), len(x) - 1) for x in (a, b) if len(x) >= 2]
    if not parts:
        return {"delta": delta, "ci95": None, "method": "difference only"}
    method = "Welch t over seeds" if len(parts) == 2 else "one-sample t over seeds (the single run taken as fixed)"
    variance = sum(v for v, _ in parts)
    if variance == 0.0:
        return {"delta": delta, "ci95": [delta, delta], "method": method}
    df = variance ** 2 / sum(v * v / dof for v, dof in parts)
    half = student_t_quantile(0.5 + CONFIDENCE / 2, df) * math.sqrt(variance)
    return {"delta": delta, "ci95": [delta - half, delta + half], "method": method}


def significant(ci95) -> bool | None:
    """The interval excludes 0 (None without an interval)."""
    if ci95 is None:
        return None
    return bool(ci95[0] > 0 or ci95[1] < 0)
