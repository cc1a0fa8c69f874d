"""Tests for abawbench.training: config, the CNN stages, the loop (resume, DDP) and the
``train paper-baseline`` run folder."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from abawbench.cli import main
from abawbench.runs import STAGES, RunFolder, config_group
from abawbench.training.config import ConfigError, defaults, differences, parse_override, resolve

REPO = Path(__file__).resolve().parent.parent
#: A run small enough for the fast suite: the tiny preset at 32 px, 4 samples per part,
#: 3 steps per epoch, 2 epochs, one thread (the CI machine's cores are shared).
MICRO = ["data.image_size=32", "cnn.batch_per_task=4", "cnn.steps_per_epoch=3", "cnn.max_epochs=2",
         "cnn.patience=2", "runtime.threads=1", "runtime.progress=false", "runtime.checkpoint_every=2",
         "runtime.log_every=2", "cnn.eval_batch_size=128",
         # the GRU stages: windows of 8 frames, 3 steps of 4 windows per part, 2 epochs
         "gru.length=8", "gru.train_stride=4", "gru.eval_stride=8", "gru.batch_per_task=4", "gru.steps_per_epoch=3",
         "gru.max_epochs=2", "gru.patience=2", "gru.hidden=8", "gru.augmented_views=1", "gru.feature_batch_size=128"]
ALL_STAGES = ("cnn-teacher", "cnn-student", "features", "gru-teacher", "gru-student")
TRAINED = ("cnn-teacher", "cnn-student", "gru-teacher", "gru-student")


pytestmark = pytest.mark.usefixtures("restore_torch_globals")


def cli(*args, env=None):
    return CliRunner().invoke(main, [str(a) for a in args], env={"COLUMNS": "160", **(env or {})})


# ----------------------------------------------------------------------------- config


def test_paper_preset_lists_every_default():
    assert differences(resolve("paper"), defaults()) == ["description"]


def test_paper_code_preset_sets_each_switch_of_the_authors_code():
    changed = set(differences(resolve("paper-code"), resolve("paper"))) - {"description"}
    assert changed == {
        # the data layer's five defaults and the AffectNet CSVs (issue item 9)
        "data.thin", "data.va_histogram_range", "model.normalization", "data.sequence_augmentation",
        "data.drop_gapped", "data.affectnet_splits",
        # the losses' code quirks (method.md) and the code's patience
        "model.va_bin_values", "loss.ccc_moments", "loss.va_bin_targets", "loss.teacher_reduction",
        "loss.student_reduction", "loss.subset_weighting", "cnn.patience",
        # the GRU stage: features recomputed online from augmented image windows, patience 6
        "gru.features", "gru.augmented_views", "gru.patience"}
    code = resolve("paper-code")
    assert code["data"]["thin"] is True and code["data"]["va_histogram_range"] == "data"
    assert code["model"]["normalization"] == "ferplus" and code["data"]["drop_gapped"] is True
    assert code["data"]["affectnet_splits"] == ["training", "validation"]
    assert code["cnn"]["patience"] == 6 and code["gru"]["patience"] == 6
    assert code["gru"]["features"] == "online" and code["gru"]["augmented_views"] == 0


@pytest.mark.parametrize("override, message", [
    ("cnn.learning_rate=1e-3", "unknown config key 'cnn.learning_rate'"),
    ("modle.backbone=resnet18", "unknown config key 'modle'; did you mean 'model'"),
    ("cnn.lr=fast", "cnn.lr: expected float, found str 'fast'"),
    ("cnn.batch_per_task=1", "must be >= 2"),
    ("loss.ccc_moments=sample", "expected one of 'population', 'unbiased'"),
    ("method.tasks=[1, 4]", "method.tasks"),
    ("cnn=3", "is a table"),
    ("runtime.device=tpu", "runtime.device"),
    ("method.shared_annotations=1", "expected bool"),
])
def test_bad_config_keys_and_values_are_errors_naming_the_key(override, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("(", r"\(")):
        resolve("tiny", overrides=[override])


def test_config_file_keys_are_checked_with_the_file_named(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text("[cnn]\nlr = 1e-3\npatiance = 3\n")
    with pytest.raises(ConfigError, match=r"mine\.toml: unknown config key 'cnn\.patiance'; did you mean 'patience'"):
        resolve("paper", path)
    path.write_text("[cnn\nlr = 1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        resolve("paper", path)


def test_overrides_are_toml_values_or_bare_strings():
    assert parse_override("cnn.lr=1e-3") == (["cnn", "lr"], 1e-3)
    assert parse_override("model.backbone=resnet18") == (["model", "backbone"], "resnet18")
    assert parse_override("method.tasks=[1,2]") == (["method", "tasks"], [1, 2])
    assert parse_override("data.thin=true") == (["data", "thin"], True)
    config = resolve("tiny", overrides=["cnn.lr=1", "seed=7"])
    assert config["cnn"]["lr"] == 1.0 and isinstance(config["cnn"]["lr"], float) and config["seed"] == 7


def test_unknown_key_on_the_command_line_exits_2_naming_it(synthetic_data, tmp_path):
    result = cli("train", "paper-baseline", "--data", synthetic_data[0], "--out", tmp_path / "run",
                 "--preset", "tiny", "--set", "cnn.epochs=3")
    assert result.exit_code == 2, result.output
    assert "unknown config key 'cnn.epochs'" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "run").exists()


# ------------------------------------------------------------------- the micro run


def test_run_folder_follows_the_contract(micro_run, synthetic_data):
    out, _ = micro_run
    record = json.loads((out / "run.json").read_text())
    for key in ("schema", "kind", "method", "preset", "config", "seed", "group", "data", "command", "versions", "git",
                "device", "started", "finished", "status", "stages", "final_stage"):
        assert key in record, key
    assert record["kind"] == "abawbench-run" and record["method"] == "paper-baseline" and record["preset"] == "tiny"
    assert record["status"] == "finished" and record["final_stage"] == "gru-student" and record["seed"] == 3
    assert list(record["stages"]) == list(ALL_STAGES)
    assert record["group"] == config_group(record["config"])
    assert record["config"]["cnn"]["steps_per_epoch"] == 3 and record["config"]["derived"]["steps_per_epoch"] == 3
    assert record["data"]["synthetic"] is True and record["data"]["edition"] == "abaw2"
    assert record["data"]["affwild2"] == str((synthetic_data[0] / "affwild2_abaw2").resolve())
    assert set(record["versions"]) >= {"abawbench", "python", "torch", "timm", "numpy"}
    assert record["device"]["type"] == "cpu" and record["device"]["world_size"] == 1
    assert record["stages"]["features"]["status"] == "finished" and record["stages"]["features"]["views"] == 2
    for stage in TRAINED:
        entry = record["stages"][stage]
        assert entry["status"] == "finished" and entry["epochs"] == 2
        assert set(entry["validation"]) == {"expr_criterion", "expr_f1", "expr_acc", "valence", "arousal", "va_mean",
                                            "score"}
        for kind in ("best", "last"):
            assert (out / "checkpoints" / f"{stage}-{kind}.pt").is_file()
        for track in ("expr", "va"):
            assert (out / "scores" / f"{stage}-validation-{track}.json").is_file()
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [(m["stage"], m["epoch"]) for m in lines] == [(stage, epoch) for stage in TRAINED for epoch in (0, 1)]
    for line in lines:
        assert {"stage", "epoch", "step", "time", "seconds", "images_per_s", "lr", "train", "validation",
                "best"} <= set(line)
        assert "loss" in line["train"] and "score" in line["validation"]


def test_predictions_cover_every_frame_of_every_validation_video(micro_run, synthetic_data):
    from abawbench.scoring import load_ground_truth

    out, _ = micro_run
    root = synthetic_data[0] / "affwild2_abaw2"
    for track in ("expr", "va"):
        truth = load_ground_truth(root, track, "validation", "abaw2")
        folder = out / "predictions" / "validation" / track
        assert sorted(p.stem for p in folder.glob("*.txt")) == sorted(truth.videos)
        for video, n in zip(truth.videos, truth.lengths):
            lines = (folder / f"{video}.txt").read_text().splitlines()
            assert len(lines) == n + 1  # header + one row per annotation line


def test_scores_are_what_abawbench_score_writes_and_match_validation_in_training(micro_run, synthetic_data, tmp_path):
    out, record = micro_run
    root = synthetic_data[0] / "affwild2_abaw2"
    for stage in TRAINED:
        best = next(m for m in RunFolder(out).metrics(stage) if m["epoch"] == record["stages"][stage]["best_epoch"])
        for track in ("expr", "va"):
            stored = json.loads((out / "scores" / f"{stage}-validation-{track}.json").read_text())
            folder = out / "stage-predictions" / stage / "validation" / track
            result = cli("score", folder, "--data", root, "--track", track, "--json", tmp_path / "s.json")
            assert result.exit_code == 0, result.output
            assert json.loads((tmp_path / "s.json").read_text()) == stored
            if track == "expr":
                assert best["validation"]["expr_criterion"] == stored["metrics"]["criterion"]
                assert best["validation"]["expr_f1"] == stored["metrics"]["f1"]
            else:  # written with 6 significant digits
                assert best["validation"]["valence"] == pytest.approx(stored["metrics"]["valence"], abs=1e-6)
                assert best["validation"]["arousal"] == pytest.approx(stored["metrics"]["arousal"], abs=1e-6)
    final = json.loads((out / "scores" / "validation-expr.json").read_text())
    student = json.loads((out / "scores" / "gru-student-validation-expr.json").read_text())
    assert final["metrics"] == student["metrics"]


def test_a_finished_run_is_not_overwritten_and_a_rerun_does_nothing(micro_run, synthetic_data):
    out, _ = micro_run
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    text = (out / "run.json").read_text()
    for flags in ([], ["--resume"]):
        result = cli("train", "paper-baseline", "--data", synthetic_data[0], "--out", out, *flags)
        assert result.exit_code == 0, result.output
        assert "nothing to do" in result.output
    result = cli("train", "paper-baseline", "--data", synthetic_data[0], "--out", out, "--preset", "tiny",
                 "--set", "cnn.lr=1")
    assert result.exit_code == 2 and "cnn.lr" in result.output
    assert (out / "run.json").read_text() == text
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == before


def test_resume_takes_runtime_settings_and_checks_other_options_against_the_runs_own(micro_run, synthetic_data,
                                                                                      tmp_path):
    """The micro run was started with --set overrides of cnn.* and gru.*: resuming it with
    a runtime setting (another machine) must apply that setting, not refuse because the
    new options lack the run's own overrides; a real change is still refused."""
    import shutil

    out = tmp_path / "run"
    shutil.copytree(micro_run[0], out)
    shutil.rmtree(out / "predictions")  # something to do that trains nothing
    result = cli("train", "paper-baseline", "--data", synthetic_data[0], "--out", out, "--resume",
                 "--set", "runtime.threads=2")
    assert result.exit_code == 0, result.output
    record = json.loads((out / "run.json").read_text())
    assert record["resumed"][-1]["device"]["threads"] == 2 and record["status"] == "finished"
    assert record["config"] == json.loads((micro_run[0] / "run.json").read_text())["config"]  # the run's own
    result = cli("train", "paper-baseline", "--data", synthetic_data[0], "--out", out, "--resume",
                 "--set", "gru.hidden=9")
    assert result.exit_code == 2 and "change gru.hidden" in result.output
    result = cli("train", "paper-baseline", "--data", synthetic_data[0], "--out", out, "--resume",
                 "--set", "gru.hidden=8")  # what the run already has
    assert result.exit_code == 0 and "nothing to do" in result.output


def test_the_student_step_gives_the_teacher_no_gradient(synthetic_data):
    from abawbench.training import data as data_module
    from abawbench.training.cnn import CnnStage, TrainingData, build_model, concat_table
    from abawbench.training.device import resolve_runtime, setup

    config = resolve("tiny", overrides=MICRO)
    config["runtime"] = resolve_runtime(config["runtime"])
    device = setup(config["runtime"])
    sources = data_module.resolve_sources(synthetic_data[0], config)
    index = data_module.affwild2_index(sources)
    parts = data_module.training_parts(index, data_module.external_tables(sources, config), config)
    data = TrainingData(parts, concat_table(parts), 1, index.iloc[:0], {}, sources.affwild2, "abaw2")
    teacher, _ = build_model(config)
    teacher.train()  # the stage must put it in eval mode itself
    stage = CnnStage("cnn-student", config, data, device, 0, inference=None, teacher=teacher)
    assert not teacher.training and not any(p.requires_grad for p in teacher.parameters())
    running_mean = teacher.heads["expr"].embed[0].running_mean.clone()
    batch = next(iter(stage.train_loader()))
    result = stage.train_step(stage.forward_module(), batch)
    result.loss.backward()
    assert all(p.grad is None for p in teacher.parameters())
    assert torch.equal(teacher.heads["expr"].embed[0].running_mean, running_mean)  # no BN update either
    assert all(p.grad is not None for p in stage.model.parameters())
    assert result.images + batch["dropped"] == 4 * len(parts)  # a planted corrupt crop may be dropped


# ----------------------------------------------------------------------- the batches


def test_a_batch_is_split_by_each_items_part_not_by_position():
    from abawbench.training.cnn import CnnStage

    stage = CnnStage.__new__(CnnStage)
    stage.codes = {"expr": 0, "va": 1, "expr_va": 2}
    stage.data = type("D", (), {"parts": {"expr": None, "va": None, "expr_va": None}})()
    # an unreadable item was dropped and the rest arrived out of part order
    batch = {"part": torch.tensor([0, 0, 1, 0, 2, 2, 1]), "row": torch.tensor([10, 11, 20, 12, 30, 31, 21]),
             "dropped": 1}
    ordered, sizes = stage._split(batch)
    assert sizes == [3, 2, 2]
    assert ordered["row"].tolist() == [10, 11, 12, 20, 21, 30, 31]
    assert ordered["part"].tolist() == [0, 0, 0, 1, 1, 2, 2]


def test_per_part_forward_normalises_each_part_with_its_own_batch_statistics():
    from abawbench.training.cnn import PartwiseForward

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    wrap = lambda m: (lambda x: {"out": m(x)})  # noqa: E731
    x = torch.randn(7, 3) + torch.tensor([[5.0], [5.0], [5.0], [0.0], [0.0], [0.0], [0.0]])

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = model

        def forward(self, x):
            return wrap(self.inner)(x)

    net = Net().train()
    per_part = PartwiseForward(net, per_part=True)(x, [3, 4])["out"]
    expected = torch.cat([model(x[:3]), model(x[3:])])
    assert torch.allclose(per_part, expected)
    joint = PartwiseForward(net, per_part=False)(x, [3, 4])["out"]
    assert not torch.allclose(joint, expected)
    # a part with a single sample cannot be normalised alone: that step runs jointly
    single = PartwiseForward(net, per_part=True)(x, [1, 6])["out"]
    assert torch.allclose(single, model(x))


def test_each_rank_takes_its_share_of_every_parts_draws():
    from abawbench.data.mixing import MultiPartBatchSampler
    from abawbench.training.cnn import RankShare

    sampler = MultiPartBatchSampler({"expr": 50, "va": 40, "expr_va": 30}, per_part=4, steps=3, seed=1)
    full = list(sampler)
    shares = [list(RankShare(sampler, rank, 2)) for rank in range(2)]
    for step, batch in enumerate(full):
        parts = np.asarray(batch).reshape(3, 4)
        joined = np.concatenate([np.asarray(shares[r][step]).reshape(3, 2) for r in range(2)], axis=1)
        assert (joined == parts).all()
    with pytest.raises(ValueError, match="not divisible"):
        RankShare(MultiPartBatchSampler({"a": 9}, per_part=3, steps=1), 0, 2)


# --------------------------------------------------------------------------- resume


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=False)["model"]


def _comparable(lines):
    # wall-clock fields differ between runs; everything else must be identical
    return [{k: v for k, v in line.items() if k not in ("time", "seconds", "train_seconds", "validation_seconds",
                                                        "images_per_s", "resumed")} for line in lines]


def test_a_run_interrupted_mid_epoch_resumes_to_the_same_weights_and_metrics(synthetic_data, tmp_path, monkeypatch):
    """In-process: the run stops right after a mid-epoch checkpoint, every global RNG is
    then scrambled, and ``--resume`` must still end exactly where the uninterrupted run does."""
    from abawbench.training import loop
    from abawbench.training.paper_baseline import train_paper_baseline

    overrides = MICRO + ["seed=5", "runtime.checkpoint_every=1"]
    reference = tmp_path / "reference"
    train_paper_baseline(synthetic_data[0], reference, "tiny", None, overrides, stage="cnn-teacher")

    original = loop.Trainer._save_last
    calls = {"n": 0}

    class Killed(BaseException):
        pass

    def save_then_die(self, stage, optimizer, state):
        original(self, stage, optimizer, state)
        calls["n"] += 1
        if state.epoch == 1 and state.step == 2:  # mid-epoch of the second epoch
            raise Killed()

    monkeypatch.setattr(loop.Trainer, "_save_last", save_then_die)
    resumed = tmp_path / "resumed"
    with pytest.raises(Killed):
        train_paper_baseline(synthetic_data[0], resumed, "tiny", None, overrides, stage="cnn-teacher")
    monkeypatch.setattr(loop.Trainer, "_save_last", original)
    assert json.loads((resumed / "run.json").read_text())["status"] == "failed"
    torch.manual_seed(12345)
    np.random.seed(999)
    train_paper_baseline(synthetic_data[0], resumed, None, None, [], stage="cnn-teacher", resume=True)

    for kind in ("best", "last"):
        a, b = _weights(reference / f"checkpoints/cnn-teacher-{kind}.pt"), _weights(
            resumed / f"checkpoints/cnn-teacher-{kind}.pt")
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), kind
    assert _comparable(RunFolder(reference).metrics()) == _comparable(RunFolder(resumed).metrics())
    assert json.loads((resumed / "run.json").read_text())["status"] == "finished"


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if text in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


@pytest.mark.slow
def test_a_sigkilled_run_resumes_to_the_same_weights_and_metrics(synthetic_data, tmp_path):
    """A real process killed with SIGKILL mid-epoch, then ``--resume``."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    overrides = [a for o in MICRO + ["seed=11", "runtime.checkpoint_every=1", "cnn.steps_per_epoch=6",
                                     "cnn.max_epochs=2"] for a in ("--set", o)]
    command = [sys.executable, "-m", "abawbench.cli", "train", "paper-baseline", "--data", str(synthetic_data[0]),
               "--preset", "tiny", "--stage", "cnn-teacher", *overrides]
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    subprocess.run(command + ["--out", str(reference)], env=env, check=True, capture_output=True, timeout=600)
    process = subprocess.Popen(command + ["--out", str(killed)], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    last = killed / "checkpoints" / "cnn-teacher-last.pt"
    deadline = time.time() + 600
    while time.time() < deadline and process.poll() is None:
        if last.is_file():
            try:
                step = torch.load(last, map_location="cpu", weights_only=False)
            except Exception:  # noqa: BLE001 - being replaced this instant
                continue
            if step["epoch"] == 1 and 0 < step["step"]:
                process.send_signal(signal.SIGKILL)
                break
        time.sleep(0.05)
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL, "the run ended before it could be killed mid-epoch"
    # its data-loader workers die with it (none left holding memory and files)
    for _ in range(100):
        if not _processes_mentioning(str(killed)):
            break
        time.sleep(0.1)
    assert not _processes_mentioning(str(killed))
    assert json.loads((killed / "run.json").read_text())["status"] == "running"
    subprocess.run([sys.executable, "-m", "abawbench.cli", "train", "paper-baseline", "--data", str(synthetic_data[0]),
                    "--out", str(killed), "--resume", "--stage", "cnn-teacher"], env=env, check=True,
                   capture_output=True, timeout=600)
    for kind in ("best", "last"):
        a, b = _weights(reference / f"checkpoints/cnn-teacher-{kind}.pt"), _weights(
            killed / f"checkpoints/cnn-teacher-{kind}.pt")
        assert all(torch.equal(a[k], b[k]) for k in a), kind
    assert _comparable(RunFolder(reference).metrics()) == _comparable(RunFolder(killed).metrics())


# ------------------------------------------------------------------------------ DDP


@pytest.mark.slow
def test_two_process_torchrun_with_gloo_writes_one_run_folder(synthetic_data, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    out = tmp_path / "ddp"
    overrides = [a for o in MICRO + ["seed=2", "cnn.max_epochs=1", "gru.max_epochs=1"] for a in ("--set", o)]
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                             "-m", "abawbench.cli", "train", "paper-baseline", "--data", str(synthetic_data[0]),
                             "--out", str(out), "--preset", "tiny", *overrides], env=env, capture_output=True,
                            text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    record = json.loads((out / "run.json").read_text())
    assert record["status"] == "finished" and record["device"]["world_size"] == 2
    assert record["device"]["backend"] == "gloo"
    assert record["config"]["derived"]["batch_per_task_per_rank"] == 2
    lines = RunFolder(out).metrics()
    assert [(m["stage"], m["epoch"]) for m in lines] == [(stage, 0) for stage in TRAINED]  # one writer
    assert sorted(p.name for p in out.iterdir()) == ["checkpoints", "features", "metrics.jsonl", "predictions",
                                                     "run.json", "scores", "stage-predictions"]
    assert not list(out.rglob("*.tmp"))


def test_stage_names_follow_the_contract():
    assert STAGES == ("cnn-teacher", "cnn-student", "features", "gru-teacher", "gru-student")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_every_stage_runs_on_cuda_with_bf16_and_channels_last(synthetic_data, tmp_path):
    from abawbench.training.paper_baseline import train_paper_baseline

    record = train_paper_baseline(synthetic_data[0], tmp_path / "run", "tiny", None,
                                  MICRO + ["runtime.device=cuda", "runtime.amp=bf16", "runtime.channels_last=on",
                                           "runtime.workers=2"])
    assert record["status"] == "finished"
    assert record["device"]["type"] == "cuda" and record["device"]["amp"] == "bf16"
    assert record["device"]["channels_last"] is True
    for stage in TRAINED:
        assert np.isfinite(record["stages"][stage]["validation"]["score"])


def test_the_paper_code_preset_trains_with_every_code_switch_recorded(synthetic_data, tmp_path):
    """The authors' code path end to end (FER+ inputs, thinning, data-range VA histogram,
    both AffectNet CSVs, their loss quirks), on the tiny model."""
    from abawbench.training.paper_baseline import train_paper_baseline

    tiny = resolve("tiny")["model"]
    model = [f"model.backbone={tiny['backbone']}", "model.backbone_args={channels=[16,32,64,128], stem_width=8}",
             "model.head_hidden=64", "runtime.workers=0", "cnn.max_epochs=1", "gru.max_epochs=1"]
    record = train_paper_baseline(synthetic_data[0], tmp_path / "code", "paper-code", None, MICRO + model)
    assert record["status"] == "finished" and record["preset"] == "paper-code"
    config = record["config"]
    assert config["model"]["normalization"] == "ferplus" and config["data"]["thin"] is True
    assert config["derived"]["input_normalization"]["mean"] == pytest.approx([131.0912, 103.8827, 91.4953])
    assert config["derived"]["input_normalization"]["scale"] == 1.0
    both = resolve("tiny")  # one AffectNet CSV feeds EXPR_VA there, both here
    assert config["data"]["affectnet_splits"] == ["training", "validation"] != both["data"]["affectnet_splits"]
    synth = synthetic_data[1]["affectnet"]["splits"]
    kept = sum(synth[s]["kept"] - synth[s]["invalid_va_kept"] - len(synth[s]["corrupt_images"]) for s in synth)
    assert config["derived"]["part_rows"]["expr_va"] == kept
    assert config["gru"]["features"] == "online" and record["stages"]["features"]["views"] == 1
    for stage in TRAINED:
        assert np.isfinite(record["stages"][stage]["validation"]["score"])
