"""Synthetic Aff-Wild2 + external databases in their exact on-disk layouts.

``synthesize(out)`` writes a small dataset that every abawbench reader, the demo and
the tests can use without licensed data. Faces are drawn with PIL so that what the
labels say is visible: the expression shapes mouth, eyes and brows
(:data:`EXPRESSION_SHAPES`), valence bends the mouth, arousal opens the eyes and lifts
the brows, and each video has its own identity (skin, face shape, hair, background).
Valence/arousal follow a slow random walk and expressions come in segments of tens of
frames, so a temporal model has something to gain over a per-frame one.

Written under ``out``::

    affwild2_abaw2/cropped_aligned/<video>/00001.jpg
    affwild2_abaw2/annotations/{EXPR_Set,VA_Set,AU_Set}/{Train_Set,Validation_Set}/<video>.txt
    affwild2_abaw6/cropped_aligned/<video>/00001.jpg            (same pictures)
    affwild2_abaw6/6th ABAW Annotations/{EXPR_Recognition_Challenge,VA_Estimation_Challenge,
                                         AU_Detection_Challenge}/{Train_Set,Validation_Set}/<video>.txt
    expw/label/label.lst, expw/image/origin/*.jpg
    afew_va/<clip>/00000.png …, afew_va/<clip>/<clip>.json
    affectnet/Manually_Annotated_file_lists/{training,validation}.csv
    affectnet/Manually_Annotated_Images/<subdir>/<file>.jpg
    manifest.json

The synthetic videos carry 8 expression classes (Aff-Wild2 order plus 7 "Other"); the
ABAW2 files, whose header has 7 classes, write the "Other" frames as -1 as the 7-class
editions did, the ABAW6 files keep 7.

Planted quirks (each listed in the manifest): frames without a crop (single gaps and
one run), corrupt JPEGs in ``cropped_aligned`` (one truncated, one garbage when there
are 8+ videos), invalid runs (EXPR -1, VA -5,-5, AU -1 in every column), annotation
files one line longer than the video (the usual case), some a few lines longer or
shorter and one exact, a ``_left``/``_right`` pair, videos annotated for EXPR and VA
("shared") in both splits, videos with one track only, an unannotated (test) video
when there are 10+ videos; in the external sets one unreadable image each, ExpW
pictures with two faces, AffectNet rows of classes 7-10 and kept rows with VA -2.

Manifest schema (``manifest.json``; all keys are strings, frames are 1-based)::

    {"generator": "abawbench.data.synth", "schema": 1, "seed": int,
     "parameters": {"videos", "frames", "size", "jpeg_quality", "expw_images",
                    "afew_va_clips", "afew_va_frames", "affectnet_training",
                    "affectnet_validation"},
     "affwild2_abaw2" | "affwild2_abaw6": {
        "root": "affwild2_abaw2", "edition": "abaw2" | "abaw6",
        "tracks": {"expr" | "va" | "au": {
            "folder": annotation folder relative to root, "header": str,
            "splits": {"train" | "validation": {
                "folder": str, "videos": [names],
                "annotation_lines": int,        # data lines (header excluded), summed
                "valid": int, "invalid": int,   # lines with a valid / the invalid label
                "valid_with_crop": int,         # valid lines whose crop file exists
                "valid_with_readable_crop": int}}}},   # ... and is not corrupt
        "videos": {name: {"split": "train"|"validation"|null, "tracks": [...],
                   "frames": int,               # real frames of the video
                   "crops_present": int,        # files in cropped_aligned/<video>/
                   "missing_crops": [int], "corrupt_crops": [int],
                   "annotation_lines": {track: int}}},
        "shared_videos": {"train": [...], "validation": [...]},
        "single_track_videos": [...], "unannotated_videos": [...],
        "left_right_pairs": [[left, right]],
        "count_mismatches": [{"video", "track", "annotation_lines", "frames"}],
        "other_as_invalid": int,         # ABAW2 only: EXPR lines of class Other written -1
        "totals": {"videos", "frames", "crops_present", "missing_crops", "corrupt_crops"}},
     "expw": {"root": "expw", "images": int, "faces": int, "rows": int,
              "two_face_images": [names], "corrupt_images": [names],
              "label_order": [...],
              "samples": [{"image", "face_id", "box": [top, left, right, bottom],
                           "label": ExpW label, "expr": Aff-Wild2 class drawn,
                           "valence", "arousal": drawn, "corrupt": bool}]},
     "afew_va": {"root": "afew_va", "clips": int, "frames": int, "image_size": [w, h],
                 "corrupt_frames": [[clip, key]],
                 "samples": {clip: {"actor", "keys": [...], "valence": [ints],
                                    "arousal": [ints], "expr": [drawn classes]}}},
     "affectnet": {"root": "affectnet", "label_order": [...],
                   "splits": {"training" | "validation": {
                       "rows": int, "kept": int, "dropped": {class: rows},
                       "invalid_va_kept": int, "corrupt_images": [paths],
                       "samples": [{"path": subDirectory_filePath, "line": int,
                                    "expression": AffectNet label, "expr": Aff-Wild2 class
                                    drawn or null (dropped), "valence", "arousal": as
                                    written (-2 = none), "valence_drawn", "arousal_drawn",
                                    "corrupt": bool}]}}}}
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from abawbench.data.afew_va import AFEW_VA_SCALE
from abawbench.data.affectnet import (AFFECTNET_CLASSES, AFFECTNET_COLUMNS, AFFECTNET_DROPPED,
                                      AFFECTNET_INVALID_VA, AFFECTNET_TO_AFFWILD2, IMAGE_FOLDER, LIST_FOLDER)
from abawbench.data.expw import EXPW_CLASSES, EXPW_TO_AFFWILD2
from abawbench.tracks import AU_NAMES_12, EXPR_CLASSES_7, EXPR_CLASSES_8, VA_COLUMNS

JPEG_QUALITY = 90
FACE_SIZE = 112
SPLIT_FOLDERS = {"train": "Train_Set", "validation": "Validation_Set"}
LAYOUTS = {
    "affwild2_abaw2": {"edition": "abaw2", "classes": EXPR_CLASSES_7, "folders": {
        "expr": "annotations/EXPR_Set", "va": "annotations/VA_Set", "au": "annotations/AU_Set"}},
    "affwild2_abaw6": {"edition": "abaw6", "classes": EXPR_CLASSES_8, "folders": {
        "expr": "6th ABAW Annotations/EXPR_Recognition_Challenge",
        "va": "6th ABAW Annotations/VA_Estimation_Challenge",
        "au": "6th ABAW Annotations/AU_Detection_Challenge"}},
}
OTHER = 7  # "Other", Aff-Wild2's 8th class (ABAW3+)

# Inverse label maps, built from the readers' maps so each fact lives once.
AFFWILD2_TO_EXPW = tuple(EXPW_TO_AFFWILD2.index(c) for c in range(7))
AFFWILD2_TO_AFFECTNET = tuple(AFFECTNET_TO_AFFWILD2.index(c) for c in range(7))


@dataclass(frozen=True)
class ExpressionShape:
    """How one expression deforms the face; lengths are fractions of the face size.

    ``curve`` > 0 lifts the mouth corners (smile); ``mouth_open`` parts the lips;
    ``mouth_width`` scales the mouth; ``eye_open`` scales eye height; ``brow_raise`` > 0
    lifts both brows; ``brow_inner`` > 0 lowers their inner ends (anger), < 0 lifts them
    (sadness, fear); ``asymmetry`` lifts one mouth corner (disgust, contempt); ``wink``
    closes one eye.
    """

    curve: float
    mouth_open: float
    mouth_width: float
    eye_open: float
    brow_raise: float
    brow_inner: float
    asymmetry: float = 0.0
    wink: bool = False


#: Indexed by Aff-Wild2 class: 0 Neutral … 6 Surprise, 7 Other.
EXPRESSION_SHAPES = (
    ExpressionShape(0.0, 0.0, 1.0, 0.85, 0.0, 0.0),          # Neutral
    ExpressionShape(-0.45, 0.0, 0.8, 0.55, -0.035, 0.06),    # Anger: inner brows down, narrowed eyes
    ExpressionShape(-0.35, 0.12, 0.95, 0.6, -0.02, 0.025, asymmetry=0.9),  # Disgust: raised upper lip
    ExpressionShape(-0.3, 0.5, 1.2, 1.3, 0.05, -0.045),      # Fear: wide eyes, stretched open mouth
    ExpressionShape(1.1, 0.3, 1.25, 0.7, 0.01, 0.0),         # Happiness: upturned open mouth
    ExpressionShape(-1.0, 0.0, 0.95, 0.6, 0.0, -0.06),       # Sadness: downturned mouth, inner brows up
    ExpressionShape(0.0, 1.1, 0.6, 1.4, 0.075, 0.0),         # Surprise: round open mouth, raised brows
    ExpressionShape(0.35, 0.0, 0.9, 0.9, 0.0, 0.0, asymmetry=-0.8, wink=True),  # Other: wink, smirk
)

#: Action units active in each expression (12-AU list of ABAW2+), so AU labels are
#: visible in the drawing too.
AU_PROTOTYPES = (
    (),                                   # Neutral
    ("AU4", "AU7", "AU23", "AU24"),       # Anger
    ("AU4", "AU10", "AU15"),              # Disgust
    ("AU1", "AU2", "AU4", "AU25"),        # Fear
    ("AU6", "AU12", "AU25"),              # Happiness
    ("AU1", "AU4", "AU15"),               # Sadness
    ("AU1", "AU2", "AU25", "AU26"),       # Surprise
    ("AU7", "AU12"),                      # Other
)


@dataclass(frozen=True)
class Identity:
    """A synthetic person: colours are RGB 0-255, sizes fractions of the face canvas."""

    skin: tuple[int, int, int]
    hair: tuple[int, int, int]
    background: tuple[int, int, int]
    face_width: float
    face_height: float
    eye_spacing: float
    eye_size: float
    mouth_width: float


@dataclass(frozen=True)
class Pose:
    """Small per-frame jitter: shift in fractions of the canvas, scale around 1."""

    dx: float = 0.0
    dy: float = 0.0
    scale: float = 1.0


_SKINS = ((255, 224, 196), (241, 194, 157), (224, 172, 125), (198, 134, 91), (161, 102, 64),
          (120, 76, 48), (232, 190, 172), (210, 160, 120))


def random_identity(rng: np.random.Generator) -> Identity:
    """A random person: skin from a palette of tones, the rest uniform."""
    skin = np.array(_SKINS[rng.integers(len(_SKINS))]) + rng.integers(-12, 13, 3)
    hair = rng.integers(10, 120, 3) * np.array([1.0, 0.8, 0.6])
    return Identity(
        skin=tuple(int(v) for v in np.clip(skin, 0, 255)),
        hair=tuple(int(v) for v in hair),
        background=tuple(int(v) for v in rng.integers(40, 230, 3)),
        face_width=float(rng.uniform(0.56, 0.68)), face_height=float(rng.uniform(0.72, 0.82)),
        eye_spacing=float(rng.uniform(0.15, 0.18)), eye_size=float(rng.uniform(0.065, 0.08)),
        mouth_width=float(rng.uniform(0.20, 0.26)),
    )


def random_pose(rng: np.random.Generator, amount: float = 1.0) -> Pose:
    return Pose(float(rng.normal(0, 0.015 * amount)), float(rng.normal(0, 0.015 * amount)),
                float(1 + rng.normal(0, 0.02 * amount)))


def face_landmarks(expr: int, valence: float, arousal: float, identity: Identity,
                   pose: Pose = Pose(), size: int = FACE_SIZE, origin: tuple[float, float] = (0.0, 0.0)
                   ) -> np.ndarray:
    """The 68 iBUG landmarks (x, y pixels, shape (68, 2)) of the face :func:`draw_face`
    draws with the same arguments, placed at ``origin`` in a larger picture."""
    return _geometry(expr, valence, arousal, identity, pose, size, origin)["landmarks"]


def draw_face(expr: int, valence: float, arousal: float, identity: Identity, pose: Pose = Pose(),
              size: int = FACE_SIZE, noise: np.random.Generator | None = None) -> Image.Image:
    """A ``size`` x ``size`` RGB face of Aff-Wild2 class ``expr`` (0-7) with valence and
    arousal in [-1, 1], on the identity's background; ``noise`` adds mild pixel noise."""
    image = Image.new("RGB", (size, size), identity.background)
    paint_face(ImageDraw.Draw(image), expr, valence, arousal, identity, pose, size)
    return add_noise(image, noise) if noise is not None else image


def paint_face(draw: ImageDraw.ImageDraw, expr: int, valence: float, arousal: float, identity: Identity,
               pose: Pose = Pose(), size: int = FACE_SIZE, origin: tuple[float, float] = (0.0, 0.0)
               ) -> np.ndarray:
    """Paint the face into the ``size`` square at ``origin`` of an existing picture
    (in-the-wild scenes); returns its 68 landmarks in picture pixels."""
    g = _geometry(expr, valence, arousal, identity, pose, size, origin)
    s = g["scale"]
    dark = (40, 28, 24)
    draw.ellipse(g["hair_box"], fill=identity.hair)
    draw.ellipse(g["face_box"], fill=identity.skin)
    lip = tuple(int(c * 0.62) for c in identity.skin[:2]) + (int(identity.skin[2] * 0.55),)
    lip = (min(255, lip[0] + 70), lip[1], lip[2])
    brow_width = max(2, int(round(s * 0.035)))
    for brow in g["brows"]:
        draw.line([tuple(p) for p in brow], fill=identity.hair if sum(identity.hair) < 240 else dark,
                  width=brow_width)
    for (ex, ey, ew, eh) in g["eyes"]:
        if eh < 1.2:  # closed eye (wink): a lid line
            draw.line([(ex - ew, ey), (ex + ew, ey)], fill=dark, width=max(1, int(s * 0.02)))
            continue
        draw.ellipse([ex - ew, ey - eh, ex + ew, ey + eh], fill=(250, 250, 250), outline=dark)
        r = min(ew * 0.45, eh * 0.9)
        draw.ellipse([ex - r, ey - r, ex + r, ey + r], fill=dark)
    nose = g["nose"]
    draw.line([tuple(nose[0]), tuple(nose[3])], fill=tuple(int(c * 0.75) for c in identity.skin),
              width=max(1, int(s * 0.02)))
    draw.line([tuple(p) for p in nose[4:]], fill=tuple(int(c * 0.7) for c in identity.skin),
              width=max(1, int(s * 0.015)))
    if expr == 2:  # disgust wrinkles beside the nose
        for side in (-1, 1):
            x = nose[3][0] + side * s * 0.06
            draw.line([(x, nose[1][1]), (x + side * s * 0.02, nose[3][1])],
                      fill=tuple(int(c * 0.7) for c in identity.skin), width=max(1, int(s * 0.012)))
    if expr == 1:  # anger: vertical furrows between the brows
        x = g["centre"][0]
        y = g["brows"][0][-1][1]
        for dx in (-0.015, 0.015):
            draw.line([(x + dx * s, y - 0.03 * s), (x + dx * s, y + 0.03 * s)],
                      fill=tuple(int(c * 0.7) for c in identity.skin), width=max(1, int(s * 0.012)))
    if expr == 4:  # cheek raiser: arcs under the eyes
        for (ex, ey, ew, eh) in g["eyes"]:
            draw.arc([ex - ew, ey + eh * 0.5, ex + ew, ey + eh + 0.06 * s], 20, 160,
                     fill=tuple(int(c * 0.75) for c in identity.skin), width=max(1, int(s * 0.012)))
    upper, lower = g["mouth_inner"]
    if g["mouth_open"]:
        draw.polygon([tuple(p) for p in np.vstack([upper, lower[::-1]])], fill=(70, 20, 30), outline=lip)
        draw.line([tuple(p) for p in g["mouth_outer"][0]], fill=lip, width=max(1, int(s * 0.02)))
        draw.line([tuple(p) for p in g["mouth_outer"][1]], fill=lip, width=max(1, int(s * 0.02)))
    else:
        draw.line([tuple(p) for p in upper], fill=lip, width=max(2, int(round(s * 0.035))))
    return g["landmarks"]


def add_noise(image: Image.Image, rng: np.random.Generator, amplitude: int = 6) -> Image.Image:
    """Uniform integer noise in [-amplitude, amplitude] per pixel and channel."""
    pixels = np.asarray(image, dtype=np.int16) + rng.integers(-amplitude, amplitude + 1, (*image.size[::-1], 3),
                                                              dtype=np.int16)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def _geometry(expr, valence, arousal, ident: Identity, pose: Pose, size, origin) -> dict:
    """Every drawn shape of a face in picture pixels, and the 68 landmarks."""
    shape = EXPRESSION_SHAPES[int(expr)]
    s = size * pose.scale
    cx = origin[0] + size * (0.5 + pose.dx)
    cy = origin[1] + size * (0.53 + pose.dy)
    rx, ry = s * ident.face_width / 2, s * ident.face_height / 2
    arousal01 = (float(arousal) + 1) / 2

    eye_y = cy - 0.09 * s
    ew = ident.eye_size * s
    eyes = []
    for side in (-1, 1):
        openness = shape.eye_open * (0.45 + 0.6 * arousal01)
        if shape.wink and side == -1:
            openness = 0.0
        eyes.append((cx + side * ident.eye_spacing * s, eye_y, ew, ew * 0.62 * openness))

    brow_y = eye_y - ew * 0.7 - 0.05 * s - (shape.brow_raise + 0.03 * float(arousal)) * s
    brows = []
    for side, (ex, _, _, _) in zip((-1, 1), eyes):
        outer = np.array([ex + side * ew * 1.25, brow_y])
        inner = np.array([ex - side * ew * 1.0, brow_y + shape.brow_inner * s])
        t = np.linspace(0, 1, 5)[:, None]
        arch = np.sin(np.pi * t) * 0.012 * s
        points = outer + (inner - outer) * t - np.hstack([np.zeros_like(arch), arch])
        brows.append(points if side == -1 else points[::-1])  # left-to-right in the picture

    tip_y = cy + 0.07 * s
    nose = np.array([[cx, eye_y - 0.01 * s], [cx, eye_y + 0.035 * s], [cx, eye_y + 0.08 * s], [cx, tip_y],
                     *[[cx + d * 0.05 * s, tip_y + (0.012 - 0.012 * abs(d)) * s] for d in (-1, -0.5, 0, 0.5, 1)]])

    # Mouth: y(x) = centre - curve·k·x² (corners move, the middle stays), lips part by
    # the opening; valence adds to the curvature, so it reads as smile/frown.
    my = cy + 0.2 * s
    half = ident.mouth_width * s * shape.mouth_width / 2
    curve = shape.curve + 0.8 * float(valence)
    k = 0.045 * s
    opening = 0.065 * s * shape.mouth_open * (0.7 + 0.5 * arousal01)
    xs = np.linspace(-1, 1, 11)
    base = my - curve * k * xs ** 2 - shape.asymmetry * k * np.clip(xs, 0, None) ** 2
    bulge = np.sqrt(np.clip(1 - xs ** 2, 0, 1))
    upper = np.column_stack([cx + half * xs, base - opening * bulge * 0.6])
    lower = np.column_stack([cx + half * xs, base + opening * bulge])
    lip = 0.025 * s
    upper_outer = upper - np.column_stack([np.zeros_like(xs), lip * bulge + 0.3])
    lower_outer = lower + np.column_stack([np.zeros_like(xs), lip * bulge + 0.3])

    jaw_angles = np.linspace(np.pi + 0.2, -0.2, 17)
    jaw = np.column_stack([cx + rx * np.cos(jaw_angles), cy + ry * np.sin(jaw_angles)])

    def eye_points(ex, ey, w, h):
        xs6 = np.array([-1, -1 / 3, 1 / 3, 1, 1 / 3, -1 / 3])
        ys6 = np.array([0, -1, -1, 0, 1, 1]) * h * np.sqrt(1 - (1 / 3) ** 2)
        return np.column_stack([ex + w * xs6, ey + ys6])

    landmarks = np.vstack([
        jaw, brows[0], brows[1], nose,                       # 0-16, 17-26, 27-35
        eye_points(*eyes[0]), eye_points(*eyes[1]),          # 36-41, 42-47
        upper_outer[[0, 2, 4, 5, 6, 8, 10]],                 # 48-54: left corner, upper lip, right corner
        lower_outer[[8, 6, 5, 4, 2]],                        # 55-59: lower lip, right to left
        upper[[0, 3, 5, 7, 10]], lower[[7, 5, 3]],           # 60-67: inner lips
    ])
    return {
        "scale": s, "centre": (cx, cy),
        "face_box": [cx - rx, cy - ry, cx + rx, cy + ry],
        "hair_box": [cx - rx * 1.06, cy - ry * 1.1, cx + rx * 1.06, cy + ry * 0.55],
        "eyes": eyes, "brows": brows, "nose": nose,
        "mouth_inner": (upper, lower), "mouth_outer": (upper_outer, lower_outer),
        "mouth_open": opening > 1.0,
        "landmarks": landmarks.astype(np.float64),
    }


# --------------------------------------------------------------------------- label sequences


def smooth_walk(rng: np.random.Generator, n: int, step: float = 0.045, smoothing: int = 9) -> np.ndarray:
    """A slow random walk in [-1, 1] of length ``n``: Gaussian steps, smoothed by a
    Hann window, folded back at ±1 (folding keeps it continuous, clipping would stick)."""
    walk = rng.uniform(-0.7, 0.7) + np.cumsum(rng.normal(0, step, n + smoothing))
    window = np.hanning(smoothing + 2)[1:-1]
    walk = np.convolve(walk, window / window.sum(), mode="valid")[:n]
    folded = np.mod(walk + 1, 4)
    return np.where(folded > 2, 4 - folded, folded) - 1


def expression_segments(rng: np.random.Generator, n: int, n_classes: int = 8,
                        length: tuple[int, int] = (15, 50)) -> np.ndarray:
    """Class per frame (int64, length ``n``) as segments of ``length`` frames; a new
    segment never repeats the previous class; Neutral is twice as likely."""
    weights = np.ones(n_classes)
    weights[0] = 2.0
    labels, previous = [], -1
    while sum(len(x) for x in labels) < n:
        p = weights.copy()
        if previous >= 0:
            p[previous] = 0
        previous = int(rng.choice(n_classes, p=p / p.sum()))
        labels.append(np.full(int(rng.integers(length[0], length[1] + 1)), previous))
    return np.concatenate(labels)[:n]


def action_units(rng: np.random.Generator, expr: np.ndarray) -> np.ndarray:
    """0/1 per frame and AU (shape (n, 12), AU_NAMES_12 order) from the expression's
    prototype, with one random extra AU switched per segment now and then."""
    au = np.zeros((len(expr), len(AU_NAMES_12)), dtype=np.int64)
    for cls in range(len(AU_PROTOTYPES)):
        columns = [AU_NAMES_12.index(a) for a in AU_PROTOTYPES[cls]]
        au[np.ix_(expr == cls, columns)] = 1
    starts = np.flatnonzero(np.r_[True, expr[1:] != expr[:-1]])
    ends = np.r_[starts[1:], len(expr)]
    for start, end in zip(starts, ends):
        if rng.random() < 0.3:
            j = int(rng.integers(len(AU_NAMES_12)))
            au[start:end, j] = 1 - au[start:end, j]
    return au


def affect_to_expression(valence: np.ndarray, arousal: np.ndarray) -> np.ndarray:
    """A plausible Aff-Wild2 class for each (valence, arousal): used to draw AFEW-VA,
    which has no expression labels, with faces that agree with its VA."""
    v, a = np.asarray(valence), np.asarray(arousal)
    expr = np.zeros(v.shape, dtype=np.int64)
    expr[v > 0.35] = 4
    expr[(v < -0.35) & (a > 0.25)] = 1
    expr[(v < -0.35) & (a <= 0.25)] = 5
    expr[(np.abs(v) <= 0.35) & (a > 0.6)] = 6
    return expr


# --------------------------------------------------------------------------- Aff-Wild2

_SINGLE_NAMES = ("1-30-1280x720", "118-30-640x480", "video10_1", "2-30-640x360", "video59",
                 "135-24-1920x1080", "46-30-484x360", "video74", "13-30-1920x1080", "282", "video2",
                 "44-25-426x240", "24-30-1920x1080-1", "video49", "120-30-1280x720", "8-30-1280x720")
_PAIR_NAMES = ("10-60-1280x720", "30-30-1920x1080", "video55", "52-30-1280x720")
_TRAIN_TRACKS = (("expr", "va", "au"), ("expr", "va"), ("expr",), ("va",), ("expr", "au"), ("va", "au"))
_VALIDATION_TRACKS = (("expr", "va"), ("expr",), ("va", "au"), ("expr", "va", "au"), ("va",))


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
class _Video:
    name: str
    split: str | None
    tracks: tuple[str, ...]
    frames: int
    lines: int
    identity: Identity
    expr: np.ndarray       # (lines,) 0-7, drawn
    valence: np.ndarray    # (lines,) 3 decimals, drawn
    arousal: np.ndarray
    au: np.ndarray         # (lines, 12)
    invalid: dict          # track -> bool mask (lines,)
    missing: list
    corrupt: dict          # frame -> "truncated" | "garbage"


def _plan_videos(rng: np.random.Generator, videos: int, frames: int) -> list[_Video]:
    units = video_names(videos)
    plan: list[tuple[str, str | None, tuple[str, ...]]] = []
    n_train = n_validation = 0
    for u, unit in enumerate(units):
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
    order = rng.permutation(annotated)
    deltas = {int(order[0]): -2, int(order[1]): +3, int(order[2]): 0}  # others: +1 (organisers' count)
    out = []
    for i, (name, split, tracks) in enumerate(plan):
        n_frames = int(frames + rng.integers(-(frames // 6), frames // 6 + 1))
        n_lines = n_frames + deltas.get(i, 1)
        length = max(n_frames, n_lines)
        expr = expression_segments(rng, length, length=(max(5, frames // 8), max(10, frames // 3)))
        valence = np.round(smooth_walk(rng, length), 3)
        arousal = np.round(smooth_walk(rng, length), 3)
        au = action_units(rng, expr)
        invalid = {}
        for t, track in enumerate(("expr", "va", "au")):
            mask = np.zeros(n_lines, dtype=bool)
            # The first annotated video of each track always gets a run, so every
            # track shows one; the others with probability one half.
            first = track in tracks and all(track not in v.tracks for v in out)
            if track in tracks and (first or rng.random() < 0.5):
                run = int(rng.integers(4, max(6, n_frames // 8)))
                start = int(rng.integers(0, n_lines - run))
                mask[start:start + run] = True
            invalid[track] = mask
        # Never the last frame: its crop is how a reader sees the video's length.
        missing = set(int(f) for f in rng.choice(np.arange(1, n_frames), int(rng.integers(0, 3)), replace=False))
        out.append(_Video(name, split, tracks, n_frames, n_lines, random_identity(rng),
                          expr, valence, arousal, au, invalid, sorted(missing), {}))

    # A run of frames without a face (detector lost it) in the first training EXPR video,
    # and the corrupt files elsewhere so the two quirks can be told apart.
    expr_train = [v for v in out if v.split == "train" and "expr" in v.tracks]
    runner = expr_train[0]
    run = max(4, runner.frames // 12)
    start = runner.frames // 3
    runner.missing = sorted(set(runner.missing) | set(range(start, start + run)))
    target = expr_train[1] if len(expr_train) > 1 else runner
    _add_corrupt(rng, target, "truncated")
    if videos >= 8:
        va_videos = [v for v in out if v.split and "va" in v.tracks and v is not target]
        _add_corrupt(rng, va_videos[-1], "garbage")
    return out


def _add_corrupt(rng: np.random.Generator, video: _Video, kind: str) -> None:
    candidates = sorted(set(range(1, video.frames + 1)) - set(video.missing))
    video.corrupt[int(candidates[int(rng.integers(len(candidates)))])] = kind


def _corrupt_bytes(rng: np.random.Generator, good: bytes, kind: str) -> bytes:
    if kind == "truncated":  # the JPEG header survives, the scan data stops halfway
        return good[: len(good) // 3]
    return rng.integers(0, 256, 600, dtype=np.uint8).tobytes()  # no JPEG at all


def _encode(image: Image.Image, fmt: str = "JPEG") -> bytes:
    buffer = io.BytesIO()
    if fmt == "JPEG":
        image.save(buffer, format="JPEG", quality=JPEG_QUALITY)
    else:
        image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def _expr_lines(video: _Video, classes: tuple[str, ...]) -> tuple[np.ndarray, int]:
    """EXPR values to write and how many frames of class Other became -1."""
    values = video.expr[: video.lines].copy()
    other = 0
    if len(classes) == 7:
        is_other = (values == OTHER) & ~video.invalid["expr"]
        other = int(is_other.sum())
        values[values == OTHER] = -1
    values[video.invalid["expr"]] = -1
    return values, other


def _annotation_text(video: _Video, track: str, classes: tuple[str, ...]) -> str:
    n = video.lines
    if track == "expr":
        values, _ = _expr_lines(video, classes)
        body = [str(int(v)) for v in values]
        header = ",".join(classes)
    elif track == "va":
        mask = video.invalid["va"]
        body = ["-5,-5" if bad else f"{v:.3f},{a:.3f}"
                for v, a, bad in zip(video.valence[:n], video.arousal[:n], mask)]
        header = ",".join(VA_COLUMNS)
    else:
        au = video.au[:n].copy()
        au[video.invalid["au"]] = -1
        body = [",".join(map(str, row)) for row in au.tolist()]
        header = ",".join(AU_NAMES_12)
    return header + "\n" + "\n".join(body) + "\n"


def _write_affwild2(out: Path, rng: np.random.Generator, videos: list[_Video], size: int, tick) -> dict:
    crop_roots = [out / layout / "cropped_aligned" for layout in LAYOUTS]
    for video in videos:
        folders = [root / video.name for root in crop_roots]
        for folder in folders:
            folder.mkdir(parents=True, exist_ok=True)
        noise = np.random.default_rng(rng.integers(2 ** 63))
        pose_rng = np.random.default_rng(rng.integers(2 ** 63))
        # Head motion: a smooth drift plus a little per-frame shake.
        drift = np.column_stack([smooth_walk(pose_rng, video.frames, 0.02) * 0.03 for _ in range(3)])
        missing = set(video.missing)
        for k in range(1, video.frames + 1):
            if k in missing:
                continue
            i = k - 1
            pose = Pose(drift[i, 0] + pose_rng.normal(0, 0.004), drift[i, 1] + pose_rng.normal(0, 0.004),
                        1 + drift[i, 2])
            image = draw_face(int(video.expr[i]), float(video.valence[i]), float(video.arousal[i]),
                              video.identity, pose, size, noise=noise)
            data = _encode(image)
            if k in video.corrupt:
                data = _corrupt_bytes(rng, data, video.corrupt[k])
            for folder in folders:
                (folder / f"{k:05d}.jpg").write_bytes(data)
        tick()

    manifests = {}
    for layout, spec in LAYOUTS.items():
        root = out / layout
        tracks_manifest = {}
        other_total = 0
        for track, folder in spec["folders"].items():
            splits = {}
            for split, split_folder in SPLIT_FOLDERS.items():
                target = root / folder / split_folder
                target.mkdir(parents=True, exist_ok=True)
                members = [v for v in videos if v.split == split and track in v.tracks]
                stats = {"folder": f"{folder}/{split_folder}", "videos": [v.name for v in members],
                         "annotation_lines": 0, "valid": 0, "invalid": 0,
                         "valid_with_crop": 0, "valid_with_readable_crop": 0}
                for video in members:
                    (target / f"{video.name}.txt").write_text(_annotation_text(video, track, spec["classes"]),
                                                              encoding="utf-8", newline="\n")
                    if track == "expr":
                        values, other = _expr_lines(video, spec["classes"])
                        valid = values >= 0
                        other_total += other
                    else:
                        valid = ~video.invalid[track]
                    frame_numbers = np.arange(1, video.lines + 1)
                    has_crop = (frame_numbers <= video.frames) & ~np.isin(frame_numbers, video.missing)
                    readable = has_crop & ~np.isin(frame_numbers, list(video.corrupt))
                    stats["annotation_lines"] += video.lines
                    stats["valid"] += int(valid.sum())
                    stats["invalid"] += int((~valid).sum())
                    stats["valid_with_crop"] += int((valid & has_crop).sum())
                    stats["valid_with_readable_crop"] += int((valid & readable).sum())
                splits[split] = stats
            header = ",".join(spec["classes"]) if track == "expr" else \
                ",".join(VA_COLUMNS) if track == "va" else ",".join(AU_NAMES_12)
            tracks_manifest[track] = {"folder": folder, "header": header, "splits": splits}
        manifests[layout] = _layout_manifest(layout, spec["edition"], videos, tracks_manifest,
                                             other_total if spec["classes"] == EXPR_CLASSES_7 else 0)
    return manifests


def _layout_manifest(layout: str, edition: str, videos: list[_Video], tracks: dict, other: int) -> dict:
    per_video = {}
    mismatches = []
    for v in videos:
        per_video[v.name] = {
            "split": v.split, "tracks": list(v.tracks), "frames": v.frames,
            "crops_present": v.frames - len(v.missing), "missing_crops": list(v.missing),
            "corrupt_crops": sorted(v.corrupt), "annotation_lines": {t: v.lines for t in v.tracks},
        }
        mismatches += [{"video": v.name, "track": t, "annotation_lines": v.lines, "frames": v.frames}
                       for t in v.tracks if v.lines != v.frames]
    names = {v.name for v in videos}
    pairs = sorted([n, n[:-5] + "_right"] for n in names if n.endswith("_left") and n[:-5] + "_right" in names)
    return {
        "root": layout, "edition": edition, "tracks": tracks, "videos": per_video,
        "shared_videos": {s: [v.name for v in videos if v.split == s and {"expr", "va"} <= set(v.tracks)]
                          for s in SPLIT_FOLDERS},
        "single_track_videos": [v.name for v in videos if len(v.tracks) == 1],
        "unannotated_videos": [v.name for v in videos if not v.tracks],
        "left_right_pairs": pairs,
        "count_mismatches": mismatches,
        "other_as_invalid": other,
        "totals": {"videos": len(videos), "frames": sum(v.frames for v in videos),
                   "crops_present": sum(v.frames - len(v.missing) for v in videos),
                   "missing_crops": sum(len(v.missing) for v in videos),
                   "corrupt_crops": sum(len(v.corrupt) for v in videos)},
    }


# --------------------------------------------------------------------------- in-the-wild scenes


def _scene(rng: np.random.Generator, width: int, height: int) -> Image.Image:
    """A cluttered background: a two-colour gradient and a few rectangles."""
    a, b = rng.integers(30, 225, 3), rng.integers(30, 225, 3)
    t = np.linspace(0, 1, height)[:, None, None]
    pixels = np.broadcast_to(a + (b - a) * t, (height, width, 3)).astype(np.uint8)
    image = Image.fromarray(np.ascontiguousarray(pixels))
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(2, 6))):
        x0, y0 = rng.integers(0, width), rng.integers(0, height)
        draw.rectangle([x0, y0, x0 + rng.integers(10, width // 2), y0 + rng.integers(10, height // 2)],
                       fill=tuple(int(c) for c in rng.integers(0, 256, 3)))
    return image


def _paint_in_box(image: Image.Image, rng: np.random.Generator, left: int, top: int, side: int,
                  expr: int, valence: float, arousal: float) -> np.ndarray:
    identity = random_identity(rng)
    return paint_face(ImageDraw.Draw(image), expr, valence, arousal, identity, random_pose(rng, 0.5),
                      side, origin=(left, top))


_EXPW_WORDS = ("angry", "disgusted", "afraid", "happy", "sad", "surprised", "neutral")
_EXPW_QUERIES = ("actor", "woman", "man", "student", "African", "Asian", "kid", "boss", "teacher")


def _write_expw(out: Path, rng: np.random.Generator, n_images: int) -> dict:
    root = out / "expw"
    (root / "label").mkdir(parents=True, exist_ok=True)
    (root / "image" / "origin").mkdir(parents=True, exist_ok=True)
    lines, samples, two_face, corrupt = [], [], [], []
    corrupt_index = n_images - 1
    for i in range(n_images):
        width, height = int(rng.integers(220, 320)), int(rng.integers(170, 240))
        n_faces = 2 if (i % 4 == 1 or rng.random() < 0.15) else 1
        expr = [int(rng.integers(7)) for _ in range(n_faces)]  # ExpW has no "Other"
        name = f"{_EXPW_WORDS[AFFWILD2_TO_EXPW[expr[0]]]}_{_EXPW_QUERIES[i % len(_EXPW_QUERIES)]}_{100 + i}.jpg"
        image = _scene(rng, width, height)
        half = width // n_faces
        for face_id in range(n_faces):
            side = int(rng.integers(70, min(half, height) - 10))
            left = face_id * half + int(rng.integers(0, half - side))
            top = int(rng.integers(0, height - side))
            valence, arousal = float(rng.uniform(-1, 1)), float(rng.uniform(-1, 1))
            _paint_in_box(image, rng, left, top, side, expr[face_id], valence, arousal)
            label = AFFWILD2_TO_EXPW[expr[face_id]]
            confidence = float(rng.uniform(20, 95))
            lines.append(f"{name} {face_id} {top} {left} {left + side} {top + side} {confidence:.7f} {label}")
            samples.append({"image": name, "face_id": face_id, "box": [top, left, left + side, top + side],
                            "label": label, "expr": expr[face_id], "valence": round(valence, 3),
                            "arousal": round(arousal, 3), "corrupt": i == corrupt_index})
        data = _encode(add_noise(image, rng))
        if i == corrupt_index:
            data = _corrupt_bytes(rng, data, "truncated")
            corrupt.append(name)
        (root / "image" / "origin" / name).write_bytes(data)
        if n_faces == 2:
            two_face.append(name)
    (root / "label" / "label.lst").write_text("\n".join(lines) + "\n", encoding="utf-8", newline="\n")
    return {"root": "expw", "images": n_images, "faces": len(samples), "rows": len(lines),
            "two_face_images": two_face, "corrupt_images": corrupt, "label_order": list(EXPW_CLASSES),
            "samples": samples}


def _write_afew_va(out: Path, rng: np.random.Generator, n_clips: int, n_frames: int) -> dict:
    root = out / "afew_va"
    width, height = 200, 160
    clips, corrupt = {}, []
    for c in range(n_clips):
        clip = f"{c + 1:03d}"
        folder = root / clip
        folder.mkdir(parents=True, exist_ok=True)
        valence = np.clip(np.round(smooth_walk(rng, n_frames) * AFEW_VA_SCALE), -10, 10).astype(int)
        arousal = np.clip(np.round(smooth_walk(rng, n_frames) * AFEW_VA_SCALE), -10, 10).astype(int)
        expr = affect_to_expression(valence / AFEW_VA_SCALE, arousal / AFEW_VA_SCALE)
        identity = random_identity(rng)
        background = _scene(rng, width, height)
        side = int(rng.integers(95, 125))
        path_x = 20 + smooth_walk(rng, n_frames, 0.05) * 15 + (width - side) / 2 - 20
        path_y = smooth_walk(rng, n_frames, 0.05) * 8 + (height - side) / 2
        bad = int(rng.integers(n_frames)) if c == 0 else -1
        frames = {}
        for f in range(n_frames):
            image = background.copy()
            origin = (float(path_x[f]), float(path_y[f]))
            landmarks = paint_face(ImageDraw.Draw(image), int(expr[f]), valence[f] / AFEW_VA_SCALE,
                                   arousal[f] / AFEW_VA_SCALE, identity, random_pose(rng, 0.3), side, origin)
            key = f"{f:05d}"
            data = _encode(add_noise(image, rng), "PNG")
            if f == bad:
                data = _corrupt_bytes(rng, data, "truncated")
                corrupt.append([clip, key])
            (folder / f"{key}.png").write_bytes(data)
            frames[key] = {"valence": int(valence[f]), "arousal": int(arousal[f]),
                           "landmarks": np.round(landmarks, 3).tolist()}
        actor = f"actor_{int(rng.integers(1, 240)):03d}"
        record = {"actor": actor, "frames": frames, "video_id": clip}
        (folder / f"{clip}.json").write_text(json.dumps(record, indent=1, sort_keys=True), encoding="utf-8")
        clips[clip] = {"actor": actor, "keys": sorted(frames), "valence": valence.tolist(),
                       "arousal": arousal.tolist(), "expr": expr.tolist()}
    return {"root": "afew_va", "clips": n_clips, "frames": n_clips * n_frames, "image_size": [width, height],
            "corrupt_frames": corrupt, "samples": clips}


def _write_affectnet(out: Path, rng: np.random.Generator, counts: dict) -> dict:
    root = out / "affectnet"
    (root / LIST_FOLDER).mkdir(parents=True, exist_ok=True)
    splits = {}
    for split, n_rows in counts.items():
        # Every dropped class appears in training, two in validation; a couple of kept
        # rows carry VA -2, which must come out as "missing", not as a value.
        dropped = list(AFFECTNET_DROPPED) if split == "training" else list(AFFECTNET_DROPPED[:2])
        native = [AFFWILD2_TO_AFFECTNET[int(c)] for c in rng.integers(0, 7, n_rows - len(dropped))] + dropped
        native = [native[i] for i in rng.permutation(len(native))]
        invalid_va = set(int(i) for i in rng.choice(
            [i for i, e in enumerate(native) if e < 7], 2, replace=False))
        corrupt_row = next(i for i, e in enumerate(native) if e < 7 and i not in invalid_va) \
            if split == "training" else -1
        rows, samples, corrupt = [",".join(AFFECTNET_COLUMNS)], [], []
        for i, label in enumerate(native):
            subdir = str(int(rng.integers(1, 1000)))
            path = f"{subdir}/{rng.bytes(20).hex()}.jpg"
            width, height = int(rng.integers(150, 260)), int(rng.integers(150, 260))
            side = int(rng.integers(90, min(width, height) - 10))
            x, y = int(rng.integers(0, width - side)), int(rng.integers(0, height - side))
            v_drawn, a_drawn = float(rng.uniform(-1, 1)), float(rng.uniform(-1, 1))
            image = _scene(rng, width, height)
            if label < 7:
                expr = AFFECTNET_TO_AFFWILD2[label]
            else:  # Contempt looks like Aff-Wild2's smirking "Other"; None/Uncertain: anything
                expr = OTHER if label == 7 else int(rng.integers(7))
            if label != 10:  # No-Face: a picture without a face
                landmarks = _paint_in_box(image, rng, x, y, side, expr, v_drawn, a_drawn)
            else:
                landmarks = np.zeros((68, 2))
            if label >= 8 or i in invalid_va:
                valence = arousal = AFFECTNET_INVALID_VA
            else:
                valence, arousal = round(v_drawn, 6), round(a_drawn, 6)
            landmark_text = ";".join(f"{p:.2f}" for p in landmarks.ravel())
            rows.append(f"{path},{x},{y},{side},{side},{landmark_text},{label},{valence},{arousal}")
            data = _encode(add_noise(image, rng))
            if i == corrupt_row:
                data = _corrupt_bytes(rng, data, "garbage")
                corrupt.append(path)
            target = root / IMAGE_FOLDER / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            samples.append({"path": path, "line": i + 2, "expression": label,
                            "expr": expr if label < 7 else None, "valence": valence, "arousal": arousal,
                            "valence_drawn": round(v_drawn, 6), "arousal_drawn": round(a_drawn, 6),
                            "corrupt": i == corrupt_row})
        (root / LIST_FOLDER / f"{split}.csv").write_text("\n".join(rows) + "\n", encoding="utf-8", newline="\n")
        splits[split] = {
            "rows": len(native), "kept": sum(1 for e in native if e < 7),
            "dropped": {str(c): native.count(c) for c in AFFECTNET_DROPPED if native.count(c)},
            "invalid_va_kept": len(invalid_va), "corrupt_images": corrupt, "samples": samples}
    return {"root": "affectnet", "label_order": list(AFFECTNET_CLASSES), "splits": splits}


# --------------------------------------------------------------------------- entry point


def external_sizes(videos: int, frames: int) -> dict:
    """Sizes of the external sets, scaled from the Aff-Wild2 size so tests stay small."""
    return {"expw_images": max(6, 2 * videos), "afew_va_clips": max(2, videos // 4),
            "afew_va_frames": max(12, frames // 4), "affectnet_training": max(12, 3 * videos),
            "affectnet_validation": max(8, videos)}


def synthesize(out: Path, videos: int = 12, frames: int = 120, seed: int = 0, progress: bool = False) -> dict:
    """Write the synthetic Aff-Wild2 (ABAW2 and ABAW6 layouts), ExpW, AFEW-VA and
    AffectNet under ``out`` and return the manifest (also ``out/manifest.json``; schema
    in the module docstring). ``videos`` >= 6 Aff-Wild2 videos of about ``frames`` >= 30
    frames each (±1/6). The same seed gives byte-identical files."""
    if videos < 6:
        raise ValueError(f"videos must be at least 6 to plant every quirk, got {videos}")
    if frames < 30:
        raise ValueError(f"frames must be at least 30, got {frames}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    sizes = external_sizes(videos, frames)
    # Independent streams per part, so changing one part's size leaves the others alone.
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(5)]

    bar, task = None, None
    if progress:
        from rich.progress import Progress
        bar = Progress()
        bar.start()
        task = bar.add_task("synthesizing", total=videos + 3)

    def tick() -> None:
        if bar is not None:
            bar.advance(task)

    try:
        plan = _plan_videos(streams[0], videos, frames)
        manifest = {"generator": "abawbench.data.synth", "schema": 1, "seed": seed,
                    "parameters": {"videos": videos, "frames": frames, "size": FACE_SIZE,
                                   "jpeg_quality": JPEG_QUALITY, **sizes}}
        manifest.update(_write_affwild2(out, streams[1], plan, FACE_SIZE, tick))
        manifest["expw"] = _write_expw(out, streams[2], sizes["expw_images"])
        tick()
        manifest["afew_va"] = _write_afew_va(out, streams[3], sizes["afew_va_clips"], sizes["afew_va_frames"])
        tick()
        manifest["affectnet"] = _write_affectnet(out, streams[4], {
            "training": sizes["affectnet_training"], "validation": sizes["affectnet_validation"]})
        tick()
    finally:
        if bar is not None:
            bar.stop()
    tmp = out / f"manifest.json.tmp{os.getpid()}"
    tmp.write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    os.replace(tmp, out / "manifest.json")
    return manifest
