"""Scoring a submission against Aff-Wild2 ground truth, as the organisers do.

The flow: find the track's ground-truth folder under a data root (by file headers,
whatever the edition's folder names), read the submission strictly, align it frame by
frame, drop frames whose ground truth is invalid, reduce every video to sufficient
statistics, and derive from those the pooled metrics, per-video metrics and a 95%
bootstrap interval over *videos* (frames of one video are not independent).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from abawbench import cache as user_cache
from abawbench import metrics
from abawbench.data.affwild2 import AnnotationFolder, annotation_files, file_signature, find_annotation_folders
from abawbench.atomic import describe_kind
from abawbench.formats import (DEFAULT_LIMIT, FormatError, LocatedRows, ReadLimit, read_image_location, read_stacked,
                               read_video_list, rows_limit)
from abawbench.tracks import (AU_NAMES_8, DEFAULT_F1_AVERAGE, MTL, PER_VIDEO, SINGLE_FILE, TrackSpec,
                              check_f1_average, get_edition, track_spec)


class ScoringError(ValueError):
    """The inputs cannot be scored (no ground truth, ambiguous layout, wrong edition)."""


@dataclass
class GroundTruth:
    """One track's ground truth for one split: the files' rows stacked in ``videos`` order,
    ``stacked`` ``(frames, n_values)`` with invalid markers included, ``lengths[i]`` rows
    for ``videos[i]``."""

    spec: TrackSpec
    split: str
    folder: Path
    videos: list[str]
    stacked: np.ndarray
    lengths: np.ndarray
    notes: list[str] = field(default_factory=list)

    @cached_property
    def values(self) -> list[np.ndarray]:
        """Per video ``(frames, n_values)`` (views of ``stacked``)."""
        return np.split(self.stacked, np.cumsum(self.lengths)[:-1]) if len(self.lengths) else []

    @cached_property
    def valid(self) -> np.ndarray:
        """Boolean ``(frames,)`` over ``stacked``: the ground truth of the frame is usable."""
        return valid_mask(self.spec, self.stacked)

    @cached_property
    def valid_masks(self) -> list[np.ndarray]:
        """:attr:`valid` per video (views)."""
        return np.split(self.valid, np.cumsum(self.lengths)[:-1]) if len(self.lengths) else []


def valid_mask(spec: TrackSpec, values: np.ndarray) -> np.ndarray:
    """Frames to score: EXPR ≠ −1; VA without −5 in either column; AU without any −1."""
    return ~(values == spec.invalid).any(axis=1)


def _edition_spec(edition: str, track: str, folder: AnnotationFolder) -> tuple[TrackSpec, list[str]]:
    ed = get_edition(edition)
    spec = track_spec(ed, track)
    if folder.columns == spec.columns:
        return spec, []
    if track == "au" and ed.name == "abaw2" and folder.columns == AU_NAMES_8:
        return track_spec(ed, track, AU_NAMES_8), ["this ABAW2 copy carries 8-AU files; scored on those 8 AUs"]
    fits = "ABAW3 or later (8 classes)" if len(folder.columns) == 8 and track == "expr" else \
        "ABAW1/ABAW2 (7 classes)" if track == "expr" else f"an edition with {len(folder.columns)} AUs"
    raise ScoringError(f"{folder.folder}: the ground truth has the {len(folder.columns)}-column {track.upper()} "
                       f"header, but --edition {ed.name} expects {len(spec.columns)} columns; "
                       f"these files belong to {fits}: pass that --edition")


def locate_ground_truth(root: Path, track: str, split: str, edition: str) -> tuple[AnnotationFolder, TrackSpec, list[str]]:
    folders = find_annotation_folders(root)
    matching = [f for f in folders if f.track == track and f.split == split]
    if not matching:
        seen = ", ".join(sorted({f"{f.track}/{f.split}" for f in folders})) or "none"
        raise ScoringError(f"{root}: no {track.upper()} ground truth for the {split} split (looked for "
                           f"Train_Set/Validation_Set folders whose .txt files start with the {track.upper()} "
                           f"header); found: {seen}")
    if len(matching) > 1:
        wanted = track_spec(edition, track).columns
        by_edition = [f for f in matching if f.columns == wanted]
        if len(by_edition) == 1:
            matching = by_edition
        else:
            listing = "; ".join(str(f.folder) for f in matching)
            raise ScoringError(f"{root}: several {track.upper()} {split} folders ({listing}); "
                               "pass --data the one to score against")
    spec, notes = _edition_spec(edition, track, matching[0])
    return matching[0], spec, notes


def load_ground_truth(root: Path, track: str, split: str = "validation", edition: str = "abaw2",
                      cache: bool = True) -> GroundTruth:
    """Read (and check) a split's ground truth, or load it from the user's cache folder.

    The cache entry (kind ``truth`` of :mod:`abawbench.cache`, one per split folder and
    header) holds the parsed values and is used only while every file keeps the
    signature it had when parsed (size, inode, modification and change times: an edit
    that restores the mtime still changes the ctime); the data folder is only read.
    """
    folder, spec, notes = locate_ground_truth(Path(root), track, split, edition)
    paths = annotation_files(folder.folder)
    videos = [p.stem for p in paths]
    identity = (str(folder.folder.resolve()), spec.header)
    key = _truth_key(paths, spec) if cache else ""
    loaded = _load_truth_cache(identity, key, len(paths), spec.n_values) if cache else None
    if loaded is None:
        hint = f"every {split} file of {folder.folder} must carry the same header"
        loaded = read_stacked(paths, spec, allow_invalid=True, edition_hint=hint)
        if cache:
            user_cache.write("truth", identity, key, {"values": loaded[0], "lengths": loaded[1]})
    stacked, lengths = loaded
    return GroundTruth(spec, split, folder.folder, videos, stacked, lengths, notes)


def _truth_key(paths: list[Path], spec: TrackSpec) -> str:
    parts = [spec.header]
    for path in paths:
        parts.append(f"{path.name}|{file_signature(path)}")
    return "\n".join(parts)


def _load_truth_cache(identity: tuple[str, str], key: str, n_files: int,
                      n_values: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The cached ``(values, lengths)`` if the entry is whole, current and consistent."""
    entry = user_cache.read("truth", identity, key)
    if entry is None or set(entry.arrays) != {"values", "lengths"}:
        return None
    values, lengths = entry.arrays["values"], entry.arrays["lengths"]
    if (values.ndim != 2 or values.shape[1] != n_values or lengths.shape != (n_files,)
            or lengths.dtype.kind not in "iu" or (lengths < 0).any() or lengths.sum() != len(values)):
        return None
    return values, lengths.astype(np.int64, copy=False)


# ---------------------------------------------------------------- submissions


@dataclass
class Submission:
    """A parsed submission: per-video arrays, or the rows of an image_location file."""

    path: Path
    format: str
    per_video: dict[str, np.ndarray] | None = None
    rows: LocatedRows | None = None
    stacked: np.ndarray | None = None  # per-video format: every file's rows, in ``per_video`` order


def _edition_hint(spec: TrackSpec) -> str:
    if spec.track == "expr":
        return f"--edition {spec.edition.name} uses {spec.n_classes} classes"
    return ""


def _submission_files(folder: Path) -> list[Path]:
    """The ``*.txt`` files of a per-video folder, sorted; every one must be a regular file
    (a folder or FIFO named ``video.txt`` is an error that names it, not a missing video)."""
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as error:
        raise FormatError(folder, None, "a readable folder", error.strerror or str(error)) from None
    files = []
    for entry in entries:
        if not entry.name.endswith(".txt") or entry.name.startswith("."):
            continue
        try:
            mode = os.stat(entry.path).st_mode
        except OSError as error:
            raise FormatError(entry.path, None, "a readable file", error.strerror or str(error)) from None
        if not stat.S_ISREG(mode):
            raise FormatError(entry.path, None, "a regular file of one video's predictions", describe_kind(mode))
        files.append(Path(entry.path))
    return files


def submission_limits(spec: TrackSpec, frames: dict[str, int | None]) -> tuple[dict[str, ReadLimit], ReadLimit]:
    """How large each per-video file, and an image_location file, may be given the
    reference's frame counts (unknown counts: the general bound)."""
    per_video = {video: rows_limit(spec, n, f"video {video!r} has {n:,} frames") if n is not None else DEFAULT_LIMIT
                 for video, n in frames.items()}
    if not frames or any(n is None for n in frames.values()):
        return per_video, DEFAULT_LIMIT
    location = max(len(video.encode("utf-8")) for video in frames) + len("/00001.jpg,") + 16
    n_frames = sum(frames.values())
    total = rows_limit(spec, n_frames, f"the {len(frames)} reference videos have {n_frames:,} frames", location)
    return per_video, total


def read_submission(path: Path, spec: TrackSpec, videos: list[str] | None = None,
                    frames: dict[str, int | None] | None = None) -> Submission:
    """Read a per-video folder (all ``*.txt``) or a single ``image_location`` file.

    With ``videos`` (per-video format) the folder must hold exactly those files;
    missing and unknown videos are reported before any file is parsed. ``frames``
    (the reference's frame counts) bounds how much of each file is read.
    """
    path = Path(path)
    hint = _edition_hint(spec)
    per_video_limits, file_limit = submission_limits(spec, frames or {})
    if path.is_dir():
        files = {p.stem: p for p in _submission_files(path)}
        if not files:
            raise FormatError(path, None, "a per-video folder of <video>.txt files or an image_location file",
                              "a folder with no .txt file")
        if videos is not None:
            _check_video_sets(path, set(videos), set(files), lambda v: path / f"{v}.txt")
            order = list(videos)
        else:
            order = sorted(files)
        limits = [per_video_limits.get(v, DEFAULT_LIMIT) for v in order]
        stacked, lengths = read_stacked([files[v] for v in order], spec, allow_invalid=False, edition_hint=hint,
                                        limits=limits)
        arrays = np.split(stacked, np.cumsum(lengths)[:-1])
        return Submission(path, PER_VIDEO, per_video=dict(zip(order, arrays)), stacked=stacked)
    return Submission(path, SINGLE_FILE, rows=read_image_location(path, spec, edition_hint=hint, limit=file_limit))


def _check_video_sets(where: Path, expected: set[str], found: set[str], locate) -> None:
    missing = sorted(expected - found)
    unknown = sorted(found - expected)
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise FormatError(where, None, f"predictions for all {len(expected)} videos",
                          f"none for {missing[0]!r}{more}")
    if unknown:
        raise FormatError(locate(unknown[0]), None, "only videos of the reference set",
                          f"video {unknown[0]!r}, which it does not contain")


@dataclass
class Expected:
    """What a submission must cover: ``frames[video]`` frame counts (None: unknown),
    optionally which frames must be predicted, and optionally a template's rows."""

    frames: dict[str, int | None]
    required: dict[str, np.ndarray] | None = None
    template: LocatedRows | None = None
    source: str = ""


def align(submission: Submission, expected: Expected) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Check a submission against what is expected; return ``{video: (values, predicted)}``.

    ``values`` is ``(frames, n_values)`` indexed by frame − 1 and ``predicted`` says
    which frames have a row (per-video files predict every frame).
    """
    if submission.format == PER_VIDEO:
        if expected.template is not None:
            raise FormatError(submission.path, None, "an image_location file, as the template given is",
                              "a per-video folder")
        _check_video_sets(submission.path, set(expected.frames), set(submission.per_video),
                          lambda v: submission.path / f"{v}.txt")
        aligned = {}
        for video, values in submission.per_video.items():
            n = expected.frames[video]
            file = submission.path / f"{video}.txt"
            if n is not None and len(values) != n:
                line = n + 2 if len(values) > n else len(values) + 2
                raise FormatError(file, line, f"{n} rows, one per frame ({expected.source})",
                                  f"{len(values)} rows" + (" (too many)" if len(values) > n else " (too few)"))
            aligned[video] = (values, np.ones(len(values), dtype=bool))
        return aligned
    rows = submission.rows
    if expected.template is not None:
        _check_against_template(rows, expected.template)
    return _align_rows(rows, expected)


def _check_against_template(rows: LocatedRows, template: LocatedRows) -> None:
    """The submission's rows must be the template's, in its order (compared as video codes
    and frame numbers, without building a string per row)."""
    n = min(len(rows), len(template))
    codes: dict[str, int] = {}
    differs = np.flatnonzero((rows.video_codes(codes)[:n] != template.video_codes(codes)[:n])
                             | (rows.frames[:n] != template.frames[:n]))
    if differs.size:
        row = int(differs[0])
        raise FormatError(rows.path, rows.line(row), f"{template.location(row)!r} as on line {row + 2} of the "
                          f"template {template.path}", repr(rows.location(row)))
    if len(rows) < len(template):
        raise FormatError(rows.path, len(rows) + 2, f"{len(template)} rows as the template {template.path} has",
                          f"{len(rows)} (next expected {template.location(len(rows))!r})")
    if len(rows) > len(template):
        raise FormatError(rows.path, len(template) + 2, f"{len(template)} rows as the template {template.path} has",
                          f"more, starting with {rows.location(n)!r}")


def _align_rows(rows: LocatedRows, expected: Expected) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    run_videos, starts, ends = rows.runs()
    for video, start in zip(run_videos, starts):
        if video not in expected.frames:
            raise FormatError(rows.path, rows.line(int(start)), f"only videos of the reference set ({expected.source})",
                              f"video {video!r}, which it does not contain")
    present = set(run_videos)
    for video in expected.frames:
        if video not in present and (expected.required is None or expected.required[video].any()):
            raise FormatError(rows.path, None, f"rows for every video ({expected.source})", f"none for {video!r}")
    aligned = {}
    for video, start, end in zip(run_videos, starts, ends):
        frames = rows.frames[start:end]
        n = expected.frames[video]
        if n is not None and frames[-1] > n:
            row = int(start + np.flatnonzero(frames > n)[0])
            raise FormatError(rows.path, rows.line(row), f"frames 1-{n} of video {video!r} ({expected.source})",
                              repr(rows.location(row)))
        length = n if n is not None else int(frames[-1])
        values = np.zeros((length, rows.values.shape[1]), dtype=rows.values.dtype)
        predicted = np.zeros(length, dtype=bool)
        values[frames - 1] = rows.values[start:end]
        predicted[frames - 1] = True
        aligned[video] = (values, predicted)
    if expected.required is not None:
        for video, required in expected.required.items():
            if video not in aligned:
                continue
            _, predicted = aligned[video]
            gaps = np.flatnonzero(required & ~predicted)
            if gaps.size:
                frame = int(gaps[0]) + 1
                run = run_videos.index(video)
                start = int(starts[run])
                after = int(np.searchsorted(rows.frames[start:ends[run]], frame))
                raise FormatError(rows.path, rows.line(start + after),
                                  f"a row for '{video}/{frame:05d}.jpg', whose ground truth is valid",
                                  f"none ({int(gaps.size)} such frame(s) of that video have no row)")
    return aligned


def expected_from_ground_truth(truth: GroundTruth) -> Expected:
    return Expected(
        frames={video: len(values) for video, values in zip(truth.videos, truth.values)},
        required=dict(zip(truth.videos, truth.valid_masks)),
        source=f"the ground truth in {truth.folder} has them",
    )


def expected_from_files(spec: TrackSpec, template: Path | None = None, videos: Path | None = None) -> Expected:
    """What a test-set submission must cover, from the organisers' template and/or video list."""
    if template is not None:
        rows = read_image_location(template, spec, template=True)
        videos, _, ends = rows.runs()
        frames = {video: int(rows.frames[end - 1]) for video, end in zip(videos, ends)}
        return Expected(frames, template=rows, source=f"template {template}")
    if videos is not None:
        return Expected(read_video_list(videos), source=f"video list {videos}")
    raise ScoringError("give the reference to check against: --data ROOT (train/validation), --template FILE "
                       "or --videos FILE")


_TRACK_WORDS = {"expr": ("expr", "expression"), "va": ("va_", "valence"), "au": ("au_", "action_unit")}


def is_test_list_folder(name: str) -> bool:
    """A folder of the organisers' test video lists: ``names_of_videos_in_each_test_set``
    (ABAW5 onwards) or ABAW3's release folder
    ``CVPR_2022_3rd_ABAW_Competition _Test_Set_Release_&_Submission_Instructions``."""
    name = name.lower()
    return name.startswith("names_of_videos") or "test_set_release" in name


def find_test_reference(root: Path, spec: TrackSpec) -> tuple[Path | None, Path | None]:
    """The organisers' test-set files under a data root: ``(template, video list)``.

    A template is any ``.txt`` whose header is ``image_location,<track header>``
    (``prediction_files_format/…_test_set_sample.txt``); a video list is a ``.txt`` in a
    folder of test lists (:func:`is_test_list_folder`), preferably naming the track (the
    MTL list of images beside them is not one). Several candidates are an error that
    lists them. The search goes four folders deep (the root and three below it: the
    releases put these files one or two deep) and passes over files it cannot open.
    """
    from abawbench.data.affwild2 import dataset_folders
    from abawbench.tracks import detect_mtl_header, split_header

    templates, lists = [], []
    for folder, entries in dataset_folders(Path(root), max_depth=4):
        for entry in entries:
            if not entry.name.endswith(".txt") or entry.name.startswith(".") or not entry.is_file():
                continue
            path = Path(entry.path)
            try:
                with open(path, "rb") as stream:
                    header = stream.readline(4096).decode("utf-8", "replace")
            except OSError:
                continue
            if split_header(header) == ("image_location",) + spec.columns:
                templates.append(path)
            elif is_test_list_folder(folder.name) and detect_mtl_header(header) is None:
                lists.append(path)
    if len(templates) > 1:
        raise ScoringError(f"{root}: several {spec.track.upper()} templates ({', '.join(map(str, templates))}); "
                           "pass one with --template")
    named = [p for p in lists if any(word in p.name.lower() for word in _TRACK_WORDS[spec.track])]
    video_list = named[0] if len(named) == 1 else lists[0] if len(lists) == 1 else None
    if not templates and video_list is None:
        raise ScoringError(f"{root}: no organisers' {spec.track.upper()} test template (a .txt starting "
                           f"'image_location,{spec.header}') or test video list found; pass --template or --videos")
    return (templates[0] if templates else None), video_list


# ------------------------------------------------------------------- statistics


def video_statistics(spec: TrackSpec, truth: np.ndarray, prediction: np.ndarray, lengths: np.ndarray,
                     valid: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Sufficient statistics per video from aligned, stacked ``(frames, n_values)`` arrays.

    ``lengths[i]`` rows belong to video i. Returns ``(stats, n_frames)``: EXPR
    ``(V, K, K)`` confusion counts, VA ``(V, 2, 6)`` centred moments (valence, arousal),
    AU ``(V, A, 4)`` counts; ``n_frames`` ``(V,)`` valid frames per video. Invalid
    ground-truth frames are dropped here (``valid``: the mask, when the caller has it).
    """
    n_videos = len(lengths)
    gt, pred = truth, prediction
    video = np.repeat(np.arange(n_videos), lengths)
    keep = valid if valid is not None else valid_mask(spec, gt)
    everything = bool(keep.all())
    n_frames = np.bincount(video if everything else video[keep], minlength=n_videos)
    if spec.track != "va" and not everything:
        gt, pred, video = gt[keep], pred[keep], video[keep]
    if spec.track == "expr":
        k = spec.n_classes
        flat = (video * k + gt[:, 0].astype(np.int64)) * k + pred[:, 0].astype(np.int64)
        stats = np.bincount(flat, minlength=n_videos * k * k).reshape(n_videos, k, k)
    elif spec.track == "au":
        stats = np.zeros((n_videos, gt.shape[1], 4), dtype=np.int64)
        scored = np.flatnonzero(n_frames)
        if scored.size:
            # per video sums of 0/1 masks (rows are video-contiguous): no (frames, AUs) int64 temporaries
            starts = np.concatenate(([0], np.cumsum(n_frames[scored])[:-1]))
            truth_positive, predicted_positive = gt == 1, pred == 1
            true_positive = np.add.reduceat(truth_positive & predicted_positive, starts, axis=0, dtype=np.int64)
            false_positive = np.add.reduceat(predicted_positive, starts, axis=0, dtype=np.int64) - true_positive
            false_negative = np.add.reduceat(truth_positive, starts, axis=0, dtype=np.int64) - true_positive
            true_negative = n_frames[scored, None] - true_positive - false_positive - false_negative
            stats[scored] = np.stack([true_negative, false_positive, false_negative, true_positive], axis=-1)
    else:
        stats = np.zeros((n_videos, 2, 6))
        stats[:, :, 0] = n_frames[:, None]
        scored = np.flatnonzero(n_frames)
        if scored.size:
            # frames are video-contiguous: segment sums by reduceat over the non-empty videos
            starts = np.concatenate(([0], np.cumsum(n_frames[scored])[:-1]))
            counts = n_frames[scored]
            for dim in range(2):
                # one copy per column: the mask gathers the strided column into a contiguous array
                x = (pred[:, dim] if everything else pred[keep, dim]).astype(np.float64)
                y = (gt[:, dim] if everything else gt[keep, dim]).astype(np.float64)
                mean_x, mean_y = _segment_means(x, starts, counts), _segment_means(y, starts, counts)
                dx, dy = x - np.repeat(mean_x, counts), y - np.repeat(mean_y, counts)
                stats[scored, dim, 1:] = np.stack([mean_x, mean_y, np.add.reduceat(dx * dx, starts),
                                                   np.add.reduceat(dy * dy, starts),
                                                   np.add.reduceat(dx * dy, starts)], axis=-1)
    return stats, n_frames


def _segment_means(values: np.ndarray, starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Mean of each non-empty segment; exact for a constant segment, so that its centred
    deviations are exactly 0 (a constant prediction then has CCC exactly 0)."""
    means = np.add.reduceat(values, starts) / counts
    low, high = np.minimum.reduceat(values, starts), np.maximum.reduceat(values, starts)
    constant = low == high
    means[constant] = low[constant]
    return means


def pool(spec: TrackSpec, stats: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Aggregate per-video statistics ``(V, ...)`` with video weights ``(B, V)`` into ``(B, ...)``."""
    if weights is None:
        weights = np.ones((1, stats.shape[0]))
    if spec.track == MTL:
        return metrics.pool_mtl_stats(stats, weights)
    if spec.track == "va":
        return metrics.combine_moments(stats, weights)
    return np.tensordot(weights, stats, axes=1)


def bootstrap_weights(n_videos: int, resamples: int, seed: int) -> np.ndarray:
    """``(resamples, n_videos)`` counts: how often each video is drawn in each resample."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(n_videos, np.full(n_videos, 1.0 / n_videos), size=resamples)


def _number_or_none(value: float) -> float | None:
    """A metric for the JSON: None where it is undefined (an MTL part a video lacks)."""
    return float(value) if np.isfinite(value) else None


def score_statistics(spec: TrackSpec, videos: list[str], stats: np.ndarray, n_frames: np.ndarray,
                     resamples: int = 1000, seed: int = 0, f1_average: str = DEFAULT_F1_AVERAGE) -> dict:
    """Pooled metrics, per-video metrics and bootstrap intervals from per-video statistics,
    with the F1 rule ``f1_average`` everywhere (pooled, per video, every resample).

    MTL: a video without valid labels of a part has that part (and ``mtl``) None; a
    resample without any has no value and is left out of the interval (``notes`` says how
    many). Uni-task tracks only ever score videos with valid frames.
    """
    scored = n_frames > 0
    if not scored.any():
        raise ScoringError("no frame with a valid ground truth: nothing to score")
    stats, kept = stats[scored], [v for v, s in zip(videos, scored) if s]
    criterion_era = spec.edition.criterion_era
    overall = metrics.scores_from_stats(spec.track, pool(spec, stats), criterion_era, f1_average)
    per_video_scores = metrics.scores_from_stats(spec.track, stats, criterion_era, f1_average)
    per_video = {}
    for i, video in enumerate(kept):
        entry = {name: _number_or_none(per_video_scores[name][i]) for name in spec.metrics}
        entry["n_frames"] = int(n_frames[scored][i])
        per_video[video] = entry
    result = {
        "n_videos": len(kept),
        "n_frames": int(n_frames.sum()),
        "metrics": {name: float(overall[name][0]) for name in spec.metrics},
        "per_video": per_video,
        "ci95": {},
        "notes": [],
    }
    if resamples > 0:
        weights = bootstrap_weights(len(kept), resamples, seed)
        resampled = metrics.scores_from_stats(spec.track, pool(spec, stats, weights), criterion_era, f1_average)
        defined = np.isfinite(resampled[spec.main_metric])
        if not defined.all():
            result["notes"].append(f"{int((~defined).sum())} of {resamples} bootstrap resamples drew no video with "
                                   "a valid label of some part: the interval is over the other resamples")
        result["ci95"] = {name: [float(v) for v in np.percentile(resampled[name][defined], [2.5, 97.5])]
                          for name in spec.metrics} if defined.any() else {}
    return result


def per_video_rule(spec: TrackSpec, f1_average: str) -> str:
    """How a video's own score is computed, in words."""
    text = "each video scored alone with the same metric"
    if spec.track in ("expr", "au", MTL):
        what = {"expr": "classes", "au": "AUs", MTL: "classes (AUs)"}[spec.track]
        text += (f"; its F1 averages over all {what}, those absent from the video counting 0" if f1_average == "all"
                 else f"; its F1 averages over the {what} present in that video's truth or prediction")
    if spec.track == MTL:
        text += "; a part the video has no valid label of is null, and so is its mtl"
    return text


def result_payload(spec: TrackSpec, split: str, statistics: dict, f1_average: str, resamples: int, seed: int,
                   notes: list[str]) -> dict:
    """The score JSON's keys in their order, from :func:`score_statistics`' result."""
    result = {"track": spec.track, "edition": spec.edition.name, "split": split}
    result.update({key: value for key, value in statistics.items() if key != "notes"})
    result.update({
        "main_metric": spec.main_metric,
        "f1_average": f1_average,
        "rule": spec.rule(f1_average),
        "per_video_rule": per_video_rule(spec, f1_average),
        "bootstrap": {"resamples": resamples, "seed": seed, "unit": "video", "interval": "percentile 2.5-97.5"},
        "notes": notes + statistics["notes"],
    })
    return result


# ---------------------------------------------------------------------- scoring


def score(predictions: Path, data: Path, track: str, edition: str = "abaw2", split: str = "validation",
          resamples: int = 1000, seed: int = 0, template: Path | None = None,
          f1_average: str = DEFAULT_F1_AVERAGE) -> dict:
    """Score a submission; returns the score JSON of design.md (plus provenance keys).

    ``f1_average`` is the F1 rule of EXPR and AU (``all``: the papers' sum over all classes
    / their number; ``present``: scikit-learn's default), stated in the JSON.
    """
    check_f1_average(f1_average)
    if track == MTL:
        from abawbench.multitask import score_mtl

        return score_mtl(predictions, data, edition, split, resamples, seed, template, f1_average)
    truth = load_ground_truth(data, track, split, edition)
    spec = truth.spec
    expected = expected_from_ground_truth(truth)
    submission = read_submission(predictions, spec, truth.videos if Path(predictions).is_dir() else None,
                                 expected.frames)
    if template is not None:
        limit = submission_limits(spec, expected.frames)[1]
        expected.template = read_image_location(template, spec, template=True, limit=limit)
    aligned = align(submission, expected)
    if submission.stacked is not None and list(submission.per_video) == truth.videos:
        prediction = submission.stacked  # already in ground-truth order: no copy
    else:
        # a video without rows has no valid ground-truth frame (align checked): zeros stand in
        prediction = np.concatenate([aligned[v][0] if v in aligned else np.zeros_like(values)
                                     for v, values in zip(truth.videos, truth.values)])
    stats, n_frames = video_statistics(spec, truth.stacked, prediction, truth.lengths, truth.valid)
    statistics = score_statistics(spec, truth.videos, stats, n_frames, resamples, seed, f1_average)
    notes = list(truth.notes)
    if spec.edition.note_for(spec.track):
        notes.append(spec.edition.note_for(spec.track))
    missing = [v for v in truth.videos if v not in aligned]
    if missing:
        notes.append(f"{len(missing)} video(s) without rows have no valid ground-truth frame: {', '.join(missing[:5])}")
    if submission.format != spec.edition.submission_format:
        notes.append(f"{spec.edition.title} takes {spec.edition.submission_format} submissions; "
                     f"this one is {submission.format}")
    empty = [v for v, n in zip(truth.videos, n_frames) if n == 0]
    if empty:
        notes.append(f"{len(empty)} video(s) have no valid ground-truth frame and are not scored: {', '.join(empty[:5])}")
    if spec.track == "va":
        notes += _constant_prediction_notes(stats[n_frames > 0])
    result = result_payload(spec, split, statistics, f1_average, resamples, seed, notes)
    result.update({
        "format": submission.format,
        "predictions": str(predictions),
        "ground_truth": str(truth.folder),
        "statistics": statistics_payload(spec, truth.videos, stats, n_frames),
    })
    return result


STATISTICS_LAYOUT = {
    "expr": "confusion counts [video][truth][prediction]",
    "va": "centred moments [video][valence, arousal][n, mean_pred, mean_truth, M2_pred, M2_truth, C]",
    "au": "counts [video][AU][tn, fp, fn, tp]",
    MTL: "[video][124]: VA centred moments (2×6, as the VA track's), then EXPR confusion counts (8×8, "
         "[truth][prediction]), then AU counts (12×4, [tn, fp, fn, tp]), each over the rows whose own label is valid",
}


def statistics_payload(spec: TrackSpec, videos: list[str], stats: np.ndarray, n_frames: np.ndarray) -> dict:
    """The per-video sufficient statistics of the scored videos (those with a valid frame),
    in ``per_video`` order, as JSON: ``values`` nests the ``(V, ...)`` array of
    :func:`video_statistics`, so another program (``compare``'s paired bootstrap) can
    re-weight videos without the files. Integers stay integers; floats round-trip exactly."""
    scored = n_frames > 0
    if spec.track == MTL:
        # counts are whole numbers stored as float64 beside the moments: write them as integers
        values = [row[:12].tolist() + row[12:].astype(np.int64).tolist() for row in stats[scored]]
    else:
        values = stats[scored].tolist()
    return {"videos": [v for v, s in zip(videos, scored) if s], "layout": STATISTICS_LAYOUT[spec.track],
            "shape": [int(scored.sum()), *stats.shape[1:]], "values": values}


def _constant_prediction_notes(stats: np.ndarray) -> list[str]:
    notes = []
    for dim, name in enumerate(("valence", "arousal")):
        means = stats[:, dim, 1]
        scored = stats[:, dim, 0] > 0
        constant_videos = int(((stats[:, dim, 3] == 0) & scored).sum())
        if constant_videos == int(scored.sum()) and (means[scored] == means[scored][0]).all():
            notes.append(f"the {name} prediction is constant: its CCC is 0 by the covariance formula "
                         "(Deng et al.'s helper would give NaN)")
        elif constant_videos:
            notes.append(f"the {name} prediction is constant within {constant_videos} video(s): "
                         "their per-video CCC is 0")
    return notes


def validate(predictions: Path, track: str, edition: str = "abaw2", data: Path | None = None,
             split: str = "validation", template: Path | None = None, videos: Path | None = None) -> dict:
    """Check a submission without scoring it; returns a summary of what was checked."""
    if track == MTL:
        from abawbench.multitask import validate_mtl

        return validate_mtl(predictions, edition, data, split, template, videos)
    spec = track_spec(edition, track)
    notes: list[str] = []
    if template is None and videos is None and data is not None and split == "test":
        template, videos = find_test_reference(data, spec)
    if template is None and videos is None:
        if data is None:
            raise ScoringError("give the reference to check against: --data ROOT, --template FILE or --videos FILE")
        truth = load_ground_truth(data, track, split, edition)
        spec, notes = truth.spec, list(truth.notes)
        expected = expected_from_ground_truth(truth)
    else:
        expected = expected_from_files(spec, template, videos)
    submission = read_submission(predictions, spec, list(expected.frames) if Path(predictions).is_dir() else None,
                                 expected.frames)
    aligned = align(submission, expected)
    if spec.edition.note_for(spec.track):
        notes.append(spec.edition.note_for(spec.track))
    if any(n is None for n in expected.frames.values()):
        notes.append("the reference gives no frame counts for some videos: their row counts were not checked")
    return {
        "track": spec.track, "edition": spec.edition.name, "format": submission.format,
        "n_videos": len(aligned), "n_rows": int(sum(p.sum() for _, p in aligned.values())),
        "reference": expected.source, "notes": notes, "valid": True,
    }
