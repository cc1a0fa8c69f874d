"""Backbone weights from a local file (``--pretrained PATH``), never from the network.

Accepted files (``torch.load(..., weights_only=True)``, so no code in the file runs):

* a plain state dict ``{name: tensor}`` (torchvision's ``resnet50-*.pth``, timm's
  ``pytorch_model.bin``);
* a checkpoint dict holding one under ``state_dict``, ``model``, ``model_state_dict``,
  ``state_dict_ema`` or ``backbone``;
* a ``.safetensors`` file (timm's hub format), when the ``safetensors`` package is there.

Names are matched after removing a prefix every key shares (``module.``, ``backbone.``,
``model.``, ``encoder.``). The backbone's classifier (timm's ``pretrained_cfg["classifier"]``,
e.g. ``fc`` of a ResNet) is dropped: the heads replace it. Every other difference — a
backbone tensor the file lacks, a tensor the backbone lacks, a shape that differs — is
reported by name, and is an error unless ``strict`` is False.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from abawbench.training.config import ConfigError

_CONTAINER_KEYS = ("state_dict", "model", "model_state_dict", "state_dict_ema", "backbone")
_PREFIXES = ("module.", "backbone.", "model.", "encoder.")
_SHOWN = 8


class WeightsError(ConfigError):
    """A weights file that cannot be used as the backbone's (an error in the user's input:
    a :class:`~abawbench.training.config.ConfigError`, as ``model.pretrained`` names it)."""


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read(path: Path) -> Mapping:
    if path.suffix == ".safetensors":
        try:
            from safetensors.torch import load_file
        except ImportError:
            raise WeightsError(f"{path}: a .safetensors file needs the 'safetensors' package") from None
        return load_file(str(path))
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any failure means "not a weights file we can read safely"
        raise WeightsError(f"{path}: not a readable state dict ({type(error).__name__}: {str(error)[:200]}); "
                           "save one with torch.save(model.state_dict(), PATH)") from None


def _state_dict(obj, path: Path) -> dict[str, torch.Tensor]:
    for _ in range(3):  # a checkpoint may nest the state dict one or two levels down
        if isinstance(obj, Mapping) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            return dict(obj)
        if isinstance(obj, Mapping):
            inner = next((obj[k] for k in _CONTAINER_KEYS if k in obj), None)
            if inner is not None:
                obj = inner
                continue
        break
    raise WeightsError(f"{path}: expected a state dict (name -> tensor), or a checkpoint holding one under "
                       f"{', '.join(_CONTAINER_KEYS)}; found {type(obj).__name__}")


def _strip_prefixes(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    changed = True
    while changed and state:
        changed = False
        for prefix in _PREFIXES:
            if all(k.startswith(prefix) for k in state):
                state = {k[len(prefix):]: v for k, v in state.items()}
                changed = True
    return state


def _names(names: list[str]) -> str:
    shown = ", ".join(names[:_SHOWN])
    return shown + (f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else "")


def load_backbone_weights(backbone: nn.Module, path: str | Path, strict: bool = True) -> dict:
    """Load a local weights file into a timm backbone (in place).

    Returns a JSON-ready report: ``path``, ``sha256``, ``loaded`` (tensors), ``ignored``
    (the file's classifier tensors), ``missing`` / ``unexpected`` / ``mismatched``
    (names; empty unless ``strict`` is False).
    Raises :class:`WeightsError` naming the differing tensors when ``strict``.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: no such weights file (abawbench never downloads weights; give a local file)")
    state = _strip_prefixes(_state_dict(_read(path), path))
    own = backbone.state_dict()
    classifier = getattr(backbone, "pretrained_cfg", {}).get("classifier") or ""
    classifiers = [classifier] if isinstance(classifier, str) else list(classifier)
    ignored = sorted(k for k in state if k not in own and any(k.startswith(c + ".") for c in classifiers if c))
    unexpected = sorted(k for k in state if k not in own and k not in ignored)
    # num_batches_tracked is bookkeeping that many exported state dicts leave out
    missing = sorted(k for k in own if k not in state and not k.endswith("num_batches_tracked"))
    mismatched = sorted(f"{k} (file {tuple(state[k].shape)}, model {tuple(own[k].shape)})"
                        for k in own if k in state and state[k].shape != own[k].shape)
    if strict and (missing or unexpected or mismatched):
        problems = []
        if missing:
            problems.append(f"{len(missing)} backbone tensor(s) missing from the file: {_names(missing)}")
        if unexpected:
            problems.append(f"{len(unexpected)} tensor(s) in the file the backbone does not have: {_names(unexpected)}")
        if mismatched:
            problems.append(f"{len(mismatched)} shape mismatch(es): {_names(mismatched)}")
        raise WeightsError(f"{path} does not fit backbone {type(backbone).__name__}: " + "; ".join(problems)
                           + " (set model.pretrained_strict = false to load the matching tensors anyway)")
    fitting = {k: v for k, v in state.items() if k in own and v.shape == own[k].shape}
    if not fitting:
        raise WeightsError(f"{path}: no tensor of the file matches the backbone {type(backbone).__name__}")
    backbone.load_state_dict(fitting, strict=False)
    return {"path": str(path.resolve()), "sha256": file_sha256(path), "loaded": len(fitting), "ignored": ignored,
            "missing": missing, "unexpected": unexpected, "mismatched": mismatched}
