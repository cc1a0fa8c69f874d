"""Comparing runs, ablations and submissions: every metric of every entry, deltas against
a reference, seeds aggregated, and whether a difference is real.

An *entry* is what the user names on the command line:

* a run folder (``run.json`` + ``scores/``, the run-folder contract): one score per track,
  the run's final ``scores/<split>-<track>.json`` or, with ``stage``, the stage's file;
* a score JSON written by ``abawbench score --json`` (or any ``scores/*.json``);
* a prediction folder or ``image_location`` file, scored on the spot against ``data``.

Every entry becomes one :class:`Scored` per track. Runs whose configs differ only in
seed (same ``run.json`` ``group``, or the same values at the ``by`` config keys) form one
row, reported as mean ± std (sample standard deviation, ``ddof = 1``) with n seeds.

Two rows are compared only when they were scored on the same frames: same track, edition,
split, videos, frame counts and (when the per-video statistics are there) the same ground
truth. Otherwise the comparison is refused and the reason recorded. A compared pair gets
a delta for every metric and its 95% interval:

* single entries: a *paired* bootstrap over videos: each resample draws videos with
  replacement and re-weights both entries' per-video sufficient statistics with the same
  draw; the interval is the 2.5-97.5 percentile of the resampled differences and
  ``flip_share`` the share of resamples whose difference does not have the observed sign;
* seed groups: Welch's t interval from the spread across seeds (one-sample t when one
  side is a single run).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from abawbench.significance import paired_bootstrap, seed_interval, significant

SCHEMA = 1
FINAL = "final"
SYNTH_GENERATOR = "abawbench.data.synth"


class CompareError(ValueError):
    """An entry cannot be read or compared (wrong kind of file, missing scores, bad key)."""


# ------------------------------------------------------------------------ entries


@dataclass
class Scored:
    """One track's score of one entry, with what is needed to compare it.

    ``statistics`` is the ``(V, ...)`` per-video sufficient statistics of
    :func:`abawbench.scoring.video_statistics` in ``videos`` order, or None when the score
    JSON does not carry them (written before they were added, or edited).
    """

    label: str
    path: Path
    kind: str  # "run", "score" or "predictions"
    track: str
    edition: str
    split: str
    main_metric: str
    metrics: dict[str, float]
    per_video: dict[str, dict]
    n_videos: int
    n_frames: int
    source: str
    synthetic: bool | None = None
    videos: list[str] | None = None
    statistics: np.ndarray | None = None
    stage: str | None = None
    run: dict | None = None
    ground_truth: str | None = None
    predictions: str | None = None
    ci95: dict[str, list[float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    f1_average: str = "all"  # the F1 rule the score used (EXPR, AU, MTL)

    @property
    def frames(self) -> dict[str, int]:
        """Valid frames per scored video."""
        return {video: int(entry.get("n_frames", 0)) for video, entry in self.per_video.items()}

    @property
    def frame_signature(self) -> str:
        """Short hash of (track, edition, split, every video and its frame count)."""
        text = "|".join([self.track, self.edition, self.split] + [f"{v}:{n}" for v, n in sorted(self.frames.items())])
        return hashlib.sha1(text.encode()).hexdigest()[:10]

    @property
    def seed(self):
        return None if self.run is None else self.run.get("seed")

    @property
    def criterion_era(self) -> bool:
        from abawbench.tracks import get_edition

        return get_edition(self.edition).criterion_era


def read_json(path: Path, what: str) -> dict:
    """A JSON object from ``path``; a parse error names the file, line and column."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise CompareError(f"{path}: expected {what} (UTF-8 JSON), found bytes that are not UTF-8") from None
    except OSError as error:
        raise CompareError(f"{path}: cannot read {what}: {error.strerror or error}") from None
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as error:
        raise CompareError(f"{path}:{error.lineno}: expected {what}, found invalid JSON "
                           f"({error.msg} at column {error.colno})") from None
    if not isinstance(payload, dict):
        raise CompareError(f"{path}: expected {what} (a JSON object), found a JSON {type(payload).__name__}")
    return payload


def manifest_says_synthetic(folder: Path | str | None) -> bool | None:
    """True when a ``manifest.json`` of ``abawbench data synth`` sits in ``folder`` or one of
    its ancestors; False when none does; None when the folder is unknown."""
    if not folder:
        return None
    folder = Path(folder)
    for candidate in [folder, *folder.parents]:
        manifest = candidate / "manifest.json"
        try:
            if manifest.is_file() and json.loads(manifest.read_text(encoding="utf-8")).get("generator") == SYNTH_GENERATOR:
                return True
        except (OSError, ValueError, AttributeError):
            continue
    return False


_SCORE_KEYS = ("track", "edition", "split", "metrics", "per_video", "n_videos", "n_frames")


def stated_f1_average(payload: dict) -> str:
    """The F1 rule a score JSON was computed with: its ``f1_average``, or for JSONs written
    before that key existed the rule of the time (EXPR over the present classes, AU over all)."""
    stated = payload.get("f1_average")
    if stated is not None:
        return str(stated)
    return "present" if payload.get("track") == "expr" else "all"


def scored_from_json(payload: dict, path: Path, label: str, kind: str = "score", run: dict | None = None,
                     stage: str | None = None, source: str | None = None) -> Scored:
    """A :class:`Scored` from a score JSON's content (``path`` for messages)."""
    from abawbench.tracks import check_f1_average, track_spec

    missing = [key for key in _SCORE_KEYS if key not in payload]
    if missing:
        raise CompareError(f"{path}: expected a score JSON of `abawbench score --json` (keys {', '.join(_SCORE_KEYS)}), "
                           f"found one without {', '.join(missing)}")
    try:
        spec = track_spec(str(payload["edition"]), str(payload["track"]))
        f1_average = check_f1_average(stated_f1_average(payload))
    except ValueError as error:
        raise CompareError(f"{path}: {error}") from None
    metrics = payload["metrics"]
    if not isinstance(metrics, dict) or not all(isinstance(v, (int, float)) for v in metrics.values()):
        raise CompareError(f"{path}: expected 'metrics' to map metric names to numbers, found {metrics!r:.80}")
    scored = Scored(label=label, path=Path(path), kind=kind, track=spec.track, edition=spec.edition.name,
                    split=str(payload["split"]), main_metric=payload.get("main_metric", spec.main_metric),
                    metrics={k: float(v) for k, v in metrics.items()}, per_video=dict(payload["per_video"]),
                    n_videos=int(payload["n_videos"]), n_frames=int(payload["n_frames"]),
                    source=source or str(path), stage=stage, run=run,
                    ground_truth=payload.get("ground_truth"), predictions=payload.get("predictions"),
                    ci95=dict(payload.get("ci95") or {}), f1_average=f1_average)
    _attach_statistics(scored, payload.get("statistics"))
    return scored


def _attach_statistics(scored: Scored, payload) -> None:
    """Read the score JSON's ``statistics`` and keep them only if they reproduce its metrics."""
    from abawbench import metrics, scoring
    from abawbench.tracks import track_spec

    if payload is None:
        scored.notes.append(f"{scored.source} has no per-video statistics (scored before abawbench wrote them): "
                            "no paired bootstrap for it; re-score it to get one")
        return
    try:
        videos = [str(v) for v in payload["videos"]]
        values = np.asarray(payload["values"], dtype=np.float64)
        if values.shape != tuple(payload.get("shape", values.shape)) or len(values) != len(videos):
            raise ValueError("shape does not match the videos listed")
        if set(videos) != set(scored.per_video):
            raise ValueError("videos differ from per_video's")
        spec = track_spec(scored.edition, scored.track)
        pooled = metrics.scores_from_stats(scored.track, scoring.pool(spec, values), scored.criterion_era,
                                           scored.f1_average)
    except (KeyError, TypeError, ValueError) as error:
        scored.notes.append(f"{scored.source}: unreadable per-video statistics ({error}): no paired bootstrap for it")
        return
    for name, value in scored.metrics.items():
        if name in pooled and not math.isclose(float(pooled[name][0]), value, rel_tol=1e-9, abs_tol=1e-9):
            scored.notes.append(f"{scored.source}: the per-video statistics give {name} {float(pooled[name][0]):.6f}, "
                                f"the JSON says {value:.6f} (another F1 rule or an edited file?): no paired bootstrap")
            return
    scored.videos, scored.statistics = videos, values


def read_run(folder: Path) -> dict:
    """``run.json`` of a run folder, checked to be one."""
    run = read_json(Path(folder) / "run.json", "the run.json of a run folder")
    if run.get("kind", "abawbench-run") != "abawbench-run":
        raise CompareError(f"{folder}/run.json: expected kind 'abawbench-run', found {run.get('kind')!r}")
    return run


def run_synthetic(run: dict) -> bool | None:
    """``data.synthetic`` of a run, or what the data root's manifest says when it is absent."""
    data = run.get("data") or {}
    if isinstance(data.get("synthetic"), bool):
        return data["synthetic"]
    return manifest_says_synthetic(data.get("affwild2") or data.get("root"))


def score_files(folder: Path, stage: str | None = None) -> dict[str, Path]:
    """``{track: score file}`` of a run folder: the final ``<split>-<track>.json`` files, or
    ``<stage>-<split>-<track>.json`` for a stage (validation split first)."""
    scores = Path(folder) / "scores"
    found: dict[str, Path] = {}
    if not scores.is_dir():
        return found
    prefix = "" if stage in (None, FINAL) else f"{stage}-"
    for split in ("validation", "train"):
        for track in ("expr", "va", "au"):
            path = scores / f"{prefix}{split}-{track}.json"
            if track not in found and path.is_file():
                found[track] = path
    return found


def load_run(folder: Path, label: str, stage: str | None = None) -> list[Scored]:
    """One :class:`Scored` per track of a run folder (final scores unless ``stage``)."""
    folder = Path(folder)
    run = read_run(folder)
    files = score_files(folder, stage)
    note = None
    if not files and stage in (None, FINAL) and run.get("final_stage"):
        files = score_files(folder, run["final_stage"])
        if files:
            note = f"{folder}: no final scores/<split>-<track>.json; took the final stage's ({run['final_stage']})"
    if not files:
        which = f"scores/{stage}-validation-<track>.json" if stage not in (None, FINAL) else \
            "scores/validation-<track>.json"
        raise CompareError(f"{folder}: a run folder without {which} (has `abawbench score` been run on its "
                           "predictions, or has the stage finished?)")
    synthetic = run_synthetic(run)
    scored = []
    for path in files.values():
        entry = scored_from_json(read_json(path, "a score JSON"), path, label, "run", run,
                                 stage if stage not in (None, FINAL) else None)
        entry.path, entry.synthetic = folder, synthetic  # the entry is the folder; the numbers are the file's
        if note:
            entry.notes.append(note)
        scored.append(entry)
    return scored


def detect_prediction_track(path: Path) -> str:
    """The track of a prediction folder or ``image_location`` file, from its header."""
    from abawbench.tracks import IMAGE_LOCATION, detect_mtl_header, detect_track, split_header

    path = Path(path)
    files = sorted(p for p in path.glob("*.txt") if not p.name.startswith(".")) if path.is_dir() else [path]
    if not files:
        raise CompareError(f"{path}: expected a run folder, a score JSON or predictions (<video>.txt files or an "
                           "image_location file), found a folder with none of them")
    try:
        with open(files[0], "rb") as stream:
            header = stream.readline(4096).decode("utf-8", "replace")
    except OSError as error:
        raise CompareError(f"{files[0]}: cannot read: {error.strerror or error}") from None
    if detect_mtl_header(header) is not None:
        return "mtl"
    cells = split_header(header)
    if cells and cells[0].lower() == IMAGE_LOCATION:
        cells = cells[1:]
    found = detect_track(",".join(cells))
    if found is None:
        raise CompareError(f"{files[0]}:1: expected the header of an EXPR, VA, AU or MTL prediction file, found "
                           f"{header.strip()[:60]!r}; pass --track")
    return found[0]


def score_predictions(path: Path, label: str, data: Path | None, track: str | None = None,
                      edition: str = "abaw2", split: str = "validation", resamples: int = 0, seed: int = 0) -> Scored:
    """Score a prediction folder or file on the spot, exactly as ``abawbench score`` does."""
    from abawbench import scoring

    if data is None:
        raise CompareError(f"{path}: predictions are scored on the spot: pass --data ROOT (the Aff-Wild2 root)")
    track = track or detect_prediction_track(path)
    result = scoring.score(Path(path), Path(data), track, edition, split, resamples, seed)
    scored = scored_from_json(result, Path(path), label, "predictions", source=f"{path} (scored on the spot)")
    scored.synthetic = manifest_says_synthetic(result.get("ground_truth"))
    return scored


def load_entry(path: Path, label: str, data: Path | None = None, track: str | None = None, edition: str = "abaw2",
               split: str = "validation", stage: str | None = None) -> list[Scored]:
    """Every track's score of one entry (see the module docstring for what an entry is)."""
    path = Path(path)
    if not path.exists():
        raise CompareError(f"{path}: no such file or folder")
    if path.is_dir() and (path / "run.json").is_file():
        scored = load_run(path, label, stage)
    elif path.is_file() and path.suffix.lower() == ".json":
        payload = read_json(path, "a score JSON")
        if payload.get("kind") == "abawbench-run":
            raise CompareError(f"{path}: this is a run.json: name its run folder {path.parent} instead")
        scored = [scored_from_json(payload, path, label)]
        scored[0].synthetic = manifest_says_synthetic(scored[0].ground_truth)
    else:
        scored = [score_predictions(path, label, data, track, edition, split)]
    if track is not None:
        scored = [s for s in scored if s.track == track]
        if not scored:
            raise CompareError(f"{path}: no {track.upper()} score")
    return scored


def entry_labels(paths: list[Path]) -> list[str]:
    """Short, unique names: the file or folder name, with parents added until unique."""
    paths = [Path(p) for p in paths]
    depth = 1
    while True:
        labels = []
        for p in paths:
            parts = p.resolve().parts if depth > 1 else (p.stem if p.suffix.lower() == ".json" else p.name,)
            labels.append("/".join(parts[-depth:]) if depth > 1 else parts[0])
        if len(set(labels)) == len(labels) or depth > 8:
            return labels
        depth += 1


def load_entries(paths: list[Path], data: Path | None = None, track: str | None = None, edition: str = "abaw2",
                 split: str = "validation", stage: str | None = None) -> list[Scored]:
    """:func:`load_entry` for each path, with unique labels; the same path twice is an error."""
    paths = [Path(p) for p in paths]
    resolved = [p.resolve() for p in paths]
    for i, p in enumerate(resolved):
        if p in resolved[:i]:
            raise CompareError(f"{paths[i]}: named twice")
    scored: list[Scored] = []
    for path, label in zip(paths, entry_labels(paths)):
        scored += load_entry(path, label, data, track, edition, split, stage)
    return scored


# -------------------------------------------------------------- comparability


def comparability(a: Scored, b: Scored) -> str | None:
    """None when ``a`` and ``b`` were scored on the same frames; otherwise why not."""
    if a.track != b.track:
        return f"different tracks ({a.track.upper()} vs {b.track.upper()})"
    if a.edition != b.edition:
        return f"different editions ({a.edition} vs {b.edition}: other classes, metric or test set)"
    if a.split != b.split:
        return f"different splits ({a.split} vs {b.split})"
    if a.track != "va" and a.f1_average != b.f1_average:
        return f"different F1 rules (--f1-average {a.f1_average} vs {b.f1_average}): re-score one of them"
    frames_a, frames_b = a.frames, b.frames
    if set(frames_a) != set(frames_b):
        only_a, only_b = sorted(set(frames_a) - set(frames_b)), sorted(set(frames_b) - set(frames_a))
        return (f"different frames: different videos ({len(frames_a)} vs {len(frames_b)}; "
                + ", ".join(filter(None, [f"only in {a.label}: {only_a[0]}" if only_a else "",
                                          f"only in {b.label}: {only_b[0]}" if only_b else ""])) + ")")
    differ = sorted(v for v in frames_a if frames_a[v] != frames_b[v])
    if differ:
        v = differ[0]
        return (f"different frames: {len(differ)} video(s) with other valid-frame counts "
                f"({v}: {frames_a[v]} vs {frames_b[v]})")
    if a.statistics is not None and b.statistics is not None:
        video = _truth_differs(a, b)
        if video is not None:
            return f"different ground truth: same videos and frame counts, other labels (first in {video})"
    return None


def truth_marginals(track: str, statistics: np.ndarray) -> np.ndarray:
    """What the ground truth alone determines, per video: EXPR class counts ``(V, K)``; VA
    ``(V, 2, 3)`` n, truth mean and truth M2; AU positives ``(V, A)``; MTL the three side by
    side, flattened ``(V, 6 + 8 + 12)``."""
    if track == "mtl":
        from abawbench.metrics import split_mtl_stats

        va, expr, au = split_mtl_stats(statistics)
        parts = (truth_marginals("va", va), truth_marginals("expr", expr), truth_marginals("au", au))
        return np.concatenate([part.reshape(len(statistics), -1) for part in parts], axis=1)
    if track == "expr":
        return statistics.sum(axis=2)
    if track == "va":
        return statistics[:, :, [0, 2, 4]]
    return statistics[:, :, 2] + statistics[:, :, 3]


def _truth_differs(a: Scored, b: Scored) -> str | None:
    order = [b.videos.index(v) for v in a.videos]
    ma, mb = truth_marginals(a.track, a.statistics), truth_marginals(b.track, b.statistics[order])
    if ma.shape != mb.shape:
        return a.videos[0]
    close = np.isclose(ma, mb, rtol=1e-12, atol=1e-12).reshape(len(ma), -1).all(axis=1)
    return None if close.all() else a.videos[int(np.flatnonzero(~close)[0])]


# -------------------------------------------------------------- significance


def aligned_statistics(a: Scored, b: Scored) -> tuple[np.ndarray, np.ndarray]:
    """Both entries' statistics with rows in ``a``'s video order."""
    position = {video: i for i, video in enumerate(b.videos)}
    return a.statistics, b.statistics[[position[v] for v in a.videos]]


# ------------------------------------------------------------------------ rows


@dataclass
class Row:
    """One line of the table: a single entry, or a group of seeds of one config."""

    label: str
    track: str
    members: list[Scored]
    group: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def first(self) -> Scored:
        return self.members[0]

    @property
    def n(self) -> int:
        return len(self.members)

    def values(self, metric: str) -> list[float]:
        return [m.metrics[metric] for m in self.members if metric in m.metrics]

    def summary(self, metric: str) -> dict | None:
        values = self.values(metric)
        if not values:
            return None
        array = np.asarray(values, dtype=np.float64)
        return {"mean": float(array.mean()), "std": float(array.std(ddof=1)) if len(array) > 1 else None,
                "values": [float(v) for v in values]}


def config_value(config: dict, dotted: str, where: str):
    """``config["a"]["b"]`` for ``"a.b"``; a missing key names the run and the key."""
    value = config
    for i, part in enumerate(dotted.split(".")):
        if not isinstance(value, dict) or part not in value:
            known = ", ".join(sorted(value)) if isinstance(value, dict) else "none (not a table)"
            raise CompareError(f"{where}: config has no key {dotted!r} ({'.'.join(dotted.split('.')[:i]) or 'top level'} "
                               f"holds: {known})")
        value = value[part]
    return value


def _group_key(scored: Scored, by: list[str] | None) -> tuple[str, str | None]:
    """(key, group id) of an entry; entries that are not runs stand alone."""
    if scored.run is None:
        return f"entry:{scored.path.resolve()}", None
    where = f"{scored.path}/run.json"
    if by:
        config = scored.run.get("config")
        if not isinstance(config, dict):
            raise CompareError(f"{where}: no 'config' object to read --by keys from")
        values = {key: config_value(config, key, where) for key in by}
        text = json.dumps(values, sort_keys=True, default=str)
        return f"by:{text}", hashlib.sha1(text.encode()).hexdigest()[:12]
    group = scored.run.get("group")
    if not group:
        return f"entry:{scored.path.resolve()}", None
    stage = scored.stage or ""
    return f"group:{group}:{stage}", str(group)


def _common_label(labels: list[str]) -> str:
    prefix = labels[0]
    for label in labels[1:]:
        while not label.startswith(prefix):
            prefix = prefix[:-1]
    prefix = prefix.rstrip("-_.s ")
    return f"{prefix}-*" if len(prefix) >= 2 else f"{labels[0]} +{len(labels) - 1}"


def _by_label(run: dict, by: list[str]) -> str:
    config = run.get("config") or {}
    return " ".join(f"{key.split('.')[-1]}={json.dumps(config_value(config, key, 'run'))}" for key in by)


def group_rows(scored: list[Scored], by: list[str] | None = None) -> list[Row]:
    """Rows in the order the entries came: runs of one config (same ``group``, or same
    values at the ``by`` keys) merge into one row per track; members scored on other
    frames than the group's first form a row of their own, with a note."""
    buckets: dict[tuple, list[Scored]] = {}
    ids: dict[tuple, str | None] = {}
    for entry in scored:
        key, group = _group_key(entry, by)
        bucket = (key, entry.track, entry.frame_signature)
        buckets.setdefault(bucket, []).append(entry)
        ids[bucket] = group
    rows = []
    split_groups = {}
    for (key, track, _), members in buckets.items():
        split_groups.setdefault((key, track), []).append(members)
    for (key, track, _), members in buckets.items():
        if len(members) == 1 and not key.startswith("by:"):
            label = members[0].label
        elif key.startswith("by:"):
            label = _by_label(members[0].run, by)
        else:
            label = _common_label([m.label for m in members])
        row = Row(label, track, members, ids[(key, track, members[0].frame_signature)])
        parts = split_groups[(key, track)]
        if len(parts) > 1:
            row.label = f"{label} [frames {members[0].frame_signature[:6]}]"
            row.notes.append(f"{label}: its runs were scored on {len(parts)} different frame sets; each set is a row")
        rows.append(row)
    return rows


# --------------------------------------------------------------------- compare


def compare_rows(row: Row, reference: Row, resamples: int = 1000, seed: int = 0) -> dict:
    """Deltas of ``row`` against ``reference`` for every metric both have, with intervals."""
    reason = comparability(row.first, reference.first)
    if reason is not None:
        return {"status": "not-comparable", "reason": reason, "method": None, "metrics": {}}
    names = [m for m in row.first.metrics if m in reference.first.metrics]
    if row.n == 1 and reference.n == 1:
        a, b = row.first, reference.first
        if a.statistics is not None and b.statistics is not None:
            stats_a, stats_b = aligned_statistics(a, b)
            boot = paired_bootstrap(a.track, stats_a, stats_b, a.criterion_era, resamples, seed, a.f1_average)
            out = {}
            for name in names:
                entry = boot.get(name)
                if entry is None:
                    continue
                entry["delta"] = a.metrics[name] - b.metrics[name]  # the JSONs' own numbers
                entry["significant"] = significant(entry["ci95"])
                out[name] = entry
            coarse = f"only {len(stats_a)} videos: the bootstrap interval is coarse" if len(stats_a) < 10 else None
            return {"status": "compared", "reason": coarse,
                    "method": f"paired bootstrap over {len(stats_a)} videos ({resamples} resamples, seed {seed})",
                    "metrics": out}
        lacking = ", ".join(s.source for s in (a, b) if s.statistics is None)
        return {"status": "compared", "reason": f"no per-video statistics in {lacking}: difference only, no interval",
                "method": "difference only",
                "metrics": {name: {"delta": a.metrics[name] - b.metrics[name], "ci95": None, "flip_share": None,
                                   "significant": None} for name in names}}
    out, method = {}, None
    for name in names:
        interval = seed_interval(row.values(name), reference.values(name))
        method = interval.pop("method")
        out[name] = {**interval, "flip_share": None, "significant": significant(interval["ci95"])}
    return {"status": "compared", "reason": None, "method": method, "metrics": out}


def _member_json(scored: Scored) -> dict:
    return {"label": scored.label, "path": str(scored.path), "source": scored.source, "seed": scored.seed,
            "stage": scored.stage, "statistics": scored.statistics is not None}


def row_json(row: Row) -> dict:
    first = row.first
    metric_names = list(dict.fromkeys(name for m in row.members for name in m.metrics))
    synthetic = [m.synthetic for m in row.members]
    return {
        "label": row.label, "track": row.track, "kind": "group" if row.n > 1 else first.kind,
        "n": row.n, "group": row.group, "members": [_member_json(m) for m in row.members],
        "edition": first.edition, "split": first.split, "main_metric": first.main_metric,
        "n_videos": first.n_videos, "n_frames": first.n_frames, "frames": first.frame_signature,
        "synthetic": True if any(s is True for s in synthetic) else (None if any(s is None for s in synthetic) else False),
        "statistics": all(m.statistics is not None for m in row.members),
        "metrics": {name: row.summary(name) for name in metric_names},
        "notes": list(dict.fromkeys(row.notes + [n for m in row.members for n in m.notes])),
    }


def _metric_order(track: str, names) -> list[str]:
    from abawbench.tracks import MTL_METRICS

    preferred = {"va": ("mean", "valence", "arousal"), "mtl": MTL_METRICS}.get(track, ("criterion", "f1", "acc"))
    names = list(dict.fromkeys(names))
    return [n for n in preferred if n in names] + [n for n in names if n not in preferred]


def compare_scored(scored: list[Scored], reference: Scored | None = None, by: list[str] | None = None,
                   resamples: int = 1000, seed: int = 0) -> dict:
    """The comparison of loaded entries (see :func:`compare_entries`)."""
    if not scored:
        raise CompareError("nothing to compare")
    reference_label = (reference or scored[0]).label
    reference_path = (reference or scored[0]).path
    # two stages of one run folder share its path: the stage tells them apart
    reference_stage = (reference or scored[0]).stage
    rows = group_rows(scored, by)
    for track in {r.track for r in rows}:  # two groups may share a name ("tiny-*"): their ids tell them apart
        same = [r for r in rows if r.track == track]
        names = [r.label for r in same]
        for row in same:
            if names.count(row.label) > 1:
                row.label = f"{row.label} ({(row.group or row.first.frame_signature)[:6]})"
    tracks = {}
    notes = []
    for track in _ordered_tracks(rows):
        track_rows = [r for r in rows if r.track == track]
        ref_row = next((r for r in track_rows if any(m.path == reference_path and m.stage == reference_stage
                                                     for m in r.members)), None)
        letters = {}
        entries = []
        for row in track_rows:
            payload = row_json(row)
            payload["frames_set"] = letters.setdefault(row.first.frame_signature, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[len(letters) % 26])
            if ref_row is None:
                payload["comparison"] = {"status": "no-reference", "method": None, "metrics": {},
                                         "reason": f"the reference ({reference_label}) has no {track.upper()} score: "
                                                   "nothing to compare against (different track)"}
            elif row is ref_row:
                payload["comparison"] = {"status": "reference", "reason": None, "method": None, "metrics": {}}
            else:
                payload["comparison"] = compare_rows(row, ref_row, resamples, seed)
            entries.append(payload)
        main = (ref_row or track_rows[0]).first.main_metric
        tracks[track] = {"main_metric": main,
                         "metrics": _metric_order(track, (n for r in track_rows for m in r.members for n in m.metrics)),
                         "reference": ref_row.label if ref_row else None, "rows": entries}
        if any(e["synthetic"] for e in entries):
            notes.append(f"{track.upper()}: rows marked synthetic were scored on synthetic data "
                         "(abawbench data synth): their numbers say nothing about Aff-Wild2")
    return {"schema": SCHEMA, "kind": "abawbench-compare",
            "reference": {"label": reference_label, "path": str(reference_path)},
            "group_by": list(by) if by else "run.json group",
            "bootstrap": {"resamples": resamples, "seed": seed, "unit": "video", "interval": "percentile 2.5-97.5",
                          "paired": True},
            "seed_interval": "Welch t (95%) over seeds; one-sample t when one side is a single run",
            "std": "sample standard deviation over seeds (ddof = 1)",
            "tracks": tracks, "notes": notes}


def _ordered_tracks(rows: list[Row]) -> list[str]:
    present = {r.track for r in rows}
    return [t for t in ("expr", "va", "au", "mtl") if t in present]


def compare_entries(paths: list[Path], data: Path | None = None, reference: Path | None = None,
                    by: list[str] | None = None, track: str | None = None, edition: str = "abaw2",
                    split: str = "validation", stage: str | None = None, resamples: int = 1000,
                    seed: int = 0) -> dict:
    """Compare entries (run folders, score JSONs, prediction folders/files).

    ``reference`` (default: the first entry) may be one of ``paths`` or another entry,
    which is then loaded too. ``by`` lists dotted config keys that define a group of
    seeds (default: ``run.json``'s ``group``). ``stage`` picks the stage score files of
    run folders. Returns the JSON of ``compare --json``: per track, one row per entry or
    seed group with every metric as mean/std/values and the comparison with the
    reference (status, reason, method, per-metric delta, ci95, flip_share, significant).
    """
    paths = [Path(p) for p in paths]
    if reference is not None and Path(reference).resolve() not in [p.resolve() for p in paths]:
        paths = [Path(reference)] + paths
    scored = load_entries(paths, data, track, edition, split, stage)
    ref = None
    if reference is not None:
        target = Path(reference).resolve()
        ref = next(s for s in scored if s.path.resolve() == target)
    return compare_scored(scored, ref, by, resamples, seed)
