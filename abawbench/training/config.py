"""The paper baseline's configuration: one schema, TOML presets, strict checking.

A config is a nested dict with the tables of :data:`SCHEMA`. It is built in layers, each
overriding the one before:

1. the schema's defaults (abawbench's choices; ``abawbench/baselines/paper.toml`` lists every one);
2. a preset, ``abawbench/baselines/<name>.toml`` (``paper``, ``paper-code``, ``tiny``);
3. ``--config FILE`` (TOML, the same tables);
4. ``--set table.key=value`` (the value in TOML syntax; a bare word is a string).

Every key of every layer is checked: an unknown or mistyped key is a :class:`ConfigError`
naming it (with the closest known key), as is a value of the wrong type or outside its
choices. The result is complete: every key present, every value checked. The training
code adds a ``derived`` table (values computed from the data and the machine) before it
is recorded in ``run.json``.

Nothing here imports torch (the CLI's error handling imports this module).
"""

from __future__ import annotations

import copy
import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

# package data (abawbench/baselines/), so a plain `pip install` has the presets too
PRESETS_FOLDER = Path(__file__).resolve().parents[1] / "baselines"
PRESETS = ("paper", "paper-code", "tiny")


class ConfigError(ValueError):
    """A config that cannot be used: unknown key, wrong type, bad value, unreadable file."""


@dataclass(frozen=True)
class Key:
    """One config key: its default, type and allowed values."""

    default: Any
    kind: type
    doc: str
    choices: tuple | None = None
    minimum: float | None = None
    maximum: float | None = None


#: The schema: table -> key -> :class:`Key` (top-level keys directly). Defaults are
#: abawbench's (method.md); ``baselines/README.md`` explains each and the paper/code values.
SCHEMA: dict[str, Any] = {
    "description": Key("", str, "free text shown with the run"),
    "seed": Key(0, int, "seed of initialisation, sampling, augmentation and dropout", minimum=0),
    "method": {
        "tasks": Key([1, 2, 3], list, "the paper's tasks in use: 1 EXPR, 2 VA, 3 EXPR_VA (Table 1: [1,2] or [1,2,3])"),
        "shared_annotations": Key(True, bool, "student uses shared labels (Eq. 10) instead of Eq. 9"),
        "gru": Key(True, bool, "run the CNN+GRU stages (features, gru-teacher, gru-student) after the CNN student "
                   "(Table 3); false stops at the CNN student"),
    },
    "data": {
        "affwild2": Key("", str, "Aff-Wild2 root; '' = --data itself, or its one child holding cropped_aligned"),
        "expw": Key("", str, "ExpW root; '' = <--data>/expw when present; 'none' = leave ExpW out"),
        "afew_va": Key("", str, "AFEW-VA root; '' = <--data>/afew_va when present; 'none' = leave it out"),
        "affectnet": Key("", str, "AffectNet root; '' = <--data>/affectnet when present; 'none' = leave it out"),
        "annotations": Key("", str, "annotation set when the Aff-Wild2 root holds several editions'"),
        "edition": Key("auto", str, "edition of predictions and scores; auto = from the annotation files"),
        "expr_va_source": Key("affectnet", str, "source of the EXPR_VA part", ("affectnet", "affwild2-shared")),
        "affectnet_splits": Key(["training"], list, "AffectNet CSVs feeding EXPR_VA (code: training and validation)"),
        "thin": Key(False, bool, "the authors' thinning of Aff-Wild2 train frames (Neutral 1/10, ...; VA 1/5)"),
        "va_histogram_range": Key("fixed", str, "VA balancing histogram over [-1, 1] or the data's min/max (code)",
                                  ("fixed", "data")),
        "balanced": Key(True, bool, "draw each part with the authors' balancing weights"),
        "keep_other": Key(False, bool, "keep ABAW3+ class 7 'Other' frames (the heads have 7 classes)"),
        "image_size": Key(112, int, "input size in pixels (the crop after the resize)", minimum=16),
        "resize_scale": Key(1.2, float, "shorter side resized to int(scale * image_size) before cropping",
                            minimum=1.0),
        "sequence_augmentation": Key("independent", str, "GRU windows: independent offsets+flip, or the code's "
                                     "diagonal offset tied to the flip", ("independent", "paper-code")),
        "drop_gapped": Key(False, bool, "GRU training windows with a missing frame are dropped (code)"),
    },
    "model": {
        "backbone": Key("resnet50", str, "any timm model name"),
        "backbone_args": Key({}, dict, "extra keyword arguments of timm.create_model"),
        "pretrained": Key("", str, "local backbone weights file ('' = random init); never downloaded"),
        "pretrained_strict": Key(True, bool, "a weights file that does not fit the backbone exactly is an error"),
        "normalization": Key("timm", str, "input normalisation: the backbone's own (timm), ImageNet, FER+ "
                             "(the authors' backbone: x255 - VGGFace2 mean) or pixels/255",
                             ("timm", "imagenet", "ferplus", "unit")),
        "head_hidden": Key(128, int, "width of each head's feature", minimum=1),
        "head_dropout": Key(0.5, float, "dropout before each head's last layer (code only)", minimum=0.0,
                            maximum=0.99),
        "va_bins": Key(20, int, "bins per VA dimension", minimum=2),
        "va_bin_values": Key("centres", str, "values the VA expectation uses", ("centres", "paper-code")),
    },
    "loss": {
        "temperature": Key(1.5, float, "distillation temperature T", minimum=1e-3),
        "distillation_t_squared": Key(True, bool, "distillation times T^2 (code; not in the paper)"),
        "supervision_weight": Key(0.6, float, "lambda of Eq. 8", minimum=0.0, maximum=1.0),
        "ccc_weight": Key(1.0, float, "weight of (1 - CCC) in Eq. 2 (the paper writes 1/B)", minimum=0.0),
        "ccc_moments": Key("population", str, "moments of the CCC inside the loss", ("population", "unbiased")),
        "va_bin_targets": Key("exact", str, "bin of a VA label for the cross-entropy", ("exact", "paper-code")),
        "teacher_reduction": Key("sum", str, "Eq. 7 over tasks: sum (paper) or per-head mean (code)",
                                 ("sum", "per-head-mean")),
        "student_reduction": Key("sum", str, "Eq. 9/10 over parts: sum (paper) or mean (code)", ("sum", "mean")),
        "subset_weighting": Key("size", str, "Eq. 10 labelled/unlabelled subsets: by size (paper) or equal (code)",
                                ("size", "equal")),
    },
    "cnn": {
        "batch_per_task": Key(64, int, "samples per part per step", minimum=2),
        "max_epochs": Key(40, int, "epochs at most", minimum=1),
        "patience": Key(5, int, "stop after this many epochs without a better validation score (code: 6)",
                        minimum=1),
        "steps_per_epoch": Key(0, int, "steps per epoch; 0 = the authors' min(part size) // batch_per_task",
                               minimum=0),
        "lr": Key(1e-4, float, "Adam learning rate (constant)", minimum=0.0),
        "betas": Key([0.5, 0.999], list, "Adam betas (code)"),
        "weight_decay": Key(0.0, float, "Adam weight decay", minimum=0.0),
        "batchnorm": Key("per-part", str, "one forward per part (BN statistics per part, code) or one joint forward",
                         ("per-part", "joint")),
        "eval_batch_size": Key(256, int, "images per inference batch", minimum=1),
    },
    "gru": {
        "features": Key("cached", str, "CNN features computed once into the run folder (cached) or recomputed from "
                        "augmented image windows every step (online, the authors' code)", ("cached", "online")),
        "augmented_views": Key(3, int, "cached: augmented feature views per frame besides the evaluation view; "
                               "one drawn per training window (0 = train on the evaluation features)", minimum=0),
        "length": Key(32, int, "frames per window (paper 32; code default 64)", minimum=2),
        "train_stride": Key(16, int, "training windows start every this many frames (code: half a window)",
                            minimum=1),
        "eval_stride": Key(32, int, "validation/prediction windows start every this many frames (code: a window); "
                           "overlaps are averaged", minimum=1),
        "hidden": Key(64, int, "GRU units per direction", minimum=1),
        "batch_per_task": Key(16, int, "windows per part (EXPR, VA) per step", minimum=2),
        "max_epochs": Key(40, int, "epochs at most", minimum=1),
        "patience": Key(5, int, "stop after this many epochs without a better validation score", minimum=1),
        "steps_per_epoch": Key(0, int, "steps per epoch; 0 = min(part windows) // batch_per_task", minimum=0),
        "lr": Key(1e-4, float, "Adam learning rate (constant)", minimum=0.0),
        "betas": Key([0.5, 0.999], list, "Adam betas (code)"),
        "weight_decay": Key(0.0, float, "Adam weight decay", minimum=0.0),
        "eval_batch_size": Key(64, int, "windows per inference batch", minimum=1),
        "feature_batch_size": Key(256, int, "images per batch when extracting features", minimum=1),
    },
    "runtime": {
        "device": Key("auto", str, "auto (CUDA when present), cpu, cuda or cuda:N"),
        "amp": Key("auto", str, "autocast: bf16 on CUDA by default, off on CPU", ("auto", "bf16", "off")),
        "channels_last": Key("auto", str, "channels-last memory (on by default on CUDA)", ("auto", "on", "off")),
        "compile": Key(False, bool, "torch.compile the model"),
        "deterministic": Key("auto", str, "deterministic algorithms (on by default on CPU)", ("auto", "on", "off")),
        "workers": Key(8, int, "image decoding processes per rank (0 = in the training process)", minimum=0),
        "threads": Key(0, int, "intra-op threads of the training process (0 = torch's default)", minimum=0),
        "log_every": Key(50, int, "steps between reading losses back from the device", minimum=1),
        "checkpoint_every": Key(500, int, "steps between mid-epoch resume checkpoints (and every epoch end)",
                                minimum=1),
        "eval_cache_mb": Key(1024, int, "keep decoded validation images in memory when they fit in this", minimum=0),
        "progress": Key(True, bool, "show the live progress bar"),
    },
}

_SEED_KEYS = ("seed",)


def defaults() -> dict[str, Any]:
    """The complete config of the schema's defaults."""
    def walk(table: Mapping[str, Any]) -> dict[str, Any]:
        return {name: walk(value) if isinstance(value, Mapping) else copy.deepcopy(value.default)
                for name, value in table.items()}
    return walk(SCHEMA)


def preset_path(name: str) -> Path:
    """``abawbench/baselines/<name>.toml``: package data, in a checkout and an installed package alike."""
    path = PRESETS_FOLDER / f"{name}.toml"
    if not path.is_file():
        known = sorted(p.stem for p in PRESETS_FOLDER.glob("*.toml")) if PRESETS_FOLDER.is_dir() else list(PRESETS)
        raise ConfigError(f"unknown preset {name!r}; known presets: {', '.join(known)} (in {PRESETS_FOLDER})")
    return path


def read_toml(path: Path) -> dict[str, Any]:
    """A TOML file as a dict; a syntax error names the file and line."""
    path = Path(path)
    try:
        with open(path, "rb") as stream:
            return tomllib.load(stream)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"table.key=value"`` -> (["table", "key"], value). The value is read as TOML
    (``1e-3``, ``true``, ``[1, 2]``, ``"a b"``); a bare word that is not TOML is a string."""
    name, equals, raw = text.partition("=")
    name = name.strip()
    if not equals or not name or not re.fullmatch(r"[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*", name):
        raise ConfigError(f"--set {text!r}: expected table.key=value (e.g. cnn.lr=1e-3)")
    raw = raw.strip()
    try:
        value = tomllib.loads(f"value = {raw}")["value"]
    except tomllib.TOMLDecodeError:
        value = raw
    return name.split("."), value


def _suggest(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    return f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(sorted(known))}"


def _check_value(where: str, key: Key, value: Any) -> Any:
    kind = key.kind
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if kind is int and isinstance(value, bool) or not isinstance(value, kind):
        raise ConfigError(f"{where}: expected {kind.__name__}, found {type(value).__name__} {value!r}")
    if key.choices is not None and value not in key.choices:
        raise ConfigError(f"{where}: expected one of {', '.join(map(repr, key.choices))}, found {value!r}")
    if key.minimum is not None and value < key.minimum:
        raise ConfigError(f"{where}: must be >= {key.minimum}, found {value!r}")
    if key.maximum is not None and value > key.maximum:
        raise ConfigError(f"{where}: must be <= {key.maximum}, found {value!r}")
    return copy.deepcopy(value)


def merge(config: dict[str, Any], layer: Mapping[str, Any], source: str) -> dict[str, Any]:
    """``config`` with ``layer`` applied on top; every key of ``layer`` checked against
    the schema (``source`` names the layer in errors)."""
    def walk(target: dict, update: Mapping, schema: Mapping, prefix: str) -> None:
        for name, value in update.items():
            dotted = f"{prefix}{name}"
            if name not in schema:
                raise ConfigError(f"{source}: unknown config key {dotted!r}" + _suggest(name, list(schema)))
            entry = schema[name]
            if isinstance(entry, Mapping):
                if not isinstance(value, Mapping):
                    raise ConfigError(f"{source}: {dotted!r} is a table ([{dotted}]), found {value!r}")
                walk(target[name], value, entry, dotted + ".")
            else:
                if isinstance(value, Mapping) and entry.kind is not dict:
                    raise ConfigError(f"{source}: {dotted!r} is a value, not a table"
                                      + _suggest(next(iter(value), ""), list(schema)))
                target[name] = _check_value(f"{source}: {dotted}", entry, value)
    result = copy.deepcopy(config)
    walk(result, layer, SCHEMA, "")
    return result


def _check_lists(config: dict[str, Any]) -> None:
    tasks = config["method"]["tasks"]
    if not tasks or any(not isinstance(t, int) or isinstance(t, bool) or t not in (1, 2, 3) for t in tasks) \
            or len(set(tasks)) != len(tasks):
        raise ConfigError(f"method.tasks: expected distinct task numbers from 1 (EXPR), 2 (VA), 3 (EXPR_VA), "
                          f"e.g. [1, 2, 3]; found {tasks!r}")
    config["method"]["tasks"] = sorted(tasks)
    betas = config["cnn"]["betas"]
    if len(betas) != 2 or any(isinstance(b, bool) or not isinstance(b, (int, float)) or not 0 <= b < 1
                              for b in betas):
        raise ConfigError(f"cnn.betas: expected two numbers in [0, 1), found {betas!r}")
    config["cnn"]["betas"] = [float(b) for b in betas]
    betas = config["gru"]["betas"]
    if len(betas) != 2 or any(isinstance(b, bool) or not isinstance(b, (int, float)) or not 0 <= b < 1
                              for b in betas):
        raise ConfigError(f"gru.betas: expected two numbers in [0, 1), found {betas!r}")
    config["gru"]["betas"] = [float(b) for b in betas]
    gru = config["gru"]
    if gru["train_stride"] > gru["length"] or gru["eval_stride"] > gru["length"]:
        raise ConfigError(f"gru.train_stride and gru.eval_stride must be at most gru.length ({gru['length']}) so "
                          f"every frame is in a window; found {gru['train_stride']} and {gru['eval_stride']}")
    splits = config["data"]["affectnet_splits"]
    if not splits or any(s not in ("training", "validation") for s in splits) or len(set(splits)) != len(splits):
        raise ConfigError(f"data.affectnet_splits: expected 'training' and/or 'validation', found {splits!r}")
    device = config["runtime"]["device"]
    if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", device):
        raise ConfigError(f"runtime.device: expected auto, cpu, cuda or cuda:N, found {device!r}")


def resolve(preset: str | None = "paper", config_file: Path | None = None,
            overrides: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """The complete, checked config of the layers (see the module docstring)."""
    config = defaults()
    if preset:
        config = merge(config, read_toml(preset_path(preset)), f"preset {preset} ({preset_path(preset)})")
    return layered(config, config_file, overrides)


def layered(config: dict[str, Any], config_file: Path | None = None,
            overrides: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """``config`` (complete, e.g. a run's stored one without ``derived``) with a config
    file and ``--set`` overrides applied over it, checked as :func:`resolve` checks."""
    if config_file is not None:
        config = merge(config, read_toml(Path(config_file)), str(config_file))
    else:
        config = copy.deepcopy(config)
    for text in overrides:
        path, value = parse_override(text)
        layer: dict[str, Any] = {}
        cursor = layer
        for part in path[:-1]:
            cursor = cursor.setdefault(part, {})
        cursor[path[-1]] = value
        config = merge(config, layer, f"--set {text}")
    _check_lists(config)
    return config


def differences(a: Mapping[str, Any], b: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two configs."""
    out = []
    for name in sorted(set(a) | set(b)):
        left, right = a.get(name), b.get(name)
        if isinstance(left, Mapping) and isinstance(right, Mapping) and not (
                name == "backbone_args" or prefix == "derived."):
            out += differences(left, right, f"{prefix}{name}.")
        elif left != right:
            out.append(f"{prefix}{name}")
    return out


def without_seeds(config: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` with every key named ``seed`` removed, at any depth (for the run group)."""
    return {name: without_seeds(value) if isinstance(value, Mapping) else value
            for name, value in config.items() if name not in _SEED_KEYS}
