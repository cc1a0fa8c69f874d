"""The plan of the synthetic Aff-Wild2: which videos exist, their splits and tracks,
identities, labels, planted quirks and ambiguity events. Nothing is drawn here, so the
plan of any size is cheap to make and to test.

Independent random streams (spawned from one seed) keep the parts apart: changing how
identities are drawn cannot move a label, and the labels are drawn without looking at
anyone's appearance.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from abawbench.data.synth.effects import Event, plan_events
from abawbench.data.synth.faces import Identity, random_identity
from abawbench.data.synth.labels import ExpressionDeck, action_units, affect_walk, expression_segments

SPLIT_FOLDERS = {"train": "Train_Set", "validation": "Validation_Set"}
OTHER = 7  # "Other", Aff-Wild2's 8th class (ABAW3+)

_SINGLE_NAMES = ("1-30-1280x720", "118-30-640x480", "video10_1", "2-30-640x360", "video59",
                 "135-24-1920x1080", "46-30-484x360", "video74", "13-30-1920x1080", "282", "video2",
                 "44-25-426x240", "24-30-1920x1080-1", "video49", "120-30-1280x720", "8-30-1280x720")
_PAIR_NAMES = ("10-60-1280x720", "30-30-1920x1080", "video55", "52-30-1280x720")
# EXPR and VA each in four of six videos of either split, so validation gets as many
# videos per track as train does in proportion.
_TRAIN_TRACKS = (("expr", "va", "au"), ("expr", "va"), ("expr",), ("va",), ("expr", "au"), ("va", "au"))
_VALIDATION_TRACKS = (("expr", "va"), ("expr",), ("va", "au"), ("expr", "va", "au"), ("va",), ("expr", "au"))


def video_names(n: int) -> list[list[str]]:
    """``n`` realistic Aff-Wild2 names grouped in units: a unit is one video or a
    ``_left``/``_right`` pair (third unit, then every 10 videos), kept in one split."""
    units, count, singles, pairs = [], 0, 0, 0
    while count < n:
        if count % 10 == 2 and n - count >= 2:
            base = _PAIR_NAMES[pairs] if pairs < len(_PAIR_NAMES) else f"{200 + pairs}-30-1280x720"
            units.append([f"{base}_left", f"{base}_right"])
            pairs += 1
            count += 2
        else:
            name = _SINGLE_NAMES[singles] if singles < len(_SINGLE_NAMES) else \
                (f"video{300 + singles}" if singles % 2 else f"{300 + singles}-30-640x480")
            units.append([name])
            singles += 1
            count += 1
    return units


@dataclass
class Video:
    """One planned Aff-Wild2 video. Label arrays cover ``max(frames, lines)`` frames."""

    name: str
    split: str | None
    tracks: tuple[str, ...]
    frames: int
    lines: int
    identity: Identity
    expr: np.ndarray       # (n,) 0-7
    valence: np.ndarray    # (n,) 3 decimals
    arousal: np.ndarray
    au: np.ndarray         # (n, 12)
    invalid: dict          # track -> bool mask (lines,)
    missing: list          # 1-based frame numbers without a crop
    corrupt: dict          # 1-based frame -> "truncated" | "garbage"
    events: list[Event] = field(default_factory=list)
    render_seed: int = 0   # seeds the drawing stream (pose shake, noise, background)


def segment_lengths(frames: int) -> tuple[int, int]:
    """Expression segment lengths for videos of about ``frames`` frames: some six
    segments per video, never shorter than 6 frames."""
    return max(6, frames // 12), max(12, frames // 4)


def plan_videos(seed: int | np.random.SeedSequence, videos: int, frames: int) -> list[Video]:
    """The plan of ``videos`` videos of about ``frames`` frames (±1/6), deterministic in
    ``seed``."""
    sequence = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    quirks, labels, looks, ambiguity, drawing = (np.random.default_rng(s) for s in sequence.spawn(5))

    plan: list[tuple[str, str | None, tuple[str, ...]]] = []
    n_train = n_validation = 0
    for u, unit in enumerate(video_names(videos)):
        if u % 3 == 1:
            split, tracks = "validation", _VALIDATION_TRACKS[n_validation % len(_VALIDATION_TRACKS)]
            n_validation += 1
        else:
            split, tracks = "train", _TRAIN_TRACKS[n_train % len(_TRAIN_TRACKS)]
            n_train += 1
        plan += [(name, split, tracks) for name in unit]
    if videos >= 10:  # like the test videos of the real cropped_aligned: crops, no labels
        plan[-1] = (plan[-1][0], None, ())

    annotated = [i for i, (_, split, _) in enumerate(plan) if split]
    order = quirks.permutation(annotated)
    deltas = {int(order[0]): -2, int(order[1]): +3, int(order[2]): 0}  # others: +1 (organisers' count)
    decks = {split: ExpressionDeck(labels) for split in ("train", "validation", None)}
    seg = segment_lengths(frames)
    out = []
    for i, (name, split, tracks) in enumerate(plan):
        n_frames = int(frames + quirks.integers(-(frames // 6), frames // 6 + 1))
        n_lines = n_frames + deltas.get(i, 1)
        length = max(n_frames, n_lines)
        expr = expression_segments(labels, length, length=seg, deck=decks[split])
        valence = np.round(affect_walk(labels, length), 3)
        arousal = np.round(affect_walk(labels, length), 3)
        au = action_units(labels, expr)
        invalid = {}
        for track in ("expr", "va", "au"):
            mask = np.zeros(n_lines, dtype=bool)
            # The first annotated video of each track always gets a run, so every
            # track shows one; the others with probability one half.
            first = track in tracks and all(track not in v.tracks for v in out)
            if track in tracks and (first or quirks.random() < 0.5):
                run = int(quirks.integers(4, max(6, n_frames // 8)))
                start = int(quirks.integers(0, n_lines - run))
                mask[start:start + run] = True
            invalid[track] = mask
        # Never the last frame: its crop is how a reader sees the video's length.
        missing = set(int(f) for f in quirks.choice(np.arange(1, n_frames), int(quirks.integers(0, 3)), replace=False))
        out.append(Video(name, split, tracks, n_frames, n_lines, random_identity(looks), expr, valence, arousal,
                         au, invalid, sorted(missing), {}, plan_events(ambiguity, n_frames),
                         int(drawing.integers(2 ** 63))))

    # A run of frames without a face (detector lost it) in the first training EXPR video,
    # and the corrupt files elsewhere so the two quirks can be told apart.
    expr_train = [v for v in out if v.split == "train" and "expr" in v.tracks]
    runner = expr_train[0]
    run = max(4, runner.frames // 12)
    start = runner.frames // 3
    runner.missing = sorted(set(runner.missing) | set(range(start, start + run)))
    target = expr_train[1] if len(expr_train) > 1 else runner
    _add_corrupt(quirks, target, "truncated")
    if videos >= 8:
        va_videos = [v for v in out if v.split and "va" in v.tracks and v is not target]
        _add_corrupt(quirks, va_videos[-1], "garbage")
    return out


def _add_corrupt(rng: np.random.Generator, video: Video, kind: str) -> None:
    candidates = sorted(set(range(1, video.frames + 1)) - set(video.missing))
    video.corrupt[int(candidates[int(rng.integers(len(candidates)))])] = kind


def expr_lines(video: Video, classes: tuple[str, ...]) -> tuple[np.ndarray, int]:
    """EXPR values to write (lines,) and how many frames of class Other became -1 (the
    7-class files of ABAW2 write Other as -1)."""
    values = video.expr[: video.lines].copy()
    other = 0
    if len(classes) == 7:
        is_other = (values == OTHER) & ~video.invalid["expr"]
        other = int(is_other.sum())
        values[values == OTHER] = -1
    values[video.invalid["expr"]] = -1
    return values, other
