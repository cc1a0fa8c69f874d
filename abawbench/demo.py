"""``abawbench demo``: the main job end to end on data anyone can have.

Today: synthesise a dataset in the real layouts, check it (``data check``), write its
standard splits (``data splits``), and score
the example submissions (valid and one broken) exactly as ``abawbench score`` does.
Training, prediction and comparison join as they land.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.markup import escape

EXAMPLES = Path(__file__).resolve().parent.parent / "submissions"


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
    console.rule("3. score the example submissions")
    for track in ("expr", "va", "au"):
        result = scoring.score(EXAMPLES / "valid" / f"abaw2-{track}", EXAMPLES / "data" / "abaw2", track, "abaw2")
        report.print_score(console, result)
        atomic.write_json(out / f"score-abaw2-{track}.json", result)
    console.rule("4. a broken submission is refused with file and line")
    try:
        scoring.score(EXAMPLES / "broken" / "va-out-of-range", EXAMPLES / "data" / "abaw2", "va")
    except FormatError as error:
        console.print(f"[bold red]error:[/bold red] {escape(str(error))}", highlight=False, soft_wrap=True)
    console.print(f"[green]demo done[/green]: results in {out}/")


def _check_step(out: Path, console: Console) -> None:
    from abawbench import atomic, report
    from abawbench.data import affwild2

    console.rule("2. check the synthetic Aff-Wild2 roots, write their standard splits")
    for layout in ("affwild2_abaw2", "affwild2_abaw6"):
        result = affwild2.check(out / "data" / layout)
        report.print_check(console, result)
        atomic.write_json(out / f"check-{layout}.json", result)
    written = affwild2.write_standard_splits(affwild2.index(out / "data" / "affwild2_abaw2"), out / "splits")
    report.print_splits(console, out / "splits", written, affwild2.DEV_FRACTION, 0)
