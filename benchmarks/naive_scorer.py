"""The scorer a participant writes with pandas and scikit-learn: the baseline of
``bench_scoring.py``, run as its own process so that its imports count as abawbench's do.

    python benchmarks/naive_scorer.py TRACK SHAPE GROUND_TRUTH PREDICTIONS

TRACK expr|va|au|mtl; SHAPE per-video (a folder of <video>.txt) or image_location (one
file); GROUND_TRUTH the split folder of per-video annotation files (the MTL annotation
file for mtl). Prints the pooled and per-video metrics as JSON. F1 is scikit-learn's
macro F1 over the classes present (every class occurs in the benchmark's data, so the
papers' rule gives the same number).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score

INVALID = {"expr": -1, "va": -5, "au": -1}


def ccc(x, y) -> float:
    x, y = np.asarray(x, float), np.asarray(y, float)
    covariance = np.mean((x - x.mean()) * (y - y.mean()))
    return float(2 * covariance / (x.var() + y.var() + (x.mean() - y.mean()) ** 2))


def uni_task(track: str, truth: np.ndarray, prediction: np.ndarray) -> dict:
    if track == "expr":
        return {"f1": float(f1_score(truth[:, 0], prediction[:, 0], average="macro"))}
    if track == "va":
        valence, arousal = ccc(prediction[:, 0], truth[:, 0]), ccc(prediction[:, 1], truth[:, 1])
        return {"mean": (valence + arousal) / 2, "valence": valence, "arousal": arousal}
    return {"f1": float(np.mean([f1_score(truth[:, a], prediction[:, a], zero_division=0)
                                 for a in range(truth.shape[1])]))}


def read_ground_truth(folder: Path, track: str) -> dict[str, pd.DataFrame]:
    # an EXPR file names 8 classes but holds one number a row: keep the first column
    return {path.stem: pd.read_csv(path).iloc[:, :1] if track == "expr" else pd.read_csv(path)
            for path in sorted(folder.glob("*.txt"))}


def score_uni_task(track: str, shape: str, folder: Path, predictions: Path) -> dict:
    truths = read_ground_truth(folder, track)
    if shape == "image_location":
        submission = pd.read_csv(predictions)
        frames = []
        for video, table in truths.items():
            table = table.copy()
            table["image_location"] = [f"{video}/{i:05d}.jpg" for i in range(1, len(table) + 1)]
            table["video"] = video
            frames.append(table)
        merged = pd.concat(frames).merge(submission, on="image_location", suffixes=("", "_pred"))
        columns = list(truths[next(iter(truths))].columns)
        groups = {video: (table[columns].to_numpy(), table[[c + "_pred" for c in columns]].to_numpy())
                  for video, table in merged.groupby("video", sort=True)}
    else:
        groups = {video: (table.to_numpy(), pd.read_csv(predictions / f"{video}.txt").iloc[:, :table.shape[1]].to_numpy())
                  for video, table in truths.items()}
    per_video, truth_all, prediction_all = {}, [], []
    for video, (truth, prediction) in groups.items():
        keep = ~(truth == INVALID[track]).any(axis=1)
        truth, prediction = truth[keep], prediction[keep]
        if len(truth):
            per_video[video] = uni_task(track, truth, prediction)
            truth_all.append(truth)
            prediction_all.append(prediction)
    return {"metrics": uni_task(track, np.concatenate(truth_all), np.concatenate(prediction_all)),
            "per_video": per_video}


def mtl_scores(table: pd.DataFrame) -> dict:
    va = table[(table.valence != -5) & (table.arousal != -5)]
    expr = table[table.expression != -1]
    aus = [f"au{i}" for i in range(12)]
    au = table[(table[aus] != -1).all(axis=1)]
    scores = {}
    if len(va):
        scores["valence"], scores["arousal"] = ccc(va.valence_pred, va.valence), ccc(va.arousal_pred, va.arousal)
        scores["va_mean"] = (scores["valence"] + scores["arousal"]) / 2
    if len(expr):
        scores["expr_f1"] = float(f1_score(expr.expression, expr.expression_pred, average="macro"))
    if len(au):
        scores["au_f1"] = float(np.mean([f1_score(au[a], au[a + "_pred"], zero_division=0) for a in aus]))
    if len(scores) == 5:
        scores["mtl"] = scores["va_mean"] + scores["expr_f1"] + scores["au_f1"]
    return scores


def score_mtl(truth_path: Path, predictions: Path) -> dict:
    names = ["image", "valence", "arousal", "expression"] + [f"au{i}" for i in range(12)]
    truth = pd.read_csv(truth_path, skiprows=1, header=None, names=names)
    prediction = pd.read_csv(predictions, skiprows=1, header=None, names=names)
    merged = truth.merge(prediction, on="image", suffixes=("", "_pred"))
    merged["video"] = merged.image.str.rsplit("/", n=1).str[0]
    return {"metrics": mtl_scores(merged),
            "per_video": {video: mtl_scores(table) for video, table in merged.groupby("video", sort=True)}}


def main() -> None:
    track, shape, truth, predictions = sys.argv[1], sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4])
    result = score_mtl(truth, predictions) if track == "mtl" else score_uni_task(track, shape, truth, predictions)
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
