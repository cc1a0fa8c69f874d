"""What real video has and single frames lack: short runs of frames that are ambiguous on
their own, and the per-video setting (background, lighting, sensor noise).

An *ambiguity event* disturbs a few consecutive frames while the labels go on smoothly:

==============  =======  ===================================================================
kind            frames   what the frame shows
==============  =======  ===================================================================
occlusion       4-10     a hand or an object slides over the mouth, the eyes or a cheek
head_turn       4-10     the head turns (up to ~45°) and tilts, then turns back
motion_blur     2-5      a directional blur of up to 18 px (at 112 px)
flash           1-3      a lighting flash (washed out) or a sudden dark frame
flicker         1-3      a label-irrelevant expression: the face shows another class and
                         other valence/arousal than the labels say
==============  =======  ===================================================================

Each event's strength rises and falls over its frames (:func:`effect_tracks`), so a
temporal model sees it coming and going; its neighbours carry the information it hides.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw

from abawbench.data.synth.faces import Identity

EVENT_KINDS = ("occlusion", "head_turn", "motion_blur", "flash", "flicker")
#: Probability of each kind, and its length range in frames (inclusive).
EVENT_WEIGHTS = (0.3, 0.2, 0.2, 0.15, 0.15)
EVENT_LENGTHS = {"occlusion": (4, 10), "head_turn": (4, 10), "motion_blur": (2, 5), "flash": (1, 3),
                 "flicker": (1, 3)}
#: Share of a video's frames that events cover, on average.
EVENT_SHARE = 0.16


@dataclass(frozen=True)
class Event:
    """One ambiguity event on frames ``first`` … ``first + length - 1`` (0-based) of a video."""

    kind: str
    first: int
    length: int
    params: dict = field(default_factory=dict, compare=False)

    def as_manifest(self) -> dict:
        """The manifest's record: kind and 1-based first/last frame numbers."""
        return {"kind": self.kind, "first": self.first + 1, "last": self.first + self.length}


def plan_events(rng: np.random.Generator, n: int, share: float = EVENT_SHARE) -> list[Event]:
    """Non-overlapping events over an ``n``-frame video covering about ``share`` of it,
    separated by geometric gaps."""
    mean_length = sum(w * (lo + hi) / 2 for w, (lo, hi) in zip(EVENT_WEIGHTS, EVENT_LENGTHS.values()))
    mean_gap = mean_length * (1 - share) / share
    events = []
    t = int(rng.integers(0, int(mean_gap) + 1))
    while True:
        kind = EVENT_KINDS[int(rng.choice(len(EVENT_KINDS), p=EVENT_WEIGHTS))]
        lo, hi = EVENT_LENGTHS[kind]
        length = int(rng.integers(lo, hi + 1))
        if t + length > n:
            return events
        events.append(Event(kind, t, length, _event_params(rng, kind)))
        t += length + int(rng.geometric(1 / mean_gap))


def _event_params(rng: np.random.Generator, kind: str) -> dict:
    if kind == "occlusion":
        return {"occluder": ("hand", "mug", "phone")[int(rng.choice(3, p=(0.5, 0.25, 0.25)))],
                "target": ("mouth", "eyes", "cheek")[int(rng.choice(3, p=(0.5, 0.3, 0.2)))],
                "side": int(rng.choice((-1, 1))), "from": float(rng.uniform(0, 2 * np.pi)),
                "colour": tuple(int(c) for c in rng.integers(20, 235, 3))}
    if kind == "head_turn":
        return {"yaw": float(rng.choice((-1, 1)) * rng.uniform(0.55, 0.8)), "roll": float(rng.uniform(-18, 18))}
    if kind == "motion_blur":
        return {"pixels": float(rng.uniform(8, 18)), "angle": float(rng.uniform(0, np.pi))}
    if kind == "flash":
        bright = bool(rng.random() < 0.6)
        return {"gain": float(rng.uniform(1.6, 2.3)) if bright else float(rng.uniform(0.2, 0.35)),
                "lift": float(rng.uniform(40, 90)) if bright else 0.0}
    return {"expr": int(rng.integers(8)), "valence": float(rng.uniform(-1, 1)), "arousal": float(rng.uniform(-1, 1))}


@dataclass
class EffectTracks:
    """Per-frame effect values of one video, (n,) arrays."""

    kind: np.ndarray        # index into EVENT_KINDS + 1; 0 = clean frame
    strength: np.ndarray    # 0-1 envelope of the frame's event
    event: np.ndarray       # index of the frame's event in the list, -1 = none


def effect_tracks(events: list[Event], n: int) -> EffectTracks:
    """The events as per-frame arrays; strength is a half-sine over each event (at
    least 0.6, so even the first and last frames are disturbed)."""
    kind = np.zeros(n, dtype=np.int8)
    strength = np.zeros(n, dtype=np.float64)
    index = np.full(n, -1, dtype=np.int64)
    for i, e in enumerate(events):
        frames = slice(e.first, e.first + e.length)
        kind[frames] = EVENT_KINDS.index(e.kind) + 1
        strength[frames] = 0.6 + 0.4 * np.sin(np.pi * (np.arange(e.length) + 0.5) / e.length)
        index[frames] = i
    return EffectTracks(kind, strength, index)


def affected_mask(events: list[Event], n: int) -> np.ndarray:
    """(n,) bool: frames covered by an event."""
    return effect_tracks(events, n).kind > 0


# --------------------------------------------------------------------------- the setting


def background_canvas(identity: Identity, rng: np.random.Generator, side: int) -> Image.Image:
    """A ``side``-pixel square behind the face: a vertical gradient from the identity's
    background to its accent colour and a few soft-edged shapes (a room)."""
    a = np.array(identity.background, dtype=np.float64)
    b = np.array(identity.background_accent or identity.background, dtype=np.float64)
    t = np.linspace(0, 1, side)[:, None, None]
    pixels = np.broadcast_to(a + (b - a) * t * 0.6, (side, side, 3)).astype(np.uint8)
    image = Image.fromarray(np.ascontiguousarray(pixels))
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(1, 4))):
        x0, y0 = rng.uniform(-0.2, 0.9, 2) * side
        w, h = rng.uniform(0.15, 0.5, 2) * side
        colour = tuple(int(c) for c in np.clip(a * 0.6 + rng.integers(0, 256, 3) * 0.4, 0, 255))
        if rng.random() < 0.5:
            draw.rectangle([x0, y0, x0 + w, y0 + h], fill=colour)
        else:
            draw.ellipse([x0, y0, x0 + w, y0 + h], fill=colour)
    return image


def light_map(identity: Identity, size: int) -> np.ndarray:
    """Per-column gain of the identity's side light, (1, size, 1) float32."""
    left, right = identity.light
    return np.linspace(left, right, size, dtype=np.float32)[None, :, None]


class NoiseBank:
    """Sensor noise for one video: a few precomputed fields of uniform integer noise in
    [-amplitude, amplitude]; each frame takes a random window of one of them."""

    def __init__(self, rng: np.random.Generator, size: int, amplitude: int = 6, fields: int = 4, margin: int = 16):
        self.rng = rng
        self.size = size
        self.margin = margin
        shape = (fields, size + margin, size + margin, 3)
        self.fields = rng.integers(-amplitude, amplitude + 1, shape).astype(np.float32)

    def sample(self) -> np.ndarray:
        j, dy, dx = self.rng.integers(len(self.fields)), *self.rng.integers(0, self.margin + 1, 2)
        return self.fields[j, dy:dy + self.size, dx:dx + self.size]


# --------------------------------------------------------------------------- painting events


def paint_occluder(draw: ImageDraw.ImageDraw, params: dict, progress: float, centre, scale: float,
                   identity: Identity, eye_spacing: float) -> None:
    """A hand or an object over part of the face (``centre`` and ``scale`` in canvas
    pixels); ``progress`` 0-1 slides it in from ``params['from']`` (an angle)."""
    target = {"mouth": (0.0, 0.2), "eyes": (params["side"] * eye_spacing, -0.09),
              "cheek": (params["side"] * 0.17, 0.08)}[params["target"]]
    travel = (1 - min(1.0, progress * 1.6)) * 0.75
    x = centre[0] + scale * (target[0] + travel * np.cos(params["from"]))
    y = centre[1] + scale * (target[1] + travel * np.sin(params["from"]))
    s = scale
    if params["occluder"] == "hand":
        skin = tuple(int(c * 0.93) for c in identity.skin)
        edge = tuple(int(c * 0.7) for c in identity.skin)
        finger = max(2, round(0.045 * s))
        for dx in (-0.075, -0.025, 0.025, 0.075):
            draw.line([(x + dx * s, y + 0.02 * s), (x + dx * 1.3 * s, y - 0.16 * s)], fill=edge, width=finger + 2)
            draw.line([(x + dx * s, y + 0.02 * s), (x + dx * 1.3 * s, y - 0.16 * s)], fill=skin, width=finger)
        draw.line([(x - 0.09 * s, y + 0.08 * s), (x - 0.18 * s, y - 0.01 * s)], fill=skin, width=finger + 1)
        draw.ellipse([x - 0.11 * s, y - 0.04 * s, x + 0.11 * s, y + 0.16 * s], fill=skin, outline=edge,
                     width=max(1, round(0.01 * s)))
    elif params["occluder"] == "mug":
        colour = params["colour"]
        draw.ellipse([x + 0.07 * s, y - 0.06 * s, x + 0.19 * s, y + 0.08 * s], outline=colour,
                     width=max(2, round(0.03 * s)))
        draw.rounded_rectangle([x - 0.12 * s, y - 0.1 * s, x + 0.11 * s, y + 0.16 * s], radius=0.03 * s, fill=colour)
        draw.ellipse([x - 0.12 * s, y - 0.13 * s, x + 0.11 * s, y - 0.07 * s], fill=tuple(c // 2 for c in colour))
    else:  # phone
        draw.rounded_rectangle([x - 0.09 * s, y - 0.17 * s, x + 0.09 * s, y + 0.17 * s], radius=0.025 * s,
                               fill=(25, 25, 30))
        draw.rounded_rectangle([x - 0.075 * s, y - 0.14 * s, x + 0.075 * s, y + 0.14 * s], radius=0.015 * s,
                               fill=params["colour"])


def motion_blur(pixels: np.ndarray, length: float, angle: float) -> np.ndarray:
    """A (H, W, 3) float image averaged along a ``length``-pixel segment at ``angle``
    (radians; edges clamped)."""
    taps = max(2, int(round(length)))
    offsets = (np.arange(taps) - (taps - 1) / 2) * (length / taps)
    dx, dy = np.round(offsets * np.cos(angle)).astype(int), np.round(offsets * np.sin(angle)).astype(int)
    pad = int(max(np.abs(dx).max(), np.abs(dy).max()))
    padded = np.pad(pixels, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
    h, w = pixels.shape[:2]
    out = np.zeros_like(pixels)
    for x, y in zip(dx, dy):
        out += padded[pad + y:pad + y + h, pad + x:pad + x + w]
    return out / taps
