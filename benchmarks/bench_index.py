"""Index build time of an Aff-Wild2-sized annotation tree (~3M frame lines, no crops).

Compares ``affwild2.build_index`` (one vectorised parse per track and split, scattered
by offsets), the cached ``affwild2.index`` and a naive build (pandas ``read_csv`` per
file, then outer merges on video and frame).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from abawbench import formats
from abawbench.data import affwild2
from abawbench.tracks import track_spec

RESULTS: dict[str, float] = {}
# (track, videos, frames per video): EXPR 1.3M + VA 1.4M + AU 0.3M ≈ 3M lines
TREE = (("expr", 260, 5000), ("va", 280, 5000), ("au", 60, 5000))


@pytest.fixture(scope="session")
def annotation_tree(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("affwild2_tree")
    rng = np.random.default_rng(0)
    for track, videos, frames in TREE:
        spec = track_spec("abaw2", track)
        for split, share in (("Train_Set", 0.75), ("Validation_Set", 0.25)):
            names = range(int(videos * share)) if split == "Train_Set" else range(int(videos * 0.75), videos)
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
    for track, _, _ in TREE:
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


def test_report_index(capsys):
    if not {"abawbench", "naive", "cached"} <= set(RESULTS):
        pytest.skip("run the index benchmarks first")
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Index of an annotation tree with {RESULTS['rows']:,} frame rows")
    table.add_column("builder")
    table.add_column("seconds", justify="right")
    table.add_column("speed-up vs naive", justify="right")
    for name, label in (("naive", "naive (read_csv per file + outer merges)"), ("abawbench", "affwild2.build_index"),
                        ("cached", "affwild2.index, cache warm")):
        table.add_row(label, f"{RESULTS[name]:.2f}", f"{RESULTS['naive'] / RESULTS[name]:.1f}×")
    with capsys.disabled():
        Console(width=100).print(table)
    Path(".benchmarks").mkdir(exist_ok=True)
    Path(".benchmarks/index.json").write_text(json.dumps(RESULTS, indent=2) + "\n")
