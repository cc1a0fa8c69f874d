"""The ``abawbench`` command line: thin click commands over the library modules."""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape

from abawbench import __version__
from abawbench.tracks import DEFAULT_F1_AVERAGE, F1_AVERAGES, SCORED_TRACKS, TRACKS

console = Console()
error_console = Console(stderr=True)

EXIT_BAD_INPUT = 2


class OutputError(ValueError):
    """A result cannot be written where the user asked (full disk, lost permission)."""


def _fail(message: str) -> None:
    # escaped: the message quotes the user's file, which may hold [brackets]
    error_console.print(f"[bold red]error:[/bold red] {escape(message)}", highlight=False, soft_wrap=True)
    sys.exit(EXIT_BAD_INPUT)


def user_errors(command):
    """Turn errors in the user's input or surroundings (unreadable, unwritable, full) into
    one message and exit code 2, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        from abawbench.atomic import TargetNotEmpty
        from abawbench.compare import CompareError
        from abawbench.data.affwild2 import DatasetError
        from abawbench.formats import FormatError
        from abawbench.leaderboard import LeaderboardError
        from abawbench.plots import MissingExtra, ReportError
        from abawbench.predict import PredictionError
        from abawbench.runs import RunError
        from abawbench.scoring import ScoringError
        from abawbench.training.config import ConfigError

        try:
            return command(*args, **kwargs)
        except (FormatError, ScoringError, DatasetError, TargetNotEmpty, OutputError, CompareError,
                LeaderboardError, MissingExtra, ReportError, ConfigError, RunError,
                PredictionError) as error:
            _fail(str(error))
        except OSError as error:  # the file system refused: say which file and why
            where = f"{error.filename}: " if error.filename else ""
            _fail(f"{where}{error.strerror or error}")

    return wrapper


def with_cache_options(command):
    """``--cache-dir DIR`` and ``--no-cache``: where this command keeps its caches."""

    @click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path),
                  help="Cache folder for this command [default: $ABAWBENCH_CACHE, else $XDG_CACHE_HOME/abawbench, "
                       "else ~/.cache/abawbench].")
    @click.option("--no-cache", is_flag=True, help="Use no cache folder (parse everything again; write nothing).")
    @functools.wraps(command)
    def wrapper(*args, cache_dir=None, no_cache=False, **kwargs):
        from abawbench import cache

        cache.configure(cache_dir, enabled=not no_cache)
        return command(*args, **kwargs)

    return wrapper


class AsciiIntRange(click.IntRange):
    """An integer option written in ASCII digits: Python's ``int()`` reads '٣٧' as 37."""

    def convert(self, value, param, ctx):
        if isinstance(value, str) and not value.strip().isascii():
            self.fail(f"{value!r} is not an integer in ASCII digits (0-9)", param, ctx)
        return super().convert(value, param, ctx)


def _check_output_file(ctx, param, value):
    """Fail before any work when the output file cannot be written (``-``: standard output)."""
    from abawbench import atomic

    if value is not None:
        problem = atomic.output_problem(value)
        if problem:
            raise click.BadParameter(problem)
    return value


def _check_output_folder(ctx, param, value):
    from abawbench import atomic

    if value is not None:
        problem = atomic.folder_problem(Path(value).absolute().parent)
        if problem:
            raise click.BadParameter(problem)
    return value


def json_option(help_text: str = "Write the result as JSON here ('-': standard output, the tables then go to "
                                 "standard error)."):
    return click.option("--json", "json_path", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
                        callback=_check_output_file, help=help_text)


def _tables_console(json_path: Path | None) -> Console:
    """Where the tables go: standard error when the JSON takes standard output."""
    return error_console if json_path is not None and str(json_path) == "-" else console


def _write_json(path: Path | None, payload: dict) -> str | None:
    """Write the JSON (before the tables are printed: a failure is then the only output);
    returns the line that says where it went."""
    if path is None:
        return None
    import json

    from abawbench import atomic

    text = json.dumps(payload, indent=2) + "\n"
    if str(path) == "-":
        click.echo(text, nl=False)
        return None
    try:
        atomic.write_text(path, text)
    except OSError as error:
        raise OutputError(f"cannot write {path}: {error.strerror or error}") from None
    return f"[dim]wrote {escape(str(path))}[/dim]"


def _finish(out: Console, wrote: str | None) -> None:
    if wrote:
        out.print(wrote)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="abawbench")
def main():
    """Score, check and compare ABAW submissions and runs."""
    from abawbench.runtime import tune_allocator

    tune_allocator()


track_option = click.option("--track", required=True, type=click.Choice(SCORED_TRACKS, case_sensitive=False),
                            help="Challenge track (mtl: the multi-task challenge of ABAW3, ABAW4 and ABAW7).")


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
@click.option("--bootstrap", "resamples", default=1000, show_default=True, type=AsciiIntRange(min=0),
              help="Bootstrap resamples of videos for the 95% interval; 0 skips it.")
@click.option("--seed", default=0, show_default=True, type=AsciiIntRange(min=0), help="Seed of the bootstrap.")
@click.option("--template", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Organisers' template: an image_location submission must have exactly its rows "
                   "(mtl: the test list, whose images it must have).")
@click.option("--f1-average", "f1_average", default=DEFAULT_F1_AVERAGE, show_default=True,
              type=click.Choice(F1_AVERAGES),
              help="F1 of EXPR and AU: 'all' = sum of per-class F1 over all classes / their number (the papers' "
                   "formula); 'present' = over the classes present in truth or prediction (scikit-learn's default).")
@json_option("Write the score JSON here ('-': standard output, the tables then go to standard error).")
@with_cache_options
@user_errors
def score(predictions, data, track, edition, split, resamples, seed, template, f1_average, json_path):
    """Score PREDICTIONS (a per-video folder, an image_location file or an MTL file) as the organisers do."""
    from abawbench import report, scoring

    result = scoring.score(predictions, data, track.lower(), edition, split, resamples, seed, template, f1_average)
    wrote = _write_json(json_path, result)
    out = _tables_console(json_path)
    report.print_score(out, result)
    _finish(out, wrote)


@main.command()
@click.argument("predictions", type=click.Path(exists=True, path_type=Path))
@track_option
@edition_option
@click.option("--data", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Aff-Wild2 root: the split's ground truth gives videos and frame counts; for --split test, "
                   "the organisers' template or test video list found under it.")
@click.option("--split", default="validation", show_default=True, type=click.Choice(["train", "validation", "test"]))
@click.option("--template", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Organisers' template file (image_location rows of every required frame; mtl: the test list of images).")
@click.option("--videos", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="List of test videos, one per line, optionally 'video,frames'.")
@json_option()
@with_cache_options
@user_errors
def validate(predictions, track, edition, data, split, template, videos, json_path):
    """Check a submission without scoring it (for the test set, whose labels nobody has)."""
    from abawbench import report, scoring

    summary = scoring.validate(predictions, track.lower(), edition, data, split, template, videos)
    wrote = _write_json(json_path, summary)
    out = _tables_console(json_path)
    report.print_validation(out, summary)
    _finish(out, wrote)


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
@click.option("--videos", type=AsciiIntRange(min=6), help="Aff-Wild2 videos (overrides --size).")
@click.option("--frames", type=AsciiIntRange(min=30), help="Frames per video, about (overrides --size).")
@click.option("--seed", default=0, show_default=True, type=AsciiIntRange(min=0))
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
@json_option()
@user_errors
def data_check(root, decode, annotations, json_path):
    """Index an Aff-Wild2 ROOT: print what is there and what is wrong."""
    from abawbench import report
    from abawbench.data import affwild2

    result = affwild2.check(root, decode=decode, annotations=annotations)
    wrote = _write_json(json_path, result)
    out = _tables_console(json_path)
    report.print_check(out, result)
    _finish(out, wrote)


@data.command("splits")
@click.argument("root", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path), callback=_check_output_folder,
              help="Folder for the split lists (one video name per line); written whole or not at all.")
@click.option("--fraction", default=0.15, show_default=True, type=click.FloatRange(0, 1, min_open=True, max_open=True),
              help="Share of the labelled train frames the dev hold-out takes.")
@click.option("--seed", default=0, show_default=True, type=AsciiIntRange(min=0))
@click.option("--force", is_flag=True, help="Replace a non-empty --out folder whole (stale lists included).")
@annotations_option
@with_cache_options
@user_errors
def data_splits(root, out, fraction, seed, force, annotations):
    """Write the official, shared and dev hold-out splits of an Aff-Wild2 ROOT as citable lists."""
    from abawbench import report
    from abawbench.data import affwild2

    affwild2.check_splits_folder(out, root, force)  # before the work, not after it
    written = affwild2.write_standard_splits(affwild2.index(root, annotations=annotations), out, fraction, seed,
                                             force=force)
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
              help="abawbench/baselines/<preset>.toml [default: paper].")
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A TOML file of config tables, applied over the preset.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override one config key, e.g. --set cnn.lr=1e-3 (repeatable; TOML values).")
@click.option("--stage", help="Stop after this stage (cnn-teacher, cnn-student, features, gru-teacher, "
                                "gru-student).")
@click.option("--seed", type=AsciiIntRange(min=0), help="Seed (same as --set seed=N).")
@click.option("--resume", is_flag=True, help="Continue the run in --out exactly where it stopped.")
@click.option("--force", is_flag=True, help="Delete the run in --out and train again from scratch.")
@with_cache_options
@user_errors
def train_paper_baseline(data, out, preset, config_file, overrides, stage, seed, resume, force):
    """Train the ABAW 2021 multitask teacher/student baseline into the run folder --out: CNN teacher,
    CNN student, features, GRU teacher, GRU student, then predictions and scores. Stages already
    finished with their outputs are skipped; deleted outputs are made again."""
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
@with_cache_options
@user_errors
def predict(run, data, split, out, edition, stage, device):
    """Predict every frame of a split with a trained RUN, in the submission format."""
    from abawbench import report
    from abawbench.predict import predict_run

    record = predict_run(run, data, split, out, edition, stage, device)
    report.print_predictions(console, out, record)


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
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), callback=_check_output_file,
              help="Write the markdown/LaTeX/CSV table to this file instead of the terminal.")
@click.option("--track", type=click.Choice(SCORED_TRACKS, case_sensitive=False),
              help="Only this track (and the track of prediction files whose header does not tell).")
@edition_option
@click.option("--split", default="validation", show_default=True, type=click.Choice(["train", "validation"]),
              help="Split that prediction folders are scored on.")
@stage_option
@click.option("--bootstrap", "resamples", default=1000, show_default=True, type=AsciiIntRange(min=1),
              help="Resamples of the paired bootstrap over videos.")
@click.option("--seed", default=0, show_default=True, type=AsciiIntRange(min=0), help="Seed of the bootstrap.")
@json_option()
@with_cache_options
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
    wrote = _write_json(json_path, result)
    out = _tables_console(json_path)
    if fmt == "rich":
        tables.print_result(out, result)
    else:
        text = tables.render(result, fmt)
        if output is not None:
            atomic.write_text(output, text)
            out.print(f"[dim]wrote {escape(str(output))}[/dim]")
        else:
            click.echo(text, nl=False, err=out is error_console)
    _finish(out, wrote)


@main.command()
@click.argument("name", required=False)
@click.option("--run", "entry", type=click.Path(exists=True, path_type=Path),
              help="A run folder or score JSON to place among the published rows.")
@stage_option
@json_option()
@user_errors
def leaderboard(name, entry, stage, json_path):
    """Published ABAW results: without NAME, the boards; with one (abaw2-expr, abaw2-va, ...),
    its rows ranked by the official metric, and where --run would stand."""
    from abawbench import leaderboard as boards

    out = _tables_console(json_path)
    if name is None:
        listed = boards.list_boards()
        wrote = _write_json(json_path, {"boards": [{"name": b.name, "edition": b.edition, "track": b.track,
                                                    "main_metric": b.main_metric, "rows": len(b.rows)}
                                                   for b in listed]})
        boards.print_boards(out, listed)
        _finish(out, wrote)
        return
    board = boards.load_board(name)
    placement = boards.place(entry, board, stage) if entry is not None else None
    wrote = _write_json(json_path, boards.board_json(board, placement))
    boards.print_board(out, board, placement)
    _finish(out, wrote)


@main.command()
@entries_argument
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              callback=_check_output_folder, help="Folder for the PNG plots and index.html (replaced as a whole).")
@data_option
@click.option("--track", type=click.Choice(TRACKS, case_sensitive=False), help="Only this track.")
@edition_option
@click.option("--split", default="validation", show_default=True, type=click.Choice(["train", "validation"]))
@stage_option
@with_cache_options
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
@click.option("--out", default="demo", show_default=True, type=click.Path(file_okay=False, path_type=Path),
              callback=_check_output_folder)
# For the test suite: the test-size data and a few training steps (seconds, meaningless scores).
@click.option("--size", default="demo", hidden=True, type=click.Choice(["demo", "test"]))
@with_cache_options
@user_errors
def demo(out, size):
    """Run the main job end to end on synthetic data: synth, check, train the tiny baseline (every
    stage), predict, score, compare, leaderboard, report; then one summary table."""
    from abawbench.demo import run_demo

    run_demo(out, console, size)


@main.group("cache")
def cache_group():
    """The cache folder: where it is, what it holds; clear it."""


cache_dir_option = click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path),
                                help="The cache folder to look at [default: as the other commands find it].")


@cache_group.command("info")
@cache_dir_option
@user_errors
def cache_info(cache_dir):
    """Where the cache folder is, what it holds and how large it is."""
    from abawbench import cache, report

    cache.configure(cache_dir)
    report.print_cache(console, cache.info())


@cache_group.command("clear")
@cache_dir_option
@user_errors
def cache_clear(cache_dir):
    """Remove everything abawbench cached (it is rebuilt when needed)."""
    from abawbench import cache, report

    cache.configure(cache_dir)
    removed = cache.clear()
    where = escape(str(cache.location()))
    console.print(f"removed {report.human_size(sum(removed.values()))} ({', '.join(removed)}) from {where}"
                  if removed else f"nothing to remove in {where}")


if __name__ == "__main__":
    main()
