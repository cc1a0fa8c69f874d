"""Published ABAW results (``abawbench/leaderboards/*.csv``, package data) and where a run would stand among them.

A board is one CSV named ``<edition>-<track>.csv``: one row per team and edition, columns
``edition, track, split, team``, then every metric the source gives (the score JSON's
names: ``criterion, f1, acc`` or ``mean, valence, arousal``), then ``source`` (paper
title and year, or the organisers' page) and ``note``. No row without a source.

Boards are ranked by the official metric of their edition and track. A run's numbers
are validation numbers (the test labels are not public) and may come from synthetic
data: a placement says so beside the test rows it is ranked among.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

# package data, so a plain `pip install` (not only a checkout) has the boards
BOARDS = Path(__file__).resolve().parent / "leaderboards"
KEY_COLUMNS = ("edition", "track", "split", "team")
TAIL_COLUMNS = ("source", "note")
SPLITS = ("test", "validation")


class LeaderboardError(ValueError):
    """A board cannot be read, or a run cannot be placed on it."""


@dataclass
class Board:
    """One published leaderboard: ``rows`` hold the CSV's cells, metrics as floats (None
    where the source gives none)."""

    name: str
    path: Path
    edition: str
    track: str
    metrics: tuple[str, ...]
    main_metric: str
    rows: list[dict]

    def ranked(self, split: str) -> list[dict]:
        """Rows of ``split``, best first by the main metric (rows without it last)."""
        rows = [r for r in self.rows if r["split"] == split]
        return sorted(rows, key=lambda r: (r[self.main_metric] is None, -(r[self.main_metric] or 0.0)))

    @property
    def sources(self) -> list[str]:
        return list(dict.fromkeys(r["source"] for r in self.rows))


def boards_folder(folder: Path | None = None) -> Path:
    folder = Path(folder) if folder is not None else BOARDS
    if not folder.is_dir():
        raise LeaderboardError(f"{folder}: no leaderboards folder (abawbench ships its boards as package data in abawbench/leaderboards/)")
    return folder


def list_boards(folder: Path | None = None) -> list[Board]:
    """Every board of the folder, by name."""
    return [load_board(path.stem, folder) for path in sorted(boards_folder(folder).glob("*.csv"))]


def load_board(name: str, folder: Path | None = None) -> Board:
    """Read and check ``<folder>/<name>.csv`` (errors name the file and line)."""
    from abawbench.tracks import track_spec

    folder = boards_folder(folder)
    path = folder / f"{name}.csv"
    if not path.is_file():
        known = ", ".join(p.stem for p in sorted(folder.glob("*.csv"))) or "none"
        raise LeaderboardError(f"no leaderboard {name!r}; known: {known}")
    edition, _, track = name.partition("-")
    try:
        spec = track_spec(edition, track)
    except ValueError as error:
        raise LeaderboardError(f"{path}: a board is named <edition>-<track>.csv: {error}") from None
    with open(path, newline="", encoding="utf-8") as stream:
        reader = csv.reader(stream)
        header = next(reader, None)
        if header is None or tuple(header[:4]) != KEY_COLUMNS or tuple(header[-2:]) != TAIL_COLUMNS:
            raise LeaderboardError(f"{path}:1: expected the header {','.join(KEY_COLUMNS)},<metrics...>,source,note; "
                                   f"found {','.join(header or [])!r}")
        metrics = tuple(header[4:-2])
        unknown = [m for m in metrics if m not in spec.metrics]
        if not metrics or unknown:
            raise LeaderboardError(f"{path}:1: expected metric columns among {', '.join(spec.metrics)}, "
                                   f"found {', '.join(unknown) or 'none'}")
        rows = []
        for line, cells in enumerate(reader, start=2):
            if not cells:
                continue
            if len(cells) != len(header):
                raise LeaderboardError(f"{path}:{line}: expected {len(header)} fields, found {len(cells)}")
            row = dict(zip(header, (c.strip() for c in cells)))
            if row["track"] != spec.track:
                raise LeaderboardError(f"{path}:{line}: expected track {spec.track!r}, found {row['track']!r}")
            if row["split"] not in SPLITS:
                raise LeaderboardError(f"{path}:{line}: expected split test or validation, found {row['split']!r}")
            if not row["source"]:
                raise LeaderboardError(f"{path}:{line}: a row without a source (no number without its source)")
            if not row["team"]:
                raise LeaderboardError(f"{path}:{line}: a row without a team")
            for metric in metrics:
                text = row[metric]
                try:
                    row[metric] = float(text) if text else None
                except ValueError:
                    raise LeaderboardError(f"{path}:{line}: expected a number or nothing for {metric}, "
                                           f"found {text!r}") from None
                if row[metric] is not None and not math.isfinite(row[metric]):
                    raise LeaderboardError(f"{path}:{line}: {metric} is not finite")
            if all(row[m] is None for m in metrics):
                raise LeaderboardError(f"{path}:{line}: a row without any number")
            row["line"] = line
            rows.append(row)
    main = spec.main_metric if spec.main_metric in metrics else metrics[0]
    return Board(name, path, spec.edition.name, spec.track, metrics, main, rows)


@dataclass
class Placement:
    """Where a run's (or a score JSON's) numbers would stand on a board."""

    label: str
    path: str
    metrics: dict[str, float]
    edition: str
    split: str
    synthetic: bool | None
    value: float
    rank: dict[str, int]  # split -> 1-based position among that split's rows
    out_of: dict[str, int]
    marks: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"label": self.label, "path": self.path, "metrics": self.metrics, "edition": self.edition,
                "split": self.split, "synthetic": self.synthetic, "value": self.value, "rank": self.rank,
                "out_of": self.out_of, "marks": self.marks}


def place(entry: Path, board: Board | str, stage: str | None = None) -> Placement:
    """Rank an entry's score among the board's rows of each split (``board``: a
    :class:`Board` or a board's name, e.g. ``"abaw2-va"``).

    ``entry`` is a run folder (its final ``scores/validation-<track>.json``, or a
    stage's) or a score JSON. The rank is 1 + the number of rows with a higher main
    metric. ``marks`` say plainly what makes the numbers not like the board's: another
    split (validation beside test), synthetic data, another edition.
    """
    from abawbench import compare

    board = load_board(board) if isinstance(board, str) else board
    entry = Path(entry)
    try:
        scored = [s for s in compare.load_entry(entry, compare.entry_labels([entry])[0], stage=stage)
                  if s.track == board.track]
    except compare.CompareError as error:
        raise LeaderboardError(str(error)) from None
    if not scored:
        raise LeaderboardError(f"{entry}: no {board.track.upper()} score to place on {board.name}")
    score = scored[0]
    if board.main_metric not in score.metrics:
        raise LeaderboardError(f"{score.source}: no {board.main_metric!r} (scored with --edition {score.edition}, "
                               f"whose {board.track.upper()} metrics are {', '.join(score.metrics)}); "
                               f"{board.name} ranks by {board.main_metric}")
    value = score.metrics[board.main_metric]
    rank, out_of = {}, {}
    for split in SPLITS:
        rows = [r for r in board.rows if r["split"] == split and r[board.main_metric] is not None]
        rank[split] = 1 + sum(r[board.main_metric] > value for r in rows)
        out_of[split] = len(rows)
    marks = []
    if score.split != "test":
        marks.append(f"{score.split} numbers: the test rows are on the test set, whose labels are not public")
    if score.synthetic:
        marks.append("synthetic data (abawbench data synth): these numbers say nothing about Aff-Wild2")
    elif score.synthetic is None:
        marks.append("data of unknown origin (no run.json data.synthetic and no ground-truth folder to check)")
    if score.edition != board.edition:
        marks.append(f"scored with the {score.edition} rules and data, the board is {board.edition}")
    return Placement(score.label, str(entry), score.metrics, score.edition, score.split, score.synthetic, value,
                     rank, out_of, marks)


# ------------------------------------------------------------------------ printing


def board_json(board: Board, placement: Placement | None = None) -> dict:
    return {"board": board.name, "edition": board.edition, "track": board.track, "main_metric": board.main_metric,
            "metrics": list(board.metrics),
            "rows": {split: [{k: v for k, v in r.items() if k != "line"} for r in board.ranked(split)]
                     for split in SPLITS},
            "placement": placement.to_json() if placement else None}


def print_boards(console, boards: list[Board]) -> None:
    from rich.table import Table

    table = Table(title="published leaderboards (abawbench leaderboard NAME)")
    for column in ("name", "edition", "track", "ranked by", "test rows", "validation rows", "sources"):
        table.add_column(column, justify="right" if "rows" in column or column == "sources" else "left")
    for board in boards:
        table.add_row(board.name, board.edition, board.track.upper(), board.main_metric,
                      str(sum(r["split"] == "test" for r in board.rows)),
                      str(sum(r["split"] == "validation" for r in board.rows)), str(len(board.sources)))
    console.print(table)


def print_board(console, board: Board, placement: Placement | None = None) -> None:
    """The board's test rows and validation rows, each ranked by the official metric, with
    the placed run among them; sources as numbered footnotes."""
    from rich.markup import escape
    from rich.table import Table

    sources = board.sources
    for split in SPLITS:
        rows = board.ranked(split)
        if not rows and placement is None:
            continue
        table = Table(title=f"{board.name} · {split} set · ranked by {board.main_metric}")
        table.add_column("#", justify="right")
        table.add_column("team")
        table.add_column("edition")
        for metric in board.metrics:
            table.add_column(metric + (" (official)" if metric == board.main_metric else ""), justify="right")
        table.add_column("src", justify="right")
        placed = placement is None
        position = 0
        for row in rows:
            value = row[board.main_metric]
            if not placed and (value is None or value < placement.value):
                _placement_row(table, board, placement, split)
                placed = True
            position += 1
            table.add_row(str(position) if value is not None else "—", escape(row["team"]), row["edition"],
                          *(f"{row[m]:.4g}" if row[m] is not None else "—" for m in board.metrics),
                          f"[{sources.index(row['source']) + 1}]")
        if not placed:
            _placement_row(table, board, placement, split)
        console.print(table)
    if placement is not None:
        console.print(f"[bold]{escape(placement.label)}[/bold]: {board.main_metric} {placement.value:.4f} would rank "
                      f"{placement.rank['test']} of {placement.out_of['test'] + 1} among the test rows and "
                      f"{placement.rank['validation']} of {placement.out_of['validation'] + 1} among the validation rows")
        for mark in placement.marks:
            console.print(f"[bold yellow]⚠ {escape(mark)}[/bold yellow]", soft_wrap=True)
    for index, source in enumerate(sources, start=1):
        console.print(f"[dim][{index}] {escape(source)}[/dim]", soft_wrap=True)
    teams_by_note: dict[str, list[str]] = {}
    for row in board.rows:
        if row.get("note"):
            teams_by_note.setdefault(row["note"], []).append(f"{row['team']} ({row['split']})")
    for note, teams in teams_by_note.items():
        console.print(f"[dim]{escape(', '.join(teams))}: {escape(note)}[/dim]", soft_wrap=True)


def _placement_row(table, board: Board, placement: Placement, split: str) -> None:
    from rich.markup import escape

    flags = []
    if placement.split != split:
        flags.append(placement.split.upper())
    if placement.synthetic:
        flags.append("SYNTHETIC")
    if placement.edition != board.edition:
        flags.append(placement.edition)
    label = f"▶ {placement.label}" + (f" ({', '.join(flags)})" if flags else "")
    table.add_row(f"({placement.rank[split]})", f"[bold magenta]{escape(label)}[/bold magenta]", placement.edition,
                  *(f"[bold magenta]{placement.metrics[m]:.4f}[/bold magenta]" if m in placement.metrics else "—"
                    for m in board.metrics), "")
