"""Tests for abawbench.data.mixing: the three training parts, balancing, batch sampling."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abawbench.data import MISSING_EXPR, MISSING_VA
from abawbench.data.mixing import (
    ConcatParts,
    MultiPartBatchSampler,
    balance_weights,
    build_parts,
    expr_balance_weights,
    expr_va_balance_weights,
    thin_expr_positions,
    va_balance_weights,
    va_histogram_cells,
)

from examples_budget import examples

M = MISSING_VA


def sample_table(source, rows, **extra):
    """A contract sample table from (video, frame, expr, valence, arousal) tuples."""
    video, frame, expr, valence, arousal = zip(*rows) if rows else ((),) * 5
    table = pd.DataFrame({
        "source": pd.Categorical([source] * len(rows)),
        "video": pd.Categorical(list(video)),
        "frame": np.asarray(frame, dtype=np.int32),
        "path": [f"{v}/{f:05d}.jpg" for v, f in zip(video, frame)],
        "expr": np.asarray(expr, dtype=np.int8),
        "valence": np.asarray(valence, dtype=np.float32),
        "arousal": np.asarray(arousal, dtype=np.float32),
    })
    for name, values in extra.items():
        table[name] = values
    return table


# video, frame, expr, valence, arousal, has_crop, split_expr, split_va
AFFWILD2_ROWS = [
    # v1: train for both tracks (shared)
    ("v1", 1, 0, 0.1, 0.2, True, "train", "train"),
    ("v1", 2, 1, 0.3, -0.4, True, "train", "train"),
    ("v1", 3, 2, 0.5, 0.5, False, "train", "train"),  # no crop
    ("v1", 4, -1, -0.6, 0.7, True, "train", "train"),  # no EXPR label
    ("v1", 5, 4, 0.8, -0.9, True, "train", "train"),
    ("v1", 6, 5, -1.0, 1.0, True, "train", "train"),
    ("v1", 7, 6, M, M, True, "train", "train"),  # no VA label
    ("v1", 8, 0, M, M, True, "train", "train"),
    # v2: EXPR train only
    ("v2", 1, 3, M, M, True, "train", ""),
    ("v2", 2, 3, M, M, True, "train", ""),
    ("v2", 3, -1, M, M, True, "train", ""),
    ("v2", 4, 1, M, M, True, "train", ""),
    # v3: VA train only
    ("v3", 1, -1, 0.1, 0.1, True, "", "train"),
    ("v3", 2, -1, 0.2, 0.2, True, "", "train"),
    ("v3", 3, -1, M, M, True, "", "train"),
    ("v3", 4, -1, 0.4, 0.4, True, "", "train"),
    # v4: validation for both tracks: never a training sample
    ("v4", 1, 2, 0.1, 0.1, True, "validation", "validation"),
    ("v4", 2, 3, 0.2, 0.2, True, "validation", "validation"),
    # v5: EXPR train, VA validation: its VA labels must not leak into training
    ("v5", 1, 4, 0.5, 0.5, True, "train", "validation"),
    ("v5", 2, 6, 0.6, 0.6, True, "train", "validation"),
]


def affwild2_table(rows=AFFWILD2_ROWS):
    video, frame, expr, valence, arousal, crop, split_expr, split_va = zip(*rows)
    table = sample_table("affwild2", list(zip(video, frame, expr, valence, arousal)))
    table["has_crop"] = np.asarray(crop, dtype=bool)
    table["split_expr"] = pd.Categorical(split_expr, categories=["train", "validation", ""])
    table["split_va"] = pd.Categorical(split_va, categories=["train", "validation", ""])
    table["shared"] = (table["split_expr"].astype(str) != "") & (table["split_va"].astype(str) != "")
    return table


def expw_table():
    # ExpW has no VA: a stray value must not survive; a row with no class is dropped.
    return sample_table("expw", [("img_a_0", 1, 4, M, M), ("img_b_0", 1, 0, 0.3, 0.3), ("img_c_0", 1, -1, M, M)])


def afew_va_table():
    return sample_table("afew_va", [("01_001", 1, -1, 0.5, -0.5), ("01_001", 2, 3, 0.1, 0.0),
                                    ("01_002", 1, -1, M, M)])


def affectnet_table():
    return sample_table("affectnet", [("an1", 1, 4, 0.7, 0.2), ("an2", 1, 1, -0.6, 0.8),
                                      ("an3", 1, 2, M, M),  # no VA: not an EXPR_VA sample
                                      ("an4", 1, -1, 0.1, 0.1)])  # no class


def keys(table):
    return list(zip(table["source"].astype(str), table["video"].astype(str), table["frame"].astype(int)))


def labels_of(table, column):
    return dict(zip(keys(table), table[column].tolist()))


@pytest.fixture
def parts():
    return build_parts(affwild2_table(), expw_table(), afew_va_table(), affectnet_table())


# --------------------------------------------------------------------------- parts


def test_expr_part_rows(parts):
    expected = [("affwild2", "v1", f) for f in (1, 2, 5, 6, 7, 8)] + [("affwild2", "v2", f) for f in (1, 2, 4)] \
        + [("affwild2", "v5", f) for f in (1, 2)] + [("expw", "img_a_0", 1), ("expw", "img_b_0", 1)]
    assert keys(parts["expr"]) == expected
    expr = labels_of(parts["expr"], "expr")
    assert [expr[k] for k in expected] == [0, 1, 4, 5, 6, 0, 3, 3, 1, 4, 6, 4, 0]


def test_va_part_rows(parts):
    expected = [("affwild2", "v1", f) for f in (1, 2, 4, 5, 6)] + [("affwild2", "v3", f) for f in (1, 2, 4)] \
        + [("afew_va", "01_001", 1), ("afew_va", "01_001", 2)]
    assert keys(parts["va"]) == expected
    va = parts["va"]
    np.testing.assert_allclose(va["valence"], [0.1, 0.3, -0.6, 0.8, -1.0, 0.1, 0.2, 0.4, 0.5, 0.1], rtol=1e-6)
    np.testing.assert_allclose(va["arousal"], [0.2, -0.4, 0.7, -0.9, 1.0, 0.1, 0.2, 0.4, -0.5, 0.0], rtol=1e-6)


def test_expr_va_part_from_affectnet(parts):
    table = parts["expr_va"]
    assert keys(table) == [("affectnet", "an1", 1), ("affectnet", "an2", 1)]
    assert table["expr"].tolist() == [4, 1]
    np.testing.assert_allclose(table[["valence", "arousal"]].to_numpy(), [[0.7, 0.2], [-0.6, 0.8]], rtol=1e-6)


def test_parts_follow_the_contract(parts):
    for name, table in parts.items():
        assert list(table.columns) == ["source", "video", "frame", "path", "expr", "valence", "arousal", "part"]
        assert table["expr"].dtype == np.int8
        assert table["valence"].dtype == np.float32 and table["arousal"].dtype == np.float32
        assert table["frame"].dtype == np.int32
        assert isinstance(table["source"].dtype, pd.CategoricalDtype)
        assert isinstance(table["video"].dtype, pd.CategoricalDtype)
        assert (table["part"] == name).all()
        assert table.index.equals(pd.RangeIndex(len(table)))
        assert table.attrs["part"] == name


def test_secondary_labels_only_on_shared_train_frames(parts):
    va_on_expr = labels_of(parts["expr"], "valence")
    with_va = {k for k, v in va_on_expr.items() if v != MISSING_VA}
    # v1 frames with a VA train label; not v5 (VA validation), not ExpW's stray value.
    assert with_va == {("affwild2", "v1", f) for f in (1, 2, 5, 6)}
    assert labels_of(parts["expr"], "arousal")[("affwild2", "v1", 2)] == pytest.approx(-0.4)

    expr_on_va = labels_of(parts["va"], "expr")
    with_expr = {k: v for k, v in expr_on_va.items() if v != MISSING_EXPR}
    # AFEW-VA's stray class 3 is dropped: external rows carry only their own label.
    assert with_expr == {("affwild2", "v1", 1): 0, ("affwild2", "v1", 2): 1,
                         ("affwild2", "v1", 5): 4, ("affwild2", "v1", 6): 5}


def test_no_secondary_labels_without_sharing():
    parts = build_parts(affwild2_table(), expw_table(), afew_va_table(), affectnet_table(), share_annotations=False)
    assert (parts["expr"]["valence"] == MISSING_VA).all() and (parts["expr"]["arousal"] == MISSING_VA).all()
    assert (parts["va"]["expr"] == MISSING_EXPR).all()
    # primary labels and row sets are untouched
    shared = build_parts(affwild2_table(), expw_table(), afew_va_table(), affectnet_table())
    for name in ("expr", "va", "expr_va"):
        assert keys(parts[name]) == keys(shared[name])
    assert parts["expr"]["expr"].tolist() == shared["expr"]["expr"].tolist()
    assert parts["va"]["valence"].tolist() == shared["va"]["valence"].tolist()
    assert parts["expr_va"]["valence"].tolist() == shared["expr_va"]["valence"].tolist()


def test_expr_va_from_affwild2_takes_every_third_frame_with_both_labels():
    rows = []
    for frame in range(1, 31):
        expr = -1 if frame % 4 == 0 else frame % 7
        va = M if frame % 5 == 0 else 0.01 * frame
        rows.append(("s1", frame, expr, va, va, frame != 7, "train", "train"))
    rows += [("s2", 1, 2, 0.3, 0.3, True, "train", "validation"),  # VA label is validation
             ("s2", 2, 2, 0.3, 0.3, True, "validation", "train")]
    parts = build_parts(affwild2_table(rows), expr_va_source="affwild2-shared")
    both = [f for f in range(1, 31) if f % 4 and f % 5 and f != 7]
    assert keys(parts["expr_va"]) == [("affwild2", "s1", f) for f in both[::3]]
    assert parts["expr_va"]["expr"].tolist() == [f % 7 for f in both[::3]]
    np.testing.assert_allclose(parts["expr_va"]["valence"], [0.01 * f for f in both[::3]], rtol=1e-6)


def test_affectnet_source_needs_affectnet():
    with pytest.raises(ValueError, match="AffectNet"):
        build_parts(affwild2_table(), expw_table(), afew_va_table())
    with pytest.raises(ValueError, match="expr_va_source"):
        build_parts(affwild2_table(), expr_va_source="affectnet-ish", affectnet=affectnet_table())


def test_missing_affwild2_column_is_named():
    with pytest.raises(ValueError, match="has_crop"):
        build_parts(affwild2_table().drop(columns="has_crop"), expr_va_source="affwild2-shared")


def test_paths_are_rebased_onto_a_common_root(tmp_path):
    affwild2, expw = affwild2_table(), expw_table()
    affwild2.attrs["root"] = str(tmp_path / "affwild2")
    expw.attrs["root"] = str(tmp_path / "expw")
    parts = build_parts(affwild2, expw, expr_va_source="affwild2-shared")
    table = parts["expr"]
    assert table.attrs["root"] == str(tmp_path)
    assert table["path"].iloc[0] == "affwild2/v1/00001.jpg"
    assert table["path"].iloc[-1] == "expw/img_b_0/00001.jpg"


# --------------------------------------------------------------------------- thinning


def thinning_table():
    # one long video: 100 Neutral, 50 Happiness, 50 Sadness, 10 Anger, all with VA
    classes = [0] * 100 + [4] * 50 + [5] * 50 + [1] * 10
    rows = [("t1", f + 1, c, 0.1, 0.1, True, "train", "train") for f, c in enumerate(classes)]
    return affwild2_table(rows)


def test_thinning_keeps_the_documented_fractions():
    expw = sample_table("expw", [(f"e{i}", 1, 0, M, M) for i in range(20)])  # never thinned
    parts = build_parts(thinning_table(), expw, expr_va_source="affwild2-shared", thin=True)
    expr = parts["expr"]
    aff = expr[expr["source"] == "affwild2"]
    assert aff["expr"].value_counts().to_dict() == {0: 10, 4: 25, 5: 25, 1: 10}
    # the code's rule is a position in the table as left by the previous step
    assert aff.loc[aff["expr"] == 0, "frame"].tolist() == list(range(1, 100, 10))
    assert aff.loc[aff["expr"] == 4, "frame"].tolist() == list(range(101, 151, 2))
    assert aff.loc[aff["expr"] == 5, "frame"].tolist() == list(range(152, 201, 2))
    assert aff.loc[aff["expr"] == 1, "frame"].tolist() == list(range(201, 211))
    assert (expr["source"] == "expw").sum() == 20
    va = parts["va"]
    assert va["frame"].tolist() == list(range(1, 211, 5))  # 1 in 5
    # not thinned: the EXPR_VA part
    assert len(parts["expr_va"]) == 70


def test_thinning_is_deterministic_and_off_by_default():
    a = build_parts(thinning_table(), expr_va_source="affwild2-shared", thin=True)
    b = build_parts(thinning_table(), expr_va_source="affwild2-shared", thin=True)
    off = build_parts(thinning_table(), expr_va_source="affwild2-shared")
    for name in ("expr", "va"):
        pd.testing.assert_frame_equal(a[name], b[name])
    assert len(off["expr"]) == 210 and len(off["va"]) == 210


def test_thin_expr_positions_on_interleaved_classes():
    # Neutral at every other position: positions 0, 10, 20... of the table, not every
    # 10th Neutral frame.
    expr = np.tile([0, 1], 20)
    kept = thin_expr_positions(expr)
    assert expr[kept].tolist().count(0) == 4
    assert set(kept[expr[kept] == 0]) == {0, 10, 20, 30}
    assert (expr[kept] == 1).sum() == 20


# --------------------------------------------------------------------------- balancing


def test_expr_weights_are_inverse_class_counts():
    labels = np.array([0, 0, 0, 1, 2, 2, 6])
    np.testing.assert_allclose(expr_balance_weights(labels), [1 / 3, 1 / 3, 1 / 3, 1, 1 / 2, 1 / 2, 1])
    with pytest.raises(ValueError, match="-1"):
        expr_balance_weights(np.array([0, -1]))


@settings(max_examples=examples(50), deadline=None)
@given(st.lists(st.integers(0, 7), min_size=1, max_size=200))
def test_every_class_holds_equal_total_weight(labels):
    labels = np.asarray(labels)
    weights = expr_balance_weights(labels)
    totals = np.bincount(labels, weights=weights)[np.unique(labels)]
    np.testing.assert_allclose(totals, 1.0)


def test_va_weights_use_the_fixed_range_not_the_data_range():
    # Data only in [0, 0.55]. On [-1, 1] bins are 0.1 wide: the first four points share
    # the cell [0, 0.1) x [0, 0.1); on the data's own range they would not.
    valence = np.array([0.03, 0.03, 0.03, 0.06, 0.45, 0.45, 0.55], dtype=np.float32)
    arousal = np.array([0.03, 0.03, 0.03, 0.03, 0.45, 0.45, 0.55], dtype=np.float32)
    np.testing.assert_allclose(va_balance_weights(valence, arousal), [1 / 4] * 4 + [1 / 2, 1 / 2, 1])
    own = va_balance_weights(valence, arousal, value_range=None)  # the authors' code
    np.testing.assert_allclose(own, [1 / 3] * 3 + [1, 1 / 2, 1 / 2, 1])
    # fixed-range cells: bins 10 (0.0-0.1), 14 (0.4-0.5) and 15 (0.5-0.6) on both axes
    np.testing.assert_array_equal(va_histogram_cells(valence, arousal), [210] * 4 + [14 * 20 + 14] * 2 + [15 * 20 + 15])


def test_va_range_edges_go_into_the_outer_bins():
    valence = np.array([1.0, 0.96, -1.0, -0.99, 0.0])
    arousal = np.array([1.0, 0.99, -1.0, -0.96, 0.0])
    cells = va_histogram_cells(valence, arousal)
    assert cells.tolist() == [399, 399, 0, 0, 210]
    np.testing.assert_allclose(va_balance_weights(valence, arousal), [0.5, 0.5, 0.5, 0.5, 1.0])
    with pytest.raises(ValueError, match="outside"):
        va_balance_weights(np.array([0.1, -5.0]), np.array([0.1, -5.0]))


def test_va_weights_match_numpy_histogram2d():
    rng = np.random.default_rng(3)
    valence = np.clip(rng.normal(0.2, 0.3, 5000), -1, 1).astype(np.float32)
    arousal = np.clip(rng.normal(0.1, 0.2, 5000), -1, 1).astype(np.float32)
    weights = va_balance_weights(valence, arousal)
    counts, _, _ = np.histogram2d(valence, arousal, bins=20, range=[[-1, 1], [-1, 1]])
    # an independent cell lookup: 0.1-wide bins, away from edges where rounding decides
    iv = np.minimum(np.floor((valence.astype(np.float64) + 1) * 10).astype(int), 19)
    ia = np.minimum(np.floor((arousal.astype(np.float64) + 1) * 10).astype(int), 19)
    safe = (np.abs((valence + 1) * 10 - np.round((valence + 1) * 10)) > 1e-4) \
        & (np.abs((arousal + 1) * 10 - np.round((arousal + 1) * 10)) > 1e-4)
    np.testing.assert_allclose(weights[safe], 1.0 / counts[iv, ia][safe])
    # every occupied cell holds total weight 1
    assert weights.sum() == pytest.approx((counts > 0).sum())


def test_expr_va_weights_are_the_codes_normalised_sum():
    labels = np.array([0, 0, 1])
    valence = np.array([0.05, 0.05, 0.55])
    arousal = np.array([0.05, 0.05, 0.55])
    raw = np.array([1 / 2 + 1 / 2, 1 / 2 + 1 / 2, 1 + 1])
    np.testing.assert_allclose(expr_va_balance_weights(labels, valence, arousal), raw / raw.max())


def test_balance_weights_per_part(parts):
    weights = balance_weights(parts)
    assert set(weights) == {"expr", "va", "expr_va"}
    for name, table in parts.items():
        assert weights[name].shape == (len(table),)
    np.testing.assert_allclose(weights["expr"], expr_balance_weights(parts["expr"]["expr"]))


def test_weighted_draws_are_class_balanced():
    counts = np.array([4000, 1200, 200, 40, 20, 400, 2000])
    labels = np.repeat(np.arange(7), counts)
    rng = np.random.default_rng(0)
    labels = labels[rng.permutation(len(labels))]
    sampler = MultiPartBatchSampler({"expr": expr_balance_weights(labels)}, per_part=700, steps=100, seed=5)
    drawn = labels[np.concatenate([np.asarray(b) for b in sampler])]
    observed = np.bincount(drawn, minlength=7)
    expected = len(drawn) / 7
    chi_square = ((observed - expected) ** 2 / expected).sum()
    assert chi_square < 30, observed  # 6 dof: P(chi2 > 30) ~ 4e-5
    # without balancing the draw follows the data's imbalance
    uniform = MultiPartBatchSampler({"expr": expr_balance_weights(labels)}, 700, 100, seed=5, balanced=False)
    drawn = labels[np.concatenate([np.asarray(b) for b in uniform])]
    np.testing.assert_allclose(np.bincount(drawn, minlength=7) / len(drawn), counts / counts.sum(), atol=0.01)


# --------------------------------------------------------------------------- batches


def make_sampler(seed=0, balanced=True, steps=25):
    weights = {"expr": np.linspace(1, 2, 30), "va": np.ones(7), "expr_va": np.r_[np.zeros(5), np.ones(5)]}
    return MultiPartBatchSampler(weights, per_part=4, steps=steps, seed=seed, balanced=balanced)


def test_batches_hold_n_per_part_and_map_back():
    sampler = make_sampler()
    layout = ConcatParts({"expr": 30, "va": 7, "expr_va": 10})
    assert sampler.offsets == layout.offsets == {"expr": 0, "va": 30, "expr_va": 37}
    batches = list(sampler)
    assert len(sampler) == len(batches) == 25
    for batch in batches:
        assert isinstance(batch, list) and len(batch) == 12 and all(isinstance(i, int) for i in batch)
        names, rows = layout.locate(np.asarray(batch))
        for name in ("expr", "va", "expr_va"):
            assert (names[sampler.part_positions[name]] == name).all()
            assert (rows[sampler.part_positions[name]] < layout.sizes[name]).all()
        split = sampler.split(batch)
        np.testing.assert_array_equal(split["va"], rows[4:8])
        # zero-weight rows are never drawn
        assert (split["expr_va"] >= 5).all()


def test_sampler_is_deterministic_per_seed_and_epoch():
    assert list(make_sampler(seed=1)) == list(make_sampler(seed=1))
    assert list(make_sampler(seed=1)) != list(make_sampler(seed=2))
    sampler = make_sampler(seed=1)
    first = list(sampler)
    assert list(sampler) == first  # re-iterating repeats the epoch
    sampler.set_epoch(1)
    assert list(sampler) != first
    sampler.set_epoch(0)
    assert list(sampler) == first


def test_a_parts_draws_do_not_depend_on_the_other_parts():
    a = MultiPartBatchSampler({"expr": np.ones(30), "va": np.ones(7)}, 4, 10, seed=3)
    b = MultiPartBatchSampler({"expr": np.ones(30), "va": np.ones(99)}, 4, 10, seed=3)
    assert [a.split(x)["expr"].tolist() for x in a] == [b.split(x)["expr"].tolist() for x in b]


def test_uniform_sampling_visits_every_row_once_per_pass():
    sampler = MultiPartBatchSampler({"expr": 12, "va": 8}, per_part=4, steps=6, seed=0, balanced=False)
    rows = {name: np.concatenate([sampler.split(b)[name] for b in sampler]) for name in ("expr", "va")}
    assert sorted(rows["expr"][:12]) == list(range(12)) and sorted(rows["expr"][12:]) == list(range(12))
    assert sorted(rows["va"][:8]) == list(range(8)) and sorted(rows["va"][8:16]) == list(range(8))


def test_default_steps_is_the_codes_epoch_length():
    assert len(MultiPartBatchSampler({"expr": 100, "va": 45}, per_part=10)) == 4


def test_sampler_rejects_bad_input():
    with pytest.raises(ValueError, match="no rows"):
        MultiPartBatchSampler({"expr": 10, "va": 0}, 2, 3)
    with pytest.raises(ValueError, match="weights"):
        MultiPartBatchSampler({"expr": np.array([1.0, -1.0])}, 2, 3)
    with pytest.raises(ValueError, match="per_part"):
        MultiPartBatchSampler({"expr": 10}, 0, 3)


def test_concat_parts_table_rows_match_global_indices(parts):
    layout = ConcatParts(parts)
    table = layout.table
    assert len(table) == len(layout) == sum(len(t) for t in parts.values())
    assert isinstance(table["part"].dtype, pd.CategoricalDtype)
    sampler = MultiPartBatchSampler.from_parts(parts, per_part=3, steps=5, seed=0)
    assert sampler.offsets == layout.offsets
    for batch in sampler:
        for g in batch:
            name, row = layout.locate(g)
            assert table["path"].iloc[g] == parts[name]["path"].iloc[row]
            assert table["part"].iloc[g] == name
    np.testing.assert_array_equal(layout.global_index("va", [0, 2]), [layout.offsets["va"], layout.offsets["va"] + 2])
    with pytest.raises(IndexError):
        layout.locate(len(layout))


def test_sampler_works_as_a_torch_batch_sampler():
    torch = pytest.importorskip("torch")
    from torch.utils.data import DataLoader, TensorDataset

    sampler = make_sampler(seed=4, steps=5)
    dataset = TensorDataset(torch.arange(47))
    loaded = [batch[0].tolist() for batch in DataLoader(dataset, batch_sampler=sampler)]
    assert loaded == list(sampler)


def test_other_class_is_left_out_of_the_seven_class_parts_by_default():
    import pandas as pd

    from abawbench.data.mixing import build_parts

    n = 9
    table = pd.DataFrame({
        "source": "affwild2", "video": "v", "frame": np.arange(1, n + 1), "path": [f"v/{i:05d}.jpg" for i in range(n)],
        "expr": np.array([0, 7, 7, 4, 7, 1, 2, 7, 3], np.int8), "valence": np.full(n, 0.1, np.float32),
        "arousal": np.full(n, 0.2, np.float32), "has_crop": True, "split_expr": "train", "split_va": "train",
        "split_au": "", "shared": True})
    parts = build_parts(table, expr_va_source="affwild2-shared")
    assert (parts["expr"]["expr"] < 7).all() and len(parts["expr"]) == 5
    assert not (parts["va"]["expr"] == 7).any()
    kept = build_parts(table, expr_va_source="affwild2-shared", keep_other=True)
    assert (kept["expr"]["expr"] == 7).sum() == 4


def test_an_epoch_with_no_step_is_an_error():
    from abawbench.data.mixing import MultiPartBatchSampler

    with pytest.raises(ValueError, match="fewer than per_part"):
        MultiPartBatchSampler({"expr": 100, "va": 100, "expr_va": 29}, per_part=64)


def test_the_datas_own_range_refuses_values_that_are_not_finite():
    """np.histogram2d, whose default range that mode copies, refuses NaN and infinities
    ("autodetected range of [nan, nan] is not finite"); so does va_histogram_cells, rather
    than putting the other values of the axis into cell 0."""
    for bad, shown in ((np.nan, "nan"), (np.inf, "inf"), (-np.inf, "-inf")):
        with pytest.raises(ValueError) as caught:
            va_histogram_cells([bad, 0.5, 0.25], [0.5, 0.5, 0.1], value_range=None)
        assert str(caught.value) == (f"1 value(s) that are not finite, e.g. {shown}: "
                                     "the data's own range needs finite values")
        with pytest.raises(ValueError, match="autodetected range"):
            np.histogram2d([bad, 0.5, 0.25], [0.5, 0.5, 0.1], bins=4)
    assert va_histogram_cells([0.0, 1.0], [0.0, 1.0], bins=2, value_range=None).tolist() == [0, 3]
