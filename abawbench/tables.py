"""Comparison and ablation results as tables: rich (terminal), markdown (README), LaTeX
(booktabs, for a paper), CSV (a spreadsheet: numbers in their own columns) and HTML (the
report page). Every format carries the same numbers: mean ± std over seeds, deltas
against the reference, their 95% intervals and significance marks."""

from __future__ import annotations

from dataclasses import dataclass, field

FORMATS = ("rich", "markdown", "latex", "csv")


@dataclass
class Grid:
    """A table in words: what every output format renders."""

    title: str
    columns: list[str]
    rows: list[list[str]]
    notes: list[str] = field(default_factory=list)
    sections: dict[int, str] = field(default_factory=dict)  # row index -> heading before it
    right: set[int] = field(default_factory=set)  # right-aligned columns


_PLUS_MINUS = {"rich": "±", "markdown": "±", "latex": r"$\pm$", "csv": "±", "html": "±"}


def format_value(summary: dict | None, fmt: str = "rich", decimals: int = 4) -> str:
    if summary is None or summary.get("mean") is None:
        return "—"
    text = f"{summary['mean']:.{decimals}f}"
    if summary.get("std") is not None:
        text += f" {_PLUS_MINUS[fmt]} {summary['std']:.{decimals}f}"
    return text


def format_delta(entry: dict | None, fmt: str = "rich") -> str:
    if entry is None:
        return ""
    mark = ""
    if entry.get("significant"):
        mark = "$^{*}$" if fmt == "latex" else "*"
    return f"{entry['delta']:+.4f}{mark}"


def _format_interval(entry: dict | None) -> str:
    if not entry or entry.get("ci95") is None:
        return ""
    low, high = entry["ci95"]
    return f"{low:+.4f} … {high:+.4f}"


def _delta_cell(comparison: dict, name: str, fmt: str) -> str:
    status = comparison["status"]
    if status == "reference":
        return "ref"
    if status in ("not-comparable", "no-reference"):
        return r"$\neq$" if fmt == "latex" else "≠"
    entry = comparison["metrics"].get(name)
    return format_delta(entry, fmt) if entry else "—"


def _grid_notes(table: dict) -> list[str]:
    by_text: dict[str, list[str]] = {}  # one line per note, naming every row it concerns
    for row in table["rows"]:
        comparison = row["comparison"]
        if comparison.get("method") and comparison["status"] == "compared":
            by_text.setdefault(f"Δ by {comparison['method']}", []).append(row["label"])
        if comparison.get("reason"):
            by_text.setdefault(comparison["reason"], []).append(row["label"])
    notes = [f"{', '.join(labels)}: {text}" for text, labels in by_text.items()]
    notes.append("Δ = row − reference; * its 95% interval excludes 0; flips = share of bootstrap resamples in "
                 "which the order flips; ≠ not compared (reason above); mean ± std over seeds; "
                 "frames: rows with the same letter were scored on the same frames")
    for row in table["rows"]:
        notes += [f"{row['label']}: {note}" for note in row["notes"]]
    if any(r["synthetic"] for r in table["rows"]):
        notes.append("synthetic: scored on synthetic data (abawbench data synth), not on Aff-Wild2")
    return list(dict.fromkeys(notes))


def comparison_grids(result: dict, fmt: str = "rich", layout: str = "wide") -> list[Grid]:
    """One :class:`Grid` per track of a :func:`abawbench.compare.compare_entries` result.

    ``wide``: a row per entry, two columns (value, Δ) per metric and the interval and
    flip share of the official one (markdown, LaTeX, HTML). ``long``: a row per entry and
    metric, each with its interval (the terminal, where width is short).
    """
    grids = []
    for track, table in result["tracks"].items():
        metrics, main = table["metrics"], table["main_metric"]
        title = f"{track.upper()} · reference: {table['reference'] or '— (none in this track)'}"
        if layout == "long":
            grid = Grid(title, ["entry", "metric", "value", "Δ", "95% CI of Δ", "flips"], [], right={2, 3, 4, 5})
            for row in table["rows"]:
                comparison = row["comparison"]
                details = [row["label"], f"n={row['n']}, frames {row['frames_set']}", row["edition"],
                           row["split"]] + (["synthetic"] if row["synthetic"] else [])
                names = [n for n in metrics if row["metrics"].get(n)]
                grid.sections[len(grid.rows)] = ""
                for i, name in enumerate(names + [""] * max(0, len(details) - len(names))):
                    if not name:
                        grid.rows.append([details[i], "", "", "", "", ""])
                        continue
                    entry = comparison["metrics"].get(name)
                    flip = entry.get("flip_share") if entry else None
                    grid.rows.append([details[i] if i < len(details) else "",
                                      name + (" ◆" if name == main else ""),
                                      format_value(row["metrics"].get(name), fmt), _delta_cell(comparison, name, fmt),
                                      _format_interval(entry), f"{flip:.0%}" if flip is not None else ""])
        else:
            columns = ["entry", "n", "data", "frames"]
            for name in metrics:
                columns += [name + (" (official)" if name == main else ""), "Δ"]
                if name == main:
                    columns += ["95% CI of Δ", "flips"]
            grid = Grid(title, columns, [], right=set(range(4, len(columns))))
            for row in table["rows"]:
                comparison = row["comparison"]
                data = f"{row['edition']} {row['split']}" + (" · synthetic" if row["synthetic"] else "")
                cells = [row["label"], str(row["n"]), data, row["frames_set"]]
                for name in metrics:
                    cells += [format_value(row["metrics"].get(name), fmt), _delta_cell(comparison, name, fmt)]
                    if name == main:
                        entry = comparison["metrics"].get(name)
                        flip = entry.get("flip_share") if entry else None
                        cells += [_format_interval(entry), f"{flip:.0%}" if flip is not None else ""]
                grid.rows.append(cells)
        grid.notes = _grid_notes(table)
        if layout == "long":
            grid.notes.insert(0, f"◆ the official metric ({main})")
        grids.append(grid)
    return grids


def ablation_grid(result: dict, fmt: str = "rich") -> Grid:
    """The ablation result as one grid: ours (mean ± std) beside the paper's number."""
    columns = ["method", "n"]
    for title in result["columns"]:
        columns += [f"{title} (ours)", "paper"]
    with_runs = [r for r in result["rows"] if r["n"]]
    all_synthetic = bool(with_runs) and all(r["synthetic"] for r in with_runs)
    title = "The paper's Tables 1-3 (Aff-Wild2 validation; paper: means of 10 runs)"
    grid = Grid(title + (" · ours on synthetic data" if all_synthetic else ""), columns, [],
                right=set(range(1, len(columns))))
    baseline = ["ABAW 2021 baseline", "—"]
    for title in result["columns"]:
        baseline += ["—", f"{result['baseline']['paper'][title]:.3f}"]
    grid.rows.append(baseline)
    for row in result["rows"]:
        if row["table"] not in grid.sections.values():
            grid.sections[len(grid.rows)] = row["table"]
        cells = [row["label"] + (" (synthetic)" if row["synthetic"] and not all_synthetic else ""), str(row["n"])]
        for title in result["columns"]:
            column = row["columns"][title]
            cells += [format_value(column, fmt, decimals=3), f"{column['paper']:.3f}"]  # the paper's precision
        grid.rows.append(cells)
    for order in result["orders"]:
        interval = f" [{order['ci95'][0]:+.4f}, {order['ci95'][1]:+.4f}]" if order["ci95"] else ""
        grid.notes.append(f"{order['table']}, {order['column']}: {order['rows'][0]} − {order['rows'][1]} = "
                          f"{order['delta']:+.4f}{interval}{' *' if order['significant'] else ''} "
                          f"(paper {order['paper_delta']:+.3f}): {order['verdict']}")
    grid.notes += result["notes"]
    grid.notes.append("EXPR = 0.67·F1 + 0.33·Acc; Valence, Arousal = CCC; ours = mean ± std over seeds; "
                      "* the 95% interval (Welch t over seeds) excludes 0")
    return grid


def _escape_latex(text: str) -> str:
    if "$" in text:
        return text.replace("_", r"\_").replace("%", r"\%").replace("&", r"\&").replace("#", r"\#")
    for char, replacement in (("\\", r"\textbackslash{}"), ("_", r"\_"), ("%", r"\%"), ("&", r"\&"), ("#", r"\#"),
                              ("{", r"\{"), ("}", r"\}"), ("Δ", r"$\Delta$"), ("∈", r"$\in$"), ("…", r"\ldots{}"),
                              ("·", r"$\cdot$"), ("—", "---"), ("−", "-")):
        text = text.replace(char, replacement)
    return text


def _markdown(text: str) -> str:
    """Cell text that markdown shows as written ("noshare-*", "+0.04*" are not emphasis)."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("*", "\\*").replace("_", "\\_")


def render_grid(grid: Grid, fmt: str) -> str:
    """A grid as markdown, LaTeX (booktabs), CSV or HTML text."""
    if fmt == "markdown":
        lines = [f"**{_markdown(grid.title)}**", "", "| " + " | ".join(_markdown(c) for c in grid.columns) + " |",
                 "|" + "|".join("---:" if i in grid.right else "---" for i in range(len(grid.columns))) + "|"]
        for index, row in enumerate(grid.rows):
            if grid.sections.get(index):
                lines.append("| **" + _markdown(grid.sections[index]) + "** |" + " |" * (len(grid.columns) - 1))
            lines.append("| " + " | ".join(_markdown(cell) for cell in row) + " |")
        lines += [""] + [f"- {_markdown(note)}" for note in grid.notes]
        return "\n".join(lines) + "\n"
    if fmt == "latex":
        spec = "".join("r" if i in grid.right else "l" for i in range(len(grid.columns)))
        lines = [r"\begin{table}[t]", r"\centering", rf"\caption{{{_escape_latex(grid.title)}}}",
                 rf"\begin{{tabular}}{{{spec}}}", r"\toprule",
                 " & ".join(_escape_latex(c) for c in grid.columns) + r" \\", r"\midrule"]
        for index, row in enumerate(grid.rows):
            if grid.sections.get(index):
                if index:
                    lines.append(r"\midrule")
                lines.append(rf"\multicolumn{{{len(grid.columns)}}}{{l}}{{\textit{{{_escape_latex(grid.sections[index])}}}}} \\")
            lines.append(" & ".join(_escape_latex(cell) for cell in row) + r" \\")
        lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
        lines += [f"% {note}" for note in grid.notes]
        return "\n".join(lines) + "\n"
    if fmt == "html":
        from html import escape

        head = "".join(f"<th>{escape(c)}</th>" for c in grid.columns)
        body = []
        for index, row in enumerate(grid.rows):
            if grid.sections.get(index):
                body.append(f'<tr class="section"><td colspan="{len(grid.columns)}">{escape(grid.sections[index])}</td></tr>')
            body.append("<tr>" + "".join(f'<td class="{"num" if i in grid.right else ""}">{escape(cell)}</td>'
                                         for i, cell in enumerate(row)) + "</tr>")
        notes = "".join(f"<li>{escape(note)}</li>" for note in grid.notes)
        return (f"<table><caption>{escape(grid.title)}</caption><thead><tr>{head}</tr></thead>"
                f"<tbody>{''.join(body)}</tbody></table><ul class=\"notes\">{notes}</ul>")
    raise ValueError(f"unknown format {fmt!r}")


def comparison_csv(result: dict) -> str:
    """The comparison as one CSV: a line per (track, row), numbers in their own columns
    (mean, std, delta, interval, flip share, significance) for a spreadsheet."""
    import csv
    import io

    metric_columns = []
    for table in result["tracks"].values():
        for name in table["metrics"]:
            for suffix in ("", "_std", "_delta", "_ci_low", "_ci_high", "_flip_share", "_significant"):
                column = name + suffix
                if column not in metric_columns:
                    metric_columns.append(column)
    header = ["track", "entry", "n", "seeds", "edition", "split", "synthetic", "frames", "reference", "status",
              "reason"] + metric_columns
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for track, table in result["tracks"].items():
        for row in table["rows"]:
            comparison = row["comparison"]
            line = {"track": track, "entry": row["label"], "n": row["n"],
                    "seeds": " ".join(str(m["seed"]) for m in row["members"] if m["seed"] is not None),
                    "edition": row["edition"], "split": row["split"], "synthetic": row["synthetic"],
                    "frames": row["frames"], "reference": table["reference"], "status": comparison["status"],
                    "reason": comparison.get("reason") or ""}
            for name in table["metrics"]:
                summary = row["metrics"].get(name) or {}
                delta = comparison["metrics"].get(name) or {}
                ci = delta.get("ci95") or [None, None]
                line.update({name: summary.get("mean"), f"{name}_std": summary.get("std"),
                             f"{name}_delta": delta.get("delta"), f"{name}_ci_low": ci[0], f"{name}_ci_high": ci[1],
                             f"{name}_flip_share": delta.get("flip_share"),
                             f"{name}_significant": delta.get("significant")})
            writer.writerow(["" if line.get(c) is None else line.get(c) for c in header])
    return buffer.getvalue()


def ablation_csv(result: dict) -> str:
    import csv
    import io

    header = ["table", "method", "stage", "n", "synthetic"]
    for title in result["columns"]:
        header += [f"{title}_ours", f"{title}_std", f"{title}_paper"]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerow(["", result["baseline"]["label"], "", "", ""] +
                    [x for t in result["columns"] for x in ("", "", result["baseline"]["paper"][t])])
    for row in result["rows"]:
        cells = [row["table"], row["label"], row["stage"], row["n"], row["synthetic"]]
        for title in result["columns"]:
            column = row["columns"][title]
            cells += ["" if column["mean"] is None else column["mean"], "" if column["std"] is None else column["std"],
                      column["paper"]]
        writer.writerow(cells)
    return buffer.getvalue()


def print_grid(console, grid: Grid) -> None:
    """A grid as a rich table, with its notes below."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=escape(grid.title))
    for i, column in enumerate(grid.columns):
        longest = max((len(row[i]) for row in grid.rows), default=0)
        # numbers never wrap (a wrapped "0.5425 ±" / "0.0915" misreads); names and notes may
        table.add_column(escape(column), justify="right" if i in grid.right else "left", no_wrap=i in grid.right,
                         min_width=None if i in grid.right else min(longest, 16))
    for index, row in enumerate(grid.rows):
        if index in grid.sections:
            if index:
                table.add_section()
            if grid.sections[index]:
                table.add_row(f"[bold]{escape(grid.sections[index])}[/bold]", *[""] * (len(grid.columns) - 1))
        table.add_row(*(escape(cell) for cell in row))
    console.print(table)
    for note in grid.notes:
        console.print(f"[dim]{escape(note)}[/dim]", soft_wrap=True)


def render(result: dict, fmt: str) -> str:
    """A compare or ablation result as markdown, LaTeX or CSV text."""
    if fmt == "csv":
        return ablation_csv(result) if result["kind"] == "abawbench-ablation" else comparison_csv(result)
    grids = [ablation_grid(result, fmt)] if result["kind"] == "abawbench-ablation" else comparison_grids(result, fmt)
    return "\n".join(render_grid(g, fmt) for g in grids)


def print_result(console, result: dict) -> None:
    """A compare or ablation result as rich tables."""
    grids = [ablation_grid(result)] if result["kind"] == "abawbench-ablation" else comparison_grids(result, layout="long")
    for grid in grids:
        print_grid(console, grid)
