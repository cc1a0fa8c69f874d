"""The run folder: the record of one training run that users, ``predict``, ``compare``,
``leaderboard`` and ``report`` rely on (design.md; the contract is RUN_CONTRACT.md).

::

    RUN/
      run.json                              resolved config, seed, group, data, command,
                                            versions, git, device, times, status, stages
      metrics.jsonl                         one line per epoch per stage
      checkpoints/<stage>-best.pt           best validation weights of a stage
      checkpoints/<stage>-last.pt           resume state (model, optimiser, sampler
                                            position, every RNG), written mid-epoch too
      stage-predictions/<stage>/<split>/<track>/   each stage's predictions (per-video)
      predictions/<split>/<track>/          the run's final predictions (submission format)
      scores/<stage>-<split>-<track>.json   score JSON of each stage's predictions
      scores/<split>-<track>.json           score JSON of the final predictions

Every file is written atomically (a temporary sibling renamed into place); only one
process (rank 0) writes, and a lock file keeps a second ``train`` off a folder in use.
This module imports torch only to save and load checkpoints.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from abawbench import atomic

SCHEMA = 1
KIND = "abawbench-run"
#: The method's stages, in order.
STAGES = ("cnn-teacher", "cnn-student", "features", "gru-teacher", "gru-student")
TRACKS = ("expr", "va")
STATUSES = ("running", "finished", "failed", "interrupted")
#: What ``--force`` may delete: only what a run writes.
_RUN_ENTRIES = ("run.json", "metrics.jsonl", "checkpoints", "features", ".features.tmp", ".features.old",
                "predictions", "stage-predictions", "scores", ".lock")


#: Run folders this process holds the lock of.
_HELD: set[str] = set()


class RunError(ValueError):
    """A run folder that cannot be used as asked (an error in the user's input)."""


def now() -> str:
    """The current time, ISO 8601 in UTC, seconds."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def config_group(config: dict) -> str:
    """First 12 hex digits of sha1 of the canonical JSON (sorted keys) of ``config`` with
    every ``seed`` key removed: runs differing only in seed share it."""
    from abawbench.training.config import without_seeds

    return hashlib.sha1(canonical_json(without_seeds(config)).encode("utf-8")).hexdigest()[:12]


def versions() -> dict[str, str | None]:
    """Versions of abawbench, Python and the libraries a run depends on."""
    import importlib.metadata

    from abawbench import __version__

    found: dict[str, str | None] = {"abawbench": __version__, "python": platform.python_version()}
    for name in ("torch", "torchvision", "timm", "numpy", "pandas"):
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = None
    return found


def git_state(folder: Path | None = None) -> dict[str, Any]:
    """``{"commit": sha or None, "dirty": bool or None}`` of the abawbench checkout."""
    folder = Path(folder or Path(__file__).resolve().parent)
    try:
        commit = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        status = subprocess.run(["git", "-C", str(folder), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=10, check=True).stdout
        return {"commit": commit, "dirty": bool(status.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


class RunFolder:
    """Reading and writing one run folder. ``writer=False`` (DDP ranks other than 0)
    makes every write a no-op, so exactly one process writes."""

    def __init__(self, path: str | Path, writer: bool = True) -> None:
        self.path = Path(path)
        self.writer = writer

    # ------------------------------------------------------------------ paths
    @property
    def run_json(self) -> Path:
        return self.path / "run.json"

    @property
    def metrics_jsonl(self) -> Path:
        return self.path / "metrics.jsonl"

    def checkpoint_path(self, stage: str, kind: str) -> Path:
        if kind not in ("best", "last"):
            raise ValueError(f"checkpoint kind must be best or last, not {kind!r}")
        return self.path / "checkpoints" / f"{stage}-{kind}.pt"

    def predictions_path(self, split: str, track: str | None = None) -> Path:
        folder = self.path / "predictions" / split
        return folder / track if track else folder

    def stage_predictions_path(self, stage: str, split: str, track: str | None = None) -> Path:
        folder = self.path / "stage-predictions" / stage / split
        return folder / track if track else folder

    def score_path(self, split: str, track: str, stage: str | None = None) -> Path:
        name = f"{stage}-{split}-{track}.json" if stage else f"{split}-{track}.json"
        return self.path / "scores" / name

    # ----------------------------------------------------------------- run.json
    def stage_outputs(self, stage: str) -> list[Path]:
        """The files a finished training stage leaves: its best weights, its validation
        predictions (their ``prediction.json``, written last) and their scores."""
        return [self.checkpoint_path(stage, "best"), self.stage_predictions_path(stage, "validation") /
                "prediction.json"] + [self.score_path("validation", t, stage) for t in TRACKS]

    def remove_stage_outputs(self, stage: str) -> None:
        """Delete what ``stage`` wrote (checkpoints, stage predictions, scores, its
        metrics lines; the feature cache for ``features``), so it runs from scratch."""
        if not self.writer:
            return
        for kind in ("best", "last"):
            self.checkpoint_path(stage, kind).unlink(missing_ok=True)
        for track in TRACKS:
            self.score_path("validation", track, stage).unlink(missing_ok=True)
        for folder in (self.path / "stage-predictions" / stage, self.path / "features") if stage == "features" \
                else (self.path / "stage-predictions" / stage,):
            if folder.is_dir():
                shutil.rmtree(folder)
        if self.metrics_jsonl.is_file():
            self._write_metrics([line for line in self.metrics() if line.get("stage") != stage])

    def exists(self) -> bool:
        return self.run_json.is_file()

    def read(self) -> dict[str, Any]:
        try:
            record = json.loads(self.run_json.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise RunError(f"{self.path}: not a run folder (no run.json)") from None
        except (OSError, ValueError) as error:
            raise RunError(f"{self.run_json}: unreadable ({error}); remove the folder to start over") from None
        if not isinstance(record, dict) or record.get("kind") != KIND:
            raise RunError(f"{self.run_json}: not an abawbench run record (kind {record.get('kind')!r})"
                           if isinstance(record, dict) else f"{self.run_json}: not an abawbench run record")
        return record

    def write(self, record: dict[str, Any]) -> None:
        if self.writer:
            atomic.write_json(self.run_json, record)

    def update(self, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        """Read run.json, apply ``change`` in place, write it back atomically."""
        record = self.read()
        change(record)
        self.write(record)
        return record

    def set_stage(self, stage: str, **fields: Any) -> dict[str, Any]:
        def change(record: dict[str, Any]) -> None:
            record.setdefault("stages", {}).setdefault(stage, {}).update(fields)
        return self.update(change)

    # ------------------------------------------------------------ metrics.jsonl
    def metrics(self, stage: str | None = None) -> list[dict[str, Any]]:
        if not self.metrics_jsonl.is_file():
            return []
        lines = [json.loads(line) for line in self.metrics_jsonl.read_text(encoding="utf-8").splitlines()
                 if line.strip()]
        return [line for line in lines if stage is None or line.get("stage") == stage]

    def _write_metrics(self, lines: list[dict[str, Any]]) -> None:
        # rewritten whole (it is small) so a crash never leaves half a line
        atomic.write_text(self.metrics_jsonl, "".join(json.dumps(line) + "\n" for line in lines))

    def append_metrics(self, line: dict[str, Any]) -> None:
        if self.writer:
            self._write_metrics(self.metrics() + [line])

    def truncate_metrics(self, stage: str, from_epoch: int) -> None:
        """Drop ``stage``'s lines of epochs >= ``from_epoch`` (written after the resume
        checkpoint by a run that was then killed)."""
        if self.writer and self.metrics_jsonl.is_file():
            keep = [line for line in self.metrics() if line.get("stage") != stage or line.get("epoch", 0) < from_epoch]
            self._write_metrics(keep)

    # -------------------------------------------------------------- checkpoints
    def save_checkpoint(self, stage: str, kind: str, payload: dict[str, Any]) -> None:
        """``torch.save`` into a temporary sibling, flushed to disk, then renamed."""
        if not self.writer:
            return
        import torch

        path = self.checkpoint_path(stage, kind)
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(handle, "wb") as stream:
                torch.save(payload, stream)
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def load_checkpoint(self, stage: str, kind: str, map_location: Any = "cpu") -> dict[str, Any] | None:
        """The checkpoint, or None when there is none."""
        import torch

        path = self.checkpoint_path(stage, kind)
        if not path.is_file():
            return None
        try:
            return torch.load(path, map_location=map_location, weights_only=False)
        except Exception as error:  # noqa: BLE001 - a damaged checkpoint is reported, not a traceback
            raise RunError(f"{path}: unreadable checkpoint ({type(error).__name__}: {error})") from None

    # ---------------------------------------------------------------------- lock
    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold ``RUN/.lock`` for the duration (a second writer gets a RunError)."""
        if not self.writer:
            yield
            return
        import fcntl

        self.path.mkdir(parents=True, exist_ok=True)
        key = str(self.path.resolve())
        if key in _HELD:  # record locks do not exclude the process that holds them
            raise RunError(f"{self.path}: this process is already writing this run folder")
        with open(self.path / ".lock", "a+") as handle:
            # A POSIX record lock, not flock: it belongs to this process alone, so the
            # data-loader workers forked from it do not hold it on after a SIGKILL.
            try:
                fcntl.lockf(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                raise RunError(f"{self.path}: another abawbench process is writing this run folder") from None
            _HELD.add(key)
            try:
                yield
            finally:
                _HELD.discard(key)
                # removed while still held, so no other process can be holding it
                (self.path / ".lock").unlink(missing_ok=True)
                fcntl.lockf(handle.fileno(), fcntl.LOCK_UN)


def prepare(path: str | Path, resume: bool, force: bool) -> str:
    """Decide what ``train`` does with ``path``: ``"new"``, ``"resume"`` or ``"done"``
    (a finished run: the caller checks its stages' outputs and does nothing, or redoes
    the stages whose outputs are gone).

    A folder that holds a run is never overwritten without ``--force`` (which deletes
    only what a run writes), and an unfinished run is never continued without
    ``--resume``; a non-empty folder that is not a run folder is refused.
    """
    path = Path(path)
    if resume and force:
        raise RunError("--resume and --force contradict each other: choose one")
    if path.exists() and not path.is_dir():
        raise RunError(f"{path}: exists and is not a folder")
    # a lock file alone is what a run that failed before writing run.json leaves
    if not path.exists() or not [p for p in path.iterdir() if p.name != ".lock"]:
        if resume:
            raise RunError(f"{path}: nothing to resume (no run.json); leave out --resume to start a run")
        return "new"
    folder = RunFolder(path)
    if not folder.exists():
        raise RunError(f"{path}: not empty and not a run folder (no run.json); refusing to write into it")
    record = folder.read()
    status = record.get("status")
    if force:
        for name in _RUN_ENTRIES:
            target = path / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
        return "new"
    if status == "finished":
        return "done"
    if resume:
        return "resume"
    raise RunError(f"{path}: holds an unfinished run (status {status}); --resume continues it, --force starts over")
