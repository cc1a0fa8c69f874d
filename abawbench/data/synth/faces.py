"""Drawing synthetic faces whose expression, valence and arousal are visible at 64 px.

A face is a set of polygons (lines are stroked into polygons too) computed by
:func:`face_geometry` for all frames of a video at once, painted by PIL on a canvas
``SUPERSAMPLE`` times larger and reduced by averaging: that is the anti-aliasing, so a
small change of a label moves edges by fractions of a pixel instead of not at all.

What each label draws (lengths are fractions of the face size ``s``):

* **expression** (Aff-Wild2 class 0-7): the :data:`EXPRESSION_SHAPES` of mouth, eyes and
  brows, plus wrinkles (anger furrows, disgust nose lines, happy cheek arcs, the sad
  grief and chin lines), teeth in open-mouthed classes and a wink for "Other";
* **valence** in [-1, 1]: mouth-corner curvature (up to ±0.05 s at the corners), mouth
  width (±22 %), smile lines beside the mouth (> 0) or down-turned lines below the
  corners (< 0), lower eyelids raised in a smile (> 0), cheeks lifted (> 0);
* **arousal** in [-1, 1]: eye opening (×0.3 … ×1.2), brow height (±0.055 s), parted
  lips, flushed cheeks, pupil size and forehead lines (> 0).

Identity (skin, hair style and colour, iris, face proportions, background, lighting)
comes from :func:`random_identity` and never from the labels; :class:`Pose` moves,
scales, rolls and turns (``yaw``) the head, which the ambiguity events of
:mod:`abawbench.data.synth.effects` use for head turns.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

FACE_SIZE = 112
#: The canvas is drawn this many times larger and reduced by averaging (anti-aliasing).
SUPERSAMPLE = 3


@dataclass(frozen=True)
class ExpressionShape:
    """How one expression deforms the face; lengths are fractions of the face size.

    ``curve`` > 0 lifts the mouth corners (smile); ``mouth_open`` parts the lips;
    ``mouth_width`` scales the mouth; ``eye_open`` scales eye height; ``brow_raise`` > 0
    lifts both brows; ``brow_inner`` > 0 lowers their inner ends (anger), < 0 lifts them
    (sadness, fear); ``asymmetry`` lifts one mouth corner (disgust, contempt); ``wink``
    closes one eye; ``teeth`` shows the upper teeth when the mouth is open, 2 both rows.
    """

    curve: float
    mouth_open: float
    mouth_width: float
    eye_open: float
    brow_raise: float
    brow_inner: float
    asymmetry: float = 0.0
    wink: bool = False
    teeth: int = 0


#: Indexed by Aff-Wild2 class: 0 Neutral … 6 Surprise, 7 Other.
EXPRESSION_SHAPES = (
    ExpressionShape(0.0, 0.0, 1.0, 0.85, 0.0, 0.0),                       # Neutral
    ExpressionShape(-0.5, 0.25, 0.85, 0.55, -0.04, 0.07, teeth=1),        # Anger: brows down, bared teeth
    ExpressionShape(-0.4, 0.2, 0.95, 0.5, -0.03, 0.03, asymmetry=1.7, teeth=1),  # Disgust: sneer, nose wrinkles
    ExpressionShape(-0.2, 0.45, 1.45, 1.3, 0.06, -0.06, teeth=2),         # Fear: wide eyes, stretched grimace
    ExpressionShape(1.1, 0.35, 1.25, 0.7, 0.01, 0.0, teeth=1),            # Happiness: open smile
    ExpressionShape(-1.0, 0.0, 0.9, 0.6, 0.0, -0.095),                    # Sadness: inner brows up, chin raised
    ExpressionShape(0.0, 1.15, 0.6, 1.4, 0.08, 0.0),                      # Surprise: round mouth, high brows
    ExpressionShape(0.35, 0.0, 0.9, 0.9, 0.0, 0.0, asymmetry=-0.9, wink=True),  # Other: wink, smirk
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
    """A synthetic person in a setting: colours are RGB 0-255, sizes fractions of the
    face canvas. ``hair_style``: 0 cap, 1 long, 2 fringe. ``light``: gain (×) of the
    left and right edges of the picture (a side light); (1, 1) is flat."""

    skin: tuple[int, int, int]
    hair: tuple[int, int, int]
    background: tuple[int, int, int]
    face_width: float
    face_height: float
    eye_spacing: float
    eye_size: float
    mouth_width: float
    iris: tuple[int, int, int] = (70, 50, 30)
    hair_style: int = 0
    light: tuple[float, float] = (1.0, 1.0)
    background_accent: tuple[int, int, int] | None = None


@dataclass(frozen=True)
class Pose:
    """Head placement: shift in fractions of the canvas, scale around 1, ``roll`` in
    degrees (clockwise in the picture), ``yaw`` in radians (> 0 turns the face to the
    picture's right; features slide along a cylinder and compress on the far side)."""

    dx: float = 0.0
    dy: float = 0.0
    scale: float = 1.0
    roll: float = 0.0
    yaw: float = 0.0


_SKINS = ((255, 224, 196), (241, 194, 157), (224, 172, 125), (198, 134, 91), (161, 102, 64),
          (120, 76, 48), (232, 190, 172), (210, 160, 120))
_IRISES = ((70, 50, 30), (40, 30, 20), (60, 100, 140), (70, 110, 70), (110, 80, 40))
_DARK = (40, 28, 24)


def random_identity(rng: np.random.Generator) -> Identity:
    """A random person and setting: skin from a palette of tones, the rest uniform."""
    skin = np.array(_SKINS[rng.integers(len(_SKINS))]) + rng.integers(-12, 13, 3)
    hair = rng.integers(10, 120, 3) * np.array([1.0, 0.8, 0.6])
    side = float(rng.uniform(-0.25, 0.25))
    return Identity(
        skin=tuple(int(v) for v in np.clip(skin, 0, 255)),
        hair=tuple(int(v) for v in hair),
        background=tuple(int(v) for v in rng.integers(40, 230, 3)),
        face_width=float(rng.uniform(0.56, 0.68)), face_height=float(rng.uniform(0.72, 0.82)),
        eye_spacing=float(rng.uniform(0.15, 0.18)), eye_size=float(rng.uniform(0.065, 0.08)),
        mouth_width=float(rng.uniform(0.21, 0.26)),
        iris=_IRISES[int(rng.integers(len(_IRISES)))],
        hair_style=int(rng.integers(3)),
        light=(1.0 - side, 1.0 + side),
        background_accent=tuple(int(v) for v in rng.integers(30, 240, 3)),
    )


def random_pose(rng: np.random.Generator, amount: float = 1.0) -> Pose:
    """Small random placement: shifts of ~1.5 % of the canvas, scale ±2 %, roll ±3°."""
    return Pose(float(rng.normal(0, 0.015 * amount)), float(rng.normal(0, 0.015 * amount)),
                float(1 + rng.normal(0, 0.02 * amount)), float(rng.normal(0, 3.0 * amount)))


# --------------------------------------------------------------------------- geometry

#: EXPRESSION_SHAPES as a table, one row per class, columns in field order.
_SHAPE_TABLE = np.array([[s.curve, s.mouth_open, s.mouth_width, s.eye_open, s.brow_raise, s.brow_inner,
                          s.asymmetry, s.wink, s.teeth] for s in EXPRESSION_SHAPES], dtype=np.float64)


def _blend(a, b, t: float) -> tuple[int, int, int]:
    """Colour ``a`` moved a fraction ``t`` (0-1) towards ``b``."""
    t = min(max(float(t), 0.0), 1.0)
    return tuple(int(round(x + (y - x) * t)) for x, y in zip(a, b))


def _arc(rx, ry, n: int, start: float = 0.0, stop: float = 2 * np.pi) -> np.ndarray:
    """Points of an ellipse arc, (..., n, 2) for radii of shape (...)."""
    t = np.linspace(start, stop, n, endpoint=stop - start < 2 * np.pi)
    rx, ry = np.asarray(rx, dtype=np.float64)[..., None], np.asarray(ry, dtype=np.float64)[..., None]
    return np.stack(np.broadcast_arrays(rx * np.cos(t), ry * np.sin(t)), axis=-1)


def _xy(x, y) -> np.ndarray:
    """Stack broadcast x and y coordinates into (..., 2)."""
    return np.stack(np.broadcast_arrays(x, y), axis=-1)


def stroke(points: np.ndarray, width) -> np.ndarray:
    """A polyline (n, P, 2) drawn ``width`` (scalar or (n,)) pixels thick, as a polygon
    (n, 2P, 2): the points moved half the width along their normals on either side.
    Polygons are what PIL fills fastest, and need no joints between segments."""
    tangent = np.gradient(points, axis=1) if points.shape[1] > 2 else np.repeat(points[:, 1:] - points[:, :1], 2, 1)
    normal = np.stack([-tangent[..., 1], tangent[..., 0]], axis=-1)
    normal /= np.maximum(np.linalg.norm(normal, axis=-1, keepdims=True), 1e-9)
    offset = normal * (np.broadcast_to(np.asarray(width, dtype=np.float64), (len(points),)) / 2)[:, None, None]
    return np.concatenate([points + offset, (points - offset)[:, ::-1]], axis=1)


def poses_as_arrays(pose, n: int) -> dict[str, np.ndarray]:
    """A :class:`Pose` or a sequence of them as (n,) arrays per field."""
    poses = [pose] * n if isinstance(pose, Pose) else list(pose)
    return {f: np.array([getattr(p, f) for p in poses], dtype=np.float64) for f in ("dx", "dy", "scale", "roll", "yaw")}


def face_geometry(expr, valence, arousal, identity: Identity, pose=Pose(), size: float = FACE_SIZE,
                  origin=(0.0, 0.0)) -> dict:
    """Every shape of ``n`` faces of one identity in picture pixels, computed at once.

    ``expr``, ``valence``, ``arousal``: scalars or (n,) arrays; ``pose``: a :class:`Pose`,
    a sequence of n, or a dict of (n,) arrays per field; ``origin``: (2,) or (n, 2).
    Returns polygons and polylines as (n, points, 2) float arrays, per-frame flags and
    strengths as (n,) arrays, line widths in pixels, and the 68 iBUG ``landmarks``
    (n, 68, 2).
    """
    expr = np.atleast_1d(np.asarray(expr, dtype=np.int64))
    n = len(expr)
    v = np.clip(np.broadcast_to(np.asarray(valence, dtype=np.float64), (n,)), -1, 1)
    a = np.clip(np.broadcast_to(np.asarray(arousal, dtype=np.float64), (n,)), -1, 1)
    p = pose if isinstance(pose, dict) else poses_as_arrays(pose, n)
    (curve0, mouth_open, mouth_width, eye_open, brow_raise, brow_inner, asymmetry, wink,
     teeth) = _SHAPE_TABLE[expr].T
    a01 = (a + 1) / 2
    pos_v, neg_v, pos_a = np.maximum(v, 0), np.maximum(-v, 0), np.maximum(a, 0)
    origin = np.broadcast_to(np.asarray(origin, dtype=np.float64), (n, 2))
    s = size * p["scale"]
    cx = origin[:, 0] + size * (0.5 + p["dx"])
    cy = origin[:, 1] + size * (0.53 + p["dy"])
    half_w, half_h = identity.face_width / 2, identity.face_height / 2
    roll = np.deg2rad(p["roll"])
    cos_r, sin_r, yaw = np.cos(roll)[:, None], np.sin(roll)[:, None], p["yaw"][:, None]
    turned = bool(np.any(yaw))

    def place(points, depth: float = 0.0, turn: bool = True) -> np.ndarray:
        """Face units (fractions of s around the centre, y down), (n, P, 2) or (P, 2),
        -> picture pixels (n, P, 2). A head turn moves a point along a cylinder of the
        face's half width; ``depth`` (nose) adds parallax."""
        q = np.broadcast_to(np.asarray(points, dtype=np.float64), (n, *np.shape(points)[-2:]))
        u, w = q[..., 0], q[..., 1]
        if turn and turned:
            angle = np.arcsin(np.clip(u / half_w, -1, 1)) + yaw
            u = half_w * np.sin(np.clip(angle, -np.pi / 2, np.pi / 2)) + depth * np.sin(yaw)
        return _xy(cx[:, None] + s[:, None] * (u * cos_r - w * sin_r),
                   cy[:, None] + s[:, None] * (u * sin_r + w * cos_r))

    g: dict = {"n": n, "scale": s, "centre": np.column_stack([cx, cy])}
    g["face"] = place(_arc(half_w, half_h, 48), turn=False)
    g["hair_cap"] = place(_arc(half_w * 1.07, half_h * 0.83, 40) + [0, -half_h * 0.27], turn=False)
    g["hair_long"] = place([[-half_w * 1.12, -half_h * 0.3], [half_w * 1.12, -half_h * 0.3],
                            [half_w * 1.05, half_h * 1.05], [-half_w * 1.05, half_h * 1.05]], turn=False)
    fringe = _arc(half_w * 0.98, half_h * 0.98, 16, np.pi * 1.08, np.pi * 1.92)
    g["fringe"] = place(np.vstack([fringe, [[half_w * 0.55, -half_h * 0.8], [-half_w * 0.55, -half_h * 0.8]]]),
                        turn=False)

    # Eyes: arousal opens them, a smile (valence > 0) raises the lower lids.
    eye_v = -0.09
    ew = identity.eye_size
    upper_h = ew * 0.62 * eye_open * (0.3 + 0.9 * a01)
    lower_h = upper_h * (1.0 - 0.55 * pos_v)
    t = np.linspace(0, np.pi, 9)
    k = np.sqrt(1 - (1 / 3) ** 2)
    g["eyes"], g["irises"], g["pupils"], g["lids"], eye_marks = [], [], [], [], []
    g["closed"] = [(wink > 0), np.zeros(n, dtype=bool)]
    for side, closed in zip((-1, 1), g["closed"]):
        ex = side * identity.eye_spacing
        up = np.where(closed, 0.0, upper_h)[:, None]
        low = np.where(closed, 0.0, lower_h)[:, None]
        upper = _xy(ex - ew * np.cos(t), eye_v - up * np.sin(t))    # left to right
        lower = _xy(ex + ew * np.cos(t), eye_v + low * np.sin(t))   # right to left
        g["lids"].append(place(upper - _xy(0, np.where(closed, 0.004, 0.0)[:, None]), 0.04))
        g["eyes"].append(place(np.concatenate([upper, lower], axis=1), 0.04))
        centre = _xy(ex, eye_v + (low - up) / 2)
        radius = ew * 0.5
        vertical = np.minimum(radius, (up[:, 0] + low[:, 0]) / 2 * 0.95)
        g["irises"].append(place(_arc(np.full(n, radius), vertical, 14) + centre, 0.04))
        pupil = radius * (0.32 + 0.3 * a01)
        g["pupils"].append(place(_arc(pupil, np.minimum(pupil, vertical), 10) + centre, 0.04))
        eye_marks.append(place(_xy(ex + ew * np.array([-1, -1 / 3, 1 / 3, 1, 1 / 3, -1 / 3]),
                                   eye_v + np.array([0, -k, -k, 0, k, k]) * np.where([0, 1, 1, 0, 0, 0], up, low)),
                               0.04))
    g["lid_width"] = 0.022 * s

    # Brows: arousal lifts them; the expression tilts their inner ends.
    brow_v = (eye_v - ew * 0.62 - 0.05 - brow_raise - 0.055 * a)[:, None]
    f = np.linspace(0, 1, 5)
    arch = np.sin(np.pi * f) * 0.014
    g["brows"] = []
    for side in (-1, 1):
        ex = side * identity.eye_spacing
        outer_x, inner_x = ex + side * ew * 1.3, ex - side * ew * 1.0
        points = _xy(outer_x + (inner_x - outer_x) * f, brow_v + 0.01 + (brow_inner[:, None] - 0.01) * f - arch)
        g["brows"].append(place(points if side == -1 else points[:, ::-1], 0.03))
    g["brow_width"] = 0.04 * s
    line_x = np.linspace(-0.11, 0.11, 7)
    g["forehead_lines"] = [place(_xy(line_x, brow_v - gap - 0.01 * np.cos(np.linspace(-1.2, 1.2, 7))), 0.02)
                           for gap in (0.045, 0.08)]
    g["forehead_strength"] = pos_a * 0.55 + np.maximum(brow_raise, 0) * 4

    # Nose.
    tip_v = 0.07
    nose = np.array([[0, eye_v - 0.01], [0, eye_v + 0.035], [0, eye_v + 0.08], [0, tip_v],
                     *[[d * 0.05, tip_v + 0.025 - 0.012 * abs(d)] for d in (-1, -0.5, 0, 0.5, 1)]])
    g["nose"] = place(nose, 0.12)

    # Cheeks: flushed by arousal, lifted by a smile.
    cheek = _arc(0.07, 0.045, 16)
    g["cheeks"] = [place(cheek + _xy(side * (identity.eye_spacing + 0.015), 0.075 - 0.035 * v[:, None]),
                         0.03) for side in (-1, 1)]
    g["flush"] = 0.55 * a01 ** 1.5

    # Mouth: y(x) = centre - curve·k·x² (corners move, the middle stays); valence adds to
    # the curvature and widens the mouth, arousal parts the lips.
    mouth_v = 0.2
    half = (identity.mouth_width * mouth_width * (1 + 0.22 * v) / 2)[:, None]
    curve = (curve0 + 1.0 * v)[:, None]
    bend = 0.05
    opening = (0.065 * mouth_open * (0.7 + 0.5 * a01) + 0.03 * pos_a)[:, None]
    xs = np.linspace(-1, 1, 11)
    base = mouth_v - curve * bend * xs ** 2 - asymmetry[:, None] * bend * np.clip(xs, 0, None) ** 2
    bulge = np.sqrt(np.clip(1 - xs ** 2, 0, 1))
    lip = 0.026
    upper = _xy(half * xs, base - opening * bulge * 0.6)
    lower = _xy(half * xs, base + opening * bulge)
    upper_outer = _xy(half * xs, base - opening * bulge * 0.6 - lip * bulge - 0.003)
    lower_outer = _xy(half * xs, base + opening * bulge + lip * 1.2 * bulge + 0.003)
    teeth_edge = _xy(half * xs * 0.85, base - opening * bulge * 0.6 + np.minimum(opening * 0.45, 0.02) * bulge)
    lower_teeth_edge = _xy(half * xs * 0.85, base + opening * bulge - np.minimum(opening * 0.4, 0.018) * bulge)
    g["mouth_inner"] = (place(upper, 0.08), place(lower, 0.08))
    g["mouth_outer"] = (place(upper_outer, 0.08), place(lower_outer, 0.08))
    g["teeth"] = place(np.concatenate([upper * [0.85, 1], teeth_edge[:, ::-1]], axis=1), 0.08)
    g["lower_teeth"] = place(np.concatenate([lower * [0.85, 1], lower_teeth_edge[:, ::-1]], axis=1), 0.08)
    g["show_teeth"] = teeth
    g["mouth_open"] = opening[:, 0] * s > 1.0
    g["mouth_line_width"] = 0.014 * s

    # Valence lines: smile folds from the nose wings past the mouth corners, or
    # down-turned lines below the corners.
    corner_v = base[:, -1]
    g["smile_lines"] = [place(np.stack([_xy(side * 0.075, np.full(n, tip_v + 0.015)),
                                        _xy(side * (half[:, 0] + 0.035), (tip_v + corner_v) / 2 + 0.01),
                                        _xy(side * (half[:, 0] + 0.03), corner_v + 0.025)], axis=1), 0.05)
                        for side in (-1, 1)]
    g["frown_lines"] = [place(np.stack([_xy(side * (half[:, 0] + 0.008), base[:, 0 if side < 0 else -1] + 0.015),
                                        _xy(side * (half[:, 0] + 0.03), corner_v + 0.09)], axis=1), 0.05)
                        for side in (-1, 1)]
    g["smile_strength"], g["frown_strength"] = pos_v, neg_v
    g["line_width"] = 0.018 * s

    # Expression wrinkles (drawn only for their class).
    g["furrows"] = [place(_xy(np.full(2, dx), brow_v + [0.03, 0.09]), 0.03) for dx in (-0.018, 0.018)]
    g["nose_wrinkles"] = [place([[side * dx, eye_v + 0.04 + dy], [side * (dx + 0.025), tip_v - 0.01 + dy]], 0.08)
                          for side in (-1, 1) for dx, dy in ((0.045, 0.0), (0.07, 0.02))]
    # Sadness: the grief wrinkle above the inner brows and the raised chin's crease.
    inner_brow_v = brow_v[:, 0] + brow_inner
    g["sad_lines"] = [place(_xy(np.array([-0.05, -0.02, 0.02, 0.05]),
                                inner_brow_v[:, None] - np.array([0.03, 0.045, 0.045, 0.03])), 0.03),
                      place(_arc(0.05, 0.018, 7, 0.2, np.pi - 0.2) + _xy(0.0, mouth_v + 0.085 + opening), 0.05)]
    g["cheek_arcs"] = [place(_arc(ew * 1.1, 0.03, 7, 0.3, np.pi - 0.3) + _xy(side * identity.eye_spacing,
                                                                            eye_v + lower_h[:, None] + 0.02),
                             0.04) for side in (-1, 1)]
    g["expr"] = expr

    # Every line as a filled polygon (see stroke).
    line = g["line_width"]
    g["lid_strokes"] = [stroke(lid, g["lid_width"]) for lid in g["lids"]]
    g["brow_strokes"] = [stroke(brow, g["brow_width"]) for brow in g["brows"]]
    g["forehead_strokes"] = [stroke(wrinkle, line * 0.8) for wrinkle in g["forehead_lines"]]
    g["nose_strokes"] = [stroke(g["nose"][:, [0, 3]], line), stroke(g["nose"][:, 4:], line)]
    for key in ("furrows", "nose_wrinkles", "cheek_arcs", "sad_lines", "smile_lines", "frown_lines"):
        g[key] = [stroke(polyline, line) for polyline in g[key]]
    g["mouth_line"] = stroke(g["mouth_inner"][0], g["mouth_line_width"])

    jaw_angles = np.linspace(np.pi + 0.2, -0.2, 17)
    jaw = place(_xy(half_w * np.cos(jaw_angles), half_h * np.sin(jaw_angles)), turn=False)
    upper_px, lower_px = g["mouth_inner"]
    upper_outer_px, lower_outer_px = g["mouth_outer"]
    g["landmarks"] = np.concatenate([
        jaw, g["brows"][0], g["brows"][1], g["nose"],              # 0-16, 17-26, 27-35
        eye_marks[0], eye_marks[1],                                # 36-41, 42-47
        upper_outer_px[:, [0, 2, 4, 5, 6, 8, 10]],                 # 48-54: left corner, upper lip, right corner
        lower_outer_px[:, [8, 6, 5, 4, 2]],                        # 55-59: lower lip, right to left
        upper_px[:, [0, 3, 5, 7, 10]], lower_px[:, [7, 5, 3]],     # 60-67: inner lips
    ], axis=1)
    return g


def face_landmarks(expr: int, valence: float, arousal: float, identity: Identity,
                   pose: Pose = Pose(), size: int = FACE_SIZE, origin: tuple[float, float] = (0.0, 0.0)
                   ) -> np.ndarray:
    """The 68 iBUG landmarks (x, y pixels, shape (68, 2)) of the face :func:`draw_face`
    draws with the same arguments, placed at ``origin`` in a larger picture."""
    return face_geometry(expr, valence, arousal, identity, pose, size, origin)["landmarks"][0]


# --------------------------------------------------------------------------- painting


def _flat(array: np.ndarray) -> list[float]:
    return array.ravel().tolist()


def paint_geometry(draw: ImageDraw.ImageDraw, g: dict, i: int, identity: Identity) -> None:
    """Paint face ``i`` of :func:`face_geometry` (computed at the canvas's scale)."""
    skin = identity.skin
    hair = identity.hair
    brow_colour = hair if sum(hair) < 240 else _DARK
    lip = (min(255, int(skin[0] * 0.62) + 70), int(skin[1] * 0.62), int(skin[2] * 0.55))
    crease = tuple(int(c * 0.62) for c in skin)

    if identity.hair_style == 1:
        draw.polygon(_flat(g["hair_long"][i]), fill=hair)
    draw.polygon(_flat(g["hair_cap"][i]), fill=hair)
    draw.polygon(_flat(g["face"][i]), fill=skin)
    if identity.hair_style == 2:
        draw.polygon(_flat(g["fringe"][i]), fill=hair)

    flush = _blend(skin, (225, 70, 80), g["flush"][i])
    for cheek in g["cheeks"]:
        draw.polygon(_flat(cheek[i]), fill=flush)

    if g["forehead_strength"][i] > 0.04:
        colour = _blend(skin, crease, g["forehead_strength"][i])
        for wrinkle in g["forehead_strokes"]:
            draw.polygon(_flat(wrinkle[i]), fill=colour)

    for eye, iris, pupil, lid, closed in zip(g["eyes"], g["irises"], g["pupils"], g["lid_strokes"], g["closed"]):
        if not closed[i]:
            draw.polygon(_flat(eye[i]), fill=(246, 246, 242))
            draw.polygon(_flat(iris[i]), fill=identity.iris)
            draw.polygon(_flat(pupil[i]), fill=(12, 10, 10))
        draw.polygon(_flat(lid[i]), fill=_DARK)

    for brow in g["brow_strokes"]:
        draw.polygon(_flat(brow[i]), fill=brow_colour)

    bridge, base = g["nose_strokes"]
    draw.polygon(_flat(bridge[i]), fill=tuple(int(c * 0.78) for c in skin))
    draw.polygon(_flat(base[i]), fill=tuple(int(c * 0.7) for c in skin))
    wrinkles = {1: g["furrows"], 2: g["nose_wrinkles"], 4: g["cheek_arcs"], 5: g["sad_lines"]}.get(
        int(g["expr"][i]), ())
    for wrinkle in wrinkles:
        draw.polygon(_flat(wrinkle[i]), fill=crease)
    for key, strength in (("smile_lines", g["smile_strength"][i]), ("frown_lines", g["frown_strength"][i])):
        if strength > 0.04:
            colour = _blend(skin, crease, 0.3 + 0.7 * strength)
            for fold in g[key]:
                draw.polygon(_flat(fold[i]), fill=colour)

    upper, lower = g["mouth_inner"][0][i], g["mouth_inner"][1][i]
    upper_outer, lower_outer = g["mouth_outer"][0][i], g["mouth_outer"][1][i]
    if g["mouth_open"][i]:
        draw.polygon(_flat(np.vstack([upper, lower[::-1]])), fill=(70, 20, 30))
        if g["show_teeth"][i] >= 1:
            draw.polygon(_flat(g["teeth"][i]), fill=(240, 238, 228))
        if g["show_teeth"][i] >= 2:
            draw.polygon(_flat(g["lower_teeth"][i]), fill=(228, 226, 216))
        draw.polygon(_flat(np.vstack([upper_outer, upper[::-1]])), fill=lip)
        draw.polygon(_flat(np.vstack([lower, lower_outer[::-1]])), fill=lip)
    else:
        draw.polygon(_flat(np.vstack([upper_outer, lower_outer[::-1]])), fill=lip)
        draw.polygon(_flat(g["mouth_line"][i]), fill=(90, 30, 35))


def draw_face(expr: int, valence: float, arousal: float, identity: Identity, pose: Pose = Pose(),
              size: int = FACE_SIZE, noise: np.random.Generator | None = None) -> Image.Image:
    """A ``size`` x ``size`` RGB face of Aff-Wild2 class ``expr`` (0-7) with valence and
    arousal in [-1, 1], on the identity's flat background; ``noise`` adds mild pixel noise."""
    canvas = Image.new("RGB", (size * SUPERSAMPLE, size * SUPERSAMPLE), identity.background)
    g = face_geometry(expr, valence, arousal, identity, pose, size * SUPERSAMPLE)
    paint_geometry(ImageDraw.Draw(canvas), g, 0, identity)
    image = canvas.reduce(SUPERSAMPLE)
    return add_noise(image, noise) if noise is not None else image


def draw_faces(expr, valence, arousal, identity: Identity, poses=Pose(), size: int = FACE_SIZE) -> list[Image.Image]:
    """:func:`draw_face` for ``n`` faces of one identity at once (geometry vectorised):
    ``expr``, ``valence``, ``arousal`` (n,) arrays, ``poses`` as :func:`face_geometry`
    takes them; returns n ``size`` x ``size`` RGB pictures without noise."""
    g = face_geometry(expr, valence, arousal, identity, poses, size * SUPERSAMPLE)
    blank = Image.new("RGB", (size * SUPERSAMPLE, size * SUPERSAMPLE), identity.background)
    faces = []
    for i in range(g["n"]):
        canvas = blank.copy()
        paint_geometry(ImageDraw.Draw(canvas), g, i, identity)
        faces.append(canvas.reduce(SUPERSAMPLE))
    return faces


def paint_face(image: Image.Image, expr: int, valence: float, arousal: float, identity: Identity,
               pose: Pose = Pose(), size: int = FACE_SIZE, origin: tuple[float, float] = (0.0, 0.0)
               ) -> np.ndarray:
    """Paint the face into the ``size`` square at ``origin`` of an existing picture
    (in-the-wild scenes), anti-aliased like :func:`draw_face`; returns its 68 landmarks
    in picture pixels."""
    margin = int(size * 0.15) + 2
    left, top = max(0, int(origin[0]) - margin), max(0, int(origin[1]) - margin)
    right, bottom = min(image.width, int(origin[0] + size) + margin), min(image.height, int(origin[1] + size) + margin)
    region = image.crop((left, top, right, bottom))
    canvas = region.resize((region.width * SUPERSAMPLE, region.height * SUPERSAMPLE), Image.NEAREST)
    local = ((origin[0] - left) * SUPERSAMPLE, (origin[1] - top) * SUPERSAMPLE)
    g = face_geometry(expr, valence, arousal, identity, pose, size * SUPERSAMPLE, local)
    paint_geometry(ImageDraw.Draw(canvas), g, 0, identity)
    image.paste(canvas.reduce(SUPERSAMPLE), (left, top))
    return g["landmarks"][0] / SUPERSAMPLE + np.array([left, top])


def add_noise(image: Image.Image, rng: np.random.Generator, amplitude: int = 6) -> Image.Image:
    """Uniform integer noise in [-amplitude, amplitude] per pixel and channel."""
    pixels = np.asarray(image, dtype=np.int16) + rng.integers(-amplitude, amplitude + 1, (*image.size[::-1], 3),
                                                              dtype=np.int16)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
