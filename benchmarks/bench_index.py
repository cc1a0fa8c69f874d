"""Index build time of an Aff-Wild2-sized annotation tree (3M frames, no crops).

Compares ``affwild2.build_index`` (one vectorised parse per track and split, scattered
by offsets), the cached ``affwild2.index`` and a naive build (pandas ``read_csv`` per
file, then outer merges on video and frame).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from abawbench import formats
from abawbench.data import affwild2
from abawbench.tracks import track_spec

RESULTS: dict[str, float] = {}
# (track, first video, videos, frames per video): 480 videos of 6,250 frames = 3M frames,
# 3.75M annotation lines (EXPR 1.6M + VA 1.75M + AU 0.4M), 60 videos annotated for both
# EXPR and VA, as in Aff-Wild2 where a few hundred videos carry several tracks.
TREE = (("expr", 0, 260, 6250), ("va", 200, 280, 6250), ("au", 0, 60, 6250))


@pytest.fixture(scope="session")
def annotation_tree(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("affwild2_tree")
    rng = np.random.default_rng(0)
    for track, first, videos, frames in TREE:
        spec = track_spec("abaw2", track)
        cut = first + int(videos * 0.75)
        for split, names in (("Train_Set", range(first, cut)), ("Validation_Set", range(cut, first + videos))):
            values = {}
            for i in names:
                if track == "expr":
                    values[f"{i}-30-1280x720"] = rng.integers(-1, 7, size=(frames, 1))
                elif track == "va":
                    values[f"{i}-30-1280x720"] = np.round(rng.uniform(-1, 1, size=(frames, 2)), 3)
                else:
                    values[f"{i}-30-1280x720"] = rng.integers(0, 2, size=(frames, 12))
            formats.write_per_video(root / "annotations" / f"{track.upper()}_Set" / split, spec, values)
    return root


def naive_index(root: Path) -> pd.DataFrame:
    tables = []
    for track, *_ in TREE:
        parts = []
        for split in ("Train_Set", "Validation_Set"):
            for path in sorted((root / "annotations" / f"{track.upper()}_Set" / split).glob("*.txt")):
                frame = pd.read_csv(path)
                frame.insert(0, "frame", np.arange(1, len(frame) + 1))
                frame.insert(0, "video", path.stem)
                frame[f"split_{track}"] = split
                parts.append(frame)
        tables.append(pd.concat(parts, ignore_index=True))
    table = tables[0]
    for other in tables[1:]:
        table = table.merge(other, on=["video", "frame"], how="outer")
    return table


def test_build_index(benchmark, annotation_tree):
    table = benchmark.pedantic(affwild2.build_index, args=(annotation_tree,), rounds=3, warmup_rounds=0)
    RESULTS["abawbench"] = benchmark.stats.stats.mean
    RESULTS["rows"] = len(table)


def test_cached_index(benchmark, annotation_tree):
    affwild2.index(annotation_tree)  # writes the cache
    benchmark.pedantic(affwild2.index, args=(annotation_tree,), rounds=3, warmup_rounds=1)
    RESULTS["cached"] = benchmark.stats.stats.mean


def test_naive_index(benchmark, annotation_tree):
    table = benchmark.pedantic(naive_index, args=(annotation_tree,), rounds=1, warmup_rounds=0)
    RESULTS["naive"] = benchmark.stats.stats.mean
    assert len(table) == RESULTS.get("rows", len(table))


@pytest.fixture(scope="module", autouse=True)
def report_index(publish):
    """After the three builds: print times and speed-ups, save .benchmarks/index.json."""
    yield
    if not {"abawbench", "naive", "cached"} <= set(RESULTS):
        return
    rows = [[label, f"{RESULTS[name]:.2f}", f"{RESULTS['naive'] / RESULTS[name]:.1f}×"]
            for name, label in (("naive", "naive (read_csv per file + outer merges)"),
                                ("abawbench", "affwild2.build_index"), ("cached", "affwild2.index, cache warm"))]
    publish(f"Index of an annotation tree with {RESULTS['rows']:,} frame rows",
            ["builder", "seconds", "speed-up vs naive"], rows, "index", RESULTS)
