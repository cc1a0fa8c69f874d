"""The three training parts of the reference method, their balancing weights and the
batch sampler that draws from all three at every step (method.md, "Data: three training
parts = three tasks").

=============  ==============================================================  ==========
part           rows                                                            primary
=============  ==============================================================  ==========
``expr``       Aff-Wild2 EXPR train frames with a valid class and a crop       ``expr``
               + ExpW
``va``         Aff-Wild2 VA train frames with valid valence and arousal and    valence,
               a crop + AFEW-VA                                                arousal
``expr_va``    AffectNet rows with both labels (paper), or every 3rd           both
               Aff-Wild2 frame that is train for both tracks and carries
               both labels (the authors' committed build script)
=============  ==============================================================  ==========

Every part is a sample table (:mod:`abawbench.data`'s contract columns) plus a ``part``
column. The label a part is not about is its *secondary* label: an Aff-Wild2 frame of the
``expr`` part keeps its VA label when that frame is also a valid VA *train* frame (shared
annotations), and the ``va`` part keeps the EXPR label the same way; everything else, and
every external row, carries the missing marker (-1 / -5) there. A frame whose other
label belongs to that track's *validation* split does not share it, as in the authors'
code (which intersects the two Train_Sets), so validation labels never leak into training.

Balancing (authors' code): each part is drawn with replacement, weight 1 / (count of the
sample's class) for EXPR, 1 / (count of the sample's cell of a 20x20 valence-arousal
histogram) for VA. The histogram spans the fixed range [-1, 1]; the code used the data's
own min/max, which :func:`va_balance_weights` reproduces with ``value_range=None``.

Batches: :class:`MultiPartBatchSampler` yields, per step, ``per_part`` indices from every
part as one flat list of *global* indices into the concatenation of the parts, in the
order of the mapping it was given (:class:`ConcatParts` gives the same layout). A flat list
is what ``torch.utils.data.DataLoader(batch_sampler=...)`` expects, so one loader over
``ConcatParts(parts).table`` serves all three tasks. The loader drops an item whose image
cannot be read, so a delivered batch may be shorter than the sampler's and its positions
no longer match ``part_positions``: split a *loaded* batch by its ``part`` key (the
datasets return each item's part code, ``ConcatParts.table["part"]``), never by position.
``part_positions`` and :meth:`MultiPartBatchSampler.split` describe the sampler's index
lists only.

Nothing here imports torch.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import union_categoricals

from abawbench.data import MISSING_EXPR, MISSING_VA, valid_expr, valid_va  # noqa: F401 (re-exported)

__all__ = [
    "PARTS",
    "EXPR_VA_SOURCES",
    "CONTRACT_COLUMNS",
    "THIN_EXPR_KEEP_EVERY",
    "THIN_VA_KEEP_EVERY",
    "SHARED_EXPR_VA_KEEP_EVERY",
    "valid_expr",
    "valid_va",
    "thin_expr_positions",
    "build_parts",
    "expr_balance_weights",
    "va_histogram_cells",
    "va_balance_weights",
    "expr_va_balance_weights",
    "balance_weights",
    "ConcatParts",
    "MultiPartBatchSampler",
]

#: The parts, in the order the method names them (and the default batch layout).
PARTS = ("expr", "va", "expr_va")
EXPR_VA_SOURCES = ("affectnet", "affwild2-shared")
CONTRACT_COLUMNS = ("source", "video", "frame", "path", "expr", "valence", "arousal")
SOURCES = ("affwild2", "expw", "afew_va", "affectnet")
_AFFWILD2_COLUMNS = CONTRACT_COLUMNS + ("has_crop", "split_expr", "split_va")

#: Authors' code thinning of the Aff-Wild2 EXPR train frames, applied in this order:
#: class -> keep 1 in k (0 Neutral /10, then 4 Happiness /2, then 5 Sadness /2).
THIN_EXPR_KEEP_EVERY = ((0, 10), (4, 2), (5, 2))
#: Authors' code thinning of the Aff-Wild2 VA train frames: keep 1 in 5.
THIN_VA_KEEP_EVERY = 5
#: ``expr_va_source="affwild2-shared"``: keep every 3rd frame carrying both labels.
SHARED_EXPR_VA_KEEP_EVERY = 3


# --------------------------------------------------------------------------- labels


OTHER_CLASS = 7  # ABAW3+ "Other"; the paper's 7-class method has no such class


# --------------------------------------------------------------------------- parts


def thin_expr_positions(expr: Any, keep_every: Sequence[tuple[int, int]] = THIN_EXPR_KEEP_EVERY) -> np.ndarray:
    """Row positions the authors' code keeps when it thins EXPR frames, ascending.

    For each ``(class, k)`` in turn, a row of that class survives only if its position in
    the table *as left by the previous step* (re-indexed from 0, every class counted) is a
    multiple of ``k``. This is the code's rule (``Mixed_EXPR.py:96-119``), a position in
    the whole table rather than a count within the class: on long runs of one class, as in
    videos, it keeps 1 in ``k`` of that class.

    Args:
        expr: (N,) class labels in table order.
    Returns:
        (M,) int64 positions into ``expr``.
    """
    expr = np.asarray(expr)
    kept = np.arange(len(expr), dtype=np.int64)
    for cls, every in keep_every:
        labels = expr[kept]
        keep = (labels != cls) | (np.arange(len(kept)) % every == 0)
        kept = kept[keep]
    return kept


def _require(table: pd.DataFrame, columns: Sequence[str], name: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"{name} table lacks the column(s) {', '.join(missing)}; "
                         f"expected a sample table with {', '.join(columns)}")


def _roots(tables: Mapping[str, pd.DataFrame]) -> tuple[dict[str, str], str | None]:
    """Path prefixes that make every table's ``path`` relative to one common root.

    Each reader's paths are relative to its own ``attrs["root"]``; the parts mix sources,
    so their paths are rebased onto the deepest folder holding all the roots.
    """
    roots = {name: t.attrs.get("root") for name, t in tables.items()}
    known = {str(r) for r in roots.values() if r is not None}
    if not known:
        return {name: "" for name in tables}, None
    if None in roots.values():
        if len(known) == 1:
            return {name: "" for name in tables}, known.pop()
        raise ValueError("the tables have different attrs['root'] and "
                         + ", ".join(n for n, r in roots.items() if r is None)
                         + " has none: cannot make the paths relative to one root")
    absolute = {name: os.path.abspath(str(r)) for name, r in roots.items()}
    common = os.path.commonpath(list(absolute.values()))
    prefixes = {}
    for name, root in absolute.items():
        relative = os.path.relpath(root, common)
        prefixes[name] = "" if relative == "." else relative.replace(os.sep, "/") + "/"
    return prefixes, common


def _piece(table: pd.DataFrame, rows: np.ndarray, prefix: str, *, keep_expr: np.ndarray | bool,
           keep_va: np.ndarray | bool) -> pd.DataFrame:
    """Contract columns of ``table.iloc[rows]`` with labels set missing where not kept."""
    def take(column: str) -> pd.Series:
        return table[column].take(rows).reset_index(drop=True)

    def categorical(column: str) -> pd.Series:
        values = take(column)
        if isinstance(values.dtype, pd.CategoricalDtype):
            return values.cat.remove_unused_categories()
        return values.astype(str).astype("category")

    expr = take("expr").to_numpy().astype(np.int8)
    valence = take("valence").to_numpy().astype(np.float32)
    arousal = take("arousal").to_numpy().astype(np.float32)
    path = take("path").astype(object)
    if prefix:
        path = path.where(path.str.startswith("/"), prefix + path)
    return pd.DataFrame({
        "source": categorical("source"),
        "video": categorical("video"),
        "frame": take("frame").to_numpy().astype(np.int32),
        "path": path,
        "expr": np.where(keep_expr, expr, np.int8(MISSING_EXPR)).astype(np.int8),
        "valence": np.where(keep_va, valence, np.float32(MISSING_VA)).astype(np.float32),
        "arousal": np.where(keep_va, arousal, np.float32(MISSING_VA)).astype(np.float32),
    })


def _assemble(pieces: list[pd.DataFrame], part: str, root: str | None) -> pd.DataFrame:
    """Concatenate the pieces of one part, keeping ``source`` and ``video`` categorical."""
    table = pd.concat(pieces, ignore_index=True)
    sources = union_categoricals([p["source"].cat.as_unordered().array for p in pieces], ignore_order=True)
    extra_sources = sorted(set(sources.categories.astype(str)) - set(SOURCES))
    table["source"] = pd.Categorical(np.asarray(sources, dtype=object), categories=list(SOURCES) + extra_sources)
    table["video"] = union_categoricals([p["video"].cat.as_unordered().array for p in pieces], ignore_order=True)
    table["part"] = pd.Categorical(np.full(len(table), part, dtype=object), categories=list(PARTS))
    table.attrs = {"part": part}
    if root is not None:
        table.attrs["root"] = root
    return table


def build_parts(
    affwild2: pd.DataFrame,
    expw: pd.DataFrame | None = None,
    afew_va: pd.DataFrame | None = None,
    affectnet: pd.DataFrame | None = None,
    *,
    expr_va_source: str = "affectnet",
    share_annotations: bool = True,
    thin: bool = False,
    keep_other: bool = False,
) -> dict[str, pd.DataFrame]:
    """The three training parts ``{"expr", "va", "expr_va"}`` as sample tables.

    Args:
        affwild2: the Aff-Wild2 frame table: one row per frame, which may carry an EXPR
            and a VA label at once, with ``has_crop``, ``split_expr`` and ``split_va``.
            Rows are taken in table order (the order thinning and "every 3rd" count in).
        expw, afew_va, affectnet: the external tables (None: the part goes without them).
            Rows without a valid primary label, or with ``has_crop`` False where that
            column exists, are dropped.
        expr_va_source: ``"affectnet"`` (paper; needs ``affectnet``) or
            ``"affwild2-shared"`` (authors' committed script: every 3rd Aff-Wild2 frame
            that is train for both tracks, has a crop and both labels).
        share_annotations: keep the secondary label of shared Aff-Wild2 frames (a VA
            label on an ``expr`` row, an EXPR label on a ``va`` row); False sets it missing.
        thin: apply the authors' code's thinning to the Aff-Wild2 rows (EXPR: 1 in 10
            Neutral, then 1 in 2 Happiness, then 1 in 2 Sadness, by table position, see
            :func:`thin_expr_positions`; VA: 1 in 5 by position). External rows and the
            ``expr_va`` part are never thinned.
        keep_other: keep the ABAW3+ class 7 "Other". The method has 7 classes (its EXPR
            head has K = 7), so by default "Other" counts as no EXPR label: such frames
            leave the ``expr`` part and carry no secondary EXPR label elsewhere.
    Returns:
        ``{part: table}``, each with the contract columns (Aff-Wild2 rows first, then
        the external database), a categorical ``part`` column, a fresh RangeIndex and
        ``attrs["part"]``; ``attrs["root"]`` is the common folder of the inputs' roots,
        and ``path`` is rebased onto it, when the inputs carry ``attrs["root"]``.
    """
    if expr_va_source not in EXPR_VA_SOURCES:
        raise ValueError(f"expr_va_source must be one of {', '.join(EXPR_VA_SOURCES)}, not {expr_va_source!r}")
    if expr_va_source == "affectnet" and affectnet is None:
        raise ValueError('expr_va_source="affectnet" needs the AffectNet table; pass affectnet= '
                         'or use expr_va_source="affwild2-shared"')
    _require(affwild2, _AFFWILD2_COLUMNS, "Aff-Wild2")
    external = {"expw": expw, "afew_va": afew_va}
    if expr_va_source == "affectnet":
        external["affectnet"] = affectnet
    external = {name: t for name, t in external.items() if t is not None}
    for name, table in external.items():
        _require(table, CONTRACT_COLUMNS, name)
    prefixes, root = _roots({"affwild2": affwild2, **external})

    expr = affwild2["expr"].to_numpy()
    has_expr = valid_expr(expr) & (keep_other | (expr < OTHER_CLASS))
    has_va = valid_va(affwild2["valence"].to_numpy(), affwild2["arousal"].to_numpy())
    crop = affwild2["has_crop"].to_numpy(dtype=bool)
    expr_train = np.asarray(affwild2["split_expr"].astype(str) == "train")
    va_train = np.asarray(affwild2["split_va"].astype(str) == "train")
    # A label is usable, as primary or as shared secondary, only on a train frame.
    expr_label = has_expr & expr_train
    va_label = has_va & va_train

    expr_rows = np.flatnonzero(expr_label & crop)
    if thin:
        expr_rows = expr_rows[thin_expr_positions(expr[expr_rows])]
    va_rows = np.flatnonzero(va_label & crop)
    if thin:
        va_rows = va_rows[::THIN_VA_KEEP_EVERY]

    prefix = prefixes["affwild2"]
    expr_pieces = [_piece(affwild2, expr_rows, prefix, keep_expr=True,
                          keep_va=share_annotations & va_label[expr_rows])]
    va_pieces = [_piece(affwild2, va_rows, prefix, keep_expr=share_annotations & expr_label[va_rows],
                        keep_va=True)]

    def usable(table: pd.DataFrame, good: np.ndarray) -> np.ndarray:
        if "has_crop" in table.columns:
            good = good & table["has_crop"].to_numpy(dtype=bool)
        return np.flatnonzero(good)

    if "expw" in external:
        t = external["expw"]
        rows = usable(t, valid_expr(t["expr"].to_numpy()))
        expr_pieces.append(_piece(t, rows, prefixes["expw"], keep_expr=True, keep_va=False))
    if "afew_va" in external:
        t = external["afew_va"]
        rows = usable(t, valid_va(t["valence"].to_numpy(), t["arousal"].to_numpy()))
        va_pieces.append(_piece(t, rows, prefixes["afew_va"], keep_expr=False, keep_va=True))

    if expr_va_source == "affectnet":
        t = external["affectnet"]
        rows = usable(t, valid_expr(t["expr"].to_numpy()) & valid_va(t["valence"].to_numpy(), t["arousal"].to_numpy()))
        expr_va_pieces = [_piece(t, rows, prefixes["affectnet"], keep_expr=True, keep_va=True)]
    else:
        both = np.flatnonzero(expr_label & va_label & crop)[::SHARED_EXPR_VA_KEEP_EVERY]
        expr_va_pieces = [_piece(affwild2, both, prefix, keep_expr=True, keep_va=True)]

    return {
        "expr": _assemble(expr_pieces, "expr", root),
        "va": _assemble(va_pieces, "va", root),
        "expr_va": _assemble(expr_va_pieces, "expr_va", root),
    }


# --------------------------------------------------------------------------- balancing


def expr_balance_weights(labels: Any) -> np.ndarray:
    """Sampling weight 1 / (number of samples of the sample's class).

    Every class then holds the same total weight, 1, so a weighted draw picks each
    present class with equal probability.

    Args:
        labels: (N,) non-negative int class labels.
    Returns:
        (N,) float64.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {labels.shape}")
    if labels.size == 0:
        return np.zeros(0, dtype=np.float64)
    labels = labels.astype(np.int64)
    if labels.min() < 0:
        raise ValueError(f"labels must be classes >= 0; found {labels.min()} (a missing label?)")
    counts = np.bincount(labels)
    return 1.0 / counts[labels]


def _edges(values: np.ndarray, bins: int, value_range: tuple[float, float] | None) -> np.ndarray:
    if value_range is None:
        # The authors' code: np.histogram2d's default range, the data's own min/max
        # (widened by 0.5 on each side when all values are equal, as NumPy does).
        low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 1.0)
        if low == high:
            low, high = low - 0.5, high + 0.5
        if values.size and not np.isfinite(values).all():  # as np.histogram2d refuses them
            bad = values[~np.isfinite(values)]
            raise ValueError(f"{bad.size} value(s) that are not finite, e.g. {bad[0]}: the data's own range "
                             "needs finite values")
    else:
        low, high = map(float, value_range)
        outside = (values < low) | (values > high) | np.isnan(values)
        if outside.any():
            raise ValueError(f"{int(outside.sum())} value(s) outside [{low}, {high}], e.g. "
                             f"{values[outside][0]} (a missing -5 label?)")
    return np.linspace(low, high, bins + 1)


def va_histogram_cells(valence: Any, arousal: Any, bins: int = 20,
                       value_range: tuple[float, float] | None = (-1.0, 1.0)) -> np.ndarray:
    """Cell of each (valence, arousal) pair in a ``bins`` x ``bins`` histogram.

    Cells follow ``np.histogram2d``: bin i of an axis holds ``edges[i] <= x < edges[i+1]``
    with ``edges = linspace(low, high, bins + 1)``, and a value equal to ``high`` goes into
    the last bin.

    Args:
        valence, arousal: (N,) floats.
        value_range: ``(low, high)`` of both axes; values outside raise ValueError.
            ``None``: each axis spans its data's own min/max (the authors' code), which must
            be finite (ValueError otherwise, as ``np.histogram2d``).
    Returns:
        (N,) int64 cell ids ``valence_bin * bins + arousal_bin``.
    """
    v = np.asarray(valence, dtype=np.float64)
    a = np.asarray(arousal, dtype=np.float64)
    if v.shape != a.shape or v.ndim != 1:
        raise ValueError(f"valence and arousal must be 1-D of one length, got {v.shape} and {a.shape}")
    cells = []
    for values in (v, a):
        edges = _edges(values, bins, value_range)
        cells.append(np.clip(np.searchsorted(edges, values, side="right") - 1, 0, bins - 1))
    return cells[0] * bins + cells[1]


def va_balance_weights(valence: Any, arousal: Any, bins: int = 20,
                       value_range: tuple[float, float] | None = (-1.0, 1.0)) -> np.ndarray:
    """Sampling weight 1 / (number of samples in the sample's valence-arousal cell).

    The histogram is ``bins`` x ``bins`` over ``value_range`` on both axes (see
    :func:`va_histogram_cells`); every occupied cell then holds total weight 1.

    Returns:
        (N,) float64.
    """
    cells = va_histogram_cells(valence, arousal, bins, value_range)
    if cells.size == 0:
        return np.zeros(0, dtype=np.float64)
    counts = np.bincount(cells, minlength=bins * bins)
    return 1.0 / counts[cells]


def expr_va_balance_weights(labels: Any, valence: Any, arousal: Any, bins: int = 20,
                            value_range: tuple[float, float] | None = (-1.0, 1.0)) -> np.ndarray:
    """Weights of the ``expr_va`` part as in the authors' code (``imbalanced_EXPR_VA.py``):
    1/count(VA cell) + 1/count(class), a sum rather than a product, divided by its maximum
    (which changes no draw probability).

    Returns:
        (N,) float64 in (0, 1].
    """
    weights = expr_balance_weights(labels) + va_balance_weights(valence, arousal, bins, value_range)
    return weights / weights.max() if weights.size else weights


def balance_weights(parts: Mapping[str, pd.DataFrame], bins: int = 20,
                    value_range: tuple[float, float] | None = (-1.0, 1.0)) -> dict[str, np.ndarray]:
    """``{part: (len(part),) float64 weights}`` for the parts of :func:`build_parts`,
    each from its primary label(s): ``expr`` by class, ``va`` by VA cell, ``expr_va`` by
    :func:`expr_va_balance_weights`."""
    weights = {}
    for name, table in parts.items():
        if name == "expr":
            weights[name] = expr_balance_weights(table["expr"].to_numpy())
        elif name == "va":
            weights[name] = va_balance_weights(table["valence"].to_numpy(), table["arousal"].to_numpy(),
                                               bins, value_range)
        elif name == "expr_va":
            weights[name] = expr_va_balance_weights(table["expr"].to_numpy(), table["valence"].to_numpy(),
                                                    table["arousal"].to_numpy(), bins, value_range)
        else:
            raise ValueError(f"unknown part {name!r}; expected one of {', '.join(PARTS)}")
    return weights


# --------------------------------------------------------------------------- batches


class ConcatParts:
    """The layout of several parts laid end to end: global index <-> (part, row).

    Global index ``g`` of row ``r`` of part ``p`` is ``offsets[p] + r``, where the parts
    follow the mapping's order and ``offsets[p]`` is the total length of the parts before
    ``p``. :class:`MultiPartBatchSampler` yields indices in this layout.

    Args:
        parts: ``{name: table}`` (anything with ``len``) or ``{name: size}``.
    """

    def __init__(self, parts: Mapping[str, Any]) -> None:
        if not parts:
            raise ValueError("no parts given")
        self.parts = dict(parts)
        self.names: tuple[str, ...] = tuple(self.parts)
        self.sizes: dict[str, int] = {
            name: int(value) if np.ndim(value) == 0 and not hasattr(value, "__len__") else len(value)
            for name, value in self.parts.items()
        }
        starts = np.concatenate([[0], np.cumsum([self.sizes[n] for n in self.names])]).astype(np.int64)
        self._starts = starts
        self.offsets: dict[str, int] = {name: int(starts[k]) for k, name in enumerate(self.names)}
        self._table: pd.DataFrame | None = None

    def __len__(self) -> int:
        return int(self._starts[-1])

    def locate(self, index: Any) -> tuple[Any, Any]:
        """Part name(s) and row(s) of global ``index``: an int gives ``(str, int)``, an
        (N,) array gives ``((N,) object array of names, (N,) int64 rows)``."""
        scalar = np.ndim(index) == 0
        index = np.atleast_1d(np.asarray(index, dtype=np.int64))
        bad = (index < 0) | (index >= len(self))
        if bad.any():
            raise IndexError(f"global index {index[bad][0]} outside 0..{len(self) - 1}")
        part = np.searchsorted(self._starts, index, side="right") - 1
        rows = index - self._starts[part]
        names = np.asarray(self.names, dtype=object)[part]
        return (names[0], int(rows[0])) if scalar else (names, rows)

    def global_index(self, part: str, rows: Any) -> np.ndarray:
        """(N,) int64 global indices of ``rows`` of ``part``."""
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size and (rows.min() < 0 or rows.max() >= self.sizes[part]):
            raise IndexError(f"row outside 0..{self.sizes[part] - 1} of part {part!r}")
        return self.offsets[part] + rows

    @property
    def table(self) -> pd.DataFrame:
        """The parts' tables concatenated in layout order (row ``g`` = global index ``g``),
        categorical columns kept categorical; ``attrs["root"]`` from the parts when they
        agree."""
        if self._table is None:
            tables = [self.parts[n] for n in self.names]
            if not all(isinstance(t, pd.DataFrame) for t in tables):
                raise TypeError("ConcatParts.table needs a DataFrame for every part")
            table = pd.concat(tables, ignore_index=True)
            for column in tables[0].columns:
                if all(isinstance(t[column].dtype, pd.CategoricalDtype) for t in tables if column in t):
                    categories = list(dict.fromkeys(c for t in tables if column in t for c in t[column].cat.categories))
                    table[column] = pd.Categorical(table[column], categories=categories)
            roots = {t.attrs.get("root") for t in tables}
            table.attrs = {"root": roots.pop()} if len(roots) == 1 and None not in roots else {}
            self._table = table
        return self._table


class MultiPartBatchSampler:
    """Per step, ``per_part`` indices from every part, as one flat list of global indices.

    A batch is ``[part 0's draws, part 1's draws, ...]`` in the mapping's order; part ``p``
    fills positions ``part_positions[p]`` and its global indices are
    ``offsets[p] + row`` (the :class:`ConcatParts` layout of the same mapping). Usable as
    ``torch.utils.data.DataLoader(dataset, batch_sampler=sampler)``.

    Drawing, per part:

    * ``balanced`` and weights given: with replacement, row ``r`` with probability
      ``w[r] / sum(w)`` (the authors' weighted sampler);
    * otherwise: uniform, walking through fresh random permutations of the rows, so every
      row is drawn once before any repeats.

    The draws are a function of ``(seed, epoch, part position)`` only: the same for every
    iteration until :meth:`set_epoch` changes the epoch, and a part's draws do not depend
    on the other parts.

    Args:
        parts: ``{name: size}`` (uniform) or ``{name: (size,) non-negative weights}``.
        per_part: N, samples per part per step.
        steps: batches per epoch (``len(sampler)``); None takes the authors' epoch length,
            ``min over parts of size // per_part``.
        seed: non-negative int.
        balanced: draw with the weights; False draws uniformly even when weights are given.
    """

    def __init__(self, parts: Mapping[str, Any], per_part: int, steps: int | None = None, seed: int = 0,
                 balanced: bool = True) -> None:
        if int(per_part) < 1:
            raise ValueError(f"per_part must be >= 1, got {per_part}")
        if int(seed) < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        self.per_part = int(per_part)
        self.seed = int(seed)
        self.balanced = bool(balanced)
        self.epoch = 0
        self._cdf: dict[str, np.ndarray | None] = {}
        sizes = {}
        for name, value in parts.items():
            if np.ndim(value) == 0:
                sizes[name], self._cdf[name] = int(value), None
                continue
            weights = np.asarray(value, dtype=np.float64)
            if weights.ndim != 1:
                raise ValueError(f"weights of part {name!r} must be 1-D, got shape {weights.shape}")
            if not np.isfinite(weights).all() or (weights < 0).any() or weights.sum() <= 0:
                raise ValueError(f"weights of part {name!r} must be finite, >= 0 and not all 0")
            sizes[name] = len(weights)
            # cumsum / its last element ends exactly at 1.0, so a draw u in [0, 1) always
            # lands on a row, and never on a zero-weight one.
            cdf = np.cumsum(weights)
            self._cdf[name] = cdf / cdf[-1] if self.balanced else None
        empty = [n for n, s in sizes.items() if s < 1]
        if empty:
            raise ValueError(f"part(s) {', '.join(empty)} have no rows to draw from")
        self.layout = ConcatParts(sizes)
        self.names = self.layout.names
        self.sizes = self.layout.sizes
        self.offsets = self.layout.offsets
        self.part_positions: dict[str, slice] = {
            name: slice(k * self.per_part, (k + 1) * self.per_part) for k, name in enumerate(self.names)}
        self.steps = min(s // self.per_part for s in sizes.values()) if steps is None else int(steps)
        if self.steps < 0:
            raise ValueError(f"steps must be >= 0, got {steps}")
        if steps is None and self.steps == 0:
            small = min(sizes, key=sizes.get)
            raise ValueError(f"part {small!r} has {sizes[small]} rows, fewer than per_part={self.per_part}: an epoch "
                             "would have no step; lower per_part or pass steps")

    @classmethod
    def from_parts(cls, parts: Mapping[str, pd.DataFrame], per_part: int, steps: int | None = None, seed: int = 0,
                   balanced: bool = True, bins: int = 20,
                   value_range: tuple[float, float] | None = (-1.0, 1.0)) -> MultiPartBatchSampler:
        """A sampler over :func:`build_parts`'s tables, weighted by :func:`balance_weights`."""
        weights = balance_weights(parts, bins, value_range) if balanced else {n: len(t) for n, t in parts.items()}
        return cls(weights, per_part, steps, seed, balanced)

    def set_epoch(self, epoch: int) -> None:
        """Draw a different, still reproducible, sequence of batches for ``epoch``."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.steps

    def __iter__(self) -> Iterator[list[int]]:
        n = self.per_part
        draws = [self._draws(k, name) for k, name in enumerate(self.names)]
        batch = np.empty(n * len(self.names), dtype=np.int64)
        for _ in range(self.steps):
            for k, name in enumerate(self.names):
                batch[k * n:(k + 1) * n] = self.offsets[name] + next(draws[k])
            yield batch.tolist()

    def _draws(self, position: int, name: str) -> Iterator[np.ndarray]:
        """Endless (per_part,) int64 row draws of one part."""
        rng = np.random.default_rng([self.seed, self.epoch, position])
        n, size, cdf = self.per_part, self.sizes[name], self._cdf[name]
        if cdf is not None:
            while True:
                yield np.searchsorted(cdf, rng.random(n), side="right")
        pending = np.zeros(0, dtype=np.int64)
        while True:
            while len(pending) < n:
                pending = np.concatenate([pending, rng.permutation(size)])
            rows, pending = pending[:n], pending[n:]
            yield rows

    def split(self, batch: Sequence[int] | np.ndarray) -> dict[str, np.ndarray]:
        """``{part: (per_part,) int64 rows of that part}`` from one yielded batch."""
        batch = np.asarray(batch, dtype=np.int64)
        return {name: batch[self.part_positions[name]] - self.offsets[name] for name in self.names}
