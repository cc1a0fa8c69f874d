"""The GRU half of the paper baseline: the model against the GRU equations worked by hand,
the feature cache against the CNN run directly, and the stages' run-folder behaviour."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from abawbench.models import MultitaskCNN, MultitaskGRU, va_bin_values

pytestmark = pytest.mark.usefixtures("restore_torch_globals")


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _gru_direction(x: np.ndarray, w_ih, w_hh, b_ih, b_hh) -> np.ndarray:
    """One direction of a GRU over x (L, F), as the GRU equations read (r, z, n gates)."""
    hidden = w_hh.shape[1]
    h = np.zeros(hidden)
    out = []
    for x_t in x:
        gi, gh = w_ih @ x_t + b_ih, w_hh @ h + b_hh
        r = _sigmoid(gi[:hidden] + gh[:hidden])
        z = _sigmoid(gi[hidden:2 * hidden] + gh[hidden:2 * hidden])
        n = np.tanh(gi[2 * hidden:] + r * gh[2 * hidden:])
        h = (1 - z) * n + z * h
        out.append(h)
    return np.array(out)


def test_each_head_is_a_bidirectional_gru_then_relu_then_a_linear_layer_per_step():
    torch.manual_seed(0)
    model = MultitaskGRU(feature_width=6, hidden=4, va_bins=5).double()
    x = torch.randn(2, 7, 2, 6, dtype=torch.float64)
    with torch.no_grad():
        out = {k: v.numpy() for k, v in model(x).items()}
    assert out["expr"].shape == (2, 7, 7) and out["va"].shape == (2, 7, 10)
    for k, name in enumerate(("expr", "va")):
        head = model.heads[name]
        p = {n: v.detach().numpy() for n, v in head.gru.named_parameters()}
        assert head.gru.num_layers == 1 and head.gru.bidirectional and head.gru.hidden_size == 4
        for b in range(2):
            seq = x[b, :, k].numpy()
            forward = _gru_direction(seq, p["weight_ih_l0"], p["weight_hh_l0"], p["bias_ih_l0"], p["bias_hh_l0"])
            backward = _gru_direction(seq[::-1], p["weight_ih_l0_reverse"], p["weight_hh_l0_reverse"],
                                      p["bias_ih_l0_reverse"], p["bias_hh_l0_reverse"])[::-1]
            hidden = np.maximum(np.concatenate([forward, backward], axis=1), 0)  # ReLU on the 2·64-d output
            expected = hidden @ head.classifier.weight.detach().numpy().T + head.classifier.bias.detach().numpy()
            np.testing.assert_allclose(out[name][b], expected, rtol=1e-5, atol=1e-6)


def test_the_gru_runs_in_float32_under_bf16_autocast():
    """The GRU is tiny next to the CNN: bf16 saves nothing there, costs precision over 32
    recurrent steps, and cuDNN's bf16 RNN support depends on the version. Under autocast it
    computes exactly what it computes without."""
    torch.manual_seed(0)
    model = MultitaskGRU(feature_width=16, hidden=8, va_bins=5)
    x = torch.randn(2, 12, 2, 16).to(torch.float16)  # as the cache holds them
    plain = model(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = model(x)
    for head in ("expr", "va"):
        assert mixed[head].dtype == torch.float32 and torch.equal(mixed[head], plain[head]), head
    sum(v.sum() for v in mixed.values()).backward()
    assert model.heads["va"].gru.weight_hh_l0.grad.dtype == torch.float32


def test_the_gru_decodes_va_as_the_expectation_over_the_bin_centres():
    model = MultitaskGRU(va_bins=4)
    logits = {"expr": torch.tensor([[[0.1, 3.0, 0, 0, 0, 0, 0]]]),
              "va": torch.tensor([[[0.0, 0.0, 0.0, 0.0, 10.0, 0.0, 0.0, 0.0]]])}
    decoded = model.decode(logits)
    assert decoded["expr"].tolist() == [[1]]
    centres = np.array([-0.75, -0.25, 0.25, 0.75])
    p = np.exp([10.0, 0, 0, 0]) / np.exp([10.0, 0, 0, 0]).sum()
    assert decoded["va"][0, 0].tolist() == pytest.approx([0.0, float(p @ centres)], abs=1e-6)
    assert torch.equal(model.va_values, va_bin_values(4))


def test_a_window_of_the_wrong_shape_is_refused_with_the_expected_shape():
    with pytest.raises(ValueError, match=r"expected features \(B, L, 2, 128\), got \(3, 32, 128\)"):
        MultitaskGRU()(torch.zeros(3, 32, 128))


# ----------------------------------------------------------------------- feature cache


@pytest.fixture(scope="module")
def tiny_cnn():
    torch.manual_seed(1)
    return MultitaskCNN("resnet10t", {"channels": [8, 8, 8, 8], "stem_width": 8}, head_hidden=16).eval()


def _device():
    from abawbench.training.device import resolve_runtime, setup

    return setup(resolve_runtime({"device": "cpu", "amp": "off", "channels_last": "off", "compile": False,
                                  "deterministic": "on", "workers": 0, "threads": 0, "log_every": 1,
                                  "checkpoint_every": 1, "eval_cache_mb": 0, "progress": False}))


def test_cached_features_are_the_students_head_features_of_the_evaluation_crops(synthetic_data, tiny_cnn, tmp_path):
    from abawbench.data import affwild2
    from abawbench.data.loading import NORMALIZATIONS, FrameDataset, InputNormalizer
    from abawbench.training import features

    root = synthetic_data[0] / "affwild2_abaw2"
    index = affwild2.index(root, cache=False)
    index = index[index["video"].astype(str).isin(sorted(index["video"].astype(str).unique())[:2])]
    index.attrs = dict(affwild2.index(root, cache=False).attrs)
    normalizer = InputNormalizer(NORMALIZATIONS["imagenet"])
    cache = features.extract(tmp_path / "run", tiny_cnn, normalizer, index, _device(), views=2, size=32, scale=1.2,
                             batch_size=16, workers=0, seed=0, checkpoint_sha="abc", show_progress=False)
    table = index.reset_index(drop=True)
    table.attrs = dict(index.attrs)
    assert cache.features.shape == (2, len(table), 2, 16) and cache.features.dtype == np.float16
    # the evaluation view, computed here straight from the dataset and the model
    dataset = FrameDataset(table, train=False, size=32)
    batch = dataset.__getitems__(list(range(len(dataset))))
    with torch.no_grad():
        direct = tiny_cnn.forward_features(normalizer(batch["image"]))
    rows = batch["row"].numpy()
    for k, head in enumerate(("expr", "va")):
        np.testing.assert_allclose(cache.features[0, rows, k].astype(np.float32), direct[head].numpy(),
                                   rtol=2e-3, atol=2e-3)
    no_crop = ~table["has_crop"].to_numpy(bool)
    assert no_crop.any() and not cache.features[:, no_crop].any()  # never a frame's own feature
    assert not np.allclose(cache.features[1, rows], cache.features[0, rows])  # view 1 is augmented
    frames = np.load(tmp_path / "run" / "features" / "frames.npz")
    assert (frames["videos"][frames["video"]] == table["video"].astype(str).to_numpy()).all()
    assert (frames["frame"] == table["frame"].to_numpy()).all()
    meta = json.loads((tmp_path / "run" / "features" / "meta.json").read_text())
    assert meta["checkpoint_sha256"] == "abc" and meta["rows_with_crop"] == int((~no_crop).sum())
    signature = features.index_signature(table)
    assert features.cache_problem(cache, "abc", signature, 2) is None
    assert features.cache_problem(cache, "abd", signature, 2) == "the CNN student checkpoint changed"
    assert features.cache_problem(cache, "abc", signature, 3) == "2 view(s) cached, 3 wanted"
    assert features.cache_problem(features.read_cache(tmp_path / "elsewhere"), "abc", signature, 2) == \
        "no feature cache"
    # in memory, as predict computes them for any data root: the evaluation view again
    in_memory = features.frame_features(tiny_cnn, normalizer, table, _device(), size=32, scale=1.2, batch_size=8,
                                        workers=0)
    np.testing.assert_array_equal(in_memory.astype(np.float16), cache.features[0])
    assert not list((tmp_path / "run").glob(".features*"))  # nothing left of the staging folder


# ----------------------------------------------------------------- the stages, in a run


def _mtimes(folder):
    return {p.relative_to(folder): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


def test_deleting_a_stages_outputs_redoes_it_and_the_stages_after_it(micro_run, synthetic_data, tmp_path):
    import shutil

    from test_training import cli

    out = tmp_path / "run"
    shutil.copytree(micro_run[0], out)
    before = _mtimes(out)
    (out / "checkpoints" / "gru-teacher-best.pt").unlink()
    result = cli("train", "paper-baseline", "--data", synthetic_data[0], "--out", out)
    assert result.exit_code == 0, result.output
    assert "redoing gru-teacher (checkpoints/gru-teacher-best.pt missing) and the stages after it" in \
        " ".join(result.output.split())
    after = _mtimes(out)
    kept = [p for p in before if p.parts[0] == "checkpoints" and p.name.startswith("cnn-")] + \
        [p for p in before if p.parts[0] == "features"]
    assert kept and all(after[p] == before[p] for p in kept)  # the CNN stages and the features stay
    for stage in ("gru-teacher", "gru-student"):
        for name in (f"checkpoints/{stage}-best.pt", f"scores/{stage}-validation-expr.json"):
            assert after[Path(name)] != before.get(Path(name)), name
    record = json.loads((out / "run.json").read_text())
    assert record["status"] == "finished" and all(s["status"] == "finished" for s in record["stages"].values())
    epochs = [(m["stage"], m["epoch"]) for m in map(json.loads, (out / "metrics.jsonl").read_text().splitlines())]
    assert epochs.count(("gru-teacher", 0)) == 1 and epochs.count(("gru-student", 1)) == 1  # redone, not appended

    # a new student checkpoint makes the cached features stale: they are extracted again
    (out / "checkpoints" / "cnn-student-best.pt").unlink()
    result = cli("train", "paper-baseline", "--data", synthetic_data[0], "--out", out)
    assert result.exit_code == 0, result.output
    assert "redoing cnn-student" in result.output
    meta = json.loads((out / "features" / "meta.json").read_text())
    assert meta["checkpoint_sha256"] == hashlib.sha256((out / "checkpoints" / "cnn-student-best.pt").read_bytes()
                                                       ).hexdigest()


def test_predict_with_the_gru_student_writes_the_runs_own_predictions(micro_run, synthetic_data, tmp_path):
    """``predict`` recomputes the features in memory for any data root; on the run's own
    data it must write what the run wrote from its cache (up to float rounding: the CNN
    sees other batch compositions, and a float16 feature may round the other way)."""
    from test_training import cli

    out, _ = micro_run
    result = cli("predict", out, "--data", synthetic_data[0], "--out", tmp_path / "pred")
    assert result.exit_code == 0, result.output
    for track in ("expr", "va"):
        ours = sorted((tmp_path / "pred" / track).glob("*.txt"))
        assert ours and [p.name for p in ours] == sorted(p.name for p in (out / "predictions" / "validation" /
                                                                         track).glob("*.txt"))
        mine = np.concatenate([np.loadtxt(p, delimiter=",", skiprows=1, ndmin=2) for p in ours])
        runs = np.concatenate([np.loadtxt(out / "predictions" / "validation" / track / p.name, delimiter=",",
                                          skiprows=1, ndmin=2) for p in ours])
        assert mine.shape == runs.shape
        if track == "va":
            np.testing.assert_allclose(mine, runs, atol=2e-3)
        else:
            assert (mine == runs).mean() > 0.99


# ------------------------------------------------------------------------ resume


def test_gru_stages_interrupted_mid_epoch_resume_to_the_same_weights_and_metrics(synthetic_data, tmp_path,
                                                                                  monkeypatch):
    """The GRU twin of test_training's in-process resume test: a run that stops right after
    a mid-epoch checkpoint of gru-teacher, then again of gru-student, with every global
    RNG scrambled before each ``--resume``, ends exactly where an uninterrupted run does
    (the view draws of the cached features, the sampler position and the RNGs restored)."""
    import shutil

    from test_training import MICRO, _comparable, _weights

    from abawbench.runs import RunFolder
    from abawbench.training import loop
    from abawbench.training.paper_baseline import train_paper_baseline

    # one CNN step each: only the GRU stages are under test; three augmented views to draw from
    overrides = MICRO + ["seed=4", "runtime.checkpoint_every=1", "gru.augmented_views=3", "cnn.max_epochs=1",
                         "cnn.steps_per_epoch=1"]
    prefix = tmp_path / "prefix"  # the CNN stages and the features, shared by both runs
    train_paper_baseline(synthetic_data[0], prefix, "tiny", None, overrides, stage="features")
    reference, resumed = tmp_path / "reference", tmp_path / "resumed"
    shutil.copytree(prefix, reference)
    shutil.copytree(prefix, resumed)
    train_paper_baseline(synthetic_data[0], reference, None, None, [], stage="gru-student", resume=True)

    class Killed(BaseException):
        pass

    original = loop.Trainer._save_last
    for stage in ("gru-teacher", "gru-student"):
        def save_then_die(self, running, optimizer, state, stage=stage):
            original(self, running, optimizer, state)
            if running.name == stage and state.epoch == 1 and state.step == 2:  # mid-epoch of the second epoch
                raise Killed()

        monkeypatch.setattr(loop.Trainer, "_save_last", save_then_die)
        with pytest.raises(Killed):
            train_paper_baseline(synthetic_data[0], resumed, None, None, [], stage="gru-student", resume=True)
        monkeypatch.setattr(loop.Trainer, "_save_last", original)
        record = json.loads((resumed / "run.json").read_text())
        assert record["status"] == "failed" and record["stages"][stage]["status"] == "running"
        torch.manual_seed(12345)
        np.random.seed(999)
    train_paper_baseline(synthetic_data[0], resumed, None, None, [], stage="gru-student", resume=True)

    for stage in ("gru-teacher", "gru-student"):
        for kind in ("best", "last"):
            a = _weights(reference / f"checkpoints/{stage}-{kind}.pt")
            b = _weights(resumed / f"checkpoints/{stage}-{kind}.pt")
            assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), (stage, kind)
        for track in ("expr", "va"):
            name = f"scores/{stage}-validation-{track}.json"
            assert json.loads((reference / name).read_text())["metrics"] == \
                json.loads((resumed / name).read_text())["metrics"]
    assert _comparable(RunFolder(reference).metrics()) == _comparable(RunFolder(resumed).metrics())
    assert json.loads((resumed / "run.json").read_text())["status"] == "finished"


# --------------------------------------------------------------- whole-video inference


class _FrameEcho(MultitaskGRU):
    """A "GRU" whose logits at each step encode only that step's input feature: the EXPR
    head's 7 logits are the EXPR feature's first 7 values, the VA head's the VA feature's
    first 2·bins, so the decoded prediction names the frame whose features it saw."""

    def forward(self, features):
        return {"expr": features[:, :, 0, :7].float(), "va": features[:, :, 1, :2 * self.va_bins].float()}


def _echo_table():
    """Three videos as an index lists them, rows shuffled: ``a`` frames 1..20 without rows
    for 5 and 6 and no crop on 10 (the row there, its features garbage); ``b`` frames
    3..7 (shorter than a window, starting late); ``c`` exactly one window, 1..8."""
    import pandas as pd

    rows = [("a", f, f != 10) for f in range(1, 21) if f not in (5, 6)] + \
        [("b", f, True) for f in range(3, 8)] + [("c", f, True) for f in range(1, 9)]
    order = np.random.default_rng(0).permutation(len(rows))
    table = pd.DataFrame([rows[i] for i in order], columns=["video", "frame", "has_crop"])
    table["feature_row"] = np.arange(len(table))
    return table


def _echo_features(table, bins):
    """(N, 2, D) features whose echo decodes to a code per (video, frame): EXPR class
    ``frame % 7``, valence the centre of bin ``frame``, arousal the centre of bin
    ``video number``; rows without a crop carry a code no frame has (class 6, last bins)."""
    features = np.zeros((len(table), 2, 2 * bins), dtype=np.float16)
    videos = {"a": 0, "b": 1, "c": 2}
    for i, (video, frame, crop) in enumerate(zip(table["video"], table["frame"], table["has_crop"])):
        expr, valence, arousal = (frame % 7, frame, videos[video]) if crop else (6, bins - 1, bins - 1)
        features[i, 0, expr] = 30
        features[i, 1, valence] = 30
        features[i, 1, bins + arousal] = 30
    return features


def _expected_echo(table, lengths, bins):
    """{video: (n_frames, 3) expected (class, valence, arousal) per annotation line},
    worked out frame by frame: a frame shows its own crop, else the nearest earlier crop
    (the first crop before it); lines before the first or after the last row take the
    nearest row's frame."""
    from abawbench.models import va_bin_values

    centres = va_bin_values(bins).numpy()
    videos = {"a": 0, "b": 1, "c": 2}
    expected = {}
    for video, n in lengths.items():
        mine = table[table["video"] == video]
        crops = sorted(mine.loc[mine["has_crop"], "frame"])
        first, last = mine["frame"].min(), mine["frame"].max()
        lines = []
        for line in range(1, n + 1):
            at = min(max(line, first), last)  # the grid runs first..last
            earlier = [c for c in crops if c <= at]
            shown = earlier[-1] if earlier else crops[0]
            lines.append((shown % 7, centres[shown], centres[videos[video]]))
        expected[video] = np.array(lines)
    return expected


@pytest.mark.parametrize("stride", [8, 3])
def test_whole_video_inference_gives_each_annotation_line_its_own_frames_prediction(stride, monkeypatch):
    from abawbench.predict import per_video
    from abawbench.training import gru
    from abawbench.training.device import Device

    bins, length = 24, 8
    table = _echo_table()
    features = _echo_features(table, bins)
    model = _FrameEcho(feature_width=2 * bins, hidden=2, va_bins=bins)
    lengths = {"a": 22, "b": 9, "c": 8}  # a and b have annotation lines past their last row
    expected = _expected_echo(table, lengths, bins)

    def check(grid, expr, va):
        videos = per_video(grid, expr, va, np.ones(len(grid), dtype=bool), {"expr": lengths, "va": lengths})
        for video, n in lengths.items():
            got_expr, got_va = videos.tracks["expr"][video], videos.tracks["va"][video]
            assert got_expr.shape == (n, 1) and got_va.shape == (n, 2)
            np.testing.assert_array_equal(got_expr[:, 0], expected[video][:, 0], err_msg=video)
            np.testing.assert_allclose(got_va, expected[video][:, 1:], atol=1e-6, err_msg=video)

    single = gru.WindowInference(table, features, _device(), length, stride, batch_size=2)
    grid, expr, va = single.predict(model)
    assert grid.groupby("video")["frame"].apply(list).to_dict() == {
        "a": list(range(1, 21)), "b": list(range(3, 8)), "c": list(range(1, 9))}
    check(grid, expr, va)

    # two ranks, each running its share of the windows, their sums added up
    shares = {}

    def gather(value, device):
        shares[device.rank] = value
        return [shares.get(r, value) for r in range(device.world_size)]

    monkeypatch.setattr(gru, "all_gather", gather)
    cpu = torch.device("cpu")
    for rank in (1, 0):  # rank 1 first: rank 0 then adds up both shares
        device = Device(cpu, None, False, False, True, rank=rank, world_size=2)
        result = gru.WindowInference(table, features, device, length, stride, batch_size=2).predict(model)
    check(*result)
    # more ranks than windows: the ranks without a window still add a share of the right width
    shares.clear()
    for rank in range(15, -1, -1):
        device = Device(cpu, None, False, False, True, rank=rank, world_size=16)
        inference = gru.WindowInference(table, features, device, length, stride, batch_size=2)
        result = inference.predict(model)
    check(*result)
    # each rank sends the frames its windows cover, not the whole grid (Aff-Wild2's
    # validation grid is ~10^6 frames x 55 logits): all ranks together about one grid
    sent = sum(value.nbytes for share in shares.values() for value in share if isinstance(value, np.ndarray))
    width = 7 + 2 * bins
    assert sent <= (inference.windows.n_grid + 16 * length) * (width + 1) * 8


def test_predict_the_test_split_with_the_gru_student_covers_the_organisers_lists(micro_run, synthetic_data,
                                                                                   tmp_path):
    """``predict --split test`` of a GRU run: one file per listed video, one line per frame
    the list asks for (the test video's last crop when the list has no count; lines past
    the crops take the last frame's prediction), each video predicted as the validation
    split predicts it."""
    import shutil

    from test_training import cli

    out, _ = micro_run
    root = tmp_path / "affwild2_abaw2"
    shutil.copytree(synthetic_data[0] / "affwild2_abaw2", root, ignore=shutil.ignore_patterns(".abawbench*"))
    test_video = synthetic_data[1]["affwild2_abaw2"]["unannotated_videos"][0]
    last_crop = max(int(p.stem) for p in (root / "cropped_aligned" / test_video).glob("*.jpg"))
    validation = sorted(p.stem for p in (out / "predictions" / "validation" / "va").glob("*.txt"))[0]
    val_lines = len((out / "predictions" / "validation" / "va" / f"{validation}.txt").read_text().splitlines()) - 1
    lists = root / "names_of_videos_in_each_test_set"
    lists.mkdir()
    (lists / "Expression_Set.txt").write_text(f"{test_video}\n")
    (lists / "Valence_Arousal_Set.txt").write_text(f"{test_video}\n{validation},{val_lines + 3}\n")

    result = cli("predict", out, "--data", root, "--split", "test", "--out", tmp_path / "test")
    assert result.exit_code == 0, result.output
    marker = json.loads((tmp_path / "test" / "prediction.json").read_text())
    assert marker["stage"] == "gru-student" and marker["split"] == "test"
    assert sorted(p.name for p in (tmp_path / "test" / "expr").glob("*.txt")) == [f"{test_video}.txt"]
    assert sorted(p.name for p in (tmp_path / "test" / "va").glob("*.txt")) == sorted(
        [f"{test_video}.txt", f"{validation}.txt"])
    expr = (tmp_path / "test" / "expr" / f"{test_video}.txt").read_text().splitlines()
    assert len(expr) == last_crop + 1 and all(line in {str(k) for k in range(7)} for line in expr[1:])
    va = np.loadtxt(tmp_path / "test" / "va" / f"{validation}.txt", delimiter=",", skiprows=1, ndmin=2)
    assert va.shape == (val_lines + 3, 2) and (np.abs(va) <= 1).all()
    assert (va[-3:] == va[-4]).all()  # past the last crop: the last frame's prediction

    result = cli("predict", out, "--data", root, "--split", "validation", "--out", tmp_path / "val")
    assert result.exit_code == 0, result.output
    same = np.loadtxt(tmp_path / "val" / "va" / f"{validation}.txt", delimiter=",", skiprows=1, ndmin=2)
    np.testing.assert_allclose(va[:val_lines], same, atol=1e-4)  # the same windows over the same frames


# ---------------------------------------------------------------------- redo rules


def _redone(before, after, stage):
    """Whether ``stage``'s best weights were written again."""
    path = Path("checkpoints") / f"{stage}-best.pt"
    return after[path] != before[path]


def _rerun(out, synthetic_data, *flags):
    from test_training import cli

    result = cli("train", "paper-baseline", "--data", synthetic_data[0], "--out", out, *flags)
    assert result.exit_code == 0, result.output
    record = json.loads((out / "run.json").read_text())
    assert record["status"] == "finished" and all(s["status"] == "finished" for s in record["stages"].values())
    return " ".join(result.output.split()), record


def _metric_epochs(out):
    return [(m["stage"], m["epoch"]) for m in map(json.loads, (out / "metrics.jsonl").read_text().splitlines())]


def test_deleting_the_feature_cache_redoes_the_features_and_the_gru_stages_only(micro_run, synthetic_data, tmp_path):
    import shutil

    out = tmp_path / "run"
    shutil.copytree(micro_run[0], out)
    before = _mtimes(out)
    shutil.rmtree(out / "features")
    output, record = _rerun(out, synthetic_data)
    assert "redoing features (features/ missing) and the stages after it" in output
    after = _mtimes(out)
    assert [s for s in ("cnn-teacher", "cnn-student", "gru-teacher", "gru-student") if _redone(before, after, s)] \
        == ["gru-teacher", "gru-student"]
    assert (out / "features" / "features.npy").is_file()
    assert json.loads((out / "features" / "meta.json").read_text())["checkpoint_sha256"] == \
        hashlib.sha256((out / "checkpoints" / "cnn-student-best.pt").read_bytes()).hexdigest()
    assert sorted(_metric_epochs(out)) == sorted(_metric_epochs(micro_run[0]))  # redone, not appended
    for track in ("expr", "va"):
        assert after[Path(f"scores/validation-{track}.json")] != before[Path(f"scores/validation-{track}.json")]


def test_deleting_a_cnn_teacher_score_redoes_every_stage(micro_run, synthetic_data, tmp_path):
    import shutil

    out = tmp_path / "run"
    shutil.copytree(micro_run[0], out)
    before = _mtimes(out)
    (out / "scores" / "cnn-teacher-validation-va.json").unlink()
    output, record = _rerun(out, synthetic_data)
    assert "redoing cnn-teacher (scores/cnn-teacher-validation-va.json missing) and the stages after it" in output
    after = _mtimes(out)
    assert all(_redone(before, after, s) for s in ("cnn-teacher", "cnn-student", "gru-teacher", "gru-student"))
    assert after[Path("features/features.npy")] != before[Path("features/features.npy")]
    assert (out / "scores" / "cnn-teacher-validation-va.json").is_file()
    assert sorted(_metric_epochs(out)) == sorted(_metric_epochs(micro_run[0]))


def test_deleting_the_final_predictions_writes_them_again_and_trains_nothing(micro_run, synthetic_data, tmp_path):
    import shutil

    out = tmp_path / "run"
    shutil.copytree(micro_run[0], out)
    before = _mtimes(out)
    shutil.rmtree(out / "predictions")
    for track in ("expr", "va"):
        (out / "scores" / f"validation-{track}.json").unlink()
    output, record = _rerun(out, synthetic_data)
    assert "redoing" not in output
    after = _mtimes(out)
    assert {p for p in before if p.parts[0] not in ("predictions", "scores") and p.name != "run.json"
            and after.get(p) != before[p]} == set()  # weights, features, metrics, stage predictions untouched
    assert {p for p in before if p.parts[0] == "scores" and not p.name.startswith("validation-")
            and after[p] != before[p]} == set()
    for track in ("expr", "va"):
        written = sorted((out / "predictions" / "validation" / track).glob("*.txt"))
        assert written and [p.read_text() for p in written] == [
            (micro_run[0] / "predictions" / "validation" / track / p.name).read_text() for p in written]
        assert json.loads((out / "scores" / f"validation-{track}.json").read_text())["metrics"] == json.loads(
            (micro_run[0] / "scores" / f"validation-{track}.json").read_text())["metrics"]


def test_a_run_stopped_at_the_features_gains_the_gru_stages_when_rerun_without_stage(synthetic_data, tmp_path):
    """On a data root with the organisers' test lists: the test predictions follow the
    final stage, and come back when deleted."""
    import shutil

    from test_training import MICRO

    from abawbench.training.paper_baseline import train_paper_baseline

    data = tmp_path / "data"
    shutil.copytree(synthetic_data[0], data, ignore=shutil.ignore_patterns(".abawbench*"))
    test_video = synthetic_data[1]["affwild2_abaw2"]["unannotated_videos"][0]
    lists = data / "affwild2_abaw2" / "names_of_videos_in_each_test_set"
    lists.mkdir()
    for name in ("Expression_Set.txt", "Valence_Arousal_Set.txt"):
        (lists / name).write_text(f"{test_video}\n")
    synthetic_data = (data, synthetic_data[1])
    out = tmp_path / "run"
    record = train_paper_baseline(data, out, "tiny", None,
                                  MICRO + ["seed=6", "cnn.max_epochs=1", "cnn.steps_per_epoch=1"], stage="features")
    assert json.loads((out / "predictions" / "test" / "prediction.json").read_text())["stage"] == "cnn-student"
    assert record["final_stage"] == "features" and list(record["stages"]) == ["cnn-teacher", "cnn-student",
                                                                               "features"]
    assert json.loads((out / "predictions" / "validation" / "prediction.json").read_text())["stage"] == "cnn-student"
    before = _mtimes(out)
    output, record = _rerun(out, synthetic_data)
    after = _mtimes(out)
    assert record["final_stage"] == "gru-student" and list(record["stages"]) == [
        "cnn-teacher", "cnn-student", "features", "gru-teacher", "gru-student"]
    assert not any(_redone(before, after, s) for s in ("cnn-teacher", "cnn-student"))
    assert after[Path("features/features.npy")] == before[Path("features/features.npy")]
    assert all((out / "checkpoints" / f"{s}-best.pt").is_file() for s in ("gru-teacher", "gru-student"))
    assert json.loads((out / "predictions" / "validation" / "prediction.json").read_text())["stage"] == "gru-student"
    assert json.loads((out / "scores" / "validation-va.json").read_text())["metrics"] == json.loads(
        (out / "scores" / "gru-student-validation-va.json").read_text())["metrics"]
    test = out / "predictions" / "test"
    assert json.loads((test / "prediction.json").read_text())["stage"] == "gru-student"
    assert sorted(p.name for p in (test / "va").glob("*.txt")) == [f"{test_video}.txt"]

    shutil.rmtree(test)
    before = _mtimes(out)
    _rerun(out, synthetic_data)
    after = _mtimes(out)
    assert not any(_redone(before, after, s) for s in ("cnn-teacher", "cnn-student", "gru-teacher", "gru-student"))
    assert json.loads((test / "prediction.json").read_text())["stage"] == "gru-student"


def test_deleting_a_stages_validation_predictions_redoes_it_and_the_stages_after_it(micro_run, synthetic_data,
                                                                                       tmp_path):
    """stage-predictions/<stage>/ is one of the stage's outputs (the final predictions are
    copied from it): gone with predictions/, the rerun must not fail nor say it is done."""
    import shutil

    out = tmp_path / "run"
    shutil.copytree(micro_run[0], out)
    before = _mtimes(out)
    shutil.rmtree(out / "stage-predictions" / "gru-student")
    shutil.rmtree(out / "predictions")
    output, record = _rerun(out, synthetic_data)
    assert "redoing gru-student" in output
    after = _mtimes(out)
    assert [s for s in ("cnn-teacher", "cnn-student", "gru-teacher", "gru-student") if _redone(before, after, s)] \
        == ["gru-student"]
    assert (out / "stage-predictions" / "gru-student" / "validation" / "prediction.json").is_file()
    assert (out / "predictions" / "validation" / "prediction.json").is_file()


def test_batches_that_do_not_split_over_the_processes_are_refused_before_any_training():
    """A GRU batch that cannot be shared by the DDP processes must fail at the start, not
    after the CNN stages have trained."""
    from abawbench.training.config import ConfigError, resolve
    from abawbench.training.paper_baseline import check_batches

    config = resolve("tiny", overrides=["cnn.batch_per_task=6", "gru.batch_per_task=4"])
    check_batches(config, 2)
    with pytest.raises(ConfigError, match=r"gru\.batch_per_task = 4 must be divisible by the 3 processes"):
        check_batches(config, 3)
    with pytest.raises(ConfigError, match=r"cnn\.batch_per_task = 6 must be divisible by the 4 processes"):
        check_batches(config, 4)
    check_batches(resolve("tiny", overrides=["cnn.batch_per_task=6", "gru.batch_per_task=4", "method.gru=false"]), 3)


def test_an_epoch_of_the_gru_stage_draws_each_window_at_most_once(synthetic_data):
    """The authors' GRU loader shuffles without replacement (method-from-code.md §3.8:
    "GRU: no sampler; shuffle=True"): an epoch visits windows, it does not resample them."""
    from test_training import MICRO

    from abawbench.data import affwild2
    from abawbench.predict import validation_lengths
    from abawbench.training.config import resolve
    from abawbench.training.gru import GruStage, build_gru_data

    root = synthetic_data[0] / "affwild2_abaw2"
    config = resolve("tiny", overrides=MICRO + ["gru.steps_per_epoch=0", "gru.batch_per_task=2"])
    index = affwild2.index(root, cache=False)
    features = np.zeros((2, len(index), 2, config["model"]["head_hidden"]), dtype=np.float16)
    data = build_gru_data(index, features, validation_lengths(root, "abaw2"), root, "abaw2", config)
    stage = GruStage("gru-teacher", config, data, _device(), seed=0)
    sizes = stage._dataset.part_sizes
    assert stage.steps_per_epoch == min(sizes.values()) // 2 >= 3
    loader = stage.train_loader()
    for epoch in range(2):
        drawn = {part: [] for part in sizes}
        for batch in loader:
            for window, part in zip(batch["window"].tolist(), batch["window_part"].tolist()):
                drawn[("expr", "va")[part]].append(window)
        for part, windows in drawn.items():
            assert len(windows) == 2 * stage.steps_per_epoch and len(set(windows)) == len(windows), (epoch, part)
