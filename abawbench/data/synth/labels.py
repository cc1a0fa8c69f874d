"""Label sequences of the synthetic videos: valence/arousal walks, expression segments,
action units.

The walks are built so that a video's identity says nothing about its labels: every
video's valence and arousal swing across most of [-1, 1] and average close to 0
(:func:`affect_walk`), and expression segments are dealt from a shared, shuffled deck
(:class:`ExpressionDeck`), so each video shows many classes and each split gets them in
the same proportions.
"""

from __future__ import annotations

import numpy as np

from abawbench.data.synth.faces import AU_PROTOTYPES
from abawbench.tracks import AU_NAMES_12


def smooth_walk(rng: np.random.Generator, n: int, step: float = 0.045, smoothing: int = 9) -> np.ndarray:
    """A slow random walk in [-1, 1] of length ``n``: Gaussian steps, smoothed by a
    Hann window, folded back at ±1 (folding keeps it continuous, clipping would stick).
    Used for head drift and camera paths, whose mean may wander."""
    walk = rng.uniform(-0.7, 0.7) + np.cumsum(rng.normal(0, step, n + smoothing))
    window = np.hanning(smoothing + 2)[1:-1]
    walk = np.convolve(walk, window / window.sum(), mode="valid")[:n]
    folded = np.mod(walk + 1, 4)
    return np.where(folded > 2, 4 - folded, folded) - 1


def walk_length_scale(n: int) -> float:
    """Frames over which a walk of an ``n``-frame video stays correlated (the Gaussian
    kernel's sigma): a tenth of the video, between 4 and 16 frames, so a video holds
    several swings and a 9-frame window sees little change."""
    return float(np.clip(n / 10, 4, 16))


def affect_walk(rng: np.random.Generator, n: int, length_scale: float | None = None,
                offset_sd: float = 0.03) -> np.ndarray:
    """Valence or arousal of one video, (n,) float64 in [-1, 1].

    Gaussian noise smoothed by a Gaussian kernel of ``length_scale`` frames (default
    :func:`walk_length_scale`), standardised within the video, squashed by tanh with a
    random gain (0.9-1.3, so spreads differ a little between videos), centred again and
    shifted by a small random offset (sd ``offset_sd``). Centring within the video is
    what removes the identity shortcut: a video's mean is its offset, so between-video
    variance stays a few percent of the within-video variance.
    """
    sigma = walk_length_scale(n) if length_scale is None else float(length_scale)
    radius = int(np.ceil(3 * sigma))
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    z = np.convolve(rng.normal(size=n + 2 * radius), kernel / kernel.sum(), mode="valid")
    z = (z - z.mean()) / max(z.std(), 1e-9)
    squashed = np.tanh(rng.uniform(0.9, 1.3) * z)
    return np.clip(squashed - squashed.mean() + rng.normal(0, offset_sd), -1, 1)


class ExpressionDeck:
    """Classes dealt from shuffled decks: every class once per deck (Neutral twice), the
    next deck shuffled when one runs out; never the same class twice in a row.

    Sharing one deck across the videos of a split keeps the split's class proportions
    equal to the deck's and puts every class in any run of 9 consecutive segments.
    """

    def __init__(self, rng: np.random.Generator, n_classes: int = 8, neutral_copies: int = 2):
        self.rng = rng
        self.cards = np.r_[np.zeros(neutral_copies - 1, dtype=np.int64), np.arange(n_classes)]
        self.pile: list[int] = []

    def deal(self, previous: int = -1) -> int:
        if not self.pile:
            self.pile = [int(c) for c in self.rng.permutation(self.cards)]
        if self.pile[-1] == previous:
            if all(c == previous for c in self.pile):  # only repeats left: open the next deck under them
                self.pile = [int(c) for c in self.rng.permutation(self.cards)] + self.pile
            swap = next(i for i in range(len(self.pile) - 1, -1, -1) if self.pile[i] != previous)
            self.pile[-1], self.pile[swap] = self.pile[swap], self.pile[-1]
        return self.pile.pop()


def expression_segments(rng: np.random.Generator, n: int, n_classes: int = 8,
                        length: tuple[int, int] = (15, 50), deck: ExpressionDeck | None = None) -> np.ndarray:
    """Class per frame (int64, length ``n``) as segments of ``length`` frames (uniform,
    inclusive), classes dealt from ``deck`` (a fresh one when None)."""
    deck = ExpressionDeck(rng, n_classes) if deck is None else deck
    lengths = []
    while sum(lengths) < n:
        lengths.append(int(rng.integers(length[0], length[1] + 1)))
    classes, previous = [], -1
    for _ in lengths:
        previous = deck.deal(previous)
        classes.append(previous)
    return np.repeat(classes, lengths)[:n].astype(np.int64)


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
