"""The CNN stages of the paper baseline: ``cnn-teacher`` (Eq. 7) and ``cnn-student``
(Eq. 9, or Eq. 10 with shared annotations, the teacher running online in inference mode
on the same augmented batch).

Each training step draws ``batch_per_task`` samples from every part in use
(:class:`~abawbench.data.mixing.MultiPartBatchSampler`), one loader delivering them
uint8; the batch is split by each item's ``part`` (an unreadable image is dropped from
its batch, so positions would misroute samples), moved to the device without blocking
and normalised there; the model runs one forward pass per part (BatchNorm statistics
per part, as the authors' code) or one joint pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from abawbench.data.loading import NORMALIZATIONS, FrameDataset, InputNormalizer, Normalization, make_loader
from abawbench.data.mixing import PARTS, ConcatParts, MultiPartBatchSampler
from abawbench.losses import LossSettings, PartLabels, student_loss, teacher_loss
from abawbench.models import MultitaskCNN, load_backbone_weights
from abawbench.training.device import Device
from abawbench.training.inference import FrameInference
from abawbench.training.loop import Schedule, Stage, StepResult, Validation

_LABEL_KEYS = ("expr", "valence", "arousal", "expr_valid", "va_valid")


def build_model(config: dict[str, Any]) -> tuple[MultitaskCNN, dict | None]:
    """The multitask CNN of ``config["model"]`` (random init, then the local weights file
    when ``pretrained`` is set); returns ``(model, weights report or None)``."""
    section = config["model"]
    model = MultitaskCNN(section["backbone"], section["backbone_args"], section["head_hidden"],
                         section["head_dropout"], section["va_bins"], section["va_bin_values"])
    report = None
    if section["pretrained"]:
        report = load_backbone_weights(model.backbone, section["pretrained"], strict=section["pretrained_strict"])
    return model, report


def input_normalization(config: dict[str, Any], model: MultitaskCNN) -> Normalization:
    """The normalisation of ``model.normalization``; ``timm`` takes the backbone's own
    mean/std (``timm.data.resolve_data_config``)."""
    name = config["model"]["normalization"]
    if name != "timm":
        return NORMALIZATIONS[name]
    import timm.data

    resolved = timm.data.resolve_data_config(model=model.backbone)
    return Normalization(mean=tuple(float(m) for m in resolved["mean"]), std=tuple(float(s) for s in resolved["std"]))


def loss_settings(config: dict[str, Any]) -> LossSettings:
    return LossSettings(**config["loss"])


def schedule(config: dict[str, Any], steps_per_epoch: int) -> Schedule:
    section = config["cnn"]
    return Schedule(lr=section["lr"], betas=tuple(section["betas"]), weight_decay=section["weight_decay"],
                    max_epochs=section["max_epochs"], patience=section["patience"], steps_per_epoch=steps_per_epoch)


class PartwiseForward(nn.Module):
    """The model over a batch laid out part after part: one forward pass per part
    (``per_part``) or one for the whole batch, logits concatenated back in batch order.

    One module call per step, so DistributedDataParallel can wrap it.
    """

    def __init__(self, model: nn.Module, per_part: bool = True) -> None:
        super().__init__()
        self.model = model
        self.per_part = per_part

    def forward(self, images: torch.Tensor, sizes: list[int]) -> dict[str, torch.Tensor]:
        # a training-mode BatchNorm cannot normalise a single sample: such a step (a part
        # left with one readable image) runs jointly
        if not self.per_part or any(0 < n < 2 for n in sizes):
            return self.model(images)
        chunks = [self.model(chunk) for chunk in images.split(sizes) if len(chunk)]
        return {name: torch.cat([c[name] for c in chunks]) for name in chunks[0]}


@dataclass
class TrainingData:
    """What every CNN stage of a run shares: the parts in use, their balancing
    sampler's layout and the validation frames."""

    parts: dict[str, pd.DataFrame]
    table: pd.DataFrame
    steps_per_epoch: int
    validation_frames: pd.DataFrame
    validation_lengths: dict[str, dict[str, int]]
    affwild2_root: Any
    edition: str


class CnnStage(Stage):
    """``cnn-teacher`` (``teacher`` None) or ``cnn-student`` (``teacher`` = the trained
    teacher, frozen, evaluated in eval mode under ``no_grad``)."""

    def __init__(self, name: str, config: dict[str, Any], data: TrainingData, device: Device, seed: int,
                 inference: FrameInference, teacher: MultitaskCNN | None = None) -> None:
        self.name = name
        self.config = config
        self.data = data
        self.device = device
        self.seed = int(seed)
        self.inference = inference
        model, self.weights_report = build_model(config)
        memory = torch.channels_last if device.channels_last else torch.preserve_format
        self._model = model.to(device.device, memory_format=memory)
        self.normalizer = InputNormalizer(input_normalization(config, model), channels_last=device.channels_last
                                          ).to(device.device)
        self.teacher = teacher
        if teacher is not None:
            teacher.eval().requires_grad_(False)
        self.settings = loss_settings(config)
        self.tasks = config["method"]["tasks"]
        self.shared = bool(config["method"]["shared_annotations"])
        self.codes = {name: PARTS.index(name) for name in data.parts}
        self._forward = PartwiseForward(self._model, config["cnn"]["batchnorm"] == "per-part")
        self._compiled = torch.compile(self._forward) if device.compile else self._forward

    @property
    def model(self) -> MultitaskCNN:
        return self._model

    def forward_module(self) -> nn.Module:
        return self._compiled

    def train_loader(self):
        section = self.config["cnn"]
        sampler = MultiPartBatchSampler.from_parts(
            self.data.parts, per_part=section["batch_per_task"], steps=self.data.steps_per_epoch, seed=self.seed,
            balanced=self.config["data"]["balanced"],
            value_range=(-1.0, 1.0) if self.config["data"]["va_histogram_range"] == "fixed" else None)
        if self.device.distributed:
            sampler = RankShare(sampler, self.device.rank, self.device.world_size)
        dataset = FrameDataset(self.data.table, train=True, seed=self.seed, size=self.config["data"]["image_size"],
                               scale=self.config["data"]["resize_scale"])
        return make_loader(dataset, None, workers=self.config["runtime"]["workers"], batch_sampler=sampler,
                           seed=self.seed, pin_memory=self.device.cuda,
                           persistent_workers=self.config["runtime"]["workers"] > 0)

    def _split(self, batch: dict[str, Any]) -> tuple[dict[str, Any], list[int]]:
        """The batch reordered part after part (a no-op unless items were dropped out of
        order) and each part's size, all on the host: no device round trip."""
        part = batch["part"]
        order = None
        if len(part) > 1 and bool((part[1:] < part[:-1]).any()):
            order = torch.argsort(part, stable=True)
        counts = torch.bincount(part.clamp(min=0), minlength=len(PARTS)).tolist()
        sizes = [counts[self.codes[name]] for name in self.data.parts]
        if order is not None:
            batch = {k: (v[order] if isinstance(v, torch.Tensor) and v.ndim and len(v) == len(part) else v)
                     for k, v in batch.items()}
        return batch, sizes

    def prepare(self, batch: dict[str, Any]) -> tuple[torch.Tensor, list[int], dict[str, torch.Tensor]]:
        """A loaded batch on the device: ``(images, part sizes, labels)``. The uint8
        images cross to the device (non-blocking from pinned memory) and are normalised
        there; labels follow without blocking."""
        batch, sizes = self._split(batch)
        device = self.device.device
        images = self.normalizer(batch["image"])
        if not self.device.cuda:
            return images, sizes, {k: batch[k] for k in _LABEL_KEYS}
        # The labels arrive as small unpinned tensors (workers send them inline); a
        # pageable copy would make the host wait for the GPU. One packed, pinned copy
        # instead (the class ids and masks are exact in float32).
        packed = torch.stack([batch[k].to(torch.float32) for k in _LABEL_KEYS]).pin_memory()
        packed = packed.to(device, non_blocking=True)
        labels = {"expr": packed[0].long(), "valence": packed[1], "arousal": packed[2],
                  "expr_valid": packed[3].bool(), "va_valid": packed[4].bool()}
        return images, sizes, labels

    def compute(self, module: nn.Module, images: torch.Tensor, sizes: list[int],
                labels: dict[str, torch.Tensor]) -> StepResult:
        """The stage's loss on a prepared batch (Eq. 7 for the teacher, Eq. 9/10 for the
        student, whose teacher runs on the same images under ``no_grad``)."""
        with self.device.autocast():
            logits = module(images, sizes)
            teacher_logits = None
            if self.teacher is not None:
                with torch.no_grad():
                    teacher_logits = self.teacher(images)
        names = list(self.data.parts)
        outputs = _by_part(logits, names, sizes)
        part_labels = {name: PartLabels(*chunk) for name, chunk in
                       zip(names, zip(*(labels[k].split(sizes) for k in _LABEL_KEYS)))}
        values = self._model.va_values
        if self.teacher is None:
            loss, terms = teacher_loss(outputs, part_labels, self.tasks, values, self.settings)
        else:
            loss, terms = student_loss(outputs, _by_part(teacher_logits, names, sizes), part_labels, self.tasks,
                                       values, self.shared, self.settings)
        return StepResult(loss, terms, int(sum(sizes)))

    def train_step(self, module: nn.Module, batch: dict[str, Any]) -> StepResult:
        return self.compute(module, *self.prepare(batch))

    def validate(self) -> Validation:
        from abawbench.predict import per_video, score_in_memory, validation_summary

        predictions = self.inference.predict(self._model, self.normalizer)
        videos = per_video(self.inference.frames, predictions.expr, predictions.va, predictions.predicted,
                           self.data.validation_lengths)
        expr = score_in_memory(self.data.affwild2_root, "expr", self.data.edition, videos.tracks["expr"])
        va = score_in_memory(self.data.affwild2_root, "va", self.data.edition, videos.tracks["va"])
        return Validation(validation_summary(expr, va), videos)


def _by_part(logits: dict[str, torch.Tensor], names: list[str], sizes: list[int]) -> dict[str, dict[str, torch.Tensor]]:
    split = {head: value.split(sizes) for head, value in logits.items()}
    return {name: {head: split[head][k] for head in logits} for k, name in enumerate(names)}


class RankShare:
    """Rank ``rank``'s share of every part's draws in each batch of a
    :class:`MultiPartBatchSampler` (DDP): part p's ``per_part`` draws are cut into
    ``world_size`` equal slices and this rank takes slice ``rank`` of every part."""

    def __init__(self, sampler: MultiPartBatchSampler, rank: int, world_size: int) -> None:
        if sampler.per_part % world_size:
            raise ValueError(f"batch_per_task {sampler.per_part} is not divisible by the {world_size} processes")
        self.sampler = sampler
        self.rank = rank
        self.world_size = world_size

    def set_epoch(self, epoch: int) -> None:
        self.sampler.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.sampler)

    def __iter__(self):
        n = self.sampler.per_part
        share = n // self.world_size
        for batch in self.sampler:
            array = np.asarray(batch).reshape(len(self.sampler.names), n)
            yield array[:, self.rank * share:(self.rank + 1) * share].reshape(-1).tolist()


def authors_steps_per_epoch(parts: dict[str, pd.DataFrame], batch_per_task: int) -> int:
    """The authors' epoch length: min over parts of ``size // batch_per_task``."""
    return min(len(t) // batch_per_task for t in parts.values())


def concat_table(parts: dict[str, pd.DataFrame]) -> pd.DataFrame:
    return ConcatParts(parts).table
