"""``abawbench demo``: the main job end to end on data anyone can have.

Today: synthesise a dataset in the real layouts, check it (``data check``), write its
standard splits (``data splits``), make predictions for its validation videos (its
ground truth with noise: a stand-in until the baseline trains here), score them exactly
as ``abawbench score`` does, and show a broken submission refused with file and line.
Everything comes from the package itself, so the demo runs from a plain ``pip install``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from rich.console import Console
from rich.markup import escape

DEMO_LAYOUT = "affwild2_abaw2"


def run_demo(out: Path, console: Console) -> None:
    from abawbench import atomic, report, scoring
    from abawbench.data.synth import is_synthetic, synthesize
    from abawbench.formats import FormatError

    out = Path(out)
    console.rule("1. synthetic Aff-Wild2, ExpW, AFEW-VA, AffectNet")
    # The demo size (what the tiny baseline trains on); a previous demo's data is replaced,
    # anything else in the way is refused.
    manifest = synthesize(out / "data", preset="demo", progress=True, force=is_synthetic(out / "data"))
    report.print_synth(console, out / "data", manifest)
    _check_step(out, console)
    console.rule("3. score predictions for the validation videos (ground truth + noise)")
    root = out / "data" / DEMO_LAYOUT
    for track in ("expr", "va", "au"):
        folder = out / "predictions" / f"abaw2-{track}"
        write_noisy_predictions(root, track, folder, seed=0)
        result = scoring.score(folder, root, track, "abaw2")
        report.print_score(console, result)
        atomic.write_json(out / f"score-abaw2-{track}.json", result)
    console.rule("4. a broken submission is refused with file and line")
    broken = out / "predictions" / "broken-va-out-of-range"
    first = write_noisy_predictions(root, "va", broken, seed=0, out_of_range=True)
    try:
        scoring.score(broken, root, "va")
    except FormatError as error:
        console.print(f"[bold red]error:[/bold red] {escape(str(error))}", highlight=False, soft_wrap=True)
    else:  # pragma: no cover - the planted value must be refused
        raise AssertionError(f"{first} holds a valence of 1.5 and was accepted")
    console.print(f"[green]demo done[/green]: results in {escape(str(out))}/")


def write_noisy_predictions(root: Path, track: str, folder: Path, seed: int = 0, out_of_range: bool = False) -> Path:
    """Per-video predictions for the validation videos of ``root``: the ground truth with
    noise (EXPR: 30% of frames another class; VA: Gaussian noise, σ 0.2, clipped; AU: 15%
    of labels flipped), invalid frames filled with valid values. ``out_of_range`` plants a
    valence of 1.5 on the first row (line 2) of the first file. Returns that file."""
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


def _check_step(out: Path, console: Console) -> None:
    from abawbench import atomic, report
    from abawbench.data import affwild2

    console.rule("2. check the synthetic Aff-Wild2 roots, write their standard splits")
    for layout in ("affwild2_abaw2", "affwild2_abaw6"):
        result = affwild2.check(out / "data" / layout)
        report.print_check(console, result)
        atomic.write_json(out / f"check-{layout}.json", result)
    written = affwild2.write_standard_splits(affwild2.index(out / "data" / DEMO_LAYOUT), out / "splits", force=True)
    report.print_splits(console, out / "splits", written, affwild2.DEV_FRACTION, 0)
