"""Tests for abawbench.runs: the run folder contract."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from abawbench.runs import KIND, RunError, RunFolder, config_group, prepare


def write_run(path, status="finished", **extra):
    path.mkdir(parents=True, exist_ok=True)
    record = {"schema": 1, "kind": KIND, "status": status, "stages": {}, **extra}
    (path / "run.json").write_text(json.dumps(record))
    return record


def test_group_is_sha1_of_the_config_without_seeds():
    config = {"seed": 3, "cnn": {"lr": 0.001, "seed": 9}, "model": {"backbone": "resnet50"}}
    stripped = {"cnn": {"lr": 0.001}, "model": {"backbone": "resnet50"}}
    expected = hashlib.sha1(json.dumps(stripped, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:12]
    assert config_group(config) == expected
    assert config_group({**config, "seed": 4}) == expected
    assert config_group({**config, "cnn": {"lr": 0.01, "seed": 9}}) != expected


def test_a_new_or_empty_folder_starts_a_run(tmp_path):
    assert prepare(tmp_path / "absent", resume=False, force=False) == "new"
    (tmp_path / "empty").mkdir()
    assert prepare(tmp_path / "empty", resume=False, force=False) == "new"
    with pytest.raises(RunError, match="nothing to resume"):
        prepare(tmp_path / "absent", resume=True, force=False)


def test_a_finished_run_is_never_overwritten_without_resume_or_force(tmp_path):
    run = tmp_path / "run"
    write_run(run, "finished")
    (run / "metrics.jsonl").write_text("{}\n")
    assert prepare(run, resume=False, force=False) == "done"  # the caller checks the stages, writes nothing
    assert (run / "metrics.jsonl").read_text() == "{}\n"
    assert prepare(run, resume=True, force=False) == "done"
    with pytest.raises(RunError, match="contradict"):
        prepare(run, resume=True, force=True)


def test_an_unfinished_run_needs_resume_or_force(tmp_path):
    run = tmp_path / "run"
    write_run(run, "running")
    with pytest.raises(RunError, match="unfinished run"):
        prepare(run, resume=False, force=False)
    assert prepare(run, resume=True, force=False) == "resume"


def test_force_deletes_only_what_a_run_writes(tmp_path):
    run = tmp_path / "run"
    write_run(run, "finished")
    (run / "checkpoints").mkdir()
    (run / "checkpoints" / "cnn-teacher-best.pt").write_bytes(b"x")
    for folder in ("features", ".features.tmp", ".features.old", "stage-predictions/gru-student/validation"):
        (run / folder).mkdir(parents=True)
        (run / folder / "meta.json").write_text("{}")
    (run / "notes.txt").write_text("mine")
    assert prepare(run, resume=False, force=True) == "new"
    assert sorted(p.name for p in run.iterdir()) == ["notes.txt"]


def test_a_folder_that_is_not_a_run_is_refused(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "important.txt").write_text("x")
    with pytest.raises(RunError, match="not a run folder"):
        prepare(tmp_path / "data", resume=False, force=True)
    (tmp_path / "file").write_text("x")
    with pytest.raises(RunError, match="not a folder"):
        prepare(tmp_path / "file", resume=False, force=False)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "run.json").write_text("{not json")
    with pytest.raises(RunError, match="unreadable"):
        prepare(bad, resume=True, force=False)


def test_metrics_lines_append_and_truncate_per_stage(tmp_path):
    run = RunFolder(tmp_path)
    for stage, epoch in (("cnn-teacher", 0), ("cnn-teacher", 1), ("cnn-student", 0), ("cnn-student", 1)):
        run.append_metrics({"stage": stage, "epoch": epoch})
    run.truncate_metrics("cnn-student", 1)
    assert [(m["stage"], m["epoch"]) for m in run.metrics()] == [("cnn-teacher", 0), ("cnn-teacher", 1),
                                                                ("cnn-student", 0)]
    assert len(run.metrics("cnn-teacher")) == 2
    reader = RunFolder(tmp_path, writer=False)
    reader.append_metrics({"stage": "x", "epoch": 0})  # a non-writer rank writes nothing
    assert len(run.metrics()) == 3


def test_checkpoints_are_saved_whole_and_read_back(tmp_path):
    import torch

    run = RunFolder(tmp_path)
    run.save_checkpoint("cnn-teacher", "last", {"step": 3, "w": torch.arange(4)})
    loaded = run.load_checkpoint("cnn-teacher", "last")
    assert loaded["step"] == 3 and torch.equal(loaded["w"], torch.arange(4))
    assert [p.name for p in (tmp_path / "checkpoints").iterdir()] == ["cnn-teacher-last.pt"]  # no temporary left
    assert run.load_checkpoint("cnn-student", "best") is None
    (tmp_path / "checkpoints" / "cnn-teacher-best.pt").write_bytes(b"garbage")
    with pytest.raises(RunError, match="unreadable checkpoint"):
        run.load_checkpoint("cnn-teacher", "best")


def test_a_second_writer_is_locked_out(tmp_path):
    import os
    import subprocess
    import sys

    probe = ("import sys; from abawbench.runs import RunFolder, RunError\n"
             "try:\n    RunFolder(sys.argv[1]).lock().__enter__()\nexcept RunError as e:\n    print(e)")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    run = RunFolder(tmp_path)
    with run.lock():
        with pytest.raises(RunError, match="already writing"):
            with RunFolder(tmp_path).lock():
                pass
        other = subprocess.run([sys.executable, "-c", probe, str(tmp_path)], capture_output=True, text=True, env=env)
        assert "another abawbench process is writing" in other.stdout, other.stderr
    assert not (tmp_path / ".lock").exists()
    other = subprocess.run([sys.executable, "-c", probe, str(tmp_path)], capture_output=True, text=True, env=env)
    assert other.stdout == "" and other.returncode == 0  # released


def test_run_json_update_is_read_modify_write(tmp_path):
    write_run(tmp_path, "running", stages={"cnn-teacher": {"status": "pending"}})
    run = RunFolder(tmp_path)
    run.set_stage("cnn-teacher", status="finished", epochs=3)
    assert run.read()["stages"]["cnn-teacher"] == {"status": "finished", "epochs": 3}
    (tmp_path / "run.json").write_text(json.dumps({"kind": "something-else"}))
    with pytest.raises(RunError, match="not an abawbench run"):
        run.read()
