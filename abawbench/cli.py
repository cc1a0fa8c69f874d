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
        from abawbench.scoring import ScoringError

        try:
            return command(*args, **kwargs)
        except (FormatError, ScoringError, DatasetError) as error:
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
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--size", "preset", default="test", show_default=True, type=click.Choice(["test", "demo", "large"]),
              help="test: the test suite's (12 videos × 120 frames, seconds); demo: what the demo and the tiny "
                   "baseline train on (72 × 100); large: longer CPU runs (240 × 200).")
@click.option("--videos", type=click.IntRange(min=6), help="Aff-Wild2 videos (overrides --size).")
@click.option("--frames", type=click.IntRange(min=30), help="Frames per video, about (overrides --size).")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0))
@click.option("--force", is_flag=True, help="Replace OUT whole if it exists and is not empty.")
def data_synth(out, preset, videos, frames, seed, force):
    """Write a synthetic Aff-Wild2 (ABAW2 and ABAW6 layouts), ExpW, AFEW-VA and AffectNet to OUT.

    The tree is built in a hidden sibling folder and renamed into place at the end: an
    interrupted run leaves OUT as it was."""
    from abawbench import report
    from abawbench.data.synth import TargetNotEmptyError, synthesize

    try:
        manifest = synthesize(out, videos=videos, frames=frames, seed=seed, progress=True, preset=preset,
                              force=force)
    except TargetNotEmptyError as error:
        raise click.BadParameter(str(error), param_hint="OUT") from None
    except OSError as error:  # unwritable parent, full disk: nothing was put in place
        failure = click.ClickException(f"cannot write {out}: {error.strerror or error}; nothing was written")
        failure.exit_code = EXIT_BAD_INPUT
        raise failure from None
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


@main.command()
@click.option("--out", default="demo", show_default=True, type=click.Path(file_okay=False, path_type=Path))
def demo(out):
    """Run the main job end to end on synthetic data and the example submissions."""
    from abawbench.demo import run_demo

    run_demo(out, console)


if __name__ == "__main__":
    main()
