"""compare: entries of every kind, comparability refusals, seed aggregation against NumPy,
the table formats, and the command."""

import csv
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.metrics import accuracy_score, f1_score

from abawbench import compare, scoring, tables
from abawbench.cli import main

from run_folders import make_run, predictions_for, write_predictions

EXAMPLES = Path(__file__).resolve().parent.parent / "submissions"


# ---------------------------------------------------------------- score JSONs


@pytest.fixture(scope="module")
def root(synthetic_data):
    return synthetic_data[0] / "affwild2_abaw2"


def score_json(path: Path, predictions: Path, data: Path, track: str, edition: str = "abaw2") -> Path:
    path.write_text(json.dumps(scoring.score(predictions, data, track, edition, resamples=100)))
    return path


def test_score_json_carries_statistics_that_reproduce_its_metrics(root, tmp_path):
    predictions = write_predictions(tmp_path / "pred", "expr", predictions_for(root, "expr", 0.5, seed=1))
    result = json.loads(json.dumps(scoring.score(predictions, root, "expr", resamples=0)))
    statistics = result["statistics"]
    assert statistics["videos"] == list(result["per_video"])
    values = np.asarray(statistics["values"])
    assert values.shape == tuple(statistics["shape"]) == (result["n_videos"], 7, 7)
    # the counts are the confusion matrices of the files, video by video
    truth = scoring.load_ground_truth(root, "expr")
    for video, counts in zip(statistics["videos"], values):
        gt = truth.values[truth.videos.index(video)][:, 0]
        pred = np.loadtxt(predictions / f"{video}.txt", skiprows=1, dtype=int)
        keep = gt != -1
        expected = np.zeros((7, 7), int)
        np.add.at(expected, (gt[keep], pred[keep]), 1)
        assert (counts == expected).all()
    scored = compare.scored_from_json(result, tmp_path / "x.json", "x")
    assert scored.statistics is not None and not scored.notes


def test_an_entry_without_statistics_says_so_and_gets_no_interval(root, tmp_path):
    pa = write_predictions(tmp_path / "a", "va", predictions_for(root, "va", 0.5, seed=1))
    pb = write_predictions(tmp_path / "b", "va", predictions_for(root, "va", 0.7, seed=2))
    a = score_json(tmp_path / "a.json", pa, root, "va")
    old = json.loads(score_json(tmp_path / "b.json", pb, root, "va").read_text())
    del old["statistics"]
    (tmp_path / "b.json").write_text(json.dumps(old))
    result = compare.compare_entries([a, tmp_path / "b.json"])
    row = result["tracks"]["va"]["rows"][1]
    assert row["statistics"] is False and "no per-video statistics" in " ".join(row["notes"])
    comparison = row["comparison"]
    assert comparison["method"] == "difference only" and comparison["metrics"]["mean"]["ci95"] is None
    assert comparison["metrics"]["mean"]["delta"] == pytest.approx(old["metrics"]["mean"] -
                                                                   json.loads(a.read_text())["metrics"]["mean"])


def test_statistics_that_disagree_with_the_metrics_are_not_used(root, tmp_path):
    pa = write_predictions(tmp_path / "a", "expr", predictions_for(root, "expr", 0.5, seed=1))
    payload = json.loads(score_json(tmp_path / "a.json", pa, root, "expr").read_text())
    payload["metrics"]["f1"] += 0.01
    scored = compare.scored_from_json(payload, tmp_path / "a.json", "a")
    assert scored.statistics is None and "another F1 rule" in scored.notes[0]


# ---------------------------------------------------------- mixed entries, CLI


def test_compare_mixes_run_folders_score_jsons_and_prediction_folders(root, tmp_path):
    run = make_run(tmp_path / "run-s0", root, seed=0, quality=0.55)
    predictions = write_predictions(tmp_path / "sub", "expr", predictions_for(root, "expr", 0.8, seed=5))
    score = score_json(tmp_path / "sub.json", predictions, root, "expr")
    folder = write_predictions(tmp_path / "folder", "expr", predictions_for(root, "expr", 0.3, seed=6))
    result = compare.compare_entries([run, score, folder], data=root)

    expr = result["tracks"]["expr"]
    assert [r["label"] for r in expr["rows"]] == ["run-s0", "sub", "folder"]
    assert [r["kind"] for r in expr["rows"]] == ["run", "score", "predictions"]
    assert expr["rows"][0]["comparison"]["status"] == "reference"
    run_score = json.loads((run / "scores" / "validation-expr.json").read_text())["metrics"]
    for row, path in ((expr["rows"][1], predictions), (expr["rows"][2], folder)):
        # each value is the organisers' metric of the files (scikit-learn), each delta against the run's
        truth = scoring.load_ground_truth(root, "expr")
        gt = np.concatenate(truth.values)[:, 0]
        pred = np.concatenate([np.loadtxt(path / f"{v}.txt", skiprows=1, dtype=int) for v in truth.videos])
        keep = gt != -1
        f1 = f1_score(gt[keep], pred[keep], average="macro")
        criterion = 0.67 * f1 + 0.33 * accuracy_score(gt[keep], pred[keep])
        assert row["metrics"]["criterion"]["mean"] == pytest.approx(criterion, abs=1e-12)
        comparison = row["comparison"]
        assert comparison["status"] == "compared" and comparison["method"].startswith("paired bootstrap")
        assert comparison["metrics"]["criterion"]["delta"] == pytest.approx(criterion - run_score["criterion"])
    # the run also brings its VA score; the others have none
    assert [r["label"] for r in result["tracks"]["va"]["rows"]] == ["run-s0"]


def test_refuses_to_compare_different_frames_editions_tracks_and_truth(synthetic_data, root, tmp_path):
    reference = score_json(tmp_path / "ref.json", write_predictions(
        tmp_path / "p-ref", "expr", predictions_for(root, "expr", 0.6, seed=1)), root, "expr")
    # other frames: the same data without one validation video
    fewer = tmp_path / "fewer"
    shutil.copytree(root / "annotations", fewer / "annotations")
    dropped = sorted((fewer / "annotations/EXPR_Set/Validation_Set").glob("*.txt"))[0]
    dropped.unlink()
    kept = {v: p for v, p in predictions_for(fewer, "expr", 0.6, seed=1).items()}
    other_frames = score_json(tmp_path / "fewer.json", write_predictions(tmp_path / "p-few", "expr", kept), fewer, "expr")
    # other edition: the ABAW6 layout of the same synthetic videos, scored with abaw6 rules
    abaw6 = synthetic_data[0] / "affwild2_abaw6"
    other_edition = score_json(tmp_path / "abaw6.json", write_predictions(
        tmp_path / "p-6", "expr", predictions_for(abaw6, "expr", 0.6, 1, "abaw6"), "abaw6"), abaw6, "expr", "abaw6")
    # other ground truth on the same videos and frame counts: labels changed
    relabelled = tmp_path / "relabelled"
    shutil.copytree(root / "annotations", relabelled / "annotations")
    for path in (relabelled / "annotations/EXPR_Set/Validation_Set").glob("*.txt"):
        lines = path.read_text().splitlines()
        lines[1:] = [line if line == "-1" else str((int(line) + 1) % 7) for line in lines[1:]]
        path.write_text("\n".join(lines) + "\n")
    other_truth = score_json(tmp_path / "relabelled.json", write_predictions(
        tmp_path / "p-rel", "expr", predictions_for(relabelled, "expr", 0.6, seed=1)), relabelled, "expr")
    # other track
    va = score_json(tmp_path / "va.json", write_predictions(
        tmp_path / "p-va", "va", predictions_for(root, "va", 0.6, seed=1)), root, "va")

    result = compare.compare_entries([reference, other_frames, other_edition, other_truth, va])
    rows = {r["label"]: r for r in result["tracks"]["expr"]["rows"]}
    reasons = {label: rows[label]["comparison"] for label in ("fewer", "abaw6", "relabelled")}
    for label, comparison in reasons.items():
        assert comparison["status"] == "not-comparable" and comparison["metrics"] == {}, label
    assert reasons["fewer"]["reason"].startswith("different frames") and dropped.stem in reasons["fewer"]["reason"]
    assert reasons["abaw6"]["reason"].startswith("different editions (abaw6 vs abaw2")
    assert reasons["relabelled"]["reason"].startswith("different ground truth")
    va_row = result["tracks"]["va"]["rows"][0]
    assert va_row["comparison"]["status"] == "no-reference" and "different track" in va_row["comparison"]["reason"]
    ref, va_scored = compare.load_entry(reference, "ref")[0], compare.load_entry(va, "va")[0]
    assert compare.comparability(ref, va_scored) == "different tracks (EXPR vs VA)"
    # the table says so, in every format
    for fmt in ("markdown", "latex"):
        text = tables.render(result, fmt)
        assert reasons["fewer"]["reason"].replace("_", "\\_")[:40] in text
        assert ("≠" if fmt == "markdown" else r"$\neq$") in text
    csv_rows = list(csv.DictReader(io.StringIO(tables.render(result, "csv"))))
    assert {r["entry"]: r["status"] for r in csv_rows if r["track"] == "expr"}["abaw6"] == "not-comparable"


def test_three_seeds_of_one_config_make_one_row_with_mean_std_and_n(root, tmp_path):
    runs = [make_run(tmp_path / f"tiny-s{seed}", root, seed=seed, quality=0.4 + 0.15 * seed) for seed in range(3)]
    other = make_run(tmp_path / "other-s0", root, seed=0, quality=0.9, shared=False)
    result = compare.compare_entries([other, *runs])
    for track, metric_names in (("expr", ("criterion", "f1", "acc")), ("va", ("mean", "valence", "arousal"))):
        rows = result["tracks"][track]["rows"]
        assert [r["n"] for r in rows] == [1, 3]
        group = rows[1]
        assert group["kind"] == "group" and sorted(m["seed"] for m in group["members"]) == [0, 1, 2]
        for name in metric_names:
            values = np.array([json.loads((r / "scores" / f"validation-{track}.json").read_text())["metrics"][name]
                               for r in runs])
            assert group["metrics"][name]["mean"] == pytest.approx(np.mean(values), abs=1e-12)
            assert group["metrics"][name]["std"] == pytest.approx(np.std(values, ddof=1), abs=1e-12)
        # against a single run: the group's one-sample t interval around the difference of means
        comparison = group["comparison"]
        assert comparison["method"].startswith("one-sample t")
        main = rows[0]["main_metric"]
        values = group["metrics"][main]["values"]
        stats = pytest.importorskip("scipy.stats")
        half = stats.t.ppf(0.975, 2) * np.std(values, ddof=1) / np.sqrt(3)
        delta = np.mean(values) - rows[0]["metrics"][main]["mean"]
        assert comparison["metrics"][main]["ci95"] == pytest.approx([delta - half, delta + half], abs=1e-9)
    markdown = tables.render(result, "markdown")
    assert f"{result['tracks']['va']['rows'][1]['metrics']['mean']['mean']:.4f} ± " in markdown
    assert "\\pm" in tables.render(result, "latex")


def test_by_config_keys_groups_runs_that_share_them(root, tmp_path):
    runs = [make_run(tmp_path / f"a{seed}", root, seed=seed, tasks=(1, 2), extra_config={"train": {"lr": lr}},
                     stages=("cnn-teacher",), tracks=("expr",)) for seed, lr in ((0, 1e-4), (1, 3e-4))]
    runs.append(make_run(tmp_path / "b0", root, seed=0, tasks=(1, 2, 3), stages=("cnn-teacher",), tracks=("expr",)))
    assert len(compare.compare_entries(runs)["tracks"]["expr"]["rows"]) == 3  # the groups differ in lr
    rows = compare.compare_entries(runs, by=["method.tasks"])["tracks"]["expr"]["rows"]
    assert [(r["label"], r["n"]) for r in rows] == [("tasks=[1, 2]", 2), ("tasks=[1, 2, 3]", 1)]
    with pytest.raises(compare.CompareError, match="no key 'method.nothing'"):
        compare.compare_entries(runs, by=["method.nothing"])


def test_synthetic_data_is_marked_for_runs_and_for_bare_score_jsons(root, tmp_path):
    predictions = write_predictions(tmp_path / "p", "va", predictions_for(root, "va", 0.6, seed=1))
    synthetic = compare.load_entry(score_json(tmp_path / "s.json", predictions, root, "va"), "s")[0]
    assert synthetic.synthetic is True  # manifest.json of data synth above the ground-truth folder
    real = compare.load_entry(score_json(tmp_path / "r.json", EXAMPLES / "valid/abaw2-va", EXAMPLES / "data/abaw2",
                                         "va"), "r")[0]
    assert real.synthetic is False
    run = make_run(tmp_path / "run", root, synthetic=False, tracks=("va",), stages=("cnn-teacher",))
    assert compare.load_entry(run, "run")[0].synthetic is False  # run.json's word wins


def test_stage_option_reads_that_stages_scores(root, tmp_path):
    run = make_run(tmp_path / "r", root, stage_quality={"cnn-teacher": 0.2, "cnn-student": 0.9})
    teacher = compare.load_entry(run, "r", stage="cnn-teacher")
    final = compare.load_entry(run, "r")
    expected = json.loads((run / "scores" / "cnn-teacher-validation-expr.json").read_text())["metrics"]["criterion"]
    assert [s.metrics["criterion"] for s in teacher if s.track == "expr"] == [expected]
    assert [s.metrics for s in final if s.track == "expr"] != [s.metrics for s in teacher if s.track == "expr"]


def test_a_stage_of_one_run_is_the_reference_its_other_stages_are_compared_with(root, tmp_path):
    """Stages of one run folder share its path: the reference is the stage asked for,
    not whichever stage of that folder comes first."""
    run = make_run(tmp_path / "r", root, stage_quality={"cnn-teacher": 0.2, "cnn-student": 0.9})
    entries = [s for stage in ("cnn-teacher", "cnn-student") for s in compare.load_run(run, stage, stage)]
    student = next(s for s in entries if s.stage == "cnn-student" and s.track == "expr")
    result = compare.compare_scored(entries, student, resamples=50)
    for track in ("expr", "va"):
        rows = {r["label"]: r for r in result["tracks"][track]["rows"]}
        assert result["tracks"][track]["reference"] == "cnn-student"
        assert rows["cnn-student"]["comparison"]["status"] == "reference"
        teacher = rows["cnn-teacher"]["comparison"]
        main = result["tracks"][track]["main_metric"]
        expected = (json.loads((run / "scores" / f"cnn-teacher-validation-{track}.json").read_text())["metrics"][main]
                    - json.loads((run / "scores" / f"cnn-student-validation-{track}.json").read_text())["metrics"][main])
        assert teacher["status"] == "compared" and teacher["metrics"][main]["delta"] == pytest.approx(expected)


@pytest.fixture
def cli(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()
    return lambda *args: runner.invoke(main, [str(a) for a in args])


def test_compare_command_writes_its_json_and_formats(root, tmp_path, cli):
    a = make_run(tmp_path / "a", root, seed=0, tracks=("va",), stages=("cnn-teacher",))
    b = make_run(tmp_path / "b", root, seed=1, quality=0.9, shared=False, tracks=("va",), stages=("cnn-teacher",))
    result = cli("compare", a, b, "--json", tmp_path / "c.json", "--bootstrap", 200)
    assert result.exit_code == 0, result.output
    saved = json.loads((tmp_path / "c.json").read_text())
    assert saved["kind"] == "abawbench-compare" and saved["bootstrap"]["resamples"] == 200
    row = saved["tracks"]["va"]["rows"][1]
    assert f"{row['metrics']['mean']['mean']:.4f}" in result.output
    assert f"{row['comparison']['metrics']['mean']['delta']:+.4f}" in result.output
    out = cli("compare", a, b, "--format", "csv", "--output", tmp_path / "t.csv")
    assert out.exit_code == 0
    parsed = list(csv.DictReader(open(tmp_path / "t.csv")))
    assert float(parsed[1]["mean_delta"]) == pytest.approx(row["comparison"]["metrics"]["mean"]["delta"])
    assert cli("compare", a, b, "--reference", b).exit_code == 0


def test_compare_command_bad_input_exits_2_with_file_and_line(root, tmp_path, cli):
    broken = tmp_path / "broken.json"
    broken.write_text('{"track": "va",\n "metrics": {\n')
    result = cli("compare", broken)
    assert result.exit_code == 2 and f"{broken}:3: expected a score JSON" in result.output
    not_score = tmp_path / "other.json"
    not_score.write_text('{"hello": 1}')
    result = cli("compare", not_score)
    assert result.exit_code == 2 and "expected a score JSON" in result.output and "Traceback" not in result.output
    folder = write_predictions(tmp_path / "p", "va", predictions_for(root, "va", 0.5, seed=0))
    result = cli("compare", folder)
    assert result.exit_code == 2 and "pass --data ROOT" in result.output
    empty_run = tmp_path / "run"
    empty_run.mkdir()
    (empty_run / "run.json").write_text(json.dumps({"kind": "abawbench-run"}))
    result = cli("compare", empty_run)
    assert result.exit_code == 2 and "scores/validation-<track>.json" in result.output
