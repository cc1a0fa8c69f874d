"""demo: the chance rows against scikit-learn on the validation labels, the summary built
from whatever stages run.json records (beside the paper's numbers from method.md), and the
presets and leaderboards shipped in the wheel, so the demo runs from a plain pip install."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console
from sklearn.metrics import accuracy_score, f1_score

from abawbench import demo

from run_folders import make_run

CHECKOUT = Path(__file__).resolve().parent.parent
#: method.md, "What the paper reports" (Aff-Wild2 validation): EXPR criterion, valence, arousal.
PAPER = {"cnn-teacher": (0.513, 0.438, 0.398), "cnn-student": (0.525, 0.471, 0.421),
         "gru-teacher": (0.555, 0.523, 0.543), "gru-student": (0.555, 0.526, 0.551)}


@pytest.fixture(scope="module")
def root(synthetic_data):
    return synthetic_data[0] / "affwild2_abaw2"


def validation_labels(root: Path) -> dict[str, np.ndarray]:
    """Each EXPR validation file's labels, read with NumPy (the scorer's reader is not used)."""
    folder = root / "annotations" / "EXPR_Set" / "Validation_Set"
    return {path.stem: np.loadtxt(path, skiprows=1, dtype=np.int64, ndmin=1) for path in sorted(folder.glob("*.txt"))}


def sklearn_criterion(truth: np.ndarray, guess: np.ndarray) -> float:
    """ABAW2's 0.67·F1 + 0.33·Acc, F1 over all 7 classes (an absent class counts 0)."""
    keep = truth != -1
    f1 = f1_score(truth[keep], guess[keep], labels=list(range(7)), average="macro", zero_division=0)
    return 0.67 * f1 + 0.33 * accuracy_score(truth[keep], guess[keep])


def test_chance_rows_are_the_criteria_of_no_skill_predictions(root):
    labels = validation_labels(root)
    truth = np.concatenate(list(labels.values()))
    most_frequent = np.bincount(truth[truth != -1], minlength=7).argmax()
    scores = demo.chance_scores(root, seed=0)
    assert scores["most frequent"]["criterion"] == pytest.approx(
        sklearn_criterion(truth, np.full_like(truth, most_frequent)), abs=1e-12)
    assert scores["most frequent"]["class"] == ("Neutral", "Anger", "Disgust", "Fear", "Happiness", "Sadness",
                                                "Surprise")[most_frequent]
    drawn = demo.chance_predictions(root, seed=0)["uniform random"]
    assert set(drawn) == set(labels) and all(len(drawn[v]) == len(labels[v]) for v in labels)
    guess = np.concatenate([drawn[v] for v in labels])
    assert guess.min() >= 0 and guess.max() <= 6 and len(np.unique(guess)) == 7
    assert scores["uniform random"]["criterion"] == pytest.approx(sklearn_criterion(truth, guess), abs=1e-12)
    # a uniform guess is right about 1 time in 7
    assert abs(accuracy_score(truth[truth != -1], guess[truth != -1]) - 1 / 7) < 0.06


def finished_run(tmp_path: Path, root: Path, stages: tuple[str, ...], **options) -> tuple[Path, dict]:
    run = make_run(tmp_path / "run", root, stages=stages, **options)
    return run, json.loads((run / "run.json").read_text())


def test_summary_has_one_row_per_scored_stage_of_run_json_beside_the_papers_numbers(root, tmp_path):
    stages = ("cnn-teacher", "cnn-student", "gru-teacher", "gru-student")
    run, record = finished_run(tmp_path, root, stages)
    # a stage that scores nothing (the feature extraction) sits between: it gets no row
    record["stages"] = {name: value for name, value in record["stages"].items() if name.startswith("cnn")} | \
        {"features": {"status": "finished"}} | {n: v for n, v in record["stages"].items() if n.startswith("gru")}
    scores = {t: json.loads((run / "scores" / f"validation-{t}.json").read_text()) for t in ("expr", "va")}
    steps = [{"step": "train", "seconds": 100.0}, {"step": "score", "seconds": 0.5}]
    summary = json.loads(json.dumps(demo.build_summary(record, root, scores, steps, run)))

    assert {"schema", "kind", "ours_data", "paper_data", "run", "preset", "seed", "final_stage", "stages", "chance",
            "predictions", "steps", "seconds"} <= set(summary)
    assert "SYNTHETIC" in summary["ours_data"] and "real Aff-Wild2" in summary["paper_data"]
    assert [row["stage"] for row in summary["stages"]] == list(stages)
    for row in summary["stages"]:
        validation = record["stages"][row["stage"]]["validation"]
        assert row["ours"] == {k: pytest.approx(validation[k]) for k in ("expr_criterion", "valence", "arousal",
                                                                        "va_mean")}
        criterion, valence, arousal = PAPER[row["stage"]]
        assert row["paper"] == pytest.approx({"expr_criterion": criterion, "valence": valence, "arousal": arousal,
                                              "va_mean": (valence + arousal) / 2}, abs=1e-4)
    assert summary["chance"]["va_constant"]["va_mean"] == 0.0
    assert summary["predictions"]["va_mean"] == pytest.approx(scores["va"]["metrics"]["mean"])
    assert summary["seconds"] == pytest.approx(100.5)

    console = Console(record=True, width=140)
    demo.print_summary(console, summary)
    text = console.export_text()
    for stage in stages:
        assert stage in text
    assert "features" not in text and "ours: SYNTHETIC data" in text and "paper: real Aff-Wild2" in text
    assert f"{summary['chance']['expr_most_frequent']['criterion']:.3f}" in text


def test_paper_numbers_follow_the_runs_configuration(root, tmp_path):
    """The paper's teacher on tasks {1,2} and its student without sharing are other rows of
    its tables; a configuration the paper did not report gets none."""
    _, record = finished_run(tmp_path, root, ("cnn-teacher", "cnn-student"), tasks=(1, 2), shared=False)
    assert demo.paper_numbers(record, "cnn-teacher") == pytest.approx(
        {"expr_criterion": 0.498, "valence": 0.374, "arousal": 0.407, "va_mean": 0.3905})
    assert demo.paper_numbers(record, "cnn-student") is None
    record["config"]["method"]["tasks"] = [1, 2, 3]
    assert demo.paper_numbers(record, "cnn-student") == pytest.approx(
        {"expr_criterion": 0.513, "valence": 0.472, "arousal": 0.412, "va_mean": 0.442})


# ----------------------------------------------------------------- the package alone


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The wheel of the checkout (built offline from a copy of its package files), installed
    with ``pip install --target``: ``(wheel, site folder)``."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(CHECKOUT / name, source / name)
    shutil.copytree(CHECKOUT / "abawbench", source / "abawbench", ignore=shutil.ignore_patterns("__pycache__"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    subprocess.run(pip + ["wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q", "-w", str(work / "dist"),
                          str(source)], check=True, capture_output=True, timeout=300)
    wheel = next((work / "dist").glob("abawbench-*.whl"))
    site = work / "site"
    subprocess.run(pip + ["install", "--no-deps", "--no-index", "-q", "--target", str(site), str(wheel)], check=True,
                   capture_output=True, timeout=300)
    return wheel, site


def run_from(site: Path, arguments: list[str], cwd: Path, timeout: int = 120) -> subprocess.CompletedProcess:
    """``python ARGS`` seeing abawbench only in ``site`` (no checkout on the path)."""
    env = {**os.environ, "PYTHONPATH": str(site), "COLUMNS": "120", "ABAWBENCH_CACHE": str(cwd / "cache")}
    return subprocess.run([sys.executable, *arguments], capture_output=True, text=True, cwd=cwd, env=env,
                          timeout=timeout)


@pytest.mark.slow
def test_the_wheel_ships_the_presets_and_the_leaderboards(installed, tmp_path):
    wheel, site = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    presets = sorted(p.name for p in (CHECKOUT / "abawbench" / "baselines").glob("*.toml"))
    boards = sorted(p.name for p in (CHECKOUT / "abawbench" / "leaderboards").glob("*.csv"))
    assert {"paper.toml", "paper-code.toml", "tiny.toml"} <= set(presets) and len(boards) >= 6
    assert {f"abawbench/baselines/{n}" for n in presets} | {f"abawbench/leaderboards/{n}" for n in boards} <= names
    probe = ("import json, abawbench\n"
             "from abawbench.training.config import PRESETS_FOLDER, resolve\n"
             "from abawbench.leaderboard import BOARDS, list_boards\n"
             "print(json.dumps({'package': abawbench.__file__, 'presets': str(PRESETS_FOLDER), 'boards': str(BOARDS),"
             " 'tiny': resolve('tiny')['model']['backbone'],"
             " 'listed': sorted(b.name for b in list_boards())}))")
    process = run_from(site, ["-c", probe], tmp_path)
    assert process.returncode == 0, process.stderr
    found = json.loads(process.stdout)
    for key in ("package", "presets", "boards"):
        assert Path(found[key]).resolve().is_relative_to(site.resolve()), (key, found[key])
    assert found["tiny"] == "resnet10t"  # abawbench/baselines/tiny.toml's backbone
    assert found["listed"] == [Path(n).stem for n in boards]


@pytest.mark.slow
def test_the_demo_runs_from_the_package_alone(installed, tmp_path):
    """As after a plain ``pip install``: the installed wheel, no checkout beside it; the
    test size (``--size test``: seconds of training). A second run keeps the data and the
    finished run."""
    _, site = installed
    out = tmp_path / "demo"
    process = run_from(site, ["-m", "abawbench", "demo", "--out", str(out), "--size", "test"], tmp_path, timeout=300)
    assert process.returncode == 0, process.stderr
    assert "demo done" in process.stdout and "Traceback" not in process.stderr
    record = json.loads((out / "runs" / "tiny-seed0" / "run.json").read_text())
    assert record["status"] == "finished"
    summary = json.loads((out / "summary.json").read_text())
    assert [row["stage"] for row in summary["stages"]] == [n for n, s in record["stages"].items() if s.get("validation")]
    for track in ("expr", "va"):
        score = json.loads((out / "scores" / f"tiny-seed0-validation-{track}.json").read_text())
        assert score["n_videos"] > 0 and score["split"] == "validation"
        assert (out / "predictions" / "tiny-seed0-validation" / track).is_dir()
    assert json.loads((out / "leaderboard-abaw2-va.json").read_text())["placement"]["synthetic"] is True
    assert "broken-va-out-of-range" in process.stdout and ":2: expected a number in [-1, 1]" in process.stdout

    again = run_from(site, ["-m", "abawbench", "demo", "--out", str(out), "--size", "test"], tmp_path, timeout=300)
    assert again.returncode == 0, again.stderr
    assert "already holds the synthetic data" in again.stdout and "nothing to do" in again.stdout


def test_the_report_step_is_skipped_with_one_line_without_matplotlib(tmp_path, monkeypatch):
    from abawbench import plots

    def missing():
        raise plots.MissingExtra("no matplotlib")

    monkeypatch.setattr(plots, "pyplot", missing)
    console = Console(record=True, width=200)
    demo._report_step(tmp_path, tmp_path / "runs" / "tiny-seed0", console)
    lines = console.export_text().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("skipped: matplotlib is not installed")
    assert not (tmp_path / "report").exists()
