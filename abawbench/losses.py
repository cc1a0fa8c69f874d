"""The reference method's losses: equations 1-10 of the paper (method.md, "Losses"), as
named functions over tensors.

Every function takes explicit boolean masks for the samples whose label it may use (the
datasets return them: ``expr_valid`` / ``va_valid``), never label markers; a masked-out
sample contributes nothing, an empty subset contributes 0. Nothing here reads a tensor
back to the host, so a training step never waits on the device.

Shapes: N samples; EXPR logits (N, 7); VA logits (N, 2·B), B bin logits of valence then
B of arousal; labels ``expr`` (N,) int64, ``valence`` / ``arousal`` (N,) float in [-1, 1].

==========  ==============================================================================
Eq. 1       :func:`expr_supervision`: cross-entropy of the 7 logits (mean over labelled
            samples).
Eq. 2       :func:`va_supervision`: per dimension, cross-entropy of the B bin logits
            against the bin of the true value, plus ``ccc_weight`` · (1 − CCC) between the
            softmax expectation and the truth over the (sub)batch; the two dimensions
            summed.
Eq. 3       :func:`expr_va_supervision`: Eq. 1 + Eq. 2 on the same samples.
Eq. 4       :func:`expr_distillation`: KL(teacher ‖ student) of the softmaxes at
            temperature T, batch mean, × T² (the authors' code; ``t_squared``).
Eq. 5       :func:`va_distillation`: Eq. 4 on each VA bin group, summed.
Eq. 6       :func:`expr_va_distillation`: Eq. 4 + Eq. 5.
Eq. 7       :func:`teacher_loss`: the supervision losses of the tasks in use ({1, 2} or
            {1, 2, 3}), summed (paper) or averaged per head (code).
Eq. 8       :func:`student_term`: λ · supervision + (1 − λ) · distillation.
Eq. 9, 10   :func:`student_loss`: per part, Eq. 8 on the part's own output(s); on the
            other output distillation alone (Eq. 9), or, with shared annotations, Eq. 8
            on the samples that carry a shared label of it (Eq. 10).
==========  ==============================================================================

The guards of method.md: a CCC over fewer than ``min_samples`` (2) labelled samples, or
whose denominator vanishes (every label and prediction equal), is *undefined*: its
(1 − CCC) term is left out (contributes 0) and counted in ``ccc_undefined``, where the
authors' code returned NaN.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from abawbench.models.multitask import va_expectation

#: Task number (the paper's) -> training part.
TASK_PARTS = {1: "expr", 2: "va", 3: "expr_va"}
#: Part -> the heads its primary labels supervise.
PART_HEADS = {"expr": ("expr",), "va": ("va",), "expr_va": ("expr", "va")}
HEADS = ("expr", "va")

CCC_MOMENTS = ("population", "unbiased")
BIN_TARGETS = ("exact", "paper-code")
TEACHER_REDUCTIONS = ("sum", "per-head-mean")
STUDENT_REDUCTIONS = ("sum", "mean")
SUBSET_WEIGHTINGS = ("size", "equal")

#: Below this many labelled samples a CCC is undefined (a one-sample std is 0 or NaN).
CCC_MIN_SAMPLES = 2
_EPSILON = 1e-12
# A label within this fraction of a bin below an edge belongs to the bin above: the
# float32 storage error of a decimal label such as -0.1 (about 1.5e-9) is far smaller,
# genuine values are not that close to an edge.
_EDGE_TOLERANCE = 1e-4


@dataclass(frozen=True)
class LossSettings:
    """The loss switches of the config's ``[loss]`` table (see ``baselines/README.md``)."""

    temperature: float = 1.5
    distillation_t_squared: bool = True
    supervision_weight: float = 0.6
    ccc_weight: float = 1.0
    ccc_moments: str = "population"
    va_bin_targets: str = "exact"
    teacher_reduction: str = "sum"
    student_reduction: str = "sum"
    subset_weighting: str = "size"


@dataclass
class PartLabels:
    """Labels of one part's samples, each (N,): ``expr`` int64, ``valence`` / ``arousal``
    float, and the masks ``expr_valid`` / ``va_valid`` (bool) of usable labels."""

    expr: torch.Tensor
    valence: torch.Tensor
    arousal: torch.Tensor
    expr_valid: torch.Tensor
    va_valid: torch.Tensor

    def valid(self, head: str) -> torch.Tensor:
        return self.expr_valid if head == "expr" else self.va_valid


# --------------------------------------------------------------------------- primitives


def softened(logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """SF(z, T) = softmax(z / T) over the last axis, float32."""
    return torch.softmax(logits.float() / temperature, dim=-1)


def masked_mean(values: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean of ``values`` (N,) over ``mask`` (N,) bool; 0 when the mask is empty."""
    if mask is None:
        return values.mean() if values.numel() else values.sum()
    # where, not a product: a masked-out NaN or inf must not reach the sum
    kept = torch.where(mask, values, torch.zeros_like(values))
    return kept.sum() / mask.to(values.dtype).sum().clamp(min=1.0)


def concordance_cc(prediction: torch.Tensor, truth: torch.Tensor, mask: torch.Tensor | None = None,
                   moments: str = "population", min_samples: int = CCC_MIN_SAMPLES
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """Lin's concordance correlation of the masked samples, differentiable.

    ``CCC = 2·cov / (var_x + var_y + (mean_x − mean_y)²)``; ``moments="population"``
    divides the second moments by n (the metric's, abawbench's default),
    ``"unbiased"`` by n − 1 (the authors' loss). For x = [0, 1], y = [1, 2] they give 1/3
    and 1/2.

    Args:
        prediction, truth: (N,) float.
        mask: (N,) bool, the samples to use (None: all).
    Returns:
        ``(ccc, defined)``: scalar float32 (0 where undefined) and a scalar bool, False
        when fewer than ``min_samples`` samples are masked in or the denominator is 0.
    """
    if moments not in CCC_MOMENTS:
        raise ValueError(f"moments must be one of {', '.join(CCC_MOMENTS)}, not {moments!r}")
    x, y = prediction.float(), truth.float()
    if mask is not None:  # masked-out markers (-5) or NaNs must not reach the sums
        x = torch.where(mask, x, torch.zeros_like(x))
        y = torch.where(mask, y, torch.zeros_like(y))
    w = torch.ones_like(x) if mask is None else mask.to(x.dtype)
    n = w.sum()
    safe_n = n.clamp(min=1.0)
    mean_x, mean_y = (w * x).sum() / safe_n, (w * y).sum() / safe_n
    dx, dy = (x - mean_x) * w, (y - mean_y) * w
    divisor = safe_n if moments == "population" else (n - 1.0).clamp(min=1.0)
    var_x, var_y, cov = (dx * dx).sum() / divisor, (dy * dy).sum() / divisor, (dx * dy).sum() / divisor
    denominator = var_x + var_y + (mean_x - mean_y) ** 2
    defined = (n >= min_samples) & (denominator > _EPSILON)
    ccc = torch.where(defined, 2.0 * cov / torch.where(defined, denominator, torch.ones_like(denominator)),
                      torch.zeros_like(denominator))
    return ccc, defined


def va_bin_targets(values: torch.Tensor, bins: int = 20, mode: str = "exact") -> torch.Tensor:
    """Bin index of VA labels for the cross-entropy: bins of width 2/bins over [-1, 1],
    bin k = [edge_k, edge_k+1), the last one closed (1.0 goes to bin ``bins`` − 1).

    ``"exact"``: the bin of the label's decimal value (floor((y + 1)·bins / 2), with a label
    on an edge, such as -0.1 stored as float32, counted in the bin above it).
    ``"paper-code"``: the authors' ``np.digitize`` of float32 labels against float64
    edges, which puts 8 of AFEW-VA's 21 grid values (-0.8, -0.6, -0.4, -0.3, -0.2, -0.1,
    0.7, 0.9) one bin lower.

    Args:
        values: (N,) float labels in [-1, 1] (others are clamped into the end bins).
    Returns:
        (N,) int64 in 0..bins-1.
    """
    if mode == "exact":
        position = (values.double() + 1.0) * (bins / 2.0)
        index = torch.floor(position + _EDGE_TOLERANCE)
    elif mode == "paper-code":
        edges = torch.linspace(-1.0, 1.0, bins + 1, dtype=torch.float64, device=values.device)  # = va_bin_edges
        index = (values.float().double()[:, None] >= edges[None, :]).sum(dim=1) - 1
    else:
        raise ValueError(f"va_bin_targets must be one of {', '.join(BIN_TARGETS)}, not {mode!r}")
    return torch.nan_to_num(index, nan=0.0).clamp(0, bins - 1).long()


# --------------------------------------------------------------------- supervision (1-3)


def expr_supervision(logits: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Eq. 1: mean cross-entropy of the EXPR logits (N, K) over the masked samples.

    A class id the head does not have (the ABAW3+ "Other", 7, on a 7-logit head) is
    masked out like a missing label."""
    classes = logits.shape[-1]
    in_range = (labels >= 0) & (labels < classes)
    mask = in_range if mask is None else mask & in_range
    per_sample = F.cross_entropy(logits.float(), labels.clamp(0, classes - 1), reduction="none")
    return masked_mean(per_sample, mask)


def va_supervision(logits: torch.Tensor, valence: torch.Tensor, arousal: torch.Tensor,
                   bin_values: torch.Tensor, mask: torch.Tensor | None = None,
                   settings: LossSettings = LossSettings()) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. 2, summed over valence and arousal.

    Per dimension: mean cross-entropy of the B bin logits against :func:`va_bin_targets`
    plus ``ccc_weight`` · (1 − CCC) between the softmax expectation over ``bin_values``
    and the label, over the masked samples.

    Args:
        logits: (N, 2·B).
        bin_values: (B,) the bins' values (the model's ``va_values``).
    Returns:
        ``(loss, undefined)``: scalar float32, and the number (0-2, float32 scalar) of
        CCC terms left out as undefined.
    """
    bins = bin_values.numel()
    total = logits.new_zeros((), dtype=torch.float32)
    undefined = logits.new_zeros((), dtype=torch.float32)
    for dim, truth in enumerate((valence, arousal)):
        group = logits[:, dim * bins:(dim + 1) * bins].float()
        target = va_bin_targets(truth, bins, settings.va_bin_targets)
        cross_entropy = masked_mean(F.cross_entropy(group, target, reduction="none"), mask)
        ccc, defined = concordance_cc(va_expectation(group, bin_values), truth, mask, settings.ccc_moments)
        total = total + cross_entropy + settings.ccc_weight * torch.where(defined, 1.0 - ccc, torch.zeros_like(ccc))
        undefined = undefined + (~defined).float()
    return total, undefined


def expr_va_supervision(expr_logits: torch.Tensor, va_logits: torch.Tensor, labels: PartLabels,
                        bin_values: torch.Tensor, settings: LossSettings = LossSettings()
                        ) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. 3: Eq. 1 + Eq. 2 on the same samples (each over its own label mask)."""
    va, undefined = va_supervision(va_logits, labels.valence, labels.arousal, bin_values, labels.va_valid, settings)
    return expr_supervision(expr_logits, labels.expr, labels.expr_valid) + va, undefined


# -------------------------------------------------------------------- distillation (4-6)


def expr_distillation(student: torch.Tensor, teacher: torch.Tensor, temperature: float = 1.5,
                      mask: torch.Tensor | None = None, t_squared: bool = True) -> torch.Tensor:
    """Eq. 4: KL(SF(teacher, T) ‖ SF(student, T)) per sample, mean over the masked
    samples, times T² when ``t_squared`` (the authors' code; the paper has no T²).

    Gradients flow into ``student`` only (the teacher's logits are detached).
    """
    log_student = torch.log_softmax(student.float() / temperature, dim=-1)
    log_teacher = torch.log_softmax(teacher.detach().float() / temperature, dim=-1)
    per_sample = (log_teacher.exp() * (log_teacher - log_student)).sum(dim=-1)
    scale = temperature ** 2 if t_squared else 1.0
    return scale * masked_mean(per_sample, mask)


def va_distillation(student: torch.Tensor, teacher: torch.Tensor, bins: int, temperature: float = 1.5,
                    mask: torch.Tensor | None = None, t_squared: bool = True) -> torch.Tensor:
    """Eq. 5: :func:`expr_distillation` on the valence and on the arousal bin group of
    (N, 2·bins) logits, summed."""
    return sum(expr_distillation(student[:, d * bins:(d + 1) * bins], teacher[:, d * bins:(d + 1) * bins],
                                 temperature, mask, t_squared) for d in range(2))


def expr_va_distillation(student: Mapping[str, torch.Tensor], teacher: Mapping[str, torch.Tensor], bins: int,
                         temperature: float = 1.5, mask: torch.Tensor | None = None,
                         t_squared: bool = True) -> torch.Tensor:
    """Eq. 6: Eq. 4 on the EXPR logits + Eq. 5 on the VA logits."""
    return (expr_distillation(student["expr"], teacher["expr"], temperature, mask, t_squared)
            + va_distillation(student["va"], teacher["va"], bins, temperature, mask, t_squared))


# ------------------------------------------------------------------ per-head helpers


def _supervision(head: str, logits: torch.Tensor, labels: PartLabels, mask: torch.Tensor, bin_values: torch.Tensor,
                 settings: LossSettings) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. 1 (``expr``) or Eq. 2 (``va``) of one head over ``mask``: (loss, undefined CCCs)."""
    if head == "expr":
        return expr_supervision(logits, labels.expr, mask), logits.new_zeros((), dtype=torch.float32)
    return va_supervision(logits, labels.valence, labels.arousal, bin_values, mask, settings)


def _distillation(head: str, student: torch.Tensor, teacher: torch.Tensor, mask: torch.Tensor | None, bins: int,
                  settings: LossSettings) -> torch.Tensor:
    if head == "expr":
        return expr_distillation(student, teacher, settings.temperature, mask, settings.distillation_t_squared)
    return va_distillation(student, teacher, bins, settings.temperature, mask, settings.distillation_t_squared)


def _parts_of(tasks: Sequence[int]) -> list[str]:
    unknown = [t for t in tasks if t not in TASK_PARTS]
    if unknown:
        raise ValueError(f"unknown task(s) {unknown}; tasks are 1 (EXPR), 2 (VA), 3 (EXPR_VA)")
    return [TASK_PARTS[t] for t in sorted(set(tasks))]


# ------------------------------------------------------------------------ teacher (7)


def teacher_loss(outputs: Mapping[str, Mapping[str, torch.Tensor]], labels: Mapping[str, PartLabels],
                 tasks: Sequence[int], bin_values: torch.Tensor,
                 settings: LossSettings = LossSettings()) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Eq. 7: the teacher's loss over the tasks in use.

    Args:
        outputs: ``{part: {"expr": (N_p, 7), "va": (N_p, 2·B)}}`` logits per part.
        labels: ``{part: PartLabels}``.
        tasks: the paper's task numbers, {1, 2} or {1, 2, 3}.
    Returns:
        ``(total, terms)``: ``teacher_reduction="sum"`` (paper) adds every task's
        supervision (task 3 = Eq. 3, both heads); ``"per-head-mean"`` (the authors'
        code) averages each head's losses over the parts feeding it, then adds the two
        heads. ``terms`` holds ``<part>/<head>`` supervision values and
        ``ccc_undefined`` (all scalars, on the device).
    """
    if settings.teacher_reduction not in TEACHER_REDUCTIONS:
        raise ValueError(f"teacher_reduction must be one of {', '.join(TEACHER_REDUCTIONS)}")
    terms: dict[str, torch.Tensor] = {}
    per_head: dict[str, list[torch.Tensor]] = {h: [] for h in HEADS}
    undefined = None
    for part in _parts_of(tasks):
        for head in PART_HEADS[part]:
            loss, missing = _supervision(head, outputs[part][head], labels[part], labels[part].valid(head),
                                         bin_values, settings)
            terms[f"{part}/{head}"] = loss
            per_head[head].append(loss)
            undefined = missing if undefined is None else undefined + missing
    if settings.teacher_reduction == "sum":
        total = sum(loss for losses in per_head.values() for loss in losses)
    else:
        total = sum(torch.stack(losses).mean() for losses in per_head.values() if losses)
    terms["ccc_undefined"] = undefined
    return total, terms


# --------------------------------------------------------------------- student (8-10)


def student_term(supervision: torch.Tensor, distillation: torch.Tensor, supervision_weight: float = 0.6
                 ) -> torch.Tensor:
    """Eq. 8: λ · supervision + (1 − λ) · distillation."""
    return supervision_weight * supervision + (1.0 - supervision_weight) * distillation


def student_loss(student: Mapping[str, Mapping[str, torch.Tensor]], teacher: Mapping[str, Mapping[str, torch.Tensor]],
                 labels: Mapping[str, PartLabels], tasks: Sequence[int], bin_values: torch.Tensor,
                 shared_annotations: bool, settings: LossSettings = LossSettings()
                 ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Eq. 9 (``shared_annotations`` False) or Eq. 10 (True): the student's loss.

    For each part in use and each head:

    * a head the part's primary labels supervise: Eq. 8 over the part's samples;
    * the other head, Eq. 9: distillation alone over every sample (H_j);
    * the other head, Eq. 10: the samples carrying a shared label of that head (the
      mask ``labels[part].valid(head)``, "GT") get Eq. 8, the rest ("NA") distillation
      alone. ``subset_weighting="size"`` (the paper's per-instance sum) weights the two
      subsets by their share of the part; ``"equal"`` (the authors' code) averages the
      non-empty ones with equal weight. With no shared label in the batch both reduce to
      Eq. 9 exactly.

    As in the authors' code only the *other head* is distilled on a part's samples
    (the paper's sum over j ≠ i, read literally, would add task 3's both-head term to
    parts 1 and 2). Parts are then summed (``student_reduction="sum"``, paper) or
    averaged (``"mean"``, the code's division by 3).

    ``teacher`` logits are treated as constants (no gradient reaches the teacher).

    Returns:
        ``(total, terms)`` with ``<part>/<head>`` values and ``ccc_undefined``.
    """
    if settings.subset_weighting not in SUBSET_WEIGHTINGS:
        raise ValueError(f"subset_weighting must be one of {', '.join(SUBSET_WEIGHTINGS)}")
    if settings.student_reduction not in STUDENT_REDUCTIONS:
        raise ValueError(f"student_reduction must be one of {', '.join(STUDENT_REDUCTIONS)}")
    bins = bin_values.numel()
    lam = settings.supervision_weight
    terms: dict[str, torch.Tensor] = {}
    part_totals = []
    undefined = None
    for part in _parts_of(tasks):
        part_labels = labels[part]
        part_total = None
        for head in HEADS:
            s, t = student[part][head], teacher[part][head]
            mask = part_labels.valid(head)
            if head in PART_HEADS[part]:
                supervision, missing = _supervision(head, s, part_labels, mask, bin_values, settings)
                term = student_term(supervision, _distillation(head, s, t, None, bins, settings), lam)
            elif not shared_annotations:
                term, missing = _distillation(head, s, t, None, bins, settings), None
            else:
                supervision, missing = _supervision(head, s, part_labels, mask, bin_values, settings)
                labelled = student_term(supervision, _distillation(head, s, t, mask, bins, settings), lam)
                unlabelled = _distillation(head, s, t, ~mask, bins, settings)
                n_labelled = mask.float().sum()
                n_all = float(mask.numel())  # a host number: no tensor made on (or read from) the device
                if settings.subset_weighting == "size":
                    share = n_labelled / max(n_all, 1.0)
                    term = share * labelled + (1.0 - share) * unlabelled
                else:
                    has_labelled = (n_labelled > 0).float()
                    has_unlabelled = (n_labelled < n_all).float()
                    term = (has_labelled * labelled + has_unlabelled * unlabelled) / (
                        has_labelled + has_unlabelled).clamp(min=1.0)
            terms[f"{part}/{head}"] = term
            part_total = term if part_total is None else part_total + term
            if missing is not None:
                undefined = missing if undefined is None else undefined + missing
        part_totals.append(part_total)
    total = sum(part_totals)
    if settings.student_reduction == "mean":
        total = total / len(part_totals)
    terms["ccc_undefined"] = undefined if undefined is not None else total.new_zeros(())
    return total, terms
