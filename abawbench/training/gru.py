"""The GRU stages of the paper baseline: ``gru-teacher`` (Eq. 7) and ``gru-student``
(Eq. 9/10, the GRU teacher running online on the same windows), on the training loop of
the CNN stages.

Each step draws ``gru.batch_per_task`` windows of ``gru.length`` frames from the EXPR
part and as many from the VA part (the authors' GRU trains those two tasks on Aff-Wild2
alone; the CNN features it reads carry all three tasks). A window's input is each
frame's two 128-d head features: from the run's feature cache (``gru.features =
"cached"``: one cached augmented view drawn per window) or recomputed by the frozen CNN
student from the window's augmented images (``"online"``, the authors' code). The losses
run on the B·L frames of each part flattened, frames without a crop of their own and
padding carrying no label (method.md, "GRU stage").

Validation and prediction cover every frame: windows at ``gru.eval_stride`` with the
last one end-aligned, logits averaged where windows overlap, one prediction per frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from abawbench.data.mixing import PARTS
from abawbench.losses import PartLabels, student_loss, teacher_loss
from abawbench.models import HEADS, MultitaskGRU
from abawbench.training.device import Device, all_gather
from abawbench.training.loop import Schedule, Stage, StepResult, Validation

#: The authors' GRU trains the EXPR and VA tasks (method-from-code.md, finding 8).
GRU_TASKS = (1, 2)
GRU_PARTS = ("expr", "va")
_LABEL_KEYS = ("expr", "valence", "arousal", "expr_valid", "va_valid")


def build_gru(config: dict[str, Any]) -> MultitaskGRU:
    return MultitaskGRU(feature_width=config["model"]["head_hidden"], hidden=config["gru"]["hidden"],
                        va_bins=config["model"]["va_bins"], bin_values=config["model"]["va_bin_values"])


def gru_schedule(config: dict[str, Any], steps_per_epoch: int) -> Schedule:
    section = config["gru"]
    return Schedule(lr=section["lr"], betas=tuple(section["betas"]), weight_decay=section["weight_decay"],
                    max_epochs=section["max_epochs"], patience=section["patience"], steps_per_epoch=steps_per_epoch)


@dataclass
class GruData:
    """What both GRU stages of a run share: the index (``feature_row`` = its position),
    the cached features ``(views, N, 2, D)`` float16, the training sequence parts, the
    validation frames and the lengths each track's files must cover."""

    index: pd.DataFrame
    features: np.ndarray
    parts: dict[str, pd.DataFrame]
    validation_videos: set[str]
    validation_lengths: dict[str, dict[str, int]]
    affwild2_root: Any
    edition: str


def build_gru_data(index: pd.DataFrame, features: np.ndarray, validation_lengths: dict[str, dict[str, int]],
                   affwild2_root, edition: str, config: dict[str, Any]) -> GruData:
    from abawbench.data.sequences import build_sequence_parts

    table = index.reset_index(drop=True)
    table.attrs = dict(index.attrs)
    table["feature_row"] = np.arange(len(table), dtype=np.int64)
    # shared labels are kept in the tables: the teacher ignores them, the Eq. 9 student masks them
    parts = build_sequence_parts(table, share_annotations=True, keep_other=config["data"]["keep_other"],
                                 tracks=GRU_PARTS)
    videos = set(validation_lengths["expr"]) | set(validation_lengths["va"])
    return GruData(table, features, parts, videos, validation_lengths, affwild2_root, edition)


def rows_of_videos(index: pd.DataFrame, videos: set[str]) -> pd.DataFrame:
    """Every index row (with or without a crop) of ``videos``, ``feature_row`` kept."""
    rows = index[index["video"].astype(str).isin(videos).to_numpy()]
    rows.attrs = dict(index.attrs)
    return rows


class WindowInference:
    """Per-frame predictions of a GRU over every frame of a set of videos.

    ``frames``: index rows of the videos (``video``, ``frame``, ``has_crop``,
    ``feature_row``); ``features``: ``(N, 2, D)`` evaluation-view features addressed by
    ``feature_row``. Windows of ``length`` at ``stride`` cover every frame from each
    video's first to its last row, the last window end-aligned; each frame's logits are
    the mean over the windows that hold it.
    """

    def __init__(self, frames: pd.DataFrame, features: np.ndarray, device: Device, length: int, stride: int,
                 batch_size: int = 64) -> None:
        from abawbench.data.windows import Windows

        self.frames = frames.reset_index(drop=True)
        self.frames.attrs = dict(frames.attrs)
        self.features = features
        self.device = device
        self.windows = Windows(self.frames, length=length, stride=stride, train=False)
        self.batch_size = int(batch_size)

    @torch.no_grad()
    def logits(self, model: nn.Module) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
        """``(grid, {head: (G, K) float32})``: one row per covered frame (``video``,
        ``frame``) and its logits averaged over the windows holding it. Under DDP each
        rank runs a consecutive share of the windows and the sums of the frames they
        cover are added up."""
        from abawbench.data.windows import Stitcher

        was_training = model.training
        model.eval()
        ids_all = np.arange(len(self.windows))
        windows = np.array_split(ids_all, self.device.world_size)[self.device.rank]
        feature_rows = self.frames["feature_row"].to_numpy(np.int64)
        stitcher, widths = None, None
        for start in range(0, len(windows), self.batch_size):
            ids = windows[start:start + self.batch_size]
            rows = feature_rows[self.windows.positions(ids).source]  # (B, L)
            x = torch.from_numpy(np.asarray(self.features[rows], dtype=np.float32)).to(self.device.device)
            with self.device.autocast():
                out = model(x)
            if stitcher is None:
                widths = [out[head].shape[-1] for head in HEADS]
                stitcher = Stitcher(self.windows, sum(widths))
            stitcher.add(ids, torch.cat([out[head].float() for head in HEADS], dim=-1))
        model.train(was_training)
        if widths is None:  # no window on this rank: the widths of the model's heads
            widths = [model.heads[head].classifier.out_features for head in HEADS]
            stitcher = Stitcher(self.windows, sum(widths))
        if self.device.distributed:
            # a rank's windows are consecutive, so the frames they cover are one span of
            # the grid: each rank sends that span only (the whole grid is ~10^6 frames x
            # K logits at Aff-Wild2 scale, and every rank receives every share)
            covered = np.flatnonzero(stitcher.count)
            lo, hi = (int(covered[0]), int(covered[-1]) + 1) if covered.size else (0, 0)
            shares = all_gather((lo, stitcher.sums[lo:hi], stitcher.count[lo:hi]), self.device)
            stitcher.sums = np.zeros_like(stitcher.sums)
            stitcher.count = np.zeros_like(stitcher.count)
            for start, sums, count in shares:
                stitcher.sums[start:start + len(count)] += sums
                stitcher.count[start:start + len(count)] += count
        videos = stitcher.result()
        names = list(videos)
        grid = pd.DataFrame({
            "video": np.repeat(np.asarray(names, dtype=object), [len(videos[v].frames) for v in names]),
            "frame": np.concatenate([videos[v].frames for v in names]) if names else np.zeros(0, np.int64)})
        values = np.concatenate([videos[v].values for v in names]) if names else np.zeros((0, sum(widths)), np.float32)
        logits = dict(zip(HEADS, np.split(values, np.cumsum(widths)[:-1], axis=1)))
        return grid, logits

    def predict(self, model: MultitaskGRU) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
        """``(grid, expr (G,) int64, va (G, 2) float32)`` decoded from the averaged logits."""
        grid, logits = self.logits(model)
        decoded = model.decode({head: torch.from_numpy(value) for head, value in logits.items()})
        return grid, decoded["expr"].numpy().astype(np.int64), decoded["va"].numpy().astype(np.float32)


def stitched_predictions(inference: WindowInference, model: MultitaskGRU, lengths: dict[str, dict[str, int]]):
    """:class:`abawbench.predict.VideoPredictions` of ``inference``'s videos: every frame
    of a video's span is predicted by the windows; ``per_video`` fills the frames the
    ``lengths`` ask for beyond it."""
    from abawbench.predict import per_video

    grid, expr, va = inference.predict(model)
    return per_video(grid, expr, va, np.ones(len(grid), dtype=bool), lengths)


def predict_frames(model: MultitaskGRU, frames: pd.DataFrame, features: np.ndarray, device: Device,
                   config: dict[str, Any], lengths: dict[str, dict[str, int]]):
    """Per-video predictions of the videos of ``frames`` (index rows with ``feature_row``
    into ``features``, ``(N, 2, D)`` evaluation-view features)."""
    inference = WindowInference(frames, features, device, config["gru"]["length"], config["gru"]["eval_stride"],
                                config["gru"]["eval_batch_size"])
    return stitched_predictions(inference, model, lengths)


def predict_videos(model: MultitaskGRU, data: GruData, device: Device, config: dict[str, Any],
                   lengths: dict[str, dict[str, int]]):
    """Per-video predictions of the videos in ``lengths`` from the cached evaluation features."""
    videos = set().union(*(set(v) for v in lengths.values()))
    return predict_frames(model, rows_of_videos(data.index, videos), data.features[0], device, config, lengths)


class GruStage(Stage):
    """``gru-teacher`` (``teacher`` None) or ``gru-student`` (``teacher`` = the trained
    GRU teacher, frozen, in eval mode under ``no_grad``). ``cnn`` is the frozen CNN
    student when features are computed online."""

    def __init__(self, name: str, config: dict[str, Any], data: GruData, device: Device, seed: int,
                 teacher: MultitaskGRU | None = None, cnn: nn.Module | None = None) -> None:
        from abawbench.losses import LossSettings

        self.name = name
        self.config = config
        self.data = data
        self.device = device
        self.seed = int(seed)
        self.section = config["gru"]
        self._model = build_gru(config).to(device.device)
        self.teacher = teacher
        if teacher is not None:
            teacher.eval().requires_grad_(False)
        self.cnn = cnn
        self.normalizer = None
        if cnn is not None:
            from abawbench.data.loading import InputNormalizer
            from abawbench.training.cnn import input_normalization

            cnn.eval().requires_grad_(False)
            self.normalizer = InputNormalizer(input_normalization(config, cnn),
                                              channels_last=device.channels_last).to(device.device)
        self.settings = LossSettings(**config["loss"])
        self.shared = bool(config["method"]["shared_annotations"])
        self.codes = {name: PARTS.index(name) for name in GRU_PARTS}
        self._dataset = self._training_dataset()
        sizes = self._dataset.part_sizes
        batch = self.section["batch_per_task"]
        self.steps_per_epoch = self.section["steps_per_epoch"] or min(sizes.values()) // batch
        if self.steps_per_epoch < 1:
            from abawbench.training.config import ConfigError

            raise ConfigError(f"the GRU parts have {sizes} windows, fewer than gru.batch_per_task = {batch}: set "
                              "gru.steps_per_epoch")
        self.inference = WindowInference(rows_of_videos(data.index, data.validation_videos), data.features[0],
                                         device, self.section["length"], self.section["eval_stride"],
                                         self.section["eval_batch_size"])

    @property
    def model(self) -> MultitaskGRU:
        return self._model

    def forward_module(self) -> nn.Module:
        return self._model

    def _training_dataset(self):
        from abawbench.data.mixing import ConcatParts

        section, data = self.section, self.data
        table = ConcatParts(data.parts).table
        if self.cnn is None:
            from abawbench.data.sequences import FeatureSequenceDataset

            # view 0 (the evaluation view) is for validation; training draws one of the
            # augmented views per window, or view 0 when none were cached
            return FeatureSequenceDataset(table, data.features, length=section["length"],
                                          stride=section["train_stride"], train=True, seed=self.seed,
                                          drop_gapped=self.config["data"]["drop_gapped"])
        from abawbench.data.datasets import SequenceDataset

        return SequenceDataset(table, length=section["length"], stride=section["train_stride"],
                               size=self.config["data"]["image_size"], scale=self.config["data"]["resize_scale"],
                               train=True, seed=self.seed, augmentation=self.config["data"]["sequence_augmentation"],
                               drop_gapped=self.config["data"]["drop_gapped"])

    def train_loader(self):
        from abawbench.data.loading import make_loader
        from abawbench.data.mixing import MultiPartBatchSampler
        from abawbench.training.cnn import RankShare

        # uniform without replacement, each part walking fresh permutations of its windows:
        # the authors' GRU loader shuffles (no balancing sampler for the GRU)
        sampler = MultiPartBatchSampler(self._dataset.part_sizes, per_part=self.section["batch_per_task"],
                                        steps=self.steps_per_epoch, seed=self.seed)
        if self.device.distributed:
            sampler = RankShare(sampler, self.device.rank, self.device.world_size)
        workers = self.config["runtime"]["workers"] if self.cnn is not None else 0
        return make_loader(self._dataset, None, workers=workers, batch_sampler=sampler, seed=self.seed,
                           pin_memory=self.device.cuda, persistent_workers=workers > 0)

    def _inputs(self, batch: dict[str, Any]) -> torch.Tensor:
        """(B, L, 2, D) float features on the device."""
        if self.cnn is None:
            return batch["features"].to(self.device.device, non_blocking=True).float()
        images = batch["images"]
        b, length = images.shape[:2]
        with torch.no_grad(), self.device.autocast():
            features = self.cnn.forward_features(self.normalizer(images.flatten(0, 1)))
        return torch.stack([features[head].float() for head in HEADS], dim=1).reshape(b, length, len(HEADS), -1)

    def train_step(self, module: nn.Module, batch: dict[str, Any]) -> StepResult:
        x = self._inputs(batch)
        part = batch["window_part"].to(self.device.device)  # (B,) part code of each window
        labels = {k: batch[k].to(self.device.device, non_blocking=True) for k in _LABEL_KEYS}
        with self.device.autocast():
            logits = module(x)
            teacher_logits = None
            if self.teacher is not None:
                with torch.no_grad():
                    teacher_logits = self.teacher(x)

        def flat(outputs: dict[str, torch.Tensor]) -> dict[str, dict[str, torch.Tensor]]:
            return {name: {head: outputs[head][part == code].flatten(0, 1).float() for head in HEADS}
                    for name, code in self.codes.items()}

        part_labels = {name: PartLabels(*(labels[k][part == code].flatten(0, 1) for k in _LABEL_KEYS))
                       for name, code in self.codes.items()}
        values = self._model.va_values
        if self.teacher is None:
            loss, terms = teacher_loss(flat(logits), part_labels, GRU_TASKS, values, self.settings)
        else:
            loss, terms = student_loss(flat(logits), flat(teacher_logits), part_labels, GRU_TASKS, values,
                                       self.shared, self.settings)
        return StepResult(loss, terms, int(x.shape[0] * x.shape[1]))

    def validate(self) -> Validation:
        from abawbench.predict import score_in_memory, validation_summary

        videos = stitched_predictions(self.inference, self._model, self.data.validation_lengths)
        expr_scores = score_in_memory(self.data.affwild2_root, "expr", self.data.edition, videos.tracks["expr"])
        va_scores = score_in_memory(self.data.affwild2_root, "va", self.data.edition, videos.tracks["va"])
        return Validation(validation_summary(expr_scores, va_scores), videos)
