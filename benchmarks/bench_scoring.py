"""Scoring, whole process: ``abawbench score`` against a plain pandas + scikit-learn
scorer (``naive_scorer.py``), each run as its own Python process, imports included, for
every track and submission shape, in the same run.

Data (ABAW6 layout, bootstrap off): EXPR, VA and AU of 70 videos and ~300k frames each
(an Aff-Wild2 validation split), scored from a per-video folder and from one
``image_location`` file; MTL, one file of ~100k rows of 70 videos (the real validation
set has 26,876 rows, train and validation together ~169k). Both scorers compute pooled
and per-video numbers; the numbers are checked to agree to 1e-9 before anything is
timed. abawbench is timed cold (the ground-truth cache cleared: the first score against a
dataset) and warm (every later one); MTL files are parsed every time. Each figure is the mean
of two runs; the machine the README's table comes from is shared, so read the ratios.

    make bench        # or: PYTHONPATH=$PWD .venv/bin/python -m pytest benchmarks/bench_scoring.py \\
                      #       -o python_files='bench_*.py' -p no:cacheprovider --benchmark-disable-gc -q
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from abawbench import formats
from abawbench.tracks import MTL_HEADER, track_spec

N_VIDEOS = 70
N_FRAMES = 300_000
N_MTL_ROWS = 100_000
ROUNDS = 2
NAIVE = Path(__file__).resolve().parent / "naive_scorer.py"
CASES = [("expr", "per-video"), ("expr", "image_location"), ("va", "per-video"), ("va", "image_location"),
         ("au", "per-video"), ("au", "image_location"), ("mtl", "mtl file")]
RESULTS: dict[str, dict[str, float]] = {}


def _video_lengths(rng, total: int) -> np.ndarray:
    return rng.multinomial(total - N_VIDEOS * 500, np.full(N_VIDEOS, 1 / N_VIDEOS)) + 500


def _uni_task(root: Path, track: str, rng) -> None:
    spec = track_spec("abaw6", track)
    truths, predictions = {}, {}
    for i, n in enumerate(_video_lengths(rng, N_FRAMES)):
        if track == "expr":
            truth = rng.integers(0, 8, size=(n, 1))
            prediction = np.where(rng.random((n, 1)) < 0.6, truth, rng.integers(0, 8, size=(n, 1)))
        elif track == "va":
            truth = np.round(np.clip(np.cumsum(rng.normal(0, 0.02, size=(n, 2)), axis=0), -1, 1), 3)
            prediction = np.round(np.clip(truth + rng.normal(0, 0.2, size=(n, 2)), -1, 1), 3)
        else:
            truth = (rng.random((n, 12)) < 0.3).astype(np.int64)
            prediction = np.where(rng.random(truth.shape) < 0.2, 1 - truth, truth)
        truth[:20] = spec.invalid
        truths[f"{i}-30-1280x720"], predictions[f"{i}-30-1280x720"] = truth, prediction
    formats.write_per_video(root / "data" / f"{track.upper()}_Set" / "Validation_Set", spec, truths)
    formats.write_per_video(root / f"pred_{track}", spec, predictions)
    formats.write_image_location(root / f"pred_{track}.txt", spec, {
        video: (np.arange(1, len(p) + 1), p) for video, p in predictions.items()})


def _mtl(root: Path, rng) -> None:
    """An MTL validation file: a third of each video's frames, labels missing as in s-Aff-Wild2
    (EXPR on about 60% of the rows, VA and AU on about 90%)."""
    header = ",".join(MTL_HEADER)
    truth_lines, prediction_lines = [header], [header]
    for i, n in enumerate(_video_lengths(rng, 3 * N_MTL_ROWS)):
        frames = np.flatnonzero(rng.random(n) < 1 / 3) + 1
        k = frames.size
        va = np.round(np.clip(np.cumsum(rng.normal(0, 0.02, size=(k, 2)), axis=0), -1, 1), 3)
        expr = np.where(rng.random(k) < 0.6, rng.integers(0, 8, size=k), -1)
        aus = np.where(rng.random((k, 1)) < 0.9, (rng.random((k, 12)) < 0.3).astype(int), -1)
        va[rng.random(k) < 0.1] = -5
        guess_va = np.round(np.clip(np.where(va == -5, 0, va) + rng.normal(0, 0.2, size=(k, 2)), -1, 1), 4)
        guess_expr = np.where(rng.random(k) < 0.5, np.maximum(expr, 0), rng.integers(0, 8, size=k))
        guess_aus = np.where(rng.random((k, 12)) < 0.2, 1 - np.maximum(aus, 0), np.maximum(aus, 0))
        for j, frame in enumerate(frames):
            image = f"video{i}/{frame:05d}.jpg"
            truth_lines.append(f"{image},{va[j, 0]:g},{va[j, 1]:g},{expr[j]}," + ",".join(map(str, aus[j])))
            prediction_lines.append(f"{image},{guess_va[j, 0]:.4f},{guess_va[j, 1]:.4f},{guess_expr[j]},"
                                    + ",".join(map(str, guess_aus[j])))
    (root / "data" / "MTL").mkdir(parents=True)
    (root / "data" / "MTL" / "validation_set_annotations.txt").write_text("\n".join(truth_lines) + "\n")
    (root / "pred_mtl.txt").write_text("\n".join(prediction_lines) + "\n")


@pytest.fixture(scope="session")
def dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("scoring_bench")
    rng = np.random.default_rng(0)
    for track in ("expr", "va", "au"):
        _uni_task(root, track, rng)
    _mtl(root, rng)
    return root


def _prediction(root: Path, track: str, shape: str) -> Path:
    return root / (f"pred_{track}" + ("" if shape == "per-video" else ".txt"))


def _abawbench_command(root: Path, track: str, shape: str) -> list[str]:
    edition = "abaw4" if track == "mtl" else "abaw6"
    return [sys.executable, "-m", "abawbench", "score", str(_prediction(root, track, shape)), "--data",
            str(root / "data"), "--track", track, "--edition", edition, "--bootstrap", "0", "--json", "-"]


def _naive_command(root: Path, track: str, shape: str) -> list[str]:
    truth = root / "data" / ("MTL/validation_set_annotations.txt" if track == "mtl"
                             else f"{track.upper()}_Set/Validation_Set")
    return [sys.executable, str(NAIVE), track, shape, str(truth), str(_prediction(root, track, shape))]


def _run(command: list[str]) -> dict:
    done = subprocess.run(command, capture_output=True, text=True, env=os.environ, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def _clear_truth_cache():
    from abawbench import cache

    shutil.rmtree(cache.location() / "truth", ignore_errors=True)


@pytest.mark.parametrize("track, shape", CASES, ids=[f"{t}-{s.replace(' ', '-')}" for t, s in CASES])
def test_whole_process(benchmark, dataset, track, shape):
    """One row of the table: the two scorers agree (their first runs), then each is timed."""
    ours_command, naive_command = _abawbench_command(dataset, track, shape), _naive_command(dataset, track, shape)
    cold = [_timed(ours_command, _clear_truth_cache) for _ in range(ROUNDS)]
    naive = [_timed(naive_command) for _ in range(ROUNDS)]
    ours, theirs = cold[0][0], naive[0][0]
    for name, value in theirs["metrics"].items():
        assert ours["metrics"][name] == pytest.approx(value, abs=1e-9), name
    for video, entry in theirs["per_video"].items():
        for name, value in entry.items():
            assert ours["per_video"][video][name] == pytest.approx(value, abs=1e-9), (video, name)
    benchmark.pedantic(_run, args=(ours_command,), rounds=ROUNDS, iterations=1)  # ground truth cached
    RESULTS[f"{track}|{shape}"] = {
        "frames": ours["n_frames"], "naive": float(np.mean([t for _, t in naive])),
        # MTL files are parsed every time (no cache): its "cold" runs are like the warm ones
        "cold": float(np.mean([t for _, t in cold])) if track != "mtl" else None,
        "warm": benchmark.stats.stats.mean}


def _timed(command: list[str], before=None) -> tuple[dict, float]:
    import time

    if before is not None:
        before()
    start = time.perf_counter()
    result = _run(command)
    return result, time.perf_counter() - start


@pytest.fixture(scope="module", autouse=True)
def report_speedup(publish):
    """After every case: print the ratio table, save .benchmarks/scoring.json."""
    yield
    if not RESULTS:
        return
    rows = []
    for track, shape in CASES:
        times = RESULTS.get(f"{track}|{shape}")
        if not times or "naive" not in times:
            continue
        cold = times.get("cold")
        rows.append([track.upper(), shape, f"{times['frames']:,}", f"{times['naive']:.2f}",
                     f"{cold:.2f}" if cold else "—", f"{times['warm']:.2f}",
                     f"{times['naive'] / cold:.1f}×" if cold else "—", f"{times['naive'] / times['warm']:.1f}×"])
        times["ratio_cold"] = times["naive"] / cold if cold else None
        times["ratio_warm"] = times["naive"] / times["warm"]
    publish(f"Scoring, whole process (python -m …, imports included), bootstrap off, mean of {ROUNDS} runs",
            ["track", "submission", "valid frames", "naive s", "abawbench cold s", "warm s", "ratio cold",
             "ratio warm"], rows, "scoring", RESULTS)
