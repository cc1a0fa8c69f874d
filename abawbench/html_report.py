"""The report's ``index.html``: one self-contained page (no file or network reference; the
PNGs are embedded as base64) with the comparison tables, each entry's score table and
provenance, its plots, and what could not be drawn."""

from __future__ import annotations

import base64
from datetime import datetime, timezone
from html import escape

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 2em; }
table { border-collapse: collapse; margin: 1em 0; font-size: .9em; }
caption { text-align: left; font-weight: bold; padding: .3em 0; }
th, td { border: 1px solid #ddd; padding: .25em .6em; } th { background: #f4f4f4; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.section td { background: #eef; font-style: italic; }
ul.notes { color: #555; font-size: .85em; } .warn { color: #a60; font-weight: bold; }
figure { margin: 1.5em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: .9em; } dl { display: grid; grid-template-columns: max-content auto; gap: .1em 1em; }
dt { font-weight: bold; } dd { margin: 0; }
"""


def image_tag(png: bytes, alt: str) -> str:
    return f'<img alt="{escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">'


def _score_table(scored) -> str:
    rows = []
    for name, value in scored.metrics.items():
        interval = scored.ci95.get(name)
        official = " (official)" if name == scored.main_metric else ""
        ci = f"{interval[0]:.4f} – {interval[1]:.4f}" if interval else "—"
        rows.append(f'<tr><td>{escape(name + official)}</td><td class="num">{value:.4f}</td>'
                    f'<td class="num">{escape(ci)}</td></tr>')
    title = (f"{scored.track.upper()} · {scored.edition} · {scored.split} · {scored.n_videos} videos, "
             f"{scored.n_frames:,} frames")
    return (f"<table><caption>{escape(title)}</caption><thead><tr><th>metric</th><th>value</th>"
            f"<th>95% CI (videos)</th></tr></thead><tbody>{''.join(rows)}</tbody></table>")


def _facts(scored) -> list[tuple[str, str]]:
    facts = [("source", scored.source)]
    if scored.run is not None:
        run = scored.run
        for key in ("method", "preset", "seed", "group", "status", "final_stage"):
            if run.get(key) is not None:
                facts.append((key, str(run[key])))
        data = run.get("data") or {}
        if data.get("affwild2") or data.get("root"):
            facts.append(("data", str(data.get("affwild2") or data.get("root"))))
        git = run.get("git") or {}
        if git.get("commit"):
            facts.append(("git", f"{git['commit'][:12]}{' (dirty)' if git.get('dirty') else ''}"))
        device = run.get("device") or {}
        if device.get("name"):
            facts.append(("device", f"{device.get('name')} × {device.get('world_size', 1)}"))
    if scored.stage:
        facts.append(("stage", scored.stage))
    if scored.ground_truth:
        facts.append(("ground truth", scored.ground_truth))
    facts.append(("synthetic data", {True: "yes", False: "no", None: "unknown"}[scored.synthetic]))
    return facts


def build_page(entries, comparison: dict, images: list[dict], missing: list[str]) -> str:
    """The whole page as a string. ``images``: ``{"png", "entry", "caption", "file"}``."""
    from abawbench import tables

    parts = [f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>abawbench report</title>"
             f"<style>{_STYLE}</style></head><body>",
             "<h1>abawbench report</h1>",
             f"<p>{len({e.label for e in entries})} entries · written "
             f"{datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}</p>"]
    if any(e.synthetic for e in entries):
        parts.append('<p class="warn">Some entries were scored on synthetic data (abawbench data synth): their '
                     "numbers say nothing about Aff-Wild2.</p>")
    parts.append("<h2>Comparison</h2>")
    for grid in tables.comparison_grids(comparison, "html"):
        parts.append(tables.render_grid(grid, "html"))
    for image in (i for i in images if i["entry"] == "all"):
        parts.append(f"<figure>{image_tag(image['png'], image['caption'])}<figcaption>{escape(image['caption'])}"
                     "</figcaption></figure>")
    for label in dict.fromkeys(e.label for e in entries):
        scored_list = [e for e in entries if e.label == label]
        parts.append(f"<h2>{escape(label)}</h2><dl>")
        for key, value in _facts(scored_list[0]):
            parts.append(f"<dt>{escape(key)}</dt><dd>{escape(value)}</dd>")
        parts.append("</dl>")
        for scored in scored_list:
            parts.append(_score_table(scored))
            if scored.notes:
                parts.append("<ul class=\"notes\">" + "".join(f"<li>{escape(n)}</li>" for n in scored.notes) + "</ul>")
        for image in (i for i in images if i["entry"] == label):
            parts.append(f"<figure>{image_tag(image['png'], image['caption'])}<figcaption>"
                         f"{escape(image['caption'])}</figcaption></figure>")
    if missing:
        parts.append("<h2>Not drawn</h2><ul>" + "".join(f"<li>{escape(m)}</li>" for m in missing) + "</ul>")
    parts.append("</body></html>")
    return "\n".join(parts)
