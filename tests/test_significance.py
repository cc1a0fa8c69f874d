"""The paired bootstrap on constructed cases and against a frame-by-frame recomputation;
Student's t and Welch's interval against SciPy."""

import warnings

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score

from abawbench import scoring, significance
from abawbench.tracks import track_spec

from test_metrics import reference_ccc


# ------------------------------------------------------------ constructed cases


def constructed(track: str, n_videos: int = 20, seed: int = 0, better: tuple[int, ...] = ()):
    """Per-video truth and two predictions (b = a, except perfect on the ``better`` videos),
    and their statistics from scoring.video_statistics."""
    rng = np.random.default_rng(seed)
    spec = track_spec("abaw2", track)
    lengths = rng.integers(30, 90, size=n_videos)
    truth, a = [], []
    for n in lengths:
        if track == "expr":
            t = rng.integers(0, 7, size=(n, 1))
            p = np.where(rng.random((n, 1)) < 0.45, t, rng.integers(0, 7, size=(n, 1)))
        elif track == "va":
            t = np.cumsum(rng.normal(0, 0.1, size=(n, 2)), axis=0).clip(-1, 1)
            p = (t + rng.normal(0, 0.35, size=(n, 2))).clip(-1, 1)
        else:
            t = (rng.random((n, 12)) < 0.3).astype(int)
            p = np.where(rng.random(t.shape) < 0.3, 1 - t, t)
        truth.append(t)
        a.append(p)
    b = [t.copy() if i in better else p.copy() for i, (t, p) in enumerate(zip(truth, a))]
    stats = [scoring.video_statistics(spec, np.concatenate(truth), np.concatenate(x), lengths)[0] for x in (a, b)]
    return truth, a, b, stats[0], stats[1]


@pytest.mark.parametrize("track", ["expr", "va", "au"])
def test_identical_entries_give_an_interval_of_exactly_zero(track):
    _, _, _, stats, _ = constructed(track)
    result = significance.paired_bootstrap(track, stats, stats.copy(), resamples=500, seed=3)
    for name, entry in result.items():
        assert entry["delta"] == 0.0 and entry["ci95"] == [0.0, 0.0], name
        assert entry["flip_share"] == 0.0


@pytest.mark.parametrize("track", ["expr", "va"])
def test_planted_better_videos_give_an_interval_that_excludes_zero(track):
    truth, a, b, stats_a, stats_b = constructed(track, better=tuple(range(0, 20, 3)))
    result = significance.paired_bootstrap(track, stats_b, stats_a, resamples=1000, seed=0)
    main = "criterion" if track == "expr" else "mean"
    low, high = result[main]["ci95"]
    assert 0 < low <= result[main]["delta"] <= high
    assert result[main]["flip_share"] < 0.025
    assert significance.significant(result[main]["ci95"]) is True


@pytest.mark.parametrize("track", ["expr", "va", "au"])
def test_swapping_the_entries_mirrors_the_interval(track):
    _, _, _, stats_a, stats_b = constructed(track, better=(1, 5, 7), seed=4)
    forward = significance.paired_bootstrap(track, stats_a, stats_b, resamples=400, seed=9)
    backward = significance.paired_bootstrap(track, stats_b, stats_a, resamples=400, seed=9)
    for name in forward:
        assert backward[name]["delta"] == -forward[name]["delta"]
        assert backward[name]["ci95"][0] == pytest.approx(-forward[name]["ci95"][1], abs=1e-12)
        assert backward[name]["ci95"][1] == pytest.approx(-forward[name]["ci95"][0], abs=1e-12)
        assert backward[name]["flip_share"] == forward[name]["flip_share"]


@pytest.mark.parametrize("track", ["expr", "va"])
def test_paired_bootstrap_equals_rescoring_every_resample_frame_by_frame(track):
    """The same draws of videos, scored from scratch on the repeated frames (scikit-learn
    for EXPR, the CCC written out for VA): the same interval and flip share."""
    truth, a, b, stats_a, stats_b = constructed(track, n_videos=12, better=(2, 3), seed=7)
    resamples, seed = 150, 11
    weights = scoring.bootstrap_weights(len(truth), resamples, seed)

    def rescore(prediction, draw):
        t = np.concatenate([np.repeat(truth[v], k, axis=0) for v, k in enumerate(draw) if k])
        p = np.concatenate([np.repeat(prediction[v], k, axis=0) for v, k in enumerate(draw) if k])
        if track == "expr":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return 0.67 * f1_score(t[:, 0], p[:, 0], average="macro") + 0.33 * accuracy_score(t[:, 0], p[:, 0])
        return (reference_ccc(p[:, 0], t[:, 0]) + reference_ccc(p[:, 1], t[:, 1])) / 2

    differences = np.array([rescore(a, w) - rescore(b, w) for w in weights])
    observed = rescore(a, np.ones(len(truth), int)) - rescore(b, np.ones(len(truth), int))
    result = significance.paired_bootstrap(track, stats_a, stats_b, resamples=resamples, seed=seed)
    main = "criterion" if track == "expr" else "mean"
    assert result[main]["delta"] == pytest.approx(observed, abs=1e-12)
    assert result[main]["ci95"] == pytest.approx(list(np.percentile(differences, [2.5, 97.5])), abs=1e-10)
    assert result[main]["flip_share"] == pytest.approx(np.mean(np.sign(differences) != np.sign(observed)))


def test_student_t_quantiles_equal_scipys():
    stats = pytest.importorskip("scipy.stats")
    for df in (1, 1.7, 2, 3.4, 4, 9, 30, 200):
        for p in (0.9, 0.975, 0.995, 0.025):
            assert significance.student_t_quantile(p, df) == pytest.approx(stats.t.ppf(p, df), rel=1e-9, abs=1e-9)


def test_seed_interval_is_welchs_t_interval():
    stats = pytest.importorskip("scipy.stats")
    a, b = np.array([0.51, 0.55, 0.49, 0.53]), np.array([0.47, 0.50, 0.44])
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    half = stats.t.ppf(0.975, df) * np.sqrt(va + vb)
    result = significance.seed_interval(a, b)
    assert result["delta"] == pytest.approx(a.mean() - b.mean(), abs=1e-15)
    assert result["ci95"] == pytest.approx([a.mean() - b.mean() - half, a.mean() - b.mean() + half], abs=1e-9)
    single = significance.seed_interval(a, [0.45])
    half = stats.t.ppf(0.975, len(a) - 1) * a.std(ddof=1) / np.sqrt(len(a))
    assert single["ci95"] == pytest.approx([a.mean() - 0.45 - half, a.mean() - 0.45 + half], abs=1e-9)
    assert significance.seed_interval([0.5], [0.4])["ci95"] is None
