"""Scoring throughput: abawbench against a naive reference scorer, in the same run.

An Aff-Wild2-validation-sized folder (70 videos, ~300k frames, EXPR and VA, per-video
files) is scored with the bootstrap off, by ``abawbench.scoring.score`` and by the
scorer most participants write (pandas ``read_csv`` per file + scikit-learn), both
producing pooled and per-video numbers. The final test prints the ratio.

    make bench        # or: .venv/bin/python -m pytest benchmarks -o python_files='bench_*.py' --benchmark-only
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, f1_score

from abawbench import formats, scoring
from abawbench.runtime import tune_allocator
from abawbench.tracks import track_spec

N_VIDEOS = 70
N_FRAMES = 300_000
RESULTS: dict[str, float] = {}


@pytest.fixture(scope="session", autouse=True)
def allocator_as_the_cli_sets_it():
    """The CLI tunes glibc's allocator (abawbench.runtime); both scorers run under it."""
    tune_allocator()


@pytest.fixture(scope="session")
def validation_sized(tmp_path_factory) -> Path:
    """Ground truth and predictions of both tracks, ABAW2 layout, ~300k frames per track."""
    root = tmp_path_factory.mktemp("validation_sized")
    rng = np.random.default_rng(0)
    lengths = rng.multinomial(N_FRAMES - N_VIDEOS * 500, np.full(N_VIDEOS, 1 / N_VIDEOS)) + 500
    for track in ("expr", "va"):
        spec = track_spec("abaw2", track)
        truths, predictions = {}, {}
        for i, n in enumerate(lengths):
            if track == "expr":
                truth = rng.integers(0, 7, size=(n, 1))
                prediction = np.where(rng.random((n, 1)) < 0.6, truth, rng.integers(0, 7, size=(n, 1)))
                truth[:20] = -1
            else:
                truth = np.round(np.clip(np.cumsum(rng.normal(0, 0.02, size=(n, 2)), axis=0), -1, 1), 3)
                prediction = np.round(np.clip(truth + rng.normal(0, 0.2, size=(n, 2)), -1, 1), 3)
                truth[:20] = -5
            truths[f"{i}-30-1280x720"] = truth
            predictions[f"{i}-30-1280x720"] = prediction
        formats.write_per_video(root / "data" / "annotations" / f"{track.upper()}_Set" / "Validation_Set", spec, truths)
        formats.write_per_video(root / f"pred_{track}", spec, predictions)
    return root


def naive_score(root: Path, track: str) -> dict:
    """What a participant would write: read every file with pandas, score with scikit-learn."""
    folder = root / "data" / "annotations" / f"{track.upper()}_Set" / "Validation_Set"
    truths, predictions, per_video = [], [], {}
    for gt_path in sorted(folder.glob("*.txt")):
        truth = pd.read_csv(gt_path)
        prediction = pd.read_csv(root / f"pred_{track}" / gt_path.name)
        if track == "expr":
            keep = truth.iloc[:, 0] != -1
            t, p = truth.iloc[:, 0][keep].to_numpy(), prediction.iloc[:, 0][keep].to_numpy()
            f1 = f1_score(t, p, average="macro")
            acc = accuracy_score(t, p)
            per_video[gt_path.stem] = {"f1": f1, "acc": acc, "criterion": 0.67 * f1 + 0.33 * acc}
        else:
            keep = (truth["valence"] != -5) & (truth["arousal"] != -5)
            t, p = truth[keep].to_numpy(), prediction[keep].to_numpy()
            valence, arousal = _ccc(p[:, 0], t[:, 0]), _ccc(p[:, 1], t[:, 1])
            per_video[gt_path.stem] = {"valence": valence, "arousal": arousal, "mean": (valence + arousal) / 2}
        truths.append(t)
        predictions.append(p)
    truth, prediction = np.concatenate(truths), np.concatenate(predictions)
    if track == "expr":
        f1 = f1_score(truth, prediction, average="macro")
        acc = accuracy_score(truth, prediction)
        overall = {"f1": f1, "acc": acc, "criterion": 0.67 * f1 + 0.33 * acc}
    else:
        valence, arousal = _ccc(prediction[:, 0], truth[:, 0]), _ccc(prediction[:, 1], truth[:, 1])
        overall = {"valence": valence, "arousal": arousal, "mean": (valence + arousal) / 2}
    return {"metrics": overall, "per_video": per_video}


def _ccc(x, y):
    covariance = np.mean((x - x.mean()) * (y - y.mean()))
    return 2 * covariance / (x.var() + y.var() + (x.mean() - y.mean()) ** 2)


def fast_score(root: Path) -> dict:
    return {track: scoring.score(root / f"pred_{track}", root / "data", track, "abaw2", resamples=0)
            for track in ("expr", "va")}


def slow_score(root: Path) -> dict:
    return {track: naive_score(root, track) for track in ("expr", "va")}


def _without_truth_cache(root: Path):
    from abawbench import cache

    shutil.rmtree(cache.location() / "truth", ignore_errors=True)
    return (root,), {}


def test_abawbench_scorer_cold(benchmark, validation_sized):
    """Every round parses the ground truth too (first score against a dataset)."""
    benchmark.pedantic(fast_score, setup=lambda: _without_truth_cache(validation_sized), rounds=5)
    RESULTS["abawbench_cold"] = benchmark.stats.stats.mean


def test_abawbench_scorer(benchmark, validation_sized):
    """Ground truth from its cache (every later score against the same dataset)."""
    result = benchmark.pedantic(fast_score, args=(validation_sized,), rounds=10, warmup_rounds=1)
    RESULTS["abawbench"] = benchmark.stats.stats.mean
    RESULTS["frames"] = result["expr"]["n_frames"] + result["va"]["n_frames"]
    naive = slow_score(validation_sized)
    for track in ("expr", "va"):
        for name, value in naive[track]["metrics"].items():
            assert result[track]["metrics"][name] == pytest.approx(value, abs=1e-9)


def test_naive_scorer(benchmark, validation_sized):
    benchmark.pedantic(slow_score, args=(validation_sized,), rounds=5, warmup_rounds=1)
    RESULTS["naive"] = benchmark.stats.stats.mean


@pytest.fixture(scope="module", autouse=True)
def report_speedup(publish):
    """After both scorer benchmarks: print the speed-up, save .benchmarks/scoring.json."""
    yield
    if not {"abawbench", "abawbench_cold", "naive"} <= set(RESULTS):
        return
    ratios = {name: RESULTS["naive"] / RESULTS[name] for name in ("abawbench_cold", "abawbench")}
    publish(f"Scoring {N_VIDEOS} videos × 2 tracks ({RESULTS['frames']:,} valid frames), bootstrap off",
            ["scorer", "mean seconds", "speed-up"],
            [["naive (pandas read_csv per file + scikit-learn)", f"{RESULTS['naive']:.3f}", "1.0×"],
             ["abawbench score, ground truth parsed", f"{RESULTS['abawbench_cold']:.3f}",
              f"{ratios['abawbench_cold']:.1f}×"],
             ["abawbench score, ground truth cached", f"{RESULTS['abawbench']:.3f}", f"{ratios['abawbench']:.1f}×"]],
            "scoring", {**RESULTS, "speedup_cold": ratios["abawbench_cold"], "speedup": ratios["abawbench"]})
