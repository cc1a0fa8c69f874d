"""Tests for abawbench.losses: equations 1-10 against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from abawbench.losses import (LossSettings, PartLabels, concordance_cc, expr_distillation, expr_supervision,
                              expr_va_distillation, expr_va_supervision, masked_mean, student_loss, student_term,
                              teacher_loss, va_bin_targets, va_distillation, va_supervision)
from abawbench.models import va_bin_values

LN = math.log
T = torch.tensor


def labels(n, expr=None, valence=None, arousal=None, expr_valid=None, va_valid=None) -> PartLabels:
    expr = T(expr if expr is not None else [0] * n)
    valence = T(valence if valence is not None else [0.0] * n)
    arousal = T(arousal if arousal is not None else [0.0] * n)
    expr_valid = T(expr_valid if expr_valid is not None else [True] * n)
    va_valid = T(va_valid if va_valid is not None else [True] * n)
    return PartLabels(expr, valence, arousal, expr_valid, va_valid)


# ------------------------------------------------------------------------- Eq. 1


def test_expr_supervision_is_the_mean_cross_entropy_of_the_labelled_samples():
    # logits 0 except ln 4 on class 0: softmax = (0.4, 0.1, ..., 0.1)
    logits = torch.zeros(3, 7)
    logits[:, 0] = LN(4)
    loss = expr_supervision(logits, T([0, 1, 5]), T([True, True, False]))
    assert loss.item() == pytest.approx((-LN(0.4) - LN(0.1)) / 2, rel=1e-6)


def test_expr_supervision_of_nothing_is_zero_and_other_class_is_masked():
    logits = torch.zeros(2, 7)
    assert expr_supervision(logits, T([0, 1]), T([False, False])).item() == 0.0
    # class 7 ("Other") has no logit on a 7-class head: treated as no label
    assert expr_supervision(logits, T([7, 2]), T([True, True])).item() == pytest.approx(LN(7), rel=1e-6)


# ------------------------------------------------------------------------- CCC


def test_ccc_population_and_unbiased_moments_match_the_documented_example():
    ccc, defined = concordance_cc(T([0.0, 1.0]), T([1.0, 2.0]))
    assert defined and ccc.item() == pytest.approx(1 / 3)
    ccc, defined = concordance_cc(T([0.0, 1.0]), T([1.0, 2.0]), moments="unbiased")
    assert defined and ccc.item() == pytest.approx(0.5)


def test_ccc_agrees_with_the_metric_on_random_data():
    from abawbench.metrics import concordance_cc as metric_ccc

    rng = np.random.default_rng(3)
    x, y = rng.normal(size=50), rng.normal(size=50) * 0.5 + 0.2
    mask = rng.random(50) < 0.7
    ccc, _ = concordance_cc(T(x, dtype=torch.float64), T(y, dtype=torch.float64), T(mask))
    assert ccc.item() == pytest.approx(metric_ccc(x[mask], y[mask]), abs=1e-6)


def test_ccc_guard_one_sample_or_no_spread_is_undefined_not_nan():
    ccc, defined = concordance_cc(T([0.3, 0.1]), T([0.5, 0.2]), T([True, False]))
    assert not defined and ccc.item() == 0.0
    ccc, defined = concordance_cc(T([0.2, 0.2, 0.2]), T([0.2, 0.2, 0.2]))
    assert not defined and ccc.item() == 0.0
    # a masked-out NaN or -5 marker never reaches the sums
    ccc, defined = concordance_cc(T([0.0, 1.0, 0.5]), T([1.0, 2.0, float("nan")]), T([True, True, False]))
    assert defined and ccc.item() == pytest.approx(1 / 3)


# ------------------------------------------------------------------- VA bins


def test_bin_targets_exact_and_the_authors_float32_digitize():
    grid = np.arange(-10, 11) / 10  # AFEW-VA's grid
    values = T(grid, dtype=torch.float32)
    assert va_bin_targets(values, 20, "exact").tolist() == [min(k, 19) for k in range(21)]
    reference = np.clip(np.digitize(grid.astype(np.float32), np.linspace(-1, 1, 21)) - 1, 0, 19)
    assert va_bin_targets(values, 20, "paper-code").tolist() == reference.tolist()
    lower = {-0.8, -0.6, -0.4, -0.3, -0.2, -0.1, 0.7, 0.9}  # method-from-code.md's list
    moved = {round(v, 1) for v, a, b in zip(grid, va_bin_targets(values, 20, "exact").tolist(),
                                               reference.tolist()) if a != b}
    assert moved == lower


def test_bin_values_centres_and_paper_code():
    assert va_bin_values(4, "centres").tolist() == pytest.approx([-0.75, -0.25, 0.25, 0.75])
    assert va_bin_values(4, "paper-code").tolist() == pytest.approx([-1, -1 / 3, 1 / 3, 1])


# ------------------------------------------------------------------------- Eq. 2, 3


def test_va_supervision_hand_computed_with_two_bins():
    # bins (-1, 0), [0, 1] with centres -0.5, 0.5; two samples per dimension
    values = va_bin_values(2, "centres")
    group = T([[LN(3), 0.0], [0.0, LN(3)]])  # expectation -0.25 and 0.25
    logits = torch.cat([group, group], dim=1)  # valence and arousal alike
    truth = T([-0.5, 0.5])
    loss, undefined = va_supervision(logits, truth, truth, values)
    # CE: -ln 0.75 per sample; CCC(x=(-.25,.25), y=(-.5,.5)) = 2·0.125 / (0.0625 + 0.25) = 0.8
    per_dimension = -LN(0.75) + (1 - 0.8)
    assert loss.item() == pytest.approx(2 * per_dimension, rel=1e-6)
    assert undefined.item() == 0
    weighted, _ = va_supervision(logits, truth, truth, values, settings=LossSettings(ccc_weight=0.5))
    assert weighted.item() == pytest.approx(2 * (-LN(0.75) + 0.5 * 0.2), rel=1e-6)


def test_va_supervision_with_one_labelled_sample_skips_the_ccc_and_counts_it():
    values = va_bin_values(2, "centres")
    logits = torch.zeros(3, 4)
    truth = T([-0.5, 0.5, -5.0])
    loss, undefined = va_supervision(logits, truth, truth, values, T([True, False, False]))
    assert torch.isfinite(loss) and loss.item() == pytest.approx(2 * LN(2), rel=1e-6)
    assert undefined.item() == 2


def test_expr_va_supervision_is_eq1_plus_eq2():
    values = va_bin_values(2, "centres")
    expr_logits = torch.zeros(2, 7)
    va_logits = torch.zeros(2, 4)  # expectation 0: constant prediction, CCC 0
    part = labels(2, expr=[3, 4], valence=[-0.5, 0.5], arousal=[0.2, -0.2])
    loss, undefined = expr_va_supervision(expr_logits, va_logits, part, values)
    assert loss.item() == pytest.approx(LN(7) + 2 * (LN(2) + 1), rel=1e-6)
    assert undefined.item() == 0


# ---------------------------------------------------------------------- Eq. 4-6


def kl(p, q):
    return sum(a * math.log(a / b) for a, b in zip(p, q))


def test_distillation_is_kl_teacher_to_student_times_t_squared():
    teacher, student = T([[LN(3), 0.0]]), T([[0.0, 0.0]])
    assert expr_distillation(student, teacher, temperature=1.0).item() == pytest.approx(
        kl([0.75, 0.25], [0.5, 0.5]), rel=1e-6)
    # T = 2: softmax(ln3 / 2, 0) = (√3, 1) / (√3 + 1); × T² = 4
    root = math.sqrt(3)
    soft = [root / (root + 1), 1 / (root + 1)]
    assert expr_distillation(student, teacher, temperature=2.0).item() == pytest.approx(
        4 * kl(soft, [0.5, 0.5]), rel=1e-6)
    assert expr_distillation(student, teacher, temperature=2.0, t_squared=False).item() == pytest.approx(
        kl(soft, [0.5, 0.5]), rel=1e-6)


def test_va_distillation_sums_the_two_bin_groups_and_eq6_adds_expr():
    teacher = T([[LN(3), 0.0, 0.0, LN(3)]])
    student = torch.zeros(1, 4)
    one = kl([0.75, 0.25], [0.5, 0.5])
    assert va_distillation(student, teacher, bins=2, temperature=1.0).item() == pytest.approx(2 * one, rel=1e-6)
    both = expr_va_distillation({"expr": T([[0.0, 0.0]]), "va": student}, {"expr": T([[LN(3), 0.0]]), "va": teacher},
                                bins=2, temperature=1.0)
    assert both.item() == pytest.approx(3 * one, rel=1e-6)


def test_masked_mean_ignores_masked_out_non_finite_values():
    assert masked_mean(T([1.0, float("inf"), 3.0]), T([True, False, True])).item() == 2.0


# --------------------------------------------------------------------- Eq. 7


ZERO_EXPR = LN(7)          # CE of all-zero logits over 7 classes
ZERO_VA = 2 * (LN(2) + 1)  # two bins: CE ln 2, constant expectation -> CCC 0 -> (1 - 0)


def zero_outputs(parts, n=4):
    return {p: {"expr": torch.zeros(n, 7, requires_grad=True), "va": torch.zeros(n, 4, requires_grad=True)}
            for p in parts}


def part_labels(n=4):
    spread = [-0.5, 0.5, -0.25, 0.75][:n]
    return {p: labels(n, expr=[1, 2, 3, 4][:n], valence=spread, arousal=spread) for p in ("expr", "va", "expr_va")}


@pytest.mark.parametrize("tasks, reduction, expected", [
    ([1, 2, 3], "sum", 2 * ZERO_EXPR + 2 * ZERO_VA),
    ([1, 2, 3], "per-head-mean", ZERO_EXPR + ZERO_VA),
    ([1, 2], "sum", ZERO_EXPR + ZERO_VA),
    ([1, 2], "per-head-mean", ZERO_EXPR + ZERO_VA),
])
def test_teacher_loss_over_the_task_set(tasks, reduction, expected):
    parts = ["expr", "va", "expr_va"]
    loss, terms = teacher_loss(zero_outputs(parts), part_labels(), tasks, va_bin_values(2),
                               LossSettings(teacher_reduction=reduction))
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    assert ("expr_va/expr" in terms) == (3 in tasks)


def test_teacher_loss_uses_only_the_primary_labels():
    # a shared VA label on the EXPR part must not change the teacher's loss
    parts = ["expr", "va"]
    with_shared = part_labels()
    without = part_labels()
    without["expr"].va_valid = T([False] * 4)
    a, _ = teacher_loss(zero_outputs(parts), with_shared, [1, 2], va_bin_values(2))
    b, _ = teacher_loss(zero_outputs(parts), without, [1, 2], va_bin_values(2))
    assert a.item() == b.item()


# ------------------------------------------------------------------- Eq. 8-10


def test_student_term_is_the_lambda_mix():
    assert student_term(T(2.0), T(10.0), 0.6).item() == pytest.approx(0.6 * 2 + 0.4 * 10)


def test_student_loss_with_zero_logits_hand_computed():
    # teacher and student alike: every distillation term is 0, so only λ·supervision remains
    parts = ["expr", "va", "expr_va"]
    lam = 0.6
    lab = part_labels()
    for part in ("expr", "va"):  # no shared labels
        lab[part].va_valid = T([part == "va"] * 4)
        lab[part].expr_valid = T([part == "expr"] * 4)
    loss, _ = student_loss(zero_outputs(parts), zero_outputs(parts), lab, [1, 2, 3], va_bin_values(2), True)
    assert loss.item() == pytest.approx(lam * (ZERO_EXPR + ZERO_VA + ZERO_EXPR + ZERO_VA), rel=1e-6)
    mean, _ = student_loss(zero_outputs(parts), zero_outputs(parts), lab, [1, 2, 3], va_bin_values(2), True,
                           LossSettings(student_reduction="mean"))
    assert mean.item() == pytest.approx(loss.item() / 3, rel=1e-6)


@pytest.mark.parametrize("weighting, share", [("size", 0.5), ("equal", 0.5), ("size", 0.75), ("equal", 0.75)])
def test_shared_labels_on_the_other_head_follow_eq10(weighting, share):
    # EXPR part of 4 samples, a shared VA label on the first k; zero logits: KD = 0
    k = int(share * 4)
    lab = part_labels()
    lab["expr"].va_valid = T([i < k for i in range(4)])
    spread = [-0.5, 0.5, 0.25, -0.25]
    lab["expr"].valence = lab["expr"].arousal = T(spread)
    loss, terms = student_loss(zero_outputs(["expr"]), zero_outputs(["expr"]), lab, [1], va_bin_values(2), True,
                               LossSettings(subset_weighting=weighting))
    labelled = 0.6 * ZERO_VA  # Eq. 8 on the labelled subset (KD 0)
    other = share * labelled if weighting == "size" else labelled / 2  # the NA subset adds KD = 0
    assert terms["expr/va"].item() == pytest.approx(other, rel=1e-6)
    assert loss.item() == pytest.approx(0.6 * ZERO_EXPR + other, rel=1e-6)


def test_eq10_without_shared_labels_in_the_batch_equals_eq9():
    torch.manual_seed(0)
    parts = ["expr", "va", "expr_va"]
    student = {p: {"expr": torch.randn(6, 7), "va": torch.randn(6, 40)} for p in parts}
    teacher = {p: {"expr": torch.randn(6, 7), "va": torch.randn(6, 40)} for p in parts}
    values = va_bin_values(20)
    lab = {p: labels(6, expr=[0, 1, 2, 3, 4, 5], valence=[-0.9, -0.5, 0.0, 0.2, 0.6, 0.95],
                     arousal=[0.1, -0.3, 0.4, -0.8, 0.3, 0.0]) for p in parts}
    lab["expr"].va_valid = T([False] * 6)
    lab["va"].expr_valid = T([False] * 6)
    for weighting in ("size", "equal"):
        settings = LossSettings(subset_weighting=weighting)
        eq10, _ = student_loss(student, teacher, lab, [1, 2, 3], values, True, settings)
        eq9, _ = student_loss(student, teacher, lab, [1, 2, 3], values, False, settings)
        assert eq10.item() == pytest.approx(eq9.item(), rel=1e-6)


def test_eq9_ignores_shared_labels_and_distils_the_other_head():
    torch.manual_seed(1)
    student = {"expr": {"expr": torch.randn(4, 7), "va": torch.randn(4, 4)}}
    teacher = {"expr": {"expr": torch.randn(4, 7), "va": torch.randn(4, 4)}}
    lab = part_labels()
    settings = LossSettings()
    values = va_bin_values(2)
    _, terms = student_loss(student, teacher, lab, [1], values, False, settings)
    expected = va_distillation(student["expr"]["va"], teacher["expr"]["va"], 2, settings.temperature)
    assert terms["expr/va"].item() == pytest.approx(expected.item(), rel=1e-6)


def test_no_gradient_reaches_the_teacher_through_the_student_loss():
    torch.manual_seed(2)
    teacher_net, student_net = torch.nn.Linear(5, 11), torch.nn.Linear(5, 11)
    x = torch.randn(4, 5)
    t, s = teacher_net(x), student_net(x)  # the teacher's logits even carry a graph
    student = {"expr": {"expr": s[:, :7], "va": s[:, 7:]}}
    teacher = {"expr": {"expr": t[:, :7], "va": t[:, 7:]}}
    loss, _ = student_loss(student, teacher, part_labels(), [1], va_bin_values(2), True)
    loss.backward()
    assert all(p.grad is None for p in teacher_net.parameters())
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in student_net.parameters())


def test_guard_keeps_the_student_loss_finite_with_one_shared_label():
    lab = part_labels()
    lab["expr"].va_valid = T([True, False, False, False])
    loss, terms = student_loss(zero_outputs(["expr"]), zero_outputs(["expr"]), lab, [1], va_bin_values(2), True)
    assert torch.isfinite(loss)
    assert terms["ccc_undefined"].item() == 2  # valence and arousal of the one-sample subset
