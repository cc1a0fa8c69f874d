"""Checks that the synthetic labels leave no identity shortcut, recorded in the manifest.

A network can memorise who is in a training video; if each video's labels sat near
their own mean, that alone would score well on the training split and nothing would be
learnt about faces. So every video's valence and arousal swing across the range and
its mean is close to 0. The numbers here measure it on the labels as written (valid
annotation lines):

* ``per_video_mean_ccc``: CCC of the predictor that gives every frame its own video's
  mean (the best any identity-only model can do), per split;
* ``between_video_share``: variance of the video means (frame-weighted) over the total
  variance;
* ``video_means``: spread of the per-video means, per split (balanced across splits);
* ``within_video_range``: the smallest max − min of any one video;
* EXPR: frames per class and split, distinct classes per video, and the score of the
  per-video majority class (the identity-only EXPR predictor).
"""

from __future__ import annotations

import warnings

import numpy as np

from abawbench.data.synth.plan import SPLIT_FOLDERS, Video
from abawbench.metrics import DegenerateInputWarning, accuracy, concordance_cc, expr_criterion, macro_f1
from abawbench.tracks import EXPR_CLASSES_8

APPEARANCE_NOTE = ("identity, background and lighting come from their own random stream, drawn apart from the "
                   "labels; every video's labels span the label space")


def _va_frames(video: Video) -> tuple[np.ndarray, np.ndarray]:
    keep = ~video.invalid["va"]
    return video.valence[: video.lines][keep], video.arousal[: video.lines][keep]


def _expr_frames(video: Video) -> np.ndarray:
    return video.expr[: video.lines][~video.invalid["expr"]]


def va_shortcut(videos: list[Video]) -> dict:
    """The VA numbers of the module docstring for one split's VA videos."""
    result: dict = {}
    for d, name in enumerate(("valence", "arousal")):
        series = [_va_frames(v)[d] for v in videos]
        series = [s for s in series if len(s)]
        truth = np.concatenate(series)
        means = np.array([s.mean() for s in series])
        oracle = np.concatenate([np.full(len(s), m) for s, m in zip(series, means)])
        weights = np.array([len(s) for s in series], dtype=np.float64)
        between = float(np.average((means - truth.mean()) ** 2, weights=weights))
        result[name] = {
            "per_video_mean_ccc": round(float(concordance_cc(oracle, truth)), 4),
            "between_video_share": round(between / float(truth.var()), 4),
            "video_means": {"mean": round(float(means.mean()), 4), "sd": round(float(means.std()), 4),
                            "min": round(float(means.min()), 4), "max": round(float(means.max()), 4)},
            "within_video_range": round(float(min(s.max() - s.min() for s in series)), 3),
        }
    return result


def expr_shortcut(videos: list[Video]) -> dict:
    """The EXPR numbers of the module docstring (8 classes) for one split's EXPR videos."""
    series = [s for s in (_expr_frames(v) for v in videos) if len(s)]
    truth = np.concatenate(series)
    majority = np.concatenate([np.full(len(s), np.bincount(s, minlength=8).argmax()) for s in series])
    f1, acc = macro_f1(truth, majority, 8), accuracy(truth, majority)
    distinct = [len(np.unique(s)) for s in series]
    return {
        "class_frames": {c: int((truth == k).sum()) for k, c in enumerate(EXPR_CLASSES_8)},
        "classes_per_video": {"min": int(min(distinct)), "mean": round(float(np.mean(distinct)), 2)},
        "per_video_majority": {"f1": round(float(f1), 4), "accuracy": round(float(acc), 4),
                               "criterion": round(float(expr_criterion(f1, acc)), 4)},
    }


def shortcut_checks(videos: list[Video]) -> dict:
    """``{"appearance": note, "va": {split: ...}, "expr": {split: ...}}`` for the manifest."""
    checks: dict = {"appearance": APPEARANCE_NOTE, "va": {}, "expr": {}}
    with warnings.catch_warnings():
        # A split of one video makes the per-video-mean predictor constant: CCC 0, as documented.
        warnings.simplefilter("ignore", DegenerateInputWarning)
        for split in SPLIT_FOLDERS:
            for track, measure in (("va", va_shortcut), ("expr", expr_shortcut)):
                members = [v for v in videos if v.split == split and track in v.tracks]
                if members:
                    checks[track][split] = measure(members)
    return checks
