"""PNG plots of scores and runs, and the report folder that holds them (``abawbench report``).

matplotlib is an optional extra (``pip install 'abawbench[plots]'``): it is imported only
inside :func:`pyplot`, so every other command works without it.

What is drawn, and from what:

* EXPR confusion matrix, counts and row-normalised (each true class's row sums to 1),
  from the per-video confusion counts of the score JSON (summed over videos);
* VA predicted-vs-true density for valence and arousal, from the per-frame predictions
  and ground truth (the score JSON's ``predictions`` and ``ground_truth``, or a run
  folder's ``predictions/<split>/va`` and its ``run.json`` data root); without them, the
  per-video means the statistics hold, and a note of what is missing;
* the per-video score distribution of every entry, from the score JSON's ``per_video``;
* training curves from a run's ``metrics.jsonl``.
"""

from __future__ import annotations

import io
import json
import re
import warnings
from pathlib import Path

import numpy as np

PLOTS_HINT = "pip install 'abawbench[plots]'  (or: pip install 'matplotlib>=3.6')"


class MissingExtra(RuntimeError):
    """An optional dependency is not installed."""


class ReportError(ValueError):
    """The report cannot be written where asked."""


def check_out_folder(out: Path) -> None:
    """``out`` is replaced as a whole: it must be new, empty, or an earlier report (it holds
    ``report.json``), never a run folder or a dataset given by mistake."""
    out = Path(out)
    if out.is_file():
        raise ReportError(f"{out}: --out must be a folder, found a file")
    if out.is_dir() and any(out.iterdir()) and not (out / "report.json").is_file():
        raise ReportError(f"{out}: --out is replaced as a whole, and this folder is neither empty nor an earlier "
                          "report (no report.json): choose a new folder")


def pyplot():
    """matplotlib.pyplot on the non-interactive Agg backend, or :class:`MissingExtra`."""
    try:
        import matplotlib
    except ImportError:
        raise MissingExtra(f"abawbench report draws its plots with matplotlib, an optional extra that is not "
                           f"installed: {PLOTS_HINT}") from None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "entry"


def png_bytes(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    pyplot().close(figure)
    return buffer.getvalue()


# ------------------------------------------------------------------------- EXPR


def confusion_matrices(statistics: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(counts, row_normalised)``, both ``(K, K)`` [true, predicted], from per-video
    confusion counts ``(V, K, K)``; a class absent from the truth has a row of NaN."""
    counts = np.asarray(statistics, dtype=np.float64).sum(axis=0)
    totals = counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        normalised = np.where(totals > 0, counts / np.where(totals > 0, totals, 1), np.nan)
    return counts, normalised


def confusion_figure(statistics: np.ndarray, classes: tuple[str, ...], title: str):
    plt = pyplot()
    counts, normalised = confusion_matrices(statistics)
    k = len(classes)
    figure, axes = plt.subplots(1, 2, figsize=(12.5, 5.6), constrained_layout=True)
    for ax, matrix, name, fmt in ((axes[0], counts, "frames", "{:.0f}"),
                                  (axes[1], normalised, "share of the true class's frames", "{:.2f}")):
        shown = np.ma.masked_invalid(matrix)
        image = ax.imshow(shown, cmap="Blues", vmin=0, vmax=1 if matrix is normalised else max(1.0, np.nanmax(matrix)))
        ax.set_xticks(range(k), classes, rotation=40, ha="right")
        ax.set_yticks(range(k), classes)
        ax.set_xlabel("predicted class")
        ax.set_ylabel("true class")
        peak = np.nanmax(matrix) if np.isfinite(matrix).any() else 1.0
        for i in range(k):
            for j in range(k):
                value = matrix[i, j]
                text = "—" if not np.isfinite(value) else fmt.format(value)
                ax.text(j, i, text, ha="center", va="center", fontsize=8,
                        color="white" if np.isfinite(value) and value > 0.6 * peak else "black")
        figure.colorbar(image, ax=ax, shrink=0.8, label=name)
    axes[0].set_title("counts")
    axes[1].set_title("row-normalised (recall on the diagonal)")
    figure.suptitle(title)
    return figure


# --------------------------------------------------------------------------- VA


def frame_pairs(track: str, ground_truth: Path, predictions: Path, edition: str, split: str):
    """``(truth, prediction)`` ``(N, n_values)`` over the valid frames, read exactly as the
    scorer reads them. Raises the scorer's errors when the files are gone or broken."""
    from abawbench import scoring

    truth = scoring.load_ground_truth(Path(ground_truth), track, split, edition)
    submission = scoring.read_submission(Path(predictions), truth.spec,
                                         truth.videos if Path(predictions).is_dir() else None)
    aligned = scoring.align(submission, scoring.expected_from_ground_truth(truth))
    prediction = np.concatenate([aligned[v][0] if v in aligned else np.zeros_like(values)
                                 for v, values in zip(truth.videos, truth.values)])
    return truth.stacked[truth.valid], prediction[truth.valid]


def va_density_figure(truth: np.ndarray, prediction: np.ndarray, title: str):
    """Two panels (valence, arousal): 2-D histogram of predicted against true values of
    every valid frame, log colour scale, the identity line dashed, CCC in the title."""
    from matplotlib.colors import LogNorm

    from abawbench.metrics import concordance_cc

    plt = pyplot()
    figure, axes = plt.subplots(1, 2, figsize=(11.5, 5.2), constrained_layout=True)
    edges = np.linspace(-1, 1, 41)
    for dim, (ax, name) in enumerate(zip(axes, ("valence", "arousal"))):
        x, y = truth[:, dim].astype(np.float64), prediction[:, dim].astype(np.float64)
        histogram, _, _ = np.histogram2d(x, y, bins=[edges, edges])
        # a log scale only where counts span decades (real validation sets: 10^5 frames)
        norm = LogNorm(vmin=1, vmax=histogram.max()) if histogram.max() >= 50 else None
        image = ax.pcolormesh(edges, edges, np.ma.masked_equal(histogram.T, 0), cmap="viridis", norm=norm,
                              vmin=None if norm else 0, vmax=None if norm else max(1.0, histogram.max()))
        _va_square(ax, f"true {name}", f"predicted {name}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ccc = concordance_cc(y, x)
        ax.set_title(f"{name}: CCC {ccc:.3f}, {len(x):,} frames")
        ax.legend(loc="upper left", fontsize=8)
        figure.colorbar(image, ax=ax, shrink=0.8, label="frames per cell")
    figure.suptitle(title)
    return figure


def _va_square(ax, xlabel: str, ylabel: str) -> None:
    """A square [-1, 1]² panel with the identity line: truth on x, prediction on y."""
    ax.plot([-1, 1], [-1, 1], "--", color="grey", linewidth=1, label="prediction = truth")
    ax.set_xlim(-1, 1)
    ax.set_ylim(-1, 1)
    ax.set_aspect("equal")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)


def va_means_figure(statistics: np.ndarray, title: str, missing: str):
    """When per-frame values are unavailable: per video, mean prediction against mean
    truth (marker area ∝ frames), which is what the sufficient statistics hold."""
    plt = pyplot()
    stats = np.asarray(statistics, dtype=np.float64)
    figure, axes = plt.subplots(1, 2, figsize=(11.5, 5.2), constrained_layout=True)
    for dim, (ax, name) in enumerate(zip(axes, ("valence", "arousal"))):
        n, mean_prediction, mean_truth = stats[:, dim, 0], stats[:, dim, 1], stats[:, dim, 2]
        ax.scatter(mean_truth, mean_prediction, s=20 + 200 * n / max(n.max(), 1), alpha=0.6, label="one video")
        _va_square(ax, f"mean true {name} of a video", f"mean predicted {name} of a video")
        ax.set_title(f"{name}: per-video means ({len(n)} videos)")
        ax.legend(loc="upper left", fontsize=8)
    figure.suptitle(f"{title}\nper-frame density not drawn: {missing}", fontsize=10)
    return figure


# -------------------------------------------------------------------- per video


METRIC_WORDS = {"criterion": "criterion (official)", "f1": "F1", "acc": "accuracy", "mean": "mean CCC (official)",
                "valence": "CCC valence", "arousal": "CCC arousal"}


def per_video_figure(entries: list[tuple[str, dict]], metric_names: list[str], title: str):
    """One panel per metric: each entry's per-video scores as a box and its points
    (one per video); ``entries`` are ``(label, per_video)`` of the score JSONs."""
    plt = pyplot()
    height = 1.6 + 0.55 * len(entries)
    figure, axes = plt.subplots(1, len(metric_names), figsize=(4.6 * len(metric_names), height),
                                squeeze=False, constrained_layout=True)
    rng = np.random.default_rng(0)
    labels = [label for label, _ in entries]
    for ax, metric in zip(axes[0], metric_names):
        values = [np.array([v[metric] for v in per_video.values() if metric in v], dtype=np.float64)
                  for _, per_video in entries]
        import matplotlib

        # "vert" gave way to "orientation" in matplotlib 3.10
        horizontal = {"orientation": "horizontal"} if matplotlib.__version_info__ >= (3, 10) else {"vert": False}
        ax.boxplot(values, widths=0.5, showfliers=False, **horizontal)
        for position, points in enumerate(values, start=1):
            ax.scatter(points, position + rng.uniform(-0.15, 0.15, len(points)), s=12, alpha=0.6, color="tab:blue")
        ax.set_yticks(range(1, len(labels) + 1), labels)
        ax.set_ylim(len(labels) + 0.5, 0.5)  # the first entry on top, as in the tables
        ax.set_xlabel(f"{METRIC_WORDS.get(metric, metric)} of one video")
        ax.set_ylabel("entry")
        ax.set_title(metric)
    figure.suptitle(title)
    return figure


# ----------------------------------------------------------------- training curves


def read_metrics(path: Path) -> list[dict]:
    """The records of ``metrics.jsonl`` (lines that are not JSON objects are skipped)."""
    records = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and "stage" in record:
            records.append(record)
    return records


_CURVES = (("train loss", lambda r: [("loss", (r.get("train") or {}).get("loss"))]),
           ("validation score (EXPR criterion + CCC valence + CCC arousal)",
            lambda r: [("score", (r.get("validation") or {}).get("score"))]),
           ("validation EXPR criterion", lambda r: [("criterion", (r.get("validation") or {}).get("expr_criterion"))]),
           ("validation CCC", lambda r: [("valence", (r.get("validation") or {}).get("valence")),
                                         ("arousal", (r.get("validation") or {}).get("arousal"))]))


def training_figure(records: list[dict], title: str):
    """Four panels against the epoch, stages one after another (boundaries shaded and
    named), best epochs starred."""
    plt = pyplot()
    stages = list(dict.fromkeys(r["stage"] for r in records))
    offsets, x_of = {}, []
    start = 0
    for stage in stages:
        epochs = [int(r.get("epoch", 0)) for r in records if r["stage"] == stage]
        offsets[stage] = start - min(epochs)
        start += max(epochs) - min(epochs) + 1
    x_of = [offsets[r["stage"]] + int(r.get("epoch", 0)) for r in records]
    panels = [(name, get) for name, get in _CURVES if any(v is not None for r in records for _, v in get(r))]
    figure, axes = plt.subplots(len(panels), 1, figsize=(11.5, 2.6 * len(panels)), sharex=True, squeeze=False,
                                constrained_layout=True)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, (name, get) in zip(axes[:, 0], panels):
        for index, stage in enumerate(stages):
            shade = offsets[stage] + min(int(r.get("epoch", 0)) for r in records if r["stage"] == stage)
            if index % 2:
                width = sum(1 for r in records if r["stage"] == stage)
                ax.axvspan(shade - 0.5, shade + width - 0.5, color="0.93", zorder=0)
        series_names = [s for s, _ in get(records[0])]
        for series_index, series in enumerate(series_names):
            for stage_index, stage in enumerate(stages):
                points = [(x, dict(get(r))[series], r.get("best")) for x, r in zip(x_of, records) if r["stage"] == stage]
                points = [p for p in points if p[1] is not None]
                if not points:
                    continue
                xs, ys, best = zip(*points)
                colour = colours[stage_index % len(colours)]  # a stage keeps its colour in every panel
                label = f"{stage} {series}" if len(series_names) > 1 else stage
                ax.plot(xs, ys, ("-", "--", ":")[series_index % 3], marker="o", markersize=3, color=colour,
                        label=label)
                stars = [(x, y) for x, y, b in zip(xs, ys, best) if b]
                if stars:
                    ax.scatter(*zip(*stars), marker="*", s=120, color=colour, edgecolor="black", zorder=3)
        ax.set_ylabel(name.split(" (")[0].replace("validation ", "val. "))
        ax.set_title(name, fontsize=10)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    axes[-1, 0].set_xlabel("epoch (stages one after another; ★ best epoch of a stage)")
    figure.suptitle(title)
    return figure


# ----------------------------------------------------------------------- report


def _va_frames(scored, data_override: Path | None):
    """Per-frame (truth, prediction) of a VA score, or (None, why not)."""
    from abawbench.formats import FormatError
    from abawbench.scoring import ScoringError

    tried = []
    candidates = []
    if scored.predictions and scored.ground_truth:
        candidates.append((Path(scored.ground_truth), Path(scored.predictions)))
    if scored.run is not None:
        data = scored.run.get("data") or {}
        root = data_override or data.get("affwild2") or data.get("root")
        prediction_folder = Path(scored.path) / "predictions" / scored.split / "va"
        if root:
            candidates.append((Path(root), prediction_folder))
    for ground_truth, predictions in candidates:
        if not predictions.exists():
            tried.append(f"no predictions at {predictions}")
            continue
        if not Path(ground_truth).exists():
            tried.append(f"no ground truth at {ground_truth}")
            continue
        try:
            return frame_pairs("va", ground_truth, predictions, scored.edition, scored.split), None
        except (FormatError, ScoringError, OSError) as error:
            tried.append(f"{predictions}: {error}")
    if not candidates:
        tried.append("the score JSON names no predictions and ground truth")
    return None, "; ".join(tried)


def write_report(paths: list[Path], out: Path, data: Path | None = None, track: str | None = None,
                 edition: str = "abaw2", split: str = "validation", stage: str | None = None,
                 resamples: int = 1000, seed: int = 0, progress=None) -> dict:
    """Write PNG plots and a self-contained ``index.html`` for run folders and score JSONs
    (prediction folders too, scored against ``data``) into ``out`` (staged, then renamed
    into place; ``progress(caption)`` is called after each plot). Returns ``{"out",
    "images": [{file, entry, kind, caption}], "missing": [what could not be drawn and
    why], "comparison"}``."""
    from abawbench import atomic, compare, html_report
    from abawbench.tracks import track_spec

    pyplot()  # fail before any work when matplotlib is absent
    check_out_folder(out)
    entries = compare.load_entries(paths, data, track, edition, split, stage)
    comparison = compare.compare_scored(entries, resamples=resamples, seed=seed)
    images, missing = [], []
    out = Path(out)
    with atomic.staged_folder(out) as staging:

        def save(figure, name: str, entry: str, kind: str, caption: str) -> None:
            data_png = png_bytes(figure)
            (staging / name).write_bytes(data_png)
            images.append({"file": name, "entry": entry, "kind": kind, "caption": caption, "png": data_png})
            if progress is not None:
                progress(caption)

        for scored in entries:
            base = f"{slug(scored.label)}-{scored.track}"
            what = f"{scored.label} · {scored.edition} {scored.split}" + \
                   (" · synthetic data" if scored.synthetic else "")
            if scored.track == "expr":
                if scored.statistics is None:
                    missing.append(f"{scored.label} EXPR confusion matrix: {scored.source} has no per-video statistics")
                else:
                    classes = track_spec(scored.edition, "expr").columns
                    save(confusion_figure(scored.statistics, classes, f"EXPR confusion · {what}"),
                         f"{base}-confusion.png", scored.label, "confusion",
                         f"EXPR confusion matrix of {scored.label}: counts and row-normalised")
            elif scored.track == "va":
                pairs, why = _va_frames(scored, data)
                if pairs is not None:
                    save(va_density_figure(pairs[0], pairs[1], f"VA predicted vs true · {what}"),
                         f"{base}-density.png", scored.label, "va-density",
                         f"VA predicted against true values, every valid frame of {scored.label}")
                elif scored.statistics is not None:
                    missing.append(f"{scored.label} VA per-frame density: {why}; drew the per-video means instead")
                    save(va_means_figure(scored.statistics, f"VA per-video means · {what}", why),
                         f"{base}-means.png", scored.label, "va-means",
                         f"VA per-video mean prediction against mean truth of {scored.label}")
                else:
                    missing.append(f"{scored.label} VA plot: {why}, and {scored.source} has no per-video statistics")
        for track_name, table in comparison["tracks"].items():
            rows = [s for s in entries if s.track == track_name]
            save(per_video_figure([(s.label, s.per_video) for s in rows], table["metrics"],
                                  f"{track_name.upper()}: per-video scores (one point per video)"),
                 f"per-video-{track_name}.png", "all", "per-video",
                 f"{track_name.upper()} per-video score distribution of every entry")
        seen = set()
        for scored in entries:
            if scored.run is None or scored.path in seen:
                continue
            seen.add(scored.path)
            metrics_path = Path(scored.path) / "metrics.jsonl"
            records = read_metrics(metrics_path) if metrics_path.is_file() else []
            if not records:
                missing.append(f"{scored.label} training curves: no records in {metrics_path}")
                continue
            save(training_figure(records, f"training curves · {scored.label}" +
                                 (" · synthetic data" if scored.synthetic else "")),
                 f"{slug(scored.label)}-training.png", scored.label, "training",
                 f"training curves of {scored.label} from metrics.jsonl")
        page = html_report.build_page(entries, comparison, images, missing)
        (staging / "index.html").write_text(page, encoding="utf-8")
        (staging / "report.json").write_text(json.dumps(
            {"schema": 1, "kind": "abawbench-report", "entries": [str(p) for p in paths],
             "images": [{k: v for k, v in i.items() if k != "png"} for i in images], "missing": missing,
             "comparison": comparison}, indent=2), encoding="utf-8")
    return {"out": str(out), "images": [{k: v for k, v in i.items() if k != "png"} for i in images],
            "missing": missing, "comparison": comparison}
