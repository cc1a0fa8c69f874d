"""One training loop for every stage of the method: the CNN teacher and student
(:mod:`.cnn`) and the GRU teacher and student (:mod:`.gru`).

A stage (:class:`Stage`) supplies its model, its batches and two functions: a training
step that returns the loss and its named terms as tensors on the device, and a
validation that returns the scores (``score`` = EXPR criterion + CCC(V) + CCC(A), the
early-stopping criterion). The loop owns everything else:

* Adam with the stage's learning rate and betas (constant rate, as the authors' code);
* epochs of a fixed number of steps; validation after each; early stopping after
  ``patience`` epochs without a strictly better score; the best weights kept
  (``<stage>-best.pt``) and put back in the model at the end;
* no per-step host synchronisation: loss terms are summed on the device and read back
  every ``log_every`` steps (and at checkpoints and epoch ends);
* a rich progress bar (stage, epoch, step, live losses, images/s, ETA);
* ``<stage>-last.pt`` every ``checkpoint_every`` steps and at every epoch end, written
  atomically, holding model, optimiser, early-stopping state, the epoch's running loss
  sums, the sampler position (epoch, step) and every RNG of every rank, so a run killed
  at any moment resumes to the same weights and metrics as an uninterrupted one;
* DDP: the stage's forward module is wrapped in ``DistributedDataParallel`` (one
  forward per step), every rank validates its share, only rank 0 writes.
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from abawbench.runs import RunFolder, now
from abawbench.training.device import Device, all_gather, rng_state, set_rng_state


@dataclass(frozen=True)
class Schedule:
    """The optimiser and epoch settings of a stage (the config's ``[cnn]`` table)."""

    lr: float
    betas: tuple[float, float]
    weight_decay: float
    max_epochs: int
    patience: int
    steps_per_epoch: int


@dataclass
class StepResult:
    """A training step's output: the loss to minimise, named terms to log (scalar
    tensors, still on the device) and the number of images it consumed."""

    loss: torch.Tensor
    terms: dict[str, torch.Tensor]
    images: int


@dataclass
class Validation:
    """A validation pass: ``metrics`` (must hold ``score``, higher is better) and
    whatever the stage wants to keep from the best epoch (``extra``)."""

    metrics: dict[str, float]
    extra: Any = None


class Stage(ABC):
    """What the loop needs from a stage."""

    name: str

    @property
    @abstractmethod
    def model(self) -> nn.Module:
        """The trained module (on the device); its state is checkpointed."""

    @abstractmethod
    def forward_module(self) -> nn.Module:
        """The module the training step calls (wrapped in DDP by the loop)."""

    @abstractmethod
    def train_loader(self):
        """A :class:`abawbench.data.loading.FaceLoader` with ``set_position``."""

    @abstractmethod
    def train_step(self, module: nn.Module, batch: dict[str, Any]) -> StepResult:
        """One step's loss (the loop does backward and the optimiser step)."""

    @abstractmethod
    def validate(self) -> Validation:
        """Score the current weights on the validation frames (all ranks call it)."""


@dataclass
class _State:
    epoch: int = 0
    step: int = 0
    global_step: int = 0
    best_score: float = -math.inf
    best_epoch: int = -1
    bad_epochs: int = 0
    sums: dict[str, float] = field(default_factory=dict)
    steps_summed: int = 0
    stopped: str | None = None


def _progress(enabled: bool):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[losses]}"), TextColumn("{task.fields[speed]}"), TimeRemainingColumn(),
                    disable=not enabled, transient=False)


def _format_losses(values: dict[str, float]) -> str:
    shown = {k: v for k, v in values.items() if k == "loss" or "/" in k}
    return " ".join(f"{k}={v:.3f}" for k, v in shown.items())


class Trainer:
    """Runs :meth:`fit` for a stage inside a run folder (see the module docstring)."""

    def __init__(self, run: RunFolder, device: Device, log_every: int = 50, checkpoint_every: int = 500,
                 progress: bool = True, console=None) -> None:
        self.run = run
        self.device = device
        self.log_every = int(log_every)
        self.checkpoint_every = int(checkpoint_every)
        self.progress = bool(progress) and device.is_main
        self.console = console

    # ------------------------------------------------------------------ checkpoints
    def _save_last(self, stage: Stage, optimizer: torch.optim.Optimizer, state: _State) -> None:
        states = all_gather(rng_state(), self.device)  # every rank's generators
        self.run.save_checkpoint(stage.name, "last", {
            "stage": stage.name, "epoch": state.epoch, "step": state.step, "global_step": state.global_step,
            "model": stage.model.state_dict(), "optimizer": optimizer.state_dict(),
            "early_stopping": {"best_score": state.best_score, "best_epoch": state.best_epoch,
                               "bad_epochs": state.bad_epochs},
            "sums": dict(state.sums), "steps_summed": state.steps_summed, "stopped": state.stopped,
            "rng": states, "time": now()})

    def _resume(self, stage: Stage, optimizer: torch.optim.Optimizer) -> _State | None:
        checkpoint = self.run.load_checkpoint(stage.name, "last", map_location=self.device.device)
        if checkpoint is None:
            return None
        stage.model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        early = checkpoint["early_stopping"]
        state = _State(epoch=checkpoint["epoch"], step=checkpoint["step"], global_step=checkpoint["global_step"],
                       best_score=early["best_score"], best_epoch=early["best_epoch"], bad_epochs=early["bad_epochs"],
                       sums=dict(checkpoint["sums"]), steps_summed=checkpoint["steps_summed"],
                       stopped=checkpoint.get("stopped"))
        states = checkpoint["rng"]
        if len(states) != self.device.world_size:
            from abawbench.runs import RunError

            raise RunError(f"{self.run.path}: the run was checkpointed with {len(states)} process(es), this resume "
                           f"has {self.device.world_size}; resume with the same number")
        set_rng_state(states[self.device.rank])
        return state

    # --------------------------------------------------------------------- fitting
    def fit(self, stage: Stage, schedule: Schedule, resume: bool = False) -> dict[str, Any]:
        """Train ``stage`` to early stopping or ``max_epochs``; returns the stage record
        (``epochs``, ``best_epoch``, ``validation`` of the best epoch, ``stopped``)."""
        model = stage.model
        parameters = [p for p in model.parameters() if p.requires_grad]
        fused = {"fused": True} if self.device.cuda else {}
        optimizer = torch.optim.Adam(parameters, lr=schedule.lr, betas=tuple(schedule.betas),
                                     weight_decay=schedule.weight_decay, **fused)
        state = self._resume(stage, optimizer) if resume else None
        if state is None:
            state = _State()
        else:
            self.run.truncate_metrics(stage.name, state.epoch)
        module = stage.forward_module()
        if self.device.distributed:
            from torch.nn.parallel import DistributedDataParallel

            device_ids = [self.device.device.index] if self.device.cuda else None
            module = DistributedDataParallel(module, device_ids=device_ids)
        loader = stage.train_loader()
        steps = schedule.steps_per_epoch
        best_metrics = self._best_metrics(stage.name, state)
        with _progress(self.progress) as bar:
            task = bar.add_task(stage.name, total=steps, losses="", speed="")
            while state.stopped is None and state.epoch < schedule.max_epochs:
                best_metrics = self._epoch(stage, schedule, module, optimizer, loader, state, bar, task,
                                           best_metrics)
        best = self.run.load_checkpoint(stage.name, "best", map_location=self.device.device) \
            if self.device.is_main else None
        best_state = best["model"] if best is not None else None
        best_state = _broadcast_state(best_state, self.device)
        if best_state is not None:
            model.load_state_dict(best_state)
        return {"epochs": state.epoch, "best_epoch": state.best_epoch, "validation": best_metrics,
                "stopped": state.stopped or "max_epochs", "steps": state.global_step}

    def _best_metrics(self, stage: str, state: _State) -> dict[str, float] | None:
        for line in self.run.metrics(stage):
            if line.get("epoch") == state.best_epoch:
                return line.get("validation")
        return None

    def _epoch(self, stage: Stage, schedule: Schedule, module: nn.Module, optimizer: torch.optim.Optimizer, loader,
               state: _State, bar, task, best_metrics):
        started = time.perf_counter()
        epoch_started_at = now() if state.step == 0 else None
        loader.set_position(state.epoch, state.step)
        bar.update(task, completed=state.step, description=f"{stage.name} · epoch {state.epoch + 1}/"
                                                              f"{schedule.max_epochs}")
        stage.model.train()
        device_sums: dict[str, torch.Tensor] = {}
        images, images_since_log, log_clock = 0, 0, time.perf_counter()
        for batch in loader:
            result = stage.train_step(module, batch)
            optimizer.zero_grad(set_to_none=True)
            result.loss.backward()
            optimizer.step()
            terms = {"loss": result.loss.detach(), **{k: v.detach() for k, v in result.terms.items()}}
            for name, value in terms.items():
                device_sums[name] = device_sums[name] + value.float() if name in device_sums else value.float()
            state.step += 1
            state.global_step += 1
            images += result.images
            images_since_log += result.images
            bar.advance(task)
            if state.step % self.log_every == 0 or state.step == schedule.steps_per_epoch:
                values = self._fold(device_sums, state)
                seconds = time.perf_counter() - log_clock
                speed = images_since_log * self.device.world_size / max(seconds, 1e-9)
                bar.update(task, losses=_format_losses(values), speed=f"{speed:,.0f} img/s")
                images_since_log, log_clock = 0, time.perf_counter()
            if state.step % self.checkpoint_every == 0 and state.step < schedule.steps_per_epoch:
                self._fold(device_sums, state)
                self._save_last(stage, optimizer, state)
        self._fold(device_sums, state)
        train_seconds = time.perf_counter() - started
        train = {name: value / max(state.steps_summed, 1) for name, value in state.sums.items()}

        validation_started = time.perf_counter()
        validation = stage.validate()
        validation_seconds = time.perf_counter() - validation_started
        score = float(validation.metrics["score"])
        improved = score > state.best_score
        if improved:
            state.best_score, state.best_epoch, state.bad_epochs = score, state.epoch, 0
            best_metrics = validation.metrics
            self.run.save_checkpoint(stage.name, "best", {"stage": stage.name, "epoch": state.epoch,
                                                          "model": stage.model.state_dict(),
                                                          "validation": validation.metrics})
        else:
            state.bad_epochs += 1
        line = {"stage": stage.name, "epoch": state.epoch, "step": state.global_step, "time": now(),
                "seconds": round(time.perf_counter() - started, 3), "train_seconds": round(train_seconds, 3),
                "validation_seconds": round(validation_seconds, 3),
                "images_per_s": round(images * self.device.world_size / max(train_seconds, 1e-9), 1),
                "lr": schedule.lr, "train": train, "validation": validation.metrics, "best": improved}
        if epoch_started_at is None:
            line["resumed"] = True
        self.run.append_metrics(line)
        if self.console is not None and self.device.is_main:
            v = validation.metrics
            self.console.print(f"  {stage.name} epoch {state.epoch + 1}: loss {train.get('loss', float('nan')):.4f} · "
                               f"EXPR {v.get('expr_criterion', float('nan')):.4f} · V {v.get('valence', 0):.4f} · "
                               f"A {v.get('arousal', 0):.4f} · score {score:.4f}" + (" · best" if improved else ""),
                               highlight=False)
        state.epoch += 1
        state.step = 0
        state.sums, state.steps_summed = {}, 0
        if state.bad_epochs >= schedule.patience:
            state.stopped = "early"
        self._save_last(stage, optimizer, state)
        return best_metrics

    @staticmethod
    def _fold(device_sums: dict[str, torch.Tensor], state: _State) -> dict[str, float]:
        """Move the device sums into ``state.sums`` (one host read for all terms) and
        return the running means."""
        if device_sums:
            names = list(device_sums)
            values = torch.stack([device_sums[n] for n in names]).tolist()
            for name, value in zip(names, values):
                state.sums[name] = state.sums.get(name, 0.0) + value
            device_sums.clear()
        state.steps_summed = state.step
        return {name: value / max(state.steps_summed, 1) for name, value in state.sums.items()}


def _broadcast_state(state: dict | None, device: Device) -> dict | None:
    """Rank 0's state dict on every rank (the best weights are read from disk once)."""
    if not device.distributed:
        return state
    import torch.distributed as dist

    box = [state]
    dist.broadcast_object_list(box, src=0)
    value = box[0]
    if value is not None:
        value = {k: v.to(device.device) for k, v in value.items()}
    return value
