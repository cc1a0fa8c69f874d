"""The multi-task (MTL) challenge of ABAW3, ABAW4 and ABAW7: its files, and its score.

One file per split, header ``image,valence,arousal,expression,aus``, one row per image
``video/00001.jpg,v,a,expression,AU1,…,AU26`` (:func:`abawbench.formats.read_mtl`). The
rows are single images, not whole videos, need not be grouped by video and may repeat.
The score is

    P_MTL = P_VA + P_EXPR + P_AU

with P_VA the mean of the CCCs of valence and arousal, P_EXPR the macro F1 over 8
classes and P_AU the mean F1 over 12 AUs, each part over the rows whose *own* label is
valid (VA: neither value −5; EXPR ≠ −1; AU: no −1), pooled over the split. Facts and
sources are in the README's MTL section.

Choices where the sources are silent (each reported in the result's notes when it
applies):

* a ground-truth image listed twice is scored twice (as a row-by-row scorer does); the
  submission may give it once or as often as the reference lists it;
* a row with −5 in one VA column only has its VA dropped as a whole (most participants'
  code); a row with −1 in some but not all AUs has its AUs dropped as a whole;
* rows are matched by image name, so the submission's order is free (a note says when
  it is not the reference's).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from abawbench import metrics
from abawbench.formats import FormatError, LocatedRows, ReadLimit, read_mtl
from abawbench.tracks import (DEFAULT_F1_AVERAGE, MTL, MTL_HEADER, MTL_RELEASES, TrackSpec, detect_mtl_header,
                              split_header, track_spec)

_FRAME_SLOTS = 100_000  # frame numbers have 5 digits: (video code, frame) -> one int64 key
_MAX_FIELD_BYTES = 64


class MtlError(ValueError):
    """Raised as :class:`abawbench.scoring.ScoringError` by the callers (no MTL data, wrong edition)."""


def mtl_spec(edition: str) -> TrackSpec:
    """The MTL track of ``edition``; :class:`abawbench.scoring.ScoringError` outside ABAW3/4/7."""
    from abawbench.scoring import ScoringError

    try:
        return track_spec(edition, MTL)
    except ValueError as error:
        raise ScoringError(str(error)) from None


# ------------------------------------------------------------------ finding files


@dataclass(frozen=True)
class MtlFile:
    """An MTL file under a data root: ``kind`` "annotations" (rows of 16 fields) or
    "test list" (images only), the ``split`` its name says, the ``header`` it spells."""

    path: Path
    kind: str
    split: str | None
    header: tuple[str, ...]


def _split_from_name(name: str) -> str | None:
    name = name.lower()
    for release in MTL_RELEASES.values():
        split = release.split_of(name)
        if split is not None:
            return split
        if name == release.test_list:
            return "test"
    if "train" in name:
        return "train"
    if "valid" in name or name.startswith("val"):
        return "validation"
    if "test" in name:
        return "test"
    return None


def find_mtl_files(root: Path) -> list[MtlFile]:
    """Every ``.txt`` under ``root`` whose first line is an MTL header, told apart by the
    shape of its second line (16 fields: annotations; an image alone, or with a trailing
    comma: a test list), its split from its name (the editions' names first, else
    'train'/'valid'/'test' in it). Found by content, as the other tracks' folders are."""
    from abawbench.data.affwild2 import dataset_folders

    found = []
    for _, entries in dataset_folders(Path(root)):
        for entry in entries:
            if not entry.name.lower().endswith(".txt") or entry.name.startswith(".") or not entry.is_file():
                continue
            try:
                with open(entry.path, "rb") as stream:
                    first = stream.readline(4096).decode("utf-8", "replace")
                    second = stream.readline(4096).decode("utf-8", "replace")
            except OSError:
                continue
            header = detect_mtl_header(first)
            if header is None:
                continue
            cells = split_header(second)
            if len(cells) == 16:
                kind = "annotations"
            elif cells and "/" in cells[0] and not any(cells[1:]):
                kind = "test list"
            else:
                continue
            found.append(MtlFile(Path(entry.path), kind, _split_from_name(entry.name), header))
    return found


def _choose(root: Path, files: list[MtlFile], edition: str, what: str) -> MtlFile:
    """One file among candidates: the one named as ``edition`` names it, when several."""
    release = MTL_RELEASES[edition]
    if len(files) > 1:
        named = [f for f in files if f.path.name.lower() in {name for _, name in release.annotations}
                 | {release.test_list}]
        if len(named) == 1:
            return named[0]
        listing = "; ".join(str(f.path) for f in files)
        raise MtlError(f"{root}: several MTL {what} files ({listing}); pass --data the folder of the one to use")
    return files[0]


def locate_mtl_truth(root: Path, split: str, edition: str) -> MtlFile:
    """The MTL ground truth of ``split`` under ``root`` (see :func:`find_mtl_files`)."""
    files = find_mtl_files(root)
    matching = [f for f in files if f.kind == "annotations" and f.split == split]
    if not matching:
        release = MTL_RELEASES[edition]
        names = " or ".join(name for _, name in release.annotations)
        seen = ", ".join(sorted(f"{f.path.name} ({f.kind}, {f.split or 'split unknown'})" for f in files)) or "none"
        raise MtlError(f"{root}: no MTL ground truth for the {split} split (looked for .txt files starting with the "
                       f"header '{','.join(MTL_HEADER)}' whose rows carry 16 fields, named for their split, "
                       f"{edition.upper()}: {names}); MTL files found: {seen}")
    return _choose(root, matching, edition, f"{split} ground-truth")


def locate_mtl_test_list(root: Path, edition: str) -> MtlFile:
    """The organisers' MTL test list under ``root`` (its header and one image per row)."""
    lists = [f for f in find_mtl_files(root) if f.kind == "test list"]
    if not lists:
        raise MtlError(f"{root}: no MTL test list found (a .txt starting '{','.join(MTL_HEADER)}' followed by one "
                       f"image per row, e.g. {MTL_RELEASES[edition].test_list}); pass it with --template")
    return _choose(root, lists, edition, "test list")


# ----------------------------------------------------------------------- matching


def _keys(rows: LocatedRows, codes: dict[str, int]) -> np.ndarray:
    return rows.video_codes(codes) * _FRAME_SLOTS + rows.frames


@dataclass
class Matched:
    """Which submission row predicts each reference row: ``pairing[r]`` (−1: none, allowed
    only where the reference row needs no prediction); ``in_order`` whether the submission
    follows the reference's order; ``repeated_images``/``repeated_rows``: images the
    reference lists more than once, and its rows beyond their first."""

    pairing: np.ndarray
    in_order: bool
    repeated_images: int
    repeated_rows: int


def match_rows(submission: LocatedRows, reference: LocatedRows, required: np.ndarray, source: str) -> Matched:
    """Match a submission's rows to a reference's (ground truth or test list) by image.

    Every image of a ``required`` reference row needs a row; no row may name an image the
    reference lacks; an image appears once, or as often as the reference lists it (then
    the k-th row predicts the k-th listing). Errors name the submission's file and line
    (a missing image: the line where it would stand in the reference's order).
    """
    codes: dict[str, int] = {}
    reference_keys = _keys(reference, codes)
    known_videos = len(codes)
    keys = _keys(submission, codes)
    if keys.size == reference_keys.size and np.array_equal(keys, reference_keys):
        # row i predicts row i; the reference's repeated images are counted all the same (its note)
        counts = np.unique(reference_keys, return_counts=True)[1]
        repeated = counts > 1
        return Matched(np.arange(keys.size), True, int(repeated.sum()), int((counts[repeated] - 1).sum()))
    unique, first_listing, inverse, reference_count = np.unique(reference_keys, return_index=True,
                                                                return_inverse=True, return_counts=True)
    position = np.minimum(np.searchsorted(unique, keys), unique.size - 1)
    unknown = np.flatnonzero(unique[position] != keys)
    if unknown.size:
        row = int(unknown[0])
        if keys[row] // _FRAME_SLOTS >= known_videos:
            raise FormatError(submission.path, submission.line(row), f"only videos of the reference ({source})",
                              f"video {submission.video_of(row)!r}, which it does not contain")
        raise FormatError(submission.path, submission.line(row), f"only images the reference lists ({source})",
                          f"{submission.location(row)!r}, which it does not list")
    count = np.bincount(position, minlength=unique.size)
    order = np.argsort(position, kind="stable")  # submission rows by image, then file order
    group_start = np.concatenate(([0], np.cumsum(count)[:-1]))
    rank = np.empty(keys.size, dtype=np.int64)
    rank[order] = np.arange(keys.size) - group_start[position[order]]
    allowed = reference_count[position]
    extra = np.flatnonzero(rank >= allowed)
    if extra.size:
        row = int(extra[0])
        first = int(order[group_start[position[row]]])
        times = int(allowed[row])
        expected = "no duplicate rows" if times == 1 else \
            f"{submission.location(row)!r} at most {times} times, as the reference lists it"
        raise FormatError(submission.path, submission.line(row), expected,
                          f"{submission.location(row)!r} again (line {submission.line(first)})")
    uneven = np.flatnonzero((count > 1) & (count < reference_count))
    if uneven.size:
        image = int(uneven[0])
        row = int(order[group_start[image] + count[image] - 1])
        raise FormatError(submission.path, submission.line(row),
                          f"{submission.location(row)!r} once or {int(reference_count[image])} times, as often as "
                          f"the reference lists it", f"{int(count[image])} times")
    reference_rank = np.empty(reference_keys.size, dtype=np.int64)
    by_image = np.argsort(inverse, kind="stable")
    reference_start = np.concatenate(([0], np.cumsum(reference_count)[:-1]))
    reference_rank[by_image] = np.arange(reference_keys.size) - reference_start[inverse[by_image]]
    predicted = count[inverse] > 0
    missing = np.flatnonzero(required & ~predicted)
    if missing.size:
        row = int(missing[0])
        # where it would stand: after the submission's rows of images listed before it
        line = int(np.searchsorted(np.sort(first_listing[position]), first_listing[inverse[row]])) + 2
        images = np.unique(inverse[missing]).size
        raise FormatError(submission.path, line, f"a row for {reference.location(row)!r} (line {reference.line(row)} "
                          f"of {source})", f"none ({images} such image(s) have no row)")
    pick = group_start[inverse] + np.where(count[inverse] > 1, reference_rank, 0)
    pairing = np.where(predicted, order[np.minimum(pick, keys.size - 1)], -1)
    # in the reference's order: the rows of the images' first listings come in increasing order
    firsts = pairing[predicted & (reference_rank == 0)]
    repeated = reference_count > 1
    return Matched(pairing, bool((np.diff(firsts) > 0).all()), int(repeated.sum()),
                   int((reference_count[repeated] - 1).sum()))


# ----------------------------------------------------------------------- scoring


def label_masks(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which rows of ground truth ``(n, 15)`` carry a valid label of each part: VA (neither
    value −5), EXPR (≠ −1), AU (no −1 among the 12)."""
    va = (values[:, 0] != -5) & (values[:, 1] != -5)
    expr = values[:, 2] != -1
    au = (values[:, 3:] != -1).all(axis=1)
    return va, expr, au


def truth_notes(rows: LocatedRows) -> list[str]:
    """What the ground truth holds that the sources leave open, in words."""
    values = rows.values
    notes = []
    one_va = int(((values[:, 0] == -5) != (values[:, 1] == -5)).sum())
    if one_va:
        notes.append(f"{one_va} ground-truth row(s) have -5 in one VA column only: their VA is dropped as a whole "
                     "(HSE, CNU_Sclab, DMACS code); AIM3-RUC's keeps the other column")
    missing_aus = (values[:, 3:] == -1).sum(axis=1)
    partial = int(((missing_aus > 0) & (missing_aus < 12)).sum())
    if partial:
        notes.append(f"{partial} ground-truth row(s) have -1 in some AUs only: their AUs are dropped as a whole")
    return notes


def _part_specs(spec: TrackSpec) -> tuple[TrackSpec, TrackSpec, TrackSpec]:
    return (track_spec(spec.edition, "va"), track_spec(spec.edition, "expr"), track_spec(spec.edition, "au"))


def mtl_video_statistics(spec: TrackSpec, truth: np.ndarray, prediction: np.ndarray,
                         video: np.ndarray, n_videos: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-video MTL statistics ``(V, 124)`` (:func:`abawbench.metrics.split_mtl_stats`) and
    rows with any valid label per video ``(V,)``, from aligned ``(n, 15)`` arrays and each
    row's video index ``(n,)``. Each part keeps only the rows whose own label is valid."""
    from abawbench.scoring import video_statistics

    order = np.argsort(video, kind="stable")  # group the rows of a video
    truth, prediction = truth[order], prediction[order]
    lengths = np.bincount(video, minlength=n_videos)
    va_spec, expr_spec, au_spec = _part_specs(spec)
    va_valid, expr_valid, au_valid = label_masks(truth)
    va, _ = video_statistics(va_spec, truth[:, :2], prediction[:, :2], lengths, va_valid)
    expr, _ = video_statistics(expr_spec, truth[:, 2:3].astype(np.int64), prediction[:, 2:3].astype(np.int64),
                               lengths, expr_valid)
    au, _ = video_statistics(au_spec, truth[:, 3:].astype(np.int8), prediction[:, 3:].astype(np.int8),
                             lengths, au_valid)
    labelled = np.bincount(video[order], weights=va_valid | expr_valid | au_valid, minlength=n_videos)
    return metrics.join_mtl_stats(va, expr, au), labelled.astype(np.int64)


def _submission_limit(reference: LocatedRows) -> ReadLimit:
    """A submission holds at most one row per reference row: bound its size by that."""
    longest = max((len(v.encode("utf-8")) for v in reference.run_videos), default=0) + len("/00001.jpg,")
    per_row = longest + 15 * _MAX_FIELD_BYTES
    return ReadLimit(64 * 1024 + len(reference) * per_row,
                     f"the reference has {len(reference):,} rows of at most {per_row} bytes")


def _read_submission(predictions: Path, reference: LocatedRows) -> LocatedRows:
    predictions = Path(predictions)
    if predictions.is_dir():
        raise FormatError(predictions, None, "one MTL file (header 'image,valence,arousal,expression,aus')",
                          "a folder")
    return read_mtl(predictions, "prediction", _submission_limit(reference))


def _header_notes(submission: LocatedRows) -> list[str]:
    if submission.header == MTL_HEADER:
        return []
    return [f"the submission's header names all 16 fields; the organisers' test lists and participants' files "
            f"use {','.join(MTL_HEADER)!r}"]


def _order_notes(matched: Matched, what: str) -> list[str]:
    notes = []
    if not matched.in_order:
        notes.append(f"the submission's rows are not in the {what}'s order: matched by image name (whether the "
                     "organisers require the order is not known)")
    if matched.repeated_images:
        notes.append(f"the {what} lists {matched.repeated_images} image(s) more than once ({matched.repeated_rows} "
                     "extra row(s)); each listing is a row of its own")
    return notes


def score_mtl(predictions: Path, data: Path, edition: str, split: str = "validation", resamples: int = 1000,
              seed: int = 0, template: Path | None = None, f1_average: str = DEFAULT_F1_AVERAGE) -> dict:
    """Score an MTL submission against the ground truth found under ``data``; returns the
    score JSON (``metrics``: mtl, va_mean, valence, arousal, expr_f1, au_f1)."""
    from abawbench.scoring import ScoringError, result_payload, score_statistics, statistics_payload

    spec = mtl_spec(edition)
    try:
        found = locate_mtl_truth(Path(data), split, spec.edition.name)
    except MtlError as error:
        raise ScoringError(str(error)) from None
    truth = read_mtl(found.path, "truth")
    va_valid, expr_valid, au_valid = label_masks(truth.values)
    for name, valid in (("VA", va_valid), ("EXPR", expr_valid), ("AU", au_valid)):
        if not valid.any():
            raise ScoringError(f"{found.path}: no row has a valid {name} label: P_MTL needs all three parts")
    labelled = va_valid | expr_valid | au_valid
    submission = _read_submission(predictions, truth)
    notes = truth_notes(truth) + _header_notes(submission)
    if found.header != MTL_HEADER:
        notes.append(f"the ground truth's header is {','.join(found.header)!r}")
    if template is not None:
        test_list = read_mtl(template, "template", _submission_limit(truth))
        notes += _order_notes(match_rows(submission, test_list, np.ones(len(test_list), dtype=bool),
                                         f"the test list {template}"), "test list")
    matched = match_rows(submission, truth, labelled, f"the ground truth {found.path}")
    notes += _order_notes(matched, "ground truth")
    prediction = np.zeros_like(truth.values)
    has_row = matched.pairing >= 0
    prediction[has_row] = submission.values[matched.pairing[has_row]]
    codes: dict[str, int] = {}
    video = truth.video_codes(codes)
    videos = list(codes)
    stats, n_frames = mtl_video_statistics(spec, truth.values, prediction, video, len(videos))
    statistics = score_statistics(spec, videos, stats, n_frames, resamples, seed, f1_average)
    if spec.edition.note_for(MTL):
        notes.append(spec.edition.note_for(MTL))
    result = result_payload(spec, split, statistics, f1_average, resamples, seed, notes)
    result.update({
        "format": "mtl",
        "predictions": str(predictions),
        "ground_truth": str(found.path),
        "parts": {"va": {"rows": int(va_valid.sum())}, "expr": {"rows": int(expr_valid.sum())},
                  "au": {"rows": int(au_valid.sum())}, "rows": len(truth), "rows_with_a_label": int(labelled.sum())},
        "statistics": statistics_payload(spec, videos, stats, n_frames),
    })
    return result


def validate_mtl(predictions: Path, edition: str, data: Path | None = None, split: str = "validation",
                 template: Path | None = None, videos: Path | None = None) -> dict:
    """Check an MTL submission against the organisers' test list (``template``, or found
    under ``data`` for ``split="test"``) or a split's ground truth under ``data``."""
    from abawbench.scoring import ScoringError

    spec = mtl_spec(edition)
    if videos is not None:
        raise ScoringError("an MTL submission is checked against the test list of images (--template FILE, or "
                           "--data ROOT --split test), not a list of videos")
    try:
        if template is None and data is not None and split == "test":
            template = locate_mtl_test_list(Path(data), spec.edition.name).path
        if template is not None:
            reference = read_mtl(template, "template")
            required = np.ones(len(reference), dtype=bool)
            source, what = f"template {template}", "test list"
            notes = ["the test list's rows end with a comma ('video/00001.jpg,')"] if reference.empty_fields else []
        elif data is not None:
            found = locate_mtl_truth(Path(data), split, spec.edition.name)
            reference = read_mtl(found.path, "truth")
            required = np.logical_or.reduce(label_masks(reference.values))
            source, what = f"the ground truth in {found.path}", "ground truth"
            notes = truth_notes(reference)
        else:
            raise ScoringError("give the reference to check against: --data ROOT, or --template FILE (the test list)")
    except MtlError as error:
        raise ScoringError(str(error)) from None
    submission = _read_submission(predictions, reference)
    matched = match_rows(submission, reference, required, source)
    notes += _header_notes(submission) + _order_notes(matched, what)
    return {"track": MTL, "edition": spec.edition.name, "format": "mtl",
            "n_videos": len(set(submission.run_videos)), "n_rows": len(submission),
            "reference": source, "notes": notes, "valid": True}

