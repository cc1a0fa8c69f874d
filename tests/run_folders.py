"""Run folders as the run-folder contract (helpers/RUN_CONTRACT.md) describes them, built for
the compare / leaderboard / report tests: predictions written over real ground truth and
scored by the real ``abawbench.scoring.score``."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from abawbench import formats, scoring
from abawbench.tracks import track_spec


def predictions_for(data: Path, track: str, quality: float, seed: int, edition: str = "abaw2",
                    split: str = "validation", better_videos: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """Per-video predictions over the ground truth of ``data``: EXPR keeps the true class with
    probability ``quality`` (else a random class); VA adds noise of scale 1 − ``quality``.
    Videos in ``better_videos`` are predicted perfectly (invalid frames aside)."""
    truth = scoring.load_ground_truth(data, track, split, edition)
    rng = np.random.default_rng(seed)
    out = {}
    for video, values in zip(truth.videos, truth.values):
        values = np.asarray(values)
        if track == "expr":
            k = truth.spec.n_classes
            random = rng.integers(0, k, size=values.shape)
            keep = rng.random(values.shape) < quality
            prediction = np.where(keep & (values >= 0), values, random)
            if video in better_videos:
                prediction = np.where(values >= 0, values, random)
        else:
            noise = rng.normal(0, 1 - quality + 0.05, size=values.shape)
            prediction = np.clip(np.where(values == -5, 0.0, values) + noise, -1, 1).round(4)
            if video in better_videos:
                prediction = np.where(values == -5, 0.0, values)
        out[video] = prediction
    return out


def write_predictions(folder: Path, track: str, predictions: dict, edition: str = "abaw2") -> Path:
    formats.write_per_video(folder, track_spec(edition, track), predictions)
    return folder


def config_group(config: dict) -> str:
    """run.json ``group``: sha1 of the canonical config without seeds, 12 hex digits."""
    def strip(value):
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k != "seed"}
        return value
    return hashlib.sha1(json.dumps(strip(config), sort_keys=True).encode()).hexdigest()[:12]


def make_run(folder: Path, data: Path, seed: int = 0, quality: float = 0.6, tasks=(1, 2, 3), shared: bool = True,
             gru: bool = False, stages: tuple[str, ...] = ("cnn-teacher", "cnn-student"), synthetic: bool | None = True,
             tracks: tuple[str, ...] = ("expr", "va"), edition: str = "abaw2", stage_quality: dict | None = None,
             preset: str = "tiny", extra_config: dict | None = None, metrics_lines: bool = True) -> Path:
    """A finished run folder: run.json, metrics.jsonl, predictions/validation/<track>/ and
    scores/<stage>-validation-<track>.json for every stage plus the final
    scores/validation-<track>.json (= the last stage's). ``stage_quality[stage]``
    overrides ``quality`` for one stage."""
    folder = Path(folder)
    config = {"preset": preset, "seed": seed, "method": {"tasks": list(tasks), "shared_annotations": shared, "gru": gru},
              "train": {"epochs": 3, "lr": 1e-4, "seed": seed}, **(extra_config or {})}
    stage_records = {}
    (folder / "scores").mkdir(parents=True, exist_ok=True)
    lines = []
    for index, stage in enumerate(stages):
        q = (stage_quality or {}).get(stage, quality)
        validation = {}
        for track in tracks:
            predictions = predictions_for(data, track, q, seed * 100 + index, edition)
            target = folder / "predictions" / "validation" / track
            stage_folder = write_predictions(folder / "stage-predictions" / stage / track, track, predictions, edition)
            result = scoring.score(stage_folder, data, track, edition, resamples=200, seed=0)
            (folder / "scores" / f"{stage}-validation-{track}.json").write_text(json.dumps(result))
            if stage == stages[-1]:
                write_predictions(target, track, predictions, edition)
                final = scoring.score(target, data, track, edition, resamples=200, seed=0)
                (folder / "scores" / f"validation-{track}.json").write_text(json.dumps(final))
            if track == "expr":
                validation.update(expr_criterion=result["metrics"].get("criterion"), expr_f1=result["metrics"]["f1"],
                                  expr_acc=result["metrics"]["acc"])
            elif track == "va":
                validation.update(valence=result["metrics"]["valence"], arousal=result["metrics"]["arousal"],
                                  va_mean=result["metrics"]["mean"])
        validation["score"] = sum(validation.get(k) or 0.0 for k in ("expr_criterion", "valence", "arousal"))
        stage_records[stage] = {"status": "finished", "epochs": 3, "best_epoch": 2, "validation": validation}
        for epoch in range(3):
            scale = (epoch + 1) / 3
            lines.append({"stage": stage, "epoch": epoch, "step": 10 * (epoch + 1), "time": "2026-12-02T22:00:00+00:00",
                          "seconds": 1.5, "images_per_s": 800.0, "lr": 1e-4,
                          "train": {"loss": 2.0 - 0.3 * epoch - 0.2 * index, "expr": 1.0 - 0.1 * epoch},
                          "validation": {k: (v * scale if v is not None else None) for k, v in validation.items()},
                          "best": epoch == 2})
    run = {"schema": 1, "kind": "abawbench-run", "method": "paper-baseline", "preset": preset, "config": config,
           "seed": seed, "group": config_group(config),
           "data": {"root": str(Path(data).parent), "affwild2": str(data), "edition": edition, "synthetic": synthetic},
           "command": ["abawbench", "train", "paper-baseline", "--data", str(data)],
           "versions": {"abawbench": "0.1.0", "python": "3.11.7"}, "git": {"commit": "0" * 40, "dirty": False},
           "device": {"type": "cpu", "name": "cpu", "world_size": 1, "amp": None},
           "started": "2026-12-02T22:00:00+00:00", "finished": "2026-12-02T22:05:00+00:00", "status": "finished",
           "stages": stage_records, "final_stage": stages[-1]}
    if synthetic is None:
        del run["data"]["synthetic"]
    (folder / "run.json").write_text(json.dumps(run, indent=2))
    if metrics_lines:
        (folder / "metrics.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    return folder
