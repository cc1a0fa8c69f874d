"""Rich renderings of results for the terminal (the JSON files carry the same numbers).

Every piece of text that comes from the user (video and file names, paths, notes that
quote them) goes through :func:`_text`: rich reads ``[bold]`` as markup otherwise, and
a video named ``[bold]x`` would show as ``x``.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table


def _text(value) -> str:
    return escape(str(value))


def _number(value: float | None) -> str:
    """Four decimals; "—" for no value (an MTL part a video lacks). + 0.0 prints a -0.0 as 0.0000."""
    return "—" if value is None else f"{value + 0.0:.4f}"


def _lowest_first(entry: tuple[str, dict], main: str) -> tuple[bool, float]:
    value = entry[1].get(main)
    return (value is None, value if value is not None else 0.0)


def score_tables(result: dict, worst: int = 5) -> list[Table]:
    """The overall table (metrics with their 95% interval) and the worst videos."""
    main = result["main_metric"]
    unit = "rows" if result["track"] == "mtl" else "frames"  # MTL files list single images
    overall = Table(title=f"{result['track'].upper()} · {_text(result['edition'])} · {_text(result['split'])} · "
                          f"{result['n_videos']} videos, {result['n_frames']:,} {unit}")
    overall.add_column("metric")
    overall.add_column("value", justify="right")
    overall.add_column("95% CI (videos)", justify="right")
    for name, value in result["metrics"].items():
        interval = result["ci95"].get(name)
        label = f"[bold]{name}[/bold] (official)" if name == main else name
        overall.add_row(label, _number(value), f"{_number(interval[0])} – {_number(interval[1])}" if interval else "—")
    tables = [overall]
    ranked = sorted(result["per_video"].items(), key=lambda item: _lowest_first(item, main))[:worst]
    if ranked:
        lowest = Table(title=f"{len(ranked)} lowest videos by {main}")
        lowest.add_column("video")
        for name in result["metrics"]:
            lowest.add_column(name, justify="right")
        lowest.add_column(unit, justify="right")
        for video, entry in ranked:
            lowest.add_row(_text(video), *(_number(entry.get(n)) for n in result["metrics"]), f"{entry['n_frames']:,}")
        tables.append(lowest)
    return tables


def rule_line(result: dict) -> str:
    """The line under the score table: how the official number was computed, and with which
    F1 rule (older score JSONs do not say)."""
    rule = str(result.get("rule", ""))
    if result.get("track") in ("expr", "au", "mtl") and result.get("f1_average"):
        rule += f" [--f1-average {result['f1_average']}]"
    return rule


def print_score(console: Console, result: dict) -> None:
    for table in score_tables(result):
        console.print(table)
    console.print(f"[dim]{_text(rule_line(result))}[/dim]", soft_wrap=True)
    for note in result.get("notes", []):
        console.print(f"[yellow]note:[/yellow] {_text(note)}")


def print_validation(console: Console, summary: dict) -> None:
    kind = "MTL" if summary["track"] == "mtl" else f"{summary['format']} {summary['track'].upper()}"
    rows = "rows" if summary["track"] == "mtl" else "predicted frames"
    console.print(f"[green]valid[/green] {kind} submission ({summary['edition']}): {summary['n_videos']} videos, "
                  f"{summary['n_rows']:,} {rows}; checked against {_text(summary['reference'])}")
    for note in summary.get("notes", []):
        console.print(f"[yellow]note:[/yellow] {_text(note)}")


def print_synth(console: Console, out, manifest: dict) -> None:
    """What ``data synth`` wrote: one row per database, the share of ambiguous frames and
    the identity-shortcut check."""
    preset = manifest.get("parameters", {}).get("preset")
    table = Table(title=f"synthetic data in {_text(out)} (seed {manifest['seed']}"
                        f"{f', size {preset}' if preset else ''})")
    table.add_column("database")
    table.add_column("what", justify="right")
    for key in ("affwild2_abaw2", "affwild2_abaw6"):
        layout = manifest[key]
        totals = layout["totals"]
        table.add_row(f"Aff-Wild2 ({layout['edition']} layout)",
                      f"{totals['videos']} videos, {totals['frames']:,} frames, {totals['missing_crops']} missing "
                      f"and {totals['corrupt_crops']} corrupt crops, {len(layout['count_mismatches'])} count mismatches")
    table.add_row("ExpW", f"{manifest['expw']['images']} images, {manifest['expw']['faces']} faces")
    table.add_row("AFEW-VA", f"{manifest['afew_va']['clips']} clips, {manifest['afew_va']['frames']} frames")
    rows = sum(split["rows"] for split in manifest["affectnet"]["splits"].values())
    table.add_row("AffectNet", f"{rows} rows")
    console.print(table)
    if "ambiguity" in manifest:
        ambiguity = manifest["ambiguity"]
        console.print(f"ambiguous frames: {ambiguity['share']:.0%} ({ambiguity['events']} short events: "
                      f"{', '.join(k.replace('_', ' ') for k in ambiguity['kinds'])})")
    shortcut = manifest.get("checks", {}).get("va", {}).get("validation")
    if shortcut:
        console.print("identity shortcut: each frame given its video's mean scores validation CCC "
                      f"{shortcut['valence']['per_video_mean_ccc']:.2f} (valence), "
                      f"{shortcut['arousal']['per_video_mean_ccc']:.2f} (arousal)")
    console.print(f"[dim]planted quirks and checks are listed in {_text(out)}/manifest.json[/dim]")


def print_check(console: Console, report: dict) -> None:
    """``data check``: what is there (per track and split), then what is wrong."""
    table = Table(title=f"{_text(report['root'])} · layout of {report['edition']}")
    for column in ("track", "split", "videos", "annotation lines", "valid", "invalid", "valid with crop", "folder"):
        table.add_column(column, justify="left" if column in ("track", "split", "folder") else "right")
    for track, splits in sorted(report["tracks"].items()):
        for split, entry in sorted(splits.items()):
            table.add_row(track.upper(), split, str(entry["videos"]), f"{entry['annotation_lines']:,}",
                          f"{entry['valid']:,}", f"{entry['invalid']:,}", f"{entry['valid_with_crop']:,}",
                          _text("/".join(Path(entry["folder"]).parts[-2:])))
    console.print(table)
    shared = report["shared_videos"]
    console.print(f"shared EXPR+VA videos: train {len(shared['train'])}, validation {len(shared['validation'])}; "
                  f"left/right pairs: {len(report['left_right_pairs'])}; videos with crops: "
                  f"{report['videos']['with_crops']} ({len(report['videos']['unannotated'])} unannotated)")
    crops = report["crops"]
    problems = Table(title="problems")
    problems.add_column("kind")
    problems.add_column("count", justify="right")
    problems.add_column("examples")
    problems.add_row("missing crops (gaps in cropped_aligned)", str(crops["missing"]),
                     _text(", ".join(f"{v}: {f[:3]}" for v, f in list(crops["missing_by_video"].items())[:2])))
    problems.add_row(f"unreadable crops ({crops['check']})", str(len(crops["unreadable"])),
                     _text(", ".join(crops["unreadable"][:2])))
    for label, rows in (("annotation lines = last crop + 1 (usual)",
                         [m for m in report["count_mismatches"] if m["difference"] == 1]),
                        ("annotation lines ≠ last crop (+ 1)",
                         [m for m in report["count_mismatches"] if m["difference"] != 1])):
        problems.add_row(label, str(len(rows)), _text(", ".join(f"{m['video']} {m['track']} {m['annotation_lines']}/"
                                                                f"{m['frames']}" for m in rows[:2])))
    problems.add_row("unknown headers", str(len(report["unknown_headers"])),
                     _text(", ".join(report["unknown_headers"][:2])))
    problems.add_row("annotated videos without crops", str(len(report["videos"]["annotated_without_crops"])),
                     _text(", ".join(report["videos"]["annotated_without_crops"][:2])))
    console.print(problems)


def print_splits(console: Console, out, written: dict, fraction: float, seed: int) -> None:
    table = Table(title=f"splits in {_text(out)}", caption=f"dev hold-out: {fraction:.0%} of train frames, seed {seed}")
    table.add_column("file")
    table.add_column("videos", justify="right")
    for name, count in written.items():
        table.add_row(_text(name), str(count))
    console.print(table)


def human_size(n_bytes: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n_bytes >= scale:
            return f"{n_bytes / scale:.1f} {unit}"
    return f"{n_bytes} B"


def print_cache(console: Console, info: dict) -> None:
    """``abawbench cache info``: the folder, where its location comes from, and per kind
    what it holds."""
    if info["location"] is None:
        console.print(f"caching is off ({_text(info['source'])})")
        return
    state = "" if info["exists"] else " (not created yet)"
    console.print(f"cache folder: {_text(info['location'])}{state} [dim]from {_text(info['source'])}[/dim]")
    table = Table()
    table.add_column("kind")
    table.add_column("entries", justify="right")
    table.add_column("files", justify="right")
    table.add_column("size", justify="right")
    table.add_column("what")
    for kind, entry in info["kinds"].items():
        table.add_row(kind, str(entry["entries"]), str(entry["files"]), human_size(entry["bytes"]), _text(entry["what"]))
    console.print(table)
    console.print("[dim]everything here is rebuilt when needed: `abawbench cache clear` removes it[/dim]")


def print_run(console: Console, path, record: dict) -> None:
    """A finished (or stopped) run: each stage's validation scores, epochs and speed."""
    table = Table(title=f"run {path} · {record.get('preset')} · seed {record.get('seed')} · group {record.get('group')}"
                        + (" · SYNTHETIC data" if record.get("data", {}).get("synthetic") else ""))
    for column in ("stage", "status", "EXPR criterion", "F1", "CCC V", "CCC A", "VA mean", "epochs (best)",
                   "images/s", "minutes"):
        table.add_column(column, justify="left" if column in ("stage", "status") else "right")
    for name, stage in record.get("stages", {}).items():
        v = stage.get("validation") or {}

        def cell(key: str) -> str:
            return _number(v[key]) if key in v else "—"
        epochs = f"{stage['epochs']} ({stage['best_epoch'] + 1})" if "epochs" in stage else "—"
        speed = f"{stage['images_per_s']:,.0f}" if stage.get("images_per_s") else "—"
        minutes = f"{stage['seconds'] / 60:.1f}" if stage.get("seconds") else "—"
        table.add_row(name, stage.get("status", "?"), cell("expr_criterion"), cell("expr_f1"), cell("valence"),
                      cell("arousal"), cell("va_mean"), epochs, speed, minutes)
    console.print(table)
    console.print(f"[dim]status {record.get('status')}; scores in {Path(path) / 'scores'}, predictions in "
                  f"{Path(path) / 'predictions'}[/dim]", highlight=False)


def print_predictions(console: Console, out, record: dict) -> None:
    """What ``predict`` wrote."""
    table = Table(title=f"predictions in {out} · {record['split']} · {record['edition']} ({record['format']})")
    for column in ("track", "written", "videos", "frames", "filled from a neighbour", "checked against"):
        table.add_column(column, justify="right" if column in ("videos", "frames", "filled from a neighbour") else "left")
    for track, entry in record["tracks"].items():
        reference = entry["checked_against"].removeprefix("the ground truth in ").removesuffix(" has them")
        table.add_row(track, entry["path"], f"{entry['videos']:,}", f"{entry['frames']:,}",
                      f"{entry['filled_frames']:,}", reference)
    console.print(table)
    for note in record.get("notes", []):
        console.print(f"[dim]note: {note}[/dim]", highlight=False)
