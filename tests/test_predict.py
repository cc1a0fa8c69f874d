"""Tests for abawbench.predict: filling, writing in each edition's format, scoring in
memory, and ``abawbench predict``."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from abawbench.cli import main
from abawbench.predict import (PredictionError, VideoPredictions, fill_nearest, per_video, score_in_memory,
                               validation_lengths, write_predictions)

TINY = ["data.image_size=32", "runtime.threads=1", "runtime.progress=false", "cnn.eval_batch_size=128"]


pytestmark = pytest.mark.usefixtures("restore_torch_globals")


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args], env={"COLUMNS": "160"})


# ---------------------------------------------------------------------------- filling


def test_fill_takes_the_nearest_predicted_frame_earlier_on_ties():
    values = np.array([[30], [70]])
    filled = fill_nearest(np.array([3, 7]), values, 10)
    # frames 1-5 are nearer 3 (5 is 2 from both: the earlier wins), 6-10 nearer 7
    assert filled[:, 0].tolist() == [30, 30, 30, 30, 30, 70, 70, 70, 70, 70]
    assert fill_nearest(np.array([2]), np.array([[1.5, -0.5]]), 3).tolist() == [[1.5, -0.5]] * 3
    with pytest.raises(ValueError):
        fill_nearest(np.array([], dtype=int), np.zeros((0, 1)), 3)


def test_per_video_fills_gaps_unreadable_frames_and_annotation_lines_past_the_crops():
    frames = pd.DataFrame({"video": ["a"] * 4 + ["b"] * 2, "frame": [1, 2, 4, 5, 2, 1]})
    expr = np.array([1, 2, 3, 4, 5, 6])
    va = np.array([[0.1, 0.1], [0.2, 0.2], [0.3, 0.3], [0.4, 0.4], [0.5, 0.5], [0.6, 0.6]], dtype=np.float32)
    predicted = np.array([True, True, True, False, True, True])  # a's frame 5 could not be read
    result = per_video(frames, expr, va, predicted, {"expr": {"a": 6, "b": 3, "c": 2}, "va": {"a": 6}})
    assert result.tracks["expr"]["a"][:, 0].tolist() == [1, 2, 2, 3, 3, 3]  # 3 ties to 2, 5-6 nearest 4
    assert result.tracks["expr"]["b"][:, 0].tolist() == [6, 5, 5]  # rows arrive out of frame order
    assert result.tracks["expr"]["c"][:, 0].tolist() == [0, 0]  # no crop at all: constant
    assert result.tracks["va"]["a"][:, 0].tolist() == pytest.approx([0.1, 0.2, 0.2, 0.3, 0.3, 0.3])
    assert result.filled == {"expr": 3 + 1 + 2, "va": 3}
    assert any("no readable crop" in note and "c" in note for note in result.notes)


# ------------------------------------------------------------------- writing, scoring


def constant_predictions(root, edition):
    lengths = validation_lengths(root, edition)
    rng = np.random.default_rng(0)
    tracks = {"expr": {v: rng.integers(0, 7, (n, 1)) for v, n in lengths["expr"].items()},
              "va": {v: rng.uniform(-1, 1, (n, 2)).astype(np.float32) for v, n in lengths["va"].items()}}
    return VideoPredictions(tracks, {"expr": 0, "va": 0})


def test_written_per_video_files_score_as_the_in_memory_scores(synthetic_data, tmp_path):
    from abawbench import scoring

    root = synthetic_data[0] / "affwild2_abaw2"
    predictions = constant_predictions(root, "abaw2")
    record = write_predictions(tmp_path / "pred", predictions, "abaw2", root, "validation")
    assert record["format"] == "per-video" and set(record["tracks"]) == {"expr", "va"}
    for track in ("expr", "va"):
        written = scoring.score(tmp_path / "pred" / track, root, track, "abaw2", "validation", resamples=0)
        memory = score_in_memory(root, track, "abaw2", predictions.tracks[track])
        for name, value in written["metrics"].items():
            assert memory[name] == pytest.approx(value, abs=1e-6 if track == "va" else 0)


def test_abaw6_predictions_are_image_location_files(synthetic_data, tmp_path):
    from abawbench import scoring

    root = synthetic_data[0] / "affwild2_abaw6"
    predictions = constant_predictions(root, "abaw6")
    record = write_predictions(tmp_path / "pred", predictions, "abaw6", root, "validation")
    assert record["format"] == "image_location"
    lines = (tmp_path / "pred" / "expr.txt").read_text().splitlines()
    assert lines[0].startswith("image_location,Neutral") and lines[1].endswith(tuple("0123456"))
    result = scoring.score(tmp_path / "pred" / "va.txt", root, "va", "abaw6", "validation", resamples=0)
    assert result["n_videos"] == len(predictions.tracks["va"])


def test_an_existing_folder_is_replaced_only_when_it_holds_predictions(synthetic_data, tmp_path):
    root = synthetic_data[0] / "affwild2_abaw2"
    predictions = constant_predictions(root, "abaw2")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("x")
    with pytest.raises(PredictionError, match="not an abawbench prediction folder"):
        write_predictions(tmp_path / "mine", predictions, "abaw2", root, "validation")
    assert (tmp_path / "mine" / "thesis.tex").exists()
    write_predictions(tmp_path / "pred", predictions, "abaw2", root, "validation")
    write_predictions(tmp_path / "pred", predictions, "abaw2", root, "validation")  # replaced whole
    assert sorted(p.name for p in (tmp_path / "pred").iterdir()) == ["expr", "prediction.json", "va"]


def test_a_prediction_that_fails_validation_is_never_written(synthetic_data, tmp_path):
    from abawbench.formats import FormatError

    root = synthetic_data[0] / "affwild2_abaw2"
    predictions = constant_predictions(root, "abaw2")
    video = next(iter(predictions.tracks["va"]))
    predictions.tracks["va"][video] = predictions.tracks["va"][video][:-1]  # one row short
    with pytest.raises(FormatError):
        write_predictions(tmp_path / "pred", predictions, "abaw2", root, "validation")
    assert not (tmp_path / "pred").exists()


# ------------------------------------------------------------------- from a run folder


@pytest.fixture(scope="module")
def untrained_run(tmp_path_factory, synthetic_data):
    """A run folder whose 'best' student is a freshly initialised tiny model."""
    from abawbench.runs import KIND, RunFolder
    from abawbench.training.cnn import build_model
    from abawbench.training.config import resolve

    config = resolve("tiny", overrides=TINY)
    path = tmp_path_factory.mktemp("predict") / "run"
    run = RunFolder(path)
    path.mkdir()
    run.write({"schema": 1, "kind": KIND, "config": config, "final_stage": "cnn-student", "status": "finished",
               "data": {"edition": "abaw2"}, "stages": {}})
    torch.manual_seed(0)
    model, _ = build_model(config)
    run.save_checkpoint("cnn-student", "best", {"epoch": 0, "model": model.state_dict()})
    return path


def test_predict_writes_every_frame_and_abawbench_score_reads_it(untrained_run, synthetic_data, tmp_path):
    root = synthetic_data[0]
    out = tmp_path / "pred"
    result = cli("predict", untrained_run, "--data", root, "--split", "validation", "--out", out)
    assert result.exit_code == 0, result.output
    marker = json.loads((out / "prediction.json").read_text())
    assert marker["stage"] == "cnn-student" and marker["edition"] == "abaw2"
    lengths = validation_lengths(root / "affwild2_abaw2", "abaw2")
    for track in ("expr", "va"):
        assert sorted(p.stem for p in (out / track).glob("*.txt")) == sorted(lengths[track])
        assert marker["tracks"][track]["filled_frames"] > 0  # the planted missing and corrupt crops
        score = cli("score", out / track, "--data", root / "affwild2_abaw2", "--track", track, "--bootstrap", 0)
        assert score.exit_code == 0, score.output


def test_predict_the_test_split_follows_the_organisers_template(untrained_run, synthetic_data, tmp_path):
    root = tmp_path / "abaw6"
    shutil.copytree(synthetic_data[0] / "affwild2_abaw6", root, ignore=shutil.ignore_patterns(".abawbench*"))
    manifest = synthetic_data[1]["affwild2_abaw6"]
    test_video = manifest["unannotated_videos"][0]
    crops = sorted((root / "cropped_aligned" / test_video).glob("*.jpg"))
    rows = [f"{test_video}/{k:05d}.jpg," for k in range(1, len(crops) + 4)]  # 3 frames past the last crop
    folder = root / "prediction_files_format"
    folder.mkdir()
    header = {"EXPR": "Neutral,Anger,Disgust,Fear,Happiness,Sadness,Surprise,Other", "VA": "valence,arousal"}
    for track, columns in header.items():
        (folder / f"CVPR_6th_ABAW_{track}_test_set_sample.txt").write_text(
            "\n".join([f"image_location,{columns}"] + rows) + "\n")
    out = tmp_path / "test-pred"
    result = cli("predict", untrained_run, "--data", root, "--split", "test", "--out", out, "--edition", "abaw6")
    assert result.exit_code == 0, result.output
    for track in ("expr", "va"):
        lines = (out / f"{track}.txt").read_text().splitlines()
        assert [line.split(",")[0] for line in lines[1:]] == [r.rstrip(",") for r in rows]
    validated = cli("validate", out / "va.txt", "--track", "va", "--edition", "abaw6", "--data", root, "--split",
                    "test")
    assert validated.exit_code == 0, validated.output


def test_predict_errors_exit_2(untrained_run, synthetic_data, tmp_path):
    result = cli("predict", untrained_run, "--data", synthetic_data[0], "--split", "validation", "--out",
                 tmp_path / "p", "--stage", "cnn-teacher")
    assert result.exit_code == 2 and "no best checkpoint" in result.output
    result = cli("predict", untrained_run, "--data", synthetic_data[0] / "affwild2_abaw2", "--split", "test",
                 "--out", tmp_path / "p")
    assert result.exit_code == 2 and "test template" in result.output
    assert not (tmp_path / "p").exists()
