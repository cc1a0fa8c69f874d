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
        from abawbench.compare import CompareError
        from abawbench.data.affwild2 import DatasetError
        from abawbench.formats import FormatError
        from abawbench.leaderboard import LeaderboardError
        from abawbench.plots import MissingExtra, ReportError
        from abawbench.scoring import ScoringError

        try:
            return command(*args, **kwargs)
        except (FormatError, ScoringError, DatasetError, CompareError, LeaderboardError, MissingExtra,
                ReportError) as error:
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


def _split_keys(ctx, param, value):
    keys = [key.strip() for item in value for key in item.split(",") if key.strip()]
    return keys or None


entries_argument = click.argument("entries", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
stage_option = click.option("--stage", type=click.Choice(("final",) + ("cnn-teacher", "cnn-student", "features",
                                                                      "gru-teacher", "gru-student")),
                            help="Which scores of a run folder: its final ones (default) or a stage's.")
data_option = click.option("--data", type=click.Path(exists=True, file_okay=False, path_type=Path),
                           help="Aff-Wild2 root to score prediction folders/files against.")


@main.command()
@entries_argument
@data_option
@click.option("--reference", type=click.Path(exists=True, path_type=Path),
              help="The entry every delta is taken against (default: the first).")
@click.option("--by", multiple=True, callback=_split_keys,
              help="Dotted config keys that define a group of seeds (default: run.json 'group'); repeat or "
                   "separate with commas, e.g. --by method.tasks,method.shared_annotations.")
@click.option("--table", type=click.Choice(["entries", "ablation"]), default="entries", show_default=True,
              help="ablation: the paper's Tables 1-3 from run folders, the paper's numbers beside ours.")
@click.option("--format", "fmt", type=click.Choice(["rich", "markdown", "latex", "csv"]), default="rich",
              show_default=True, help="How to write the table.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the markdown/LaTeX/CSV table to this file instead of the terminal.")
@click.option("--track", type=click.Choice(TRACKS, case_sensitive=False),
              help="Only this track (and the track of prediction files whose header does not tell).")
@edition_option
@click.option("--split", default="validation", show_default=True, type=click.Choice(["train", "validation"]),
              help="Split that prediction folders are scored on.")
@stage_option
@click.option("--bootstrap", "resamples", default=1000, show_default=True, type=click.IntRange(min=1),
              help="Resamples of the paired bootstrap over videos.")
@click.option("--seed", default=0, show_default=True, help="Seed of the bootstrap.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), help="Write the result here.")
@user_errors
def compare(entries, data, reference, by, table, fmt, output, track, edition, split, stage, resamples, seed,
            json_path):
    """Compare run folders, score JSONs and prediction folders: every metric, deltas against a
    reference with a paired bootstrap over videos, seeds of one config as mean ± std."""
    from abawbench import ablation, atomic, tables
    from abawbench import compare as comparing

    if table == "ablation":
        result = ablation.ablation_table(list(entries))
    else:
        result = comparing.compare_entries(list(entries), data, reference, by, track.lower() if track else None,
                                           edition, split, stage, resamples, seed)
    if fmt == "rich":
        tables.print_result(console, result)
    else:
        text = tables.render(result, fmt)
        if output is not None:
            atomic.write_text(output, text)
            console.print(f"[dim]wrote {output}[/dim]")
        else:
            click.echo(text, nl=False)
    _write_json(json_path, result)


@main.command()
@click.argument("name", required=False)
@click.option("--run", "entry", type=click.Path(exists=True, path_type=Path),
              help="A run folder or score JSON to place among the published rows.")
@stage_option
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), help="Write the board here.")
@user_errors
def leaderboard(name, entry, stage, json_path):
    """Published ABAW results: without NAME, the boards; with one (abaw2-expr, abaw2-va, ...),
    its rows ranked by the official metric, and where --run would stand."""
    from abawbench import leaderboard as boards

    if name is None:
        listed = boards.list_boards()
        boards.print_boards(console, listed)
        _write_json(json_path, {"boards": [{"name": b.name, "edition": b.edition, "track": b.track,
                                            "main_metric": b.main_metric, "rows": len(b.rows)} for b in listed]})
        return
    board = boards.load_board(name)
    placement = boards.place(entry, board, stage) if entry is not None else None
    boards.print_board(console, board, placement)
    _write_json(json_path, boards.board_json(board, placement))


@main.command()
@entries_argument
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the PNG plots and index.html (replaced as a whole).")
@data_option
@click.option("--track", type=click.Choice(TRACKS, case_sensitive=False), help="Only this track.")
@edition_option
@click.option("--split", default="validation", show_default=True, type=click.Choice(["train", "validation"]))
@stage_option
@user_errors
def report(entries, out, data, track, edition, split, stage):
    """Plots (EXPR confusion, VA density, per-video scores, training curves) and one self-contained
    index.html for run folders and score JSONs. Needs the plots extra: pip install 'abawbench[plots]'."""
    from abawbench import plots

    plots.pyplot()  # says how to get matplotlib before any work
    with console.status("drawing plots") as status:
        written = plots.write_report(list(entries), out, data, track.lower() if track else None, edition, split,
                                     stage, progress=lambda caption: status.update(f"drawn: {caption}"))
    for image in written["images"]:
        console.print(f"[dim]{out / image['file']}[/dim]  {image['caption']}")
    for note in written["missing"]:
        console.print(f"[yellow]not drawn:[/yellow] {escape(note)}", soft_wrap=True)
    console.print(f"wrote {out / 'index.html'} ({len(written['images'])} plots embedded)")


@main.command()
@click.option("--out", default="demo", show_default=True, type=click.Path(file_okay=False, path_type=Path))
def demo(out):
    """Run the main job end to end on synthetic data and the example submissions."""
    from abawbench.demo import run_demo

    run_demo(out, console)


if __name__ == "__main__":
    main()
