"""Predictions for every frame of a split, in the edition's submission format.

The model predicts each frame that has a face crop; every other frame of a video (no
crop, an unreadable crop, annotation lines past the last crop) takes the prediction of
the nearest predicted frame of the same video (the earlier one on a tie). The result is
written, for each track, as

* a per-video folder ``<out>/<track>/<video>.txt`` (ABAW1-3), or
* one ``image_location`` file ``<out>/<track>.txt`` (ABAW4 on), whose rows follow the
  organisers' template when one is found under the data root,

checked with the project's own validator against the split's reference, and only then
moved into place (the whole ``<out>`` folder at once), with ``<out>/prediction.json``
saying what it holds.

Validation inside training scores the same per-video arrays with the scorer's own
functions (:func:`score_in_memory`), so its numbers are the ones ``abawbench score``
gives on the written files.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from abawbench import atomic, scoring
from abawbench.formats import write_image_location, write_per_video
from abawbench.tracks import PER_VIDEO, get_edition, track_spec

if TYPE_CHECKING:
    import pandas as pd

TRACKS = ("expr", "va")
MARKER = "prediction.json"


class PredictionError(ValueError):
    """Predictions cannot be made or written as asked (an error in the user's input)."""


def fill_nearest(frames: np.ndarray, values: np.ndarray, n_frames: int) -> np.ndarray:
    """Values for frames 1..``n_frames`` from the predicted ``frames``.

    Args:
        frames: (M,) 1-based frame numbers that have a prediction, strictly increasing,
            M >= 1 (frames beyond ``n_frames`` are ignored).
        values: (M, K) their predictions.
    Returns:
        (n_frames, K): row f - 1 is the prediction of the predicted frame nearest to f
        (the earlier one when two are equally near).
    """
    frames = np.asarray(frames, dtype=np.int64)
    values = np.asarray(values)
    if frames.size == 0:
        raise ValueError("no predicted frame to fill from")
    targets = np.arange(1, n_frames + 1, dtype=np.int64)
    after = np.searchsorted(frames, targets, side="left").clip(0, len(frames) - 1)
    before = (after - 1).clip(0, None)
    # the frame at or after the target vs the one before it: the nearer wins, ties go back
    use_before = np.abs(targets - frames[before]) <= np.abs(frames[after] - targets)
    return values[np.where(use_before, before, after)]


@dataclass
class VideoPredictions:
    """Per track ``{video: (n_frames, n_values) array}``, plus how many frames were
    filled from a neighbour and the notes a user should see."""

    tracks: dict[str, dict[str, np.ndarray]]
    filled: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def per_video(frames: pd.DataFrame, expr: np.ndarray, va: np.ndarray, predicted: np.ndarray,
              lengths: Mapping[str, Mapping[str, int]]) -> VideoPredictions:
    """Per-frame predictions of every video of every track, gaps filled.

    Args:
        frames: the predicted table (``video``, ``frame`` 1-based), aligned with
            ``expr`` (N,), ``va`` (N, 2) and ``predicted`` (N,) bool.
        lengths: ``{track: {video: n_frames}}``, the frames each track's file must cover.
    """
    predicted = np.asarray(predicted, dtype=bool)
    videos = frames["video"].astype(str).to_numpy()[predicted]
    frame_numbers = frames["frame"].to_numpy(np.int64)[predicted]
    expr, va = np.asarray(expr)[predicted], np.asarray(va)[predicted]
    order = np.lexsort((frame_numbers, videos))
    videos, frame_numbers, expr, va = videos[order], frame_numbers[order], expr[order], va[order]
    names, starts = np.unique(videos, return_index=True)
    ends = np.append(starts[1:], len(videos))
    span = {str(v): (s, e) for v, s, e in zip(names, starts, ends)}
    result = VideoPredictions({track: {} for track in lengths})
    blind: list[str] = []
    for track, wanted in lengths.items():
        values_all = expr[:, None] if track == "expr" else va
        width = values_all.shape[1]
        filled = 0
        for video, n_frames in wanted.items():
            if video not in span:
                # no crop of this video could be read: a constant guess keeps the file valid
                result.tracks[track][video] = np.zeros((n_frames, width), dtype=values_all.dtype)
                filled += n_frames
                blind.append(video)
                continue
            s, e = span[video]
            result.tracks[track][video] = fill_nearest(frame_numbers[s:e], values_all[s:e], n_frames)
            filled += n_frames - int((frame_numbers[s:e] <= n_frames).sum())
        result.filled[track] = filled
    if blind:
        unique = sorted(set(blind))
        result.notes.append(f"{len(unique)} video(s) have no readable crop and get a constant prediction "
                            f"(class 0, valence = arousal = 0): {', '.join(unique[:5])}")
    return result


# ------------------------------------------------------------------ split references


def validation_lengths(root: Path, edition: str, tracks: tuple[str, ...] = TRACKS) -> dict[str, dict[str, int]]:
    """``{track: {video: annotation lines}}`` of the Aff-Wild2 validation split."""
    lengths = {}
    for track in tracks:
        truth = scoring.load_ground_truth(root, track, "validation", edition)
        lengths[track] = {video: int(n) for video, n in zip(truth.videos, truth.lengths)}
    return lengths


def test_references(root: Path, edition: str, index: pd.DataFrame, tracks: tuple[str, ...] = TRACKS
                    ) -> tuple[dict[str, dict[str, int]], dict[str, Path | None], list[str]]:
    """Frames to predict on the test split, from the organisers' files under ``root``.

    Returns ``(lengths, templates, notes)``: a template's rows give videos and frames; a
    test video list gives videos (and frame counts when it has them, else the video's
    last crop).
    """
    lengths: dict[str, dict[str, int]] = {}
    templates: dict[str, Path | None] = {}
    notes: list[str] = []
    last_crop = index[index["has_crop"]].groupby("video", observed=True)["frame"].max()
    for track in tracks:
        spec = track_spec(edition, track)
        try:
            template, video_list = scoring.find_test_reference(root, spec)
        except scoring.ScoringError as error:
            raise PredictionError(str(error)) from None
        expected = scoring.expected_from_files(spec, template, video_list if template is None else None)
        wanted = {}
        for video, n in expected.frames.items():
            if n is None:
                if video not in last_crop.index:
                    raise PredictionError(f"{video_list}: test video {video!r} has no frame count and no crops "
                                          f"under {root}")
                n = int(last_crop[video])
            wanted[video] = int(n)
        lengths[track] = wanted
        templates[track] = template
        notes.append(f"{track.upper()} test reference: {template or video_list}")
    return lengths, templates, notes


def frames_of_videos(index: pd.DataFrame, videos: set[str]) -> pd.DataFrame:
    """The rows of ``videos`` that have a crop, in index order."""
    keep = index["has_crop"].to_numpy(bool) & index["video"].astype(str).isin(videos).to_numpy()
    frames = index[keep]
    frames.attrs = dict(index.attrs)
    return frames


# ----------------------------------------------------------------- scoring in memory


def score_in_memory(root: Path, track: str, edition: str, videos: Mapping[str, np.ndarray],
                    split: str = "validation") -> dict[str, float]:
    """The pooled metrics ``abawbench score`` gives for these per-video predictions,
    computed with the scorer's own functions without writing files."""
    truth = scoring.load_ground_truth(root, track, split, edition)
    prediction = np.concatenate([np.asarray(videos[v], dtype=truth.stacked.dtype).reshape(n, -1)
                                 for v, n in zip(truth.videos, truth.lengths)])
    stats, n_frames = scoring.video_statistics(truth.spec, truth.stacked, prediction, truth.lengths, truth.valid)
    return scoring.score_statistics(truth.spec, truth.videos, stats, n_frames, resamples=0)["metrics"]


def validation_summary(expr_metrics: Mapping[str, float], va_metrics: Mapping[str, float]) -> dict[str, float]:
    """The run record's validation block: EXPR criterion (0.67·F1 + 0.33·Acc, whatever
    the edition's official metric), F1, accuracy, CCC(V), CCC(A), their mean, and the
    early-stopping score criterion + CCC(V) + CCC(A)."""
    from abawbench.metrics import expr_criterion

    f1, acc = float(expr_metrics["f1"]), float(expr_metrics["acc"])
    criterion = float(expr_metrics.get("criterion", expr_criterion(f1, acc)))
    valence, arousal = float(va_metrics["valence"]), float(va_metrics["arousal"])
    return {"expr_criterion": criterion, "expr_f1": f1, "expr_acc": acc, "valence": valence, "arousal": arousal,
            "va_mean": (valence + arousal) / 2, "score": criterion + valence + arousal}


# -------------------------------------------------------------------------- writing


def write_predictions(out: Path, predictions: VideoPredictions, edition: str, data_root: Path, split: str,
                      templates: Mapping[str, Path | None] | None = None, provenance: dict | None = None) -> dict:
    """Write ``predictions`` under ``out`` in ``edition``'s format, validate every track
    with :func:`abawbench.scoring.validate` against the split's reference, then move the
    folder into place. Returns the ``prediction.json`` record.

    An existing ``out`` is replaced only when it is an earlier prediction folder (it
    holds ``prediction.json``)."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / MARKER).is_file())):
        raise PredictionError(f"{out}: exists and is not an abawbench prediction folder; refusing to replace it")
    ed = get_edition(edition)
    templates = templates or {}
    record: dict[str, Any] = {"kind": "abawbench-predictions", "split": split, "edition": ed.name,
                              "format": ed.submission_format, "tracks": {}, "notes": list(predictions.notes),
                              **(provenance or {})}
    with atomic.staged_folder(out) as staging:
        for track, videos in predictions.tracks.items():
            spec = track_spec(ed, track)
            values = {v: (a[:, 0].astype(np.int64) if track == "expr" else a.astype(np.float64))
                      for v, a in videos.items()}
            template = templates.get(track)
            if ed.submission_format == PER_VIDEO:
                path = staging / track
                write_per_video(path, spec, values)
            else:
                path = staging / f"{track}.txt"
                write_image_location(path, spec, _located(values, spec, template))
            reference = scoring.validate(path, track, ed.name, data=data_root, split=split, template=template)
            record["tracks"][track] = {"path": path.name, "videos": len(values),
                                       "frames": int(sum(len(a) for a in values.values())),
                                       "filled_frames": int(predictions.filled.get(track, 0)),
                                       "checked_against": reference["reference"]}
        atomic.write_json(staging / MARKER, record)
    return record


def _located(values: Mapping[str, np.ndarray], spec, template: Path | None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{video: (frames, values)}`` for an image_location file: the template's rows when
    there is one, else every frame of every video."""
    if template is None:
        return {v: (np.arange(1, len(a) + 1), a) for v, a in values.items()}
    from abawbench.formats import read_image_location

    rows = read_image_location(template, spec, template=True)
    names, starts, ends = rows.runs()
    out = {}
    for video, start, end in zip(names, starts, ends):
        frames = rows.frames[start:end]
        array = values[video]
        out[video] = (frames, array[np.minimum(frames, len(array)) - 1])
    return out


def read_marker(folder: Path) -> dict | None:
    path = Path(folder) / MARKER
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


# ------------------------------------------------------------------- from a run folder


def predict_run(run_path: Path, data: Path, split: str, out: Path, edition: str | None = None,
                stage: str | None = None, device: str = "auto") -> dict:
    """``abawbench predict``: the run's (final or ``stage``'s) best weights predict
    every frame of ``split`` under ``data``; written to ``out`` as :func:`write_predictions`
    does. Returns the ``prediction.json`` record."""
    import copy

    import torch

    from abawbench.data.loading import InputNormalizer
    from abawbench.runs import RunError, RunFolder
    from abawbench.training import data as data_module
    from abawbench.training import device as device_module
    from abawbench.training.cnn import build_model, input_normalization
    from abawbench.training.inference import FrameInference

    run = RunFolder(run_path, writer=False)
    record = run.read()
    config = copy.deepcopy(record["config"])
    stage = stage or record.get("final_stage")
    if stage == "features":
        stage = "cnn-student"  # a run stopped at its features predicts with its student
    if stage not in ("cnn-teacher", "cnn-student", "gru-teacher", "gru-student"):
        raise RunError(f"{run_path}: no stage {stage!r}; expected cnn-teacher, cnn-student, gru-teacher or "
                       "gru-student")
    checkpoint = run.load_checkpoint(stage, "best")
    if checkpoint is None:
        raise RunError(f"{run_path}: stage {stage} has no best checkpoint yet ({run.checkpoint_path(stage, 'best')})")
    if edition is not None:
        config["data"]["edition"] = edition
    elif record.get("data", {}).get("edition"):
        config["data"]["edition"] = record["data"]["edition"]
    runtime = dict(config["runtime"], device=device, amp="auto", channels_last="auto", deterministic="auto")
    where = device_module.setup(device_module.resolve_runtime(runtime))
    sources = data_module.resolve_sources(data, config)
    index = data_module.affwild2_index(sources)
    if split == "validation":
        lengths, templates, notes = validation_lengths(sources.affwild2, sources.edition), {}, []
    else:
        lengths, templates, notes = test_references(sources.affwild2, sources.edition, index)
    cnn_checkpoint = checkpoint if stage.startswith("cnn-") else run.load_checkpoint("cnn-student", "best")
    if cnn_checkpoint is None:
        raise RunError(f"{run_path}: the GRU reads the CNN student's features, whose weights are missing "
                       f"({run.checkpoint_path('cnn-student', 'best')})")
    model, _ = build_model(dict(config, model=dict(config["model"], pretrained="")))
    model.load_state_dict(cnn_checkpoint["model"])
    memory = torch.channels_last if where.channels_last else torch.preserve_format
    model = model.to(where.device, memory_format=memory).eval()
    normalizer = InputNormalizer(input_normalization(config, model), channels_last=where.channels_last
                                 ).to(where.device)
    wanted = set().union(*(set(v) for v in lengths.values()))
    if stage.startswith("gru-"):
        videos = _predict_with_gru(model, normalizer, checkpoint, config, index, wanted, where, lengths)
    else:
        frames = frames_of_videos(index, wanted)
        inference = FrameInference(frames, where, size=config["data"]["image_size"],
                                   scale=config["data"]["resize_scale"], batch_size=config["cnn"]["eval_batch_size"],
                                   workers=config["runtime"]["workers"])
        predicted = inference.predict(model, normalizer)
        videos = per_video(inference.frames, predicted.expr, predicted.va, predicted.predicted, lengths)
    videos.notes += notes
    return write_predictions(out, videos, sources.edition, sources.affwild2, split, templates,
                             provenance={"run": str(Path(run_path).resolve()), "stage": stage,
                                         "checkpoint_epoch": checkpoint.get("epoch"),
                                         "data": str(sources.affwild2)})


def _predict_with_gru(cnn, normalizer, checkpoint: dict, config: dict, index, videos: set[str], device,
                      lengths: Mapping[str, Mapping[str, int]]) -> VideoPredictions:
    """The GRU stage's predictions for ``videos``: the CNN student's evaluation-view
    features of their frames (computed here, so any data root works), then windows
    stitched to one prediction per frame."""
    from abawbench.training.features import frame_features
    from abawbench.training.gru import build_gru, predict_frames, rows_of_videos

    frames = rows_of_videos(index, videos).reset_index(drop=True)
    frames.attrs = dict(index.attrs)
    features = frame_features(cnn, normalizer, frames, device, size=config["data"]["image_size"],
                              scale=config["data"]["resize_scale"], batch_size=config["gru"]["feature_batch_size"],
                              workers=config["runtime"]["workers"])
    frames["feature_row"] = np.arange(len(frames), dtype=np.int64)
    gru = build_gru(config)
    gru.load_state_dict(checkpoint["model"])
    return predict_frames(gru.to(device.device).eval(), frames, features, device, config, lengths)
