"""``abawbench demo``: the main job end to end on data anyone can have.

One step after another, each through the library functions the commands call:

1. ``data synth``: a synthetic Aff-Wild2 (both layouts), ExpW, AFEW-VA and AffectNet
   (the ``demo`` size; reused when the folder already holds it);
2. ``data check`` of the Aff-Wild2 roots and ``data splits``;
3. ``train paper-baseline --preset tiny``: every stage of the reference method into the
   run folder ``DIR/runs/tiny-seed0`` (the stages are those ``run.json`` records);
4. ``predict``: the run's validation predictions in the submission format;
5. ``score``: those predictions scored as ``abawbench score`` does;
6. ``compare``: the run's stages against each other (paired bootstrap over videos);
7. ``leaderboard``: the run placed on the ABAW2 EXPR and VA boards (marked synthetic);
8. ``report``: plots and one HTML page, when matplotlib (the ``plots`` extra) is there;
9. a broken submission, refused with file and line;

then one summary table (also ``DIR/summary.json``): each stage's validation scores on the
synthetic data beside chance and beside the paper's numbers on real Aff-Wild2.

Rerunning on the same ``DIR`` keeps the data and the finished run (training says there
is nothing to do); a run left unfinished is resumed, and a run whose config no longer
matches the tiny preset, or whose data were synthesised again, is trained again.

``size="test"`` (the hidden ``--size test`` option, for the test suite) synthesises the
test size and trains with :data:`TEST_OVERRIDES`: seconds per stage instead of minutes,
with meaningless scores. Everything comes from the package itself (presets and
leaderboards are package data), so the demo runs from a plain ``pip install``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.markup import escape
from rich.table import Table

DEMO_LAYOUT = "affwild2_abaw2"
EDITION = "abaw2"
PRESET = "tiny"
SEED = 0
SIZES = ("demo", "test")
#: What ``--size test`` trains with on top of the tiny preset: a handful of steps at
#: 32 px, enough to exercise every stage, not to learn anything.
TEST_OVERRIDES = ("data.image_size=32", "cnn.batch_per_task=4", "cnn.steps_per_epoch=3", "cnn.max_epochs=1",
                  "cnn.patience=1", "cnn.eval_batch_size=128", "runtime.log_every=1",
                  "runtime.checkpoint_every=3", "gru.length=8", "gru.train_stride=4", "gru.eval_stride=8",
                  "gru.batch_per_task=4", "gru.steps_per_epoch=3", "gru.max_epochs=1", "gru.patience=1",
                  "gru.hidden=8", "gru.augmented_views=1")
#: The paper's Aff-Wild2 validation numbers (method.md, "What the paper reports") of each
#: stage, for the configuration the tiny preset shares with it: ``(method.tasks,
#: method.shared_annotations, stage) -> (EXPR criterion, CCC valence, CCC arousal)``.
#: ``None`` for the sharing switch: the teacher does not use it.
PAPER_NUMBERS: dict[tuple[tuple[int, ...], bool | None, str], tuple[float, float, float]] = {
    ((1, 2), None, "cnn-teacher"): (0.498, 0.374, 0.407),
    ((1, 2, 3), None, "cnn-teacher"): (0.513, 0.438, 0.398),
    ((1, 2, 3), False, "cnn-student"): (0.513, 0.472, 0.412),
    ((1, 2, 3), True, "cnn-student"): (0.525, 0.471, 0.421),
    ((1, 2, 3), True, "gru-teacher"): (0.555, 0.523, 0.543),
    ((1, 2, 3), True, "gru-student"): (0.555, 0.526, 0.551),
}
PAPER_SOURCE = ("Vu, Beurton-Aimar, Marchand, Multitask multi-database emotion recognition (ABAW 2021): "
                "real Aff-Wild2 validation set")
SUMMARY_SCHEMA = 1
#: The summary's numbers of each stage, in its columns' order.
SUMMARY_METRICS = ("expr_criterion", "va_mean", "valence", "arousal")


def run_demo(out: Path, console: Console, size: str = "demo") -> dict[str, Any]:
    """Run every step into ``out``; returns the summary (also ``out/summary.json``)."""
    from abawbench import atomic

    if size not in SIZES:
        raise ValueError(f"size {size!r}: expected one of {', '.join(SIZES)}")
    out = Path(out)
    root = out / "data" / DEMO_LAYOUT
    run = out / "runs" / f"{PRESET}-seed{SEED}"
    overrides = list(TEST_OVERRIDES) if size == "test" else []
    steps: list[dict[str, Any]] = []

    def step(name: str, title: str, action: Callable[[], Any]) -> Any:
        console.rule(f"{len(steps) + 1}. {name}: {escape(title)}")  # the title may name a path
        clock = time.perf_counter()
        result = action()
        seconds = time.perf_counter() - clock
        steps.append({"step": name, "seconds": round(seconds, 1)})
        console.print(f"[dim]{name}: {seconds:.1f} s[/dim]", highlight=False)
        return result

    fresh = step("data synth", "synthetic Aff-Wild2, ExpW, AFEW-VA and AffectNet in their real layouts",
                 lambda: _synth_step(out, size, console))
    step("data check", "the synthetic Aff-Wild2 roots, and their standard splits", lambda: _check_step(out, console))
    record = step("train", f"paper-baseline --preset {PRESET}, every stage, into {run}",
                  lambda: _train_step(out, run, overrides, fresh, console))
    predictions = out / "predictions" / f"{run.name}-validation"
    step("predict", "the run's validation predictions, in the submission format",
         lambda: _predict_step(run, out, predictions, console))
    scores = step("score", "the predictions, as abawbench score does",
                  lambda: _score_step(out, run, predictions, console))
    step("compare", "the run's stages against each other", lambda: _compare_step(out, run, record, console))
    step("leaderboard", "where the run would stand on the ABAW2 boards", lambda: _leaderboard_step(out, run, console))
    step("report", "plots and one HTML page", lambda: _report_step(out, run, console))
    step("broken submission", "refused with file and line", lambda: _broken_step(out, predictions, console))

    summary = build_summary(record, root, scores, steps, run)
    atomic.write_json(out / "summary.json", summary)
    console.rule("summary")
    print_summary(console, summary)
    console.print(f"[green]demo done[/green] in {sum(s['seconds'] for s in steps):.0f} s: results in "
                  f"{escape(str(out))}/ (summary.json, runs/{run.name}/, report/)", highlight=False)
    return summary


# ------------------------------------------------------------------------ the steps


def _synth_step(out: Path, size: str, console: Console) -> bool:
    """Synthesise ``out/data`` unless it already holds this size and seed; returns whether
    it was (re)written (a run trained on the earlier data is then trained again)."""
    from abawbench import report
    from abawbench.data.synth import is_synthetic, synthesize

    data = out / "data"
    manifest = _manifest(data) if is_synthetic(data) else None
    if manifest is not None and manifest.get("seed") == SEED and \
            manifest.get("parameters", {}).get("preset") == size:
        console.print(f"{escape(str(data))} already holds the synthetic data (size {size}, seed {SEED}): kept")
        report.print_synth(console, data, manifest)
        return False
    # a previous demo's data (another size) is replaced; anything else in the way is refused
    manifest = synthesize(data, preset=size, seed=SEED, progress=True, force=is_synthetic(data))
    report.print_synth(console, data, manifest)
    return True


def _manifest(data: Path) -> dict | None:
    return _read_json(data / "manifest.json")


def _read_json(path: Path) -> dict | None:
    """A JSON file's object, or None when it is missing or unreadable."""
    import json

    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _check_step(out: Path, console: Console) -> None:
    from abawbench import atomic, report
    from abawbench.data import affwild2

    for layout in ("affwild2_abaw2", "affwild2_abaw6"):
        result = affwild2.check(out / "data" / layout)
        report.print_check(console, result)
        atomic.write_json(out / f"check-{layout}.json", result)
    written = affwild2.write_standard_splits(affwild2.index(out / "data" / DEMO_LAYOUT), out / "splits", force=True)
    report.print_splits(console, out / "splits", written, affwild2.DEV_FRACTION, 0)


def _train_step(out: Path, run: Path, overrides: list[str], fresh_data: bool, console: Console) -> dict[str, Any]:
    """Train (or keep, or resume) the demo's run; returns its ``run.json`` record."""
    from abawbench.runs import RunFolder
    from abawbench.training import config as config_module
    from abawbench.training.paper_baseline import train_paper_baseline

    folder = RunFolder(run)
    resume, force = False, False
    if folder.exists():
        stored = folder.read().get("config", {})
        wanted = config_module.resolve(PRESET, None, overrides)
        changed = [k for k in config_module.differences(wanted, stored)
                   if not k.startswith(("derived", "runtime."))]
        if fresh_data or changed:
            why = "the data were synthesised again" if fresh_data else f"its config differs ({', '.join(changed)})"
            console.print(f"{escape(str(run))}: {why}: trained again from scratch")
            force = True
        else:
            resume = True  # finished: nothing to do; interrupted: carries on where it stopped
    return train_paper_baseline(out / "data", run, PRESET, None, overrides, None, resume, force, console,
                                command=["abawbench", "demo", "--out", str(out)])


def _predict_step(run: Path, out: Path, predictions: Path, console: Console) -> None:
    from abawbench import report
    from abawbench.predict import predict_run

    record = predict_run(run, out / "data", "validation", predictions)
    report.print_predictions(console, predictions, record)


def _score_step(out: Path, run: Path, predictions: Path, console: Console) -> dict[str, dict]:
    """Score each track's predictions into ``out/scores/<run>-validation-<track>.json``."""
    from abawbench import atomic, report, scoring

    results = {}
    for track in ("expr", "va"):
        result = scoring.score(predictions / track, out / "data" / DEMO_LAYOUT, track, EDITION, "validation")
        report.print_score(console, result)
        atomic.write_json(out / "scores" / f"{run.name}-validation-{track}.json", result)
        results[track] = result
        # the checkpoint predicts what training itself scored: a check a reader can see
        own = _read_json(run / "scores" / f"validation-{track}.json")
        main = result["main_metric"]
        if own is not None and main in own.get("metrics", {}):
            same = abs(own["metrics"][main] - result["metrics"][main]) < 1e-9
            console.print(f"{track.upper()} {main} {result['metrics'][main]:.4f}: "
                          + ("the run's own validation score, reproduced" if same else
                             f"[yellow]the run's own validation score was {own['metrics'][main]:.4f}[/yellow]"),
                          highlight=False)
    return results


def _compare_step(out: Path, run: Path, record: dict[str, Any], console: Console) -> None:
    """Each scored stage of the run as an entry; the reference is the CNN student (the
    stage the GRU stages must beat), or the first stage when there is none."""
    from abawbench import atomic, tables
    from abawbench import compare as comparing

    stages = scored_stages(record)
    if len(stages) < 2:
        console.print(f"the run has {len(stages)} scored stage(s): nothing to compare")
        return
    entries = [s for stage in stages for s in comparing.load_run(run, stage, stage)]
    reference_stage = "cnn-student" if "cnn-student" in stages else stages[0]
    reference = next(s for s in entries if s.stage == reference_stage)
    result = comparing.compare_scored(entries, reference)
    atomic.write_json(out / "compare.json", result)
    tables.print_result(console, result)


def _leaderboard_step(out: Path, run: Path, console: Console) -> None:
    from abawbench import atomic
    from abawbench import leaderboard as boards

    for name in ("abaw2-expr", "abaw2-va"):
        board = boards.load_board(name)
        placement = boards.place(run, board)
        atomic.write_json(out / f"leaderboard-{name}.json", boards.board_json(board, placement))
        boards.print_board(console, board, placement)


def _report_step(out: Path, run: Path, console: Console) -> None:
    from abawbench import plots

    try:
        plots.pyplot()
    except plots.MissingExtra:
        console.print("skipped: matplotlib is not installed (pip install 'abawbench[plots]' draws the report)")
        return
    written = plots.write_report([run], out / "report")
    console.print(f"wrote {escape(str(out / 'report' / 'index.html'))} ({len(written['images'])} plots embedded)")


def _broken_step(out: Path, predictions: Path, console: Console) -> None:
    """The run's own VA predictions with a valence of 1.5 planted on the first file's
    first row (line 2): the scorer names the file and the line."""
    import shutil

    from abawbench.formats import FormatError
    from abawbench.scoring import score

    broken = out / "predictions" / "broken-va-out-of-range"
    if broken.exists():
        shutil.rmtree(broken)
    shutil.copytree(predictions / "va", broken)
    first = sorted(broken.glob("*.txt"))[0]
    lines = first.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[1] = "1.5," + lines[1].split(",", 1)[1]
    first.write_text("".join(lines), encoding="utf-8")
    console.print(f"planted a valence of 1.5 on line 2 of {escape(str(first))}")
    try:
        score(broken, out / "data" / DEMO_LAYOUT, "va", EDITION)
    except FormatError as error:
        console.print(f"[bold red]error:[/bold red] {escape(str(error))}", highlight=False, soft_wrap=True)
    else:  # pragma: no cover - the planted value must be refused
        raise AssertionError(f"{first} holds a valence of 1.5 and was accepted")


# ------------------------------------------------------------------------ the summary


def scored_stages(record: dict[str, Any]) -> list[str]:
    """The stages of ``run.json`` in their order that finished with validation scores
    (a stage without scores, like the feature extraction, has no row)."""
    return [name for name, stage in record.get("stages", {}).items()
            if stage.get("status") == "finished" and stage.get("validation")]


def chance_predictions(root: Path, seed: int = 0) -> dict[str, dict[str, np.ndarray]]:
    """EXPR predictions of no skill for every validation video of ``root``:
    ``"most frequent"`` predicts, on every frame, the class most frequent among the
    validation set's valid frames; ``"uniform random"`` draws each frame's class
    uniformly (seeded). ``{rule: {video: (n_frames,) int class}}``."""
    from abawbench.scoring import load_ground_truth

    truth = load_ground_truth(root, "expr", "validation", EDITION)
    labels = truth.stacked[truth.valid].astype(np.int64).ravel()
    most_frequent = int(np.bincount(labels, minlength=truth.spec.n_classes).argmax())
    rng = np.random.default_rng(seed)
    return {
        "most frequent": {v: np.full(n, most_frequent, dtype=np.int64) for v, n in zip(truth.videos, truth.lengths)},
        "uniform random": {v: rng.integers(0, truth.spec.n_classes, n) for v, n in zip(truth.videos, truth.lengths)},
    }


def chance_scores(root: Path, seed: int = 0) -> dict[str, dict[str, float]]:
    """The scorer's pooled EXPR metrics (criterion, f1, acc) of each rule of
    :func:`chance_predictions`, plus the most frequent class's name."""
    from abawbench.predict import score_in_memory
    from abawbench.tracks import track_spec

    classes = track_spec(EDITION, "expr").columns
    out = {}
    for rule, videos in chance_predictions(root, seed).items():
        metrics = score_in_memory(root, "expr", EDITION, videos)
        out[rule] = {name: float(value) for name, value in metrics.items()}
        if rule == "most frequent":
            out[rule]["class"] = classes[int(next(iter(videos.values()))[0])]
    return out


def paper_numbers(record: dict[str, Any], stage: str) -> dict[str, float] | None:
    """The paper's validation numbers for ``stage`` in the run's configuration, or None."""
    method = record.get("config", {}).get("method", {})
    tasks = tuple(method.get("tasks", ()))
    shared = None if stage == "cnn-teacher" else bool(method.get("shared_annotations"))
    found = PAPER_NUMBERS.get((tasks, shared, stage))
    if found is None:
        return None
    criterion, valence, arousal = found
    return {"expr_criterion": criterion, "valence": valence, "arousal": arousal,
            "va_mean": round((valence + arousal) / 2, 4)}


def build_summary(record: dict[str, Any], root: Path, scores: dict[str, dict], steps: list[dict[str, Any]],
                  run: Path) -> dict[str, Any]:
    """The demo's summary (``summary.json``): one row per scored stage of the run (ours:
    synthetic validation; the paper's: real Aff-Wild2 validation), the chance rows, the
    final predictions' scores as ``score`` gave them, and each step's seconds."""
    rows = []
    for name in scored_stages(record):
        validation = record["stages"][name]["validation"]
        rows.append({"stage": name,
                     "ours": {key: float(validation[key]) for key in SUMMARY_METRICS},
                     "paper": paper_numbers(record, name)})
    chance = chance_scores(root)
    return {
        "schema": SUMMARY_SCHEMA, "kind": "abawbench-demo-summary",
        "ours_data": "SYNTHETIC data (abawbench data synth), validation split: says nothing about Aff-Wild2",
        "paper_data": PAPER_SOURCE,
        "run": str(run), "preset": record.get("preset"), "seed": record.get("seed"),
        "final_stage": record.get("final_stage"),
        "stages": rows,
        "chance": {
            "expr_most_frequent": {**chance["most frequent"], "rule": "every frame the validation set's most "
                                                                       "frequent class"},
            "expr_uniform_random": {**chance["uniform random"], "rule": "each frame a class drawn uniformly "
                                                                         "(seed 0)"},
            "va_constant": {"valence": 0.0, "arousal": 0.0, "va_mean": 0.0,
                            "rule": "any constant prediction: CCC 0"},
        },
        "predictions": {"expr_criterion": scores["expr"]["metrics"]["criterion"],
                        "valence": scores["va"]["metrics"]["valence"], "arousal": scores["va"]["metrics"]["arousal"],
                        "va_mean": scores["va"]["metrics"]["mean"]},
        "steps": steps,
        "seconds": round(sum(s["seconds"] for s in steps), 1),
    }


def _cell(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def print_summary(console: Console, summary: dict[str, Any]) -> None:
    """The table a newcomer reads: for each stage of the run, its scores on the synthetic
    validation set above the paper's on real Aff-Wild2; then chance; then the time of
    each step."""
    table = Table(title="what each stage of the demo's run scored (validation split)")
    for column in ("stage", "scored on", "EXPR criterion", "VA mean CCC", "CCC valence", "CCC arousal"):
        table.add_column(column, justify="left" if column in ("stage", "scored on") else "right")
    for row in summary["stages"]:
        ours, paper = row["ours"], row["paper"]
        table.add_row(row["stage"], "ours: SYNTHETIC data", *(_cell(ours[k]) for k in SUMMARY_METRICS))
        table.add_row("", "paper: real Aff-Wild2", *(_cell(paper[k]) if paper else "—" for k in SUMMARY_METRICS),
                      style="dim")
    chance = summary["chance"]
    frequent = chance["expr_most_frequent"]
    table.add_section()
    table.add_row("chance", f"always '{frequent['class']}'", _cell(frequent["criterion"]), "", "", "")
    table.add_row("chance", "a random class", _cell(chance["expr_uniform_random"]["criterion"]),
                  "", "", "")
    table.add_row("chance", "a constant VA", "", "0.000", "0.000", "0.000")
    console.print(table)
    console.print(f"[dim]Chance: always the validation set's most frequent class ('{frequent['class']}'); a class "
                  "drawn uniformly for each frame (seed 0); any constant valence and arousal (CCC 0). "
                  "EXPR criterion = 0.67·F1 + 0.33·accuracy; VA mean = (CCC valence + CCC arousal) / 2 "
                  "(the paper's too). Ours: the synthetic data of `abawbench data synth`; they show the pipeline "
                  "learns and say nothing about Aff-Wild2. Paper: Vu et al., ABAW 2021, real Aff-Wild2.[/dim]")
    times = Table(title=f"time of each step (total {summary['seconds']:.0f} s)")
    times.add_column("step")
    times.add_column("seconds", justify="right")
    for entry in summary["steps"]:
        times.add_row(entry["step"], f"{entry['seconds']:.1f}")
    console.print(times)


def write_noisy_predictions(root: Path, track: str, folder: Path, seed: int = 0, out_of_range: bool = False) -> Path:
    """Per-video predictions for the validation videos of ``root``: the ground truth with
    noise (EXPR: 30% of frames another class; VA: Gaussian noise, σ 0.2, clipped; AU: 15%
    of labels flipped), invalid frames filled with valid values. ``out_of_range`` plants a
    valence of 1.5 on the first row (line 2) of the first file. Returns that file.
    (Test fixtures use it: predictions of some skill without training a model.)"""
    from abawbench import formats, scoring

    truth = scoring.load_ground_truth(root, track, "validation", "abaw2")
    spec = truth.spec
    rng = np.random.default_rng(seed)
    predictions = {}
    for video, values in zip(truth.videos, truth.values):
        if track == "expr":
            guess = np.where(values >= 0, values, 0)
            change = rng.random(guess.shape) < 0.3
            guess = np.where(change, rng.integers(0, spec.n_classes, guess.shape), guess)
        elif track == "va":
            guess = np.clip(np.where(values == spec.invalid, 0.0, values) + rng.normal(0, 0.2, values.shape), -1, 1)
            guess = np.round(guess, 3)
        else:
            guess = np.where(values >= 0, values, 0)
            guess = np.where(rng.random(guess.shape) < 0.15, 1 - guess, guess)
        predictions[video] = guess
    if out_of_range:
        predictions[truth.videos[0]][0, 0] = 1.5
    formats.write_per_video(folder, spec, predictions)
    return folder / f"{truth.videos[0]}.txt"
