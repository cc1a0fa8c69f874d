"""The device a run trains on, chosen once: CUDA or CPU, autocast, memory layout,
determinism, and the process group when started by ``torchrun``.

``torchrun --nproc_per_node K -m abawbench.cli train paper-baseline ...`` sets ``RANK``,
``WORLD_SIZE`` and ``LOCAL_RANK``; each rank then takes GPU ``LOCAL_RANK`` (NCCL) or the
CPU (gloo), its share of every part's batch, and only rank 0 writes the run folder.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist


@dataclass
class Device:
    """The resolved runtime of this process."""

    device: torch.device
    amp_dtype: torch.dtype | None
    channels_last: bool
    compile: bool
    deterministic: bool
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"

    def autocast(self):
        """The autocast context of a forward pass (a no-op without AMP)."""
        if self.amp_dtype is None:
            return torch.autocast(self.device.type, enabled=False)
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def record(self) -> dict[str, Any]:
        """run.json ``device``."""
        name = torch.cuda.get_device_name(self.device) if self.cuda else "cpu"
        return {"type": self.device.type, "name": name, "world_size": self.world_size,
                "amp": {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(self.amp_dtype),
                "channels_last": self.channels_last, "compile": self.compile, "deterministic": self.deterministic,
                "threads": torch.get_num_threads(),
                "backend": dist.get_backend() if self.distributed else None}


def resolve_runtime(runtime: dict[str, Any]) -> dict[str, Any]:
    """The config's ``[runtime]`` with every ``auto`` decided for this machine."""
    out = dict(runtime)
    if out["device"] == "auto":
        out["device"] = "cuda" if torch.cuda.is_available() else "cpu"
    cuda = out["device"].startswith("cuda")
    if out["amp"] == "auto":
        out["amp"] = "bf16" if cuda else "off"
    if out["channels_last"] == "auto":
        out["channels_last"] = "on" if cuda else "off"
    if out["deterministic"] == "auto":
        out["deterministic"] = "off" if cuda else "on"
    return out


def setup(runtime: dict[str, Any]) -> Device:
    """Initialise this process for a *resolved* ``[runtime]`` (see :func:`resolve_runtime`)."""
    from abawbench.training.config import ConfigError

    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    name = runtime["device"]
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"runtime.device = {name!r} but this machine has no CUDA device")
        device = torch.device("cuda", local_rank if world_size > 1 else (torch.device(name).index or 0))
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    if runtime["threads"]:
        torch.set_num_threads(int(runtime["threads"]))
    deterministic = runtime["deterministic"] == "on"
    torch.use_deterministic_algorithms(deterministic, warn_only=True)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = not deterministic
        torch.backends.cudnn.deterministic = deterministic
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    return Device(device=device, amp_dtype=torch.bfloat16 if runtime["amp"] == "bf16" else None,
                  channels_last=runtime["channels_last"] == "on", compile=bool(runtime["compile"]),
                  deterministic=deterministic, rank=rank, world_size=world_size, local_rank=local_rank)


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators (CPU and every GPU)."""
    random.seed(seed)
    np.random.seed(seed % (2 ** 32))
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """Every global RNG's state (restored by :func:`set_rng_state`)."""
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def stage_seed(seed: int, stage: str) -> int:
    """A seed of its own for each stage (a fresh student does not start as the teacher
    did), a pure function of the run seed and the stage name."""
    import zlib

    return int(np.random.SeedSequence([int(seed), zlib.crc32(stage.encode())]).generate_state(1)[0])


def all_gather(value: Any, device: Device) -> list[Any]:
    """Every rank's ``value`` (picklable), in rank order; ``[value]`` without DDP."""
    if not device.distributed:
        return [value]
    gathered: list[Any] = [None] * device.world_size
    dist.all_gather_object(gathered, value)
    return gathered


def broadcast(value: Any, device: Device) -> Any:
    """Rank 0's ``value`` on every rank."""
    if not device.distributed:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier(device: Device) -> None:
    if device.distributed:
        dist.barrier()
