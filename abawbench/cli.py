"""The ``abawbench`` command line: thin click commands over the library modules."""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape

from abawbench import __version__
from abawbench.tracks import TRACKS

console = Console()
error_console = Console(stderr=True)

EXIT_BAD_INPUT = 2


def user_errors(command):
    """Turn errors in the user's input into one message and exit code 2, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        from abawbench.data.affwild2 import DatasetError
        from abawbench.formats import FormatError
        from abawbench.predict import PredictionError
        from abawbench.runs import RunError
        from abawbench.scoring import ScoringError
        from abawbench.training.config import ConfigError

        try:
            return command(*args, **kwargs)
        except (FormatError, ScoringError, DatasetError, ConfigError, RunError, PredictionError) as error:
            # escaped: the message quotes the user's file, which may hold [brackets]
            error_console.print(f"[bold red]error:[/bold red] {escape(str(error))}", highlight=False, soft_wrap=True)
            sys.exit(EXIT_BAD_INPUT)

    return wrapper


def _write_json(path: Path | None, payload: dict) -> None:
    if path is not None:
        from abawbench import atomic

        atomic.write_json(path, payload)
        console.print(f"[dim]wrote {path}[/dim]")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="abawbench")
def main():
    """Score, check and compare ABAW submissions and runs."""
    from abawbench.runtime import tune_allocator

    tune_allocator()


track_option = click.option("--track", required=True, type=click.Choice(TRACKS, case_sensitive=False),
                            help="Challenge track.")


def _check_edition(ctx, param, value):
    from abawbench.tracks import get_edition

    try:
        return get_edition(value).name
    except ValueError as error:
        raise click.BadParameter(str(error)) from None


edition_option = click.option("--edition", default="abaw2", show_default=True, callback=_check_edition,
                              help="ABAW edition whose classes and metric apply (abaw1 … abaw8).")


@main.command()
@click.argument("predictions", type=click.Path(exists=True, path_type=Path))
@click.option("--data", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Aff-Wild2 root (any edition's layout) or an annotation split folder.")
@track_option
@edition_option
@click.option("--split", default="validation", show_default=True, type=click.Choice(["train", "validation"]))
@click.option("--bootstrap", "resamples", default=1000, show_default=True, type=click.IntRange(min=0),
              help="Bootstrap resamples of videos for the 95% interval; 0 skips it.")
@click.option("--seed", default=0, show_default=True, help="Seed of the bootstrap.")
@click.option("--template", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Organisers' template: an image_location submission must have exactly its rows.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), help="Write the score JSON here.")
@user_errors
def score(predictions, data, track, edition, split, resamples, seed, template, json_path):
    """Score PREDICTIONS (a per-video folder or an image_location file) as the organisers do."""
    from abawbench import report, scoring

    result = scoring.score(predictions, data, track.lower(), edition, split, resamples, seed, template)
    report.print_score(console, result)
    _write_json(json_path, result)


@main.command()
@click.argument("predictions", type=click.Path(exists=True, path_type=Path))
@track_option
@edition_option
@click.option("--data", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Aff-Wild2 root: the split's ground truth gives videos and frame counts; for --split test, "
                   "the organisers' template or test video list found under it.")
@click.option("--split", default="validation", show_default=True, type=click.Choice(["train", "validation", "test"]))
@click.option("--template", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Organisers' template file (image_location rows of every required frame).")
@click.option("--videos", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="List of test videos, one per line, optionally 'video,frames'.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path))
@user_errors
def validate(predictions, track, edition, data, split, template, videos, json_path):
    """Check a submission without scoring it (for the test set, whose labels nobody has)."""
    from abawbench import report, scoring

    summary = scoring.validate(predictions, track.lower(), edition, data, split, template, videos)
    report.print_validation(console, summary)
    _write_json(json_path, summary)


annotations_option = click.option(
    "--annotations", help="The annotation set to use when ROOT holds several editions' (e.g. '6th ABAW Annotations').")


@main.group()
def data():
    """Datasets: make synthetic data, check a dataset root."""


@data.command("synth")
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option("--videos", default=12, show_default=True, type=click.IntRange(min=6), help="Aff-Wild2 videos.")
@click.option("--frames", default=120, show_default=True, type=click.IntRange(min=30), help="Frames per video (about).")
@click.option("--seed", default=0, show_default=True)
def data_synth(out, videos, frames, seed):
    """Write a synthetic Aff-Wild2 (ABAW2 and ABAW6 layouts), ExpW, AFEW-VA and AffectNet to OUT."""
    from abawbench import report
    from abawbench.data.synth import synthesize

    manifest = synthesize(out, videos=videos, frames=frames, seed=seed, progress=True)
    report.print_synth(console, out, manifest)


@data.command("check")
@click.argument("root", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--decode", is_flag=True, help="Decode every crop (slow) instead of checking JPEG markers.")
@annotations_option
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path))
@user_errors
def data_check(root, decode, annotations, json_path):
    """Index an Aff-Wild2 ROOT: print what is there and what is wrong."""
    from abawbench import report
    from abawbench.data import affwild2

    result = affwild2.check(root, decode=decode, annotations=annotations)
    report.print_check(console, result)
    _write_json(json_path, result)


@data.command("splits")
@click.argument("root", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the split lists (one video name per line).")
@click.option("--fraction", default=0.15, show_default=True, type=click.FloatRange(0, 1, min_open=True, max_open=True),
              help="Share of the labelled train frames the dev hold-out takes.")
@click.option("--seed", default=0, show_default=True)
@annotations_option
@user_errors
def data_splits(root, out, fraction, seed, annotations):
    """Write the official, shared and dev hold-out splits of an Aff-Wild2 ROOT as citable lists."""
    from abawbench import report
    from abawbench.data import affwild2

    written = affwild2.write_standard_splits(affwild2.index(root, annotations=annotations), out, fraction, seed)
    report.print_splits(console, out, written, fraction, seed)


@main.group()
def train():
    """Train a method into a run folder."""


@train.command("paper-baseline")
@click.option("--data", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Aff-Wild2 root, or a folder holding it and expw/, afew_va/, affectnet/ side by side "
                   "(what 'data synth' writes).")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Run folder.")
@click.option("--preset", type=click.Choice(["paper", "paper-code", "tiny"]),
              help="baselines/<preset>.toml [default: paper].")
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A TOML file of config tables, applied over the preset.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override one config key, e.g. --set cnn.lr=1e-3 (repeatable; TOML values).")
@click.option("--stage", help="Stop after this stage (cnn-teacher, cnn-student).")
@click.option("--seed", type=click.IntRange(min=0), help="Seed (same as --set seed=N).")
@click.option("--resume", is_flag=True, help="Continue the run in --out exactly where it stopped.")
@click.option("--force", is_flag=True, help="Delete the run in --out and train again from scratch.")
@user_errors
def train_paper_baseline(data, out, preset, config_file, overrides, stage, seed, resume, force):
    """Train the ABAW 2021 multitask teacher/student baseline (CNN stages) into the run folder --out."""
    from abawbench.training.paper_baseline import train_paper_baseline as train_run

    overrides = list(overrides) + ([f"seed={seed}"] if seed is not None else [])
    train_run(data, out, preset, config_file, overrides, stage, resume, force, console,
              command=["abawbench"] + sys.argv[1:])


@main.command()
@click.argument("run", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--data", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Aff-Wild2 root (or the folder holding it), as for training.")
@click.option("--split", default="validation", show_default=True, type=click.Choice(["validation", "test"]))
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Prediction folder (<track>/ per-video folders, or <track>.txt for ABAW4 on).")
@click.option("--edition", default=None, callback=lambda ctx, p, v: _check_edition(ctx, p, v) if v else None,
              help="Submission format and classes [default: the run's].")
@click.option("--stage", help="Predict with this stage's best weights [default: the run's final stage].")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@user_errors
def predict(run, data, split, out, edition, stage, device):
    """Predict every frame of a split with a trained RUN, in the submission format."""
    from abawbench import report
    from abawbench.predict import predict_run

    record = predict_run(run, data, split, out, edition, stage, device)
    report.print_predictions(console, out, record)


@main.command()
@click.option("--out", default="demo", show_default=True, type=click.Path(file_okay=False, path_type=Path))
def demo(out):
    """Run the main job end to end on synthetic data and the example submissions."""
    from abawbench.demo import run_demo

    run_demo(out, console)


if __name__ == "__main__":
    main()
