"""The F1 averaging rule (--f1-average all|present) against scikit-learn, on splits that
miss classes: pooled, per video, in bootstrap resamples, in the JSON and under the table."""

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.metrics import accuracy_score, f1_score

from abawbench import compare, formats, metrics, scoring
from abawbench.cli import main
from abawbench.tracks import check_f1_average, f1_rule, track_spec

ALL_8 = list(range(8))


def sklearn_f1(truth, prediction, labels=None):
    """scikit-learn's macro F1, with ``labels`` (the papers' 'all') or without (its default)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if labels is None:
            return f1_score(truth, prediction, average="macro")
        return f1_score(truth, prediction, average="macro", labels=labels, zero_division=0)


def write_expr_split(root: Path, edition: str = "abaw6", seed: int = 0):
    """An EXPR validation split of 6 videos in which classes 5 and 7 never occur (truth or
    prediction), and each video misses others as well; predictions right 60% of the time."""
    rng = np.random.default_rng(seed)
    spec = track_spec(edition, "expr")
    pool = [0, 1, 2, 3, 4, 6]
    truths, predictions = {}, {}
    for i in range(6):
        n = int(rng.integers(30, 80))
        classes = rng.choice(pool, size=3, replace=False)  # each video: three classes only
        truth = rng.choice(classes, size=(n, 1))
        prediction = np.where(rng.random((n, 1)) < 0.6, truth, rng.choice(classes, size=(n, 1)))
        truth[:3] = -1
        truths[f"video{i}"] = truth
        predictions[f"video{i}"] = prediction
    formats.write_per_video(root / "data" / "annotations" / "EXPR_Set" / "Validation_Set", spec, truths)
    formats.write_per_video(root / "pred", spec, predictions)
    return truths, predictions


def valid(truths, predictions, videos=None):
    videos = videos or list(truths)
    keep = [truths[v][:, 0] != -1 for v in videos]
    truth = np.concatenate([truths[v][k, 0] for v, k in zip(videos, keep)])
    prediction = np.concatenate([predictions[v][k, 0] for v, k in zip(videos, keep)])
    return truth, prediction


# ------------------------------------------------------------------- EXPR


@pytest.fixture
def expr_split(tmp_path):
    truths, predictions = write_expr_split(tmp_path)
    truth, prediction = valid(truths, predictions)
    assert not np.isin([5, 7], np.concatenate([truth, prediction])).any()  # the split misses two classes
    return tmp_path, truths, predictions


@pytest.mark.parametrize("average, labels", [("all", ALL_8), ("present", None)])
def test_expr_pooled_and_per_video_equal_sklearn_with_and_without_labels(expr_split, average, labels):
    root, truths, predictions = expr_split
    result = scoring.score(root / "pred", root / "data", "expr", "abaw6", resamples=0, f1_average=average)
    truth, prediction = valid(truths, predictions)
    assert result["metrics"]["f1"] == pytest.approx(sklearn_f1(truth, prediction, labels), abs=1e-12)
    for video, entry in result["per_video"].items():
        video_truth, video_prediction = valid(truths, predictions, [video])
        assert entry["f1"] == pytest.approx(sklearn_f1(video_truth, video_prediction, labels), abs=1e-12)
    assert result["f1_average"] == average


def test_the_two_rules_differ_on_this_split_and_all_is_the_papers_formula(expr_split):
    root, truths, predictions = expr_split
    both = {rule: scoring.score(root / "pred", root / "data", "expr", "abaw6", resamples=0, f1_average=rule)
            for rule in ("all", "present")}
    truth, prediction = valid(truths, predictions)
    per_class = [sklearn_f1(truth == c, prediction == c, labels=[True]) for c in range(8)]  # binary F1 of class c
    assert both["all"]["metrics"]["f1"] == pytest.approx(sum(per_class) / 8, abs=1e-12)
    present = [c for c in range(8) if (truth == c).any() or (prediction == c).any()]
    assert both["present"]["metrics"]["f1"] == pytest.approx(np.mean([per_class[c] for c in present]), abs=1e-12)
    assert both["all"]["metrics"]["f1"] < both["present"]["metrics"]["f1"]
    assert both["all"]["metrics"]["acc"] == both["present"]["metrics"]["acc"]  # accuracy has no rule


def test_perfect_prediction_on_a_split_without_two_classes_is_075_or_1(tmp_path):
    """The issue's example: 1.0 under scikit-learn's rule, 6/8 under the papers'."""
    spec = track_spec("abaw6", "expr")
    truth = {"v1": np.array([[0], [1], [2], [3]]), "v2": np.array([[4], [6], [6], [0]])}
    formats.write_per_video(tmp_path / "data" / "annotations" / "EXPR_Set" / "Validation_Set", spec, truth)
    formats.write_per_video(tmp_path / "pred", spec, truth)
    score = {rule: scoring.score(tmp_path / "pred", tmp_path / "data", "expr", "abaw6", resamples=0, f1_average=rule)
             for rule in ("all", "present")}
    assert score["present"]["metrics"]["f1"] == 1.0
    assert score["all"]["metrics"]["f1"] == 0.75
    assert score["all"]["per_video"]["v1"]["f1"] == 0.5  # 4 of 8 classes in that video
    assert score["present"]["per_video"]["v1"]["f1"] == 1.0


@pytest.mark.parametrize("average, labels", [("all", ALL_8), ("present", None)])
def test_bootstrap_resamples_use_the_rule(expr_split, average, labels):
    root, truths, predictions = expr_split
    result = scoring.score(root / "pred", root / "data", "expr", "abaw6", resamples=60, seed=3, f1_average=average)
    videos = list(truths)
    naive = []
    for counts in scoring.bootstrap_weights(len(videos), 60, 3):
        drawn = [v for v, c in zip(videos, counts) for _ in range(c)]
        naive.append(sklearn_f1(*valid(truths, predictions, drawn), labels))
    assert result["ci95"]["f1"] == pytest.approx(list(np.percentile(naive, [2.5, 97.5])), abs=1e-12)


@pytest.mark.parametrize("average, labels", [("all", list(range(7))), ("present", None)])
def test_abaw2_criterion_uses_the_rule(tmp_path, average, labels):
    truths, predictions = write_expr_split(tmp_path, "abaw2", seed=4)  # classes 0-6 only: fits the 7-class files
    result = scoring.score(tmp_path / "pred", tmp_path / "data", "expr", "abaw2", resamples=0, f1_average=average)
    truth, prediction = valid(truths, predictions)
    f1 = sklearn_f1(truth, prediction, labels)
    assert result["metrics"]["criterion"] == pytest.approx(0.67 * f1 + 0.33 * accuracy_score(truth, prediction),
                                                           abs=1e-12)


# --------------------------------------------------------------------- AU


def write_au_split(root: Path, seed: int = 1):
    """12-AU ground truth in which AU23 (column 8) never occurs in truth or prediction, and
    AU24 (column 9) occurs in the truth only."""
    rng = np.random.default_rng(seed)
    spec = track_spec("abaw6", "au")
    truths, predictions = {}, {}
    for i in range(5):
        n = int(rng.integers(20, 60))
        truth = (rng.random((n, 12)) < 0.3).astype(int)
        prediction = np.where(rng.random(truth.shape) < 0.25, 1 - truth, truth)
        truth[:, 8] = prediction[:, 8] = 0
        prediction[:, 9] = 0
        truth[:2] = -1
        truths[f"video{i}"], predictions[f"video{i}"] = truth, prediction
    formats.write_per_video(root / "data" / "annotations" / "AU_Set" / "Validation_Set", spec, truths)
    formats.write_per_video(root / "pred", spec, predictions)
    return truths, predictions


def au_rows(truths, predictions, videos=None):
    videos = videos or list(truths)
    keep = [(truths[v] != -1).all(axis=1) for v in videos]
    return (np.concatenate([truths[v][k] for v, k in zip(videos, keep)]),
            np.concatenate([predictions[v][k] for v, k in zip(videos, keep)]))


def au_reference(truth, prediction, average):
    """'all': scikit-learn's multilabel macro F1 (every column, 0 for an AU never positive);
    'present': the same over the AUs with a positive in truth or prediction."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if average == "all":
            return f1_score(truth, prediction, average="macro", zero_division=0)
        present = (truth == 1).any(axis=0) | (prediction == 1).any(axis=0)
        return f1_score(truth[:, present], prediction[:, present], average="macro", zero_division=0)


@pytest.mark.parametrize("average", ["all", "present"])
def test_au_pooled_and_per_video_equal_sklearn(tmp_path, average):
    truths, predictions = write_au_split(tmp_path)
    result = scoring.score(tmp_path / "pred", tmp_path / "data", "au", "abaw6", resamples=0, f1_average=average)
    truth, prediction = au_rows(truths, predictions)
    assert result["metrics"]["f1"] == pytest.approx(au_reference(truth, prediction, average), abs=1e-12)
    for video, entry in result["per_video"].items():
        assert entry["f1"] == pytest.approx(au_reference(*au_rows(truths, predictions, [video]), average), abs=1e-12)
    # by hand: under 'all' the never-present AU23 counts 0 among 12
    per_au = [f1_score(truth[:, a], prediction[:, a], zero_division=0) for a in range(12)]
    assert per_au[8] == 0.0 and per_au[9] == 0.0
    expected = sum(per_au) / 12 if average == "all" else sum(per_au) / 11  # AU24 is present (in the truth)
    assert result["metrics"]["f1"] == pytest.approx(expected, abs=1e-12)


def test_au_present_without_any_positive_is_zero_and_zero_frames_is_an_error():
    counts = np.zeros((12, 4))
    counts[:, 0] = 5  # five frames, every AU negative in truth and prediction
    assert metrics.au_mean_f1_from_counts(counts, "present") == 0.0
    assert metrics.au_mean_f1_from_counts(counts, "all") == 0.0
    for average in ("all", "present"):
        with pytest.raises(ValueError, match="zero samples"):
            metrics.au_mean_f1_from_counts(np.zeros((12, 4)), average)
        with pytest.raises(ValueError, match="zero samples"):
            metrics.macro_f1_from_confusion(np.zeros((8, 8)), average)


def test_hand_worked_confusion_under_both_rules():
    # truth [0, 0, 1, 2], prediction [0, 1, 1, 2] over 4 classes: F1 = 2/3, 2/3, 1, (class 3 absent)
    confusion = metrics.confusion_matrix([0, 0, 1, 2], [0, 1, 1, 2], 4)
    assert metrics.macro_f1_from_confusion(confusion, "all") == pytest.approx((2 / 3 + 2 / 3 + 1) / 4)
    assert metrics.macro_f1_from_confusion(confusion, "present") == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)
    # a class present in the prediction only counts under 'present' (F1 0)
    confusion = metrics.confusion_matrix([0, 0], [0, 3], 4)
    assert metrics.macro_f1_from_confusion(confusion, "present") == pytest.approx((2 / 3 + 0) / 2)
    assert metrics.macro_f1_from_confusion(confusion, "all") == pytest.approx((2 / 3) / 4)


def test_unknown_rules_are_refused_everywhere():
    with pytest.raises(ValueError, match="all, present"):
        check_f1_average("macro")
    with pytest.raises(ValueError, match="all, present"):
        metrics.macro_f1([0], [0], 2, average="weighted")
    with pytest.raises(ValueError, match="all, present"):
        metrics.scores_from_stats("au", np.ones((12, 4)), False, "micro")
    with pytest.raises(ValueError):
        scoring.score(Path("."), Path("."), "expr", f1_average="none")


def test_rule_text_names_the_rule():
    assert "/ 8" in f1_rule("expr", 8, "all") and "present" in f1_rule("expr", 8, "present")
    assert "all 12 AUs" in f1_rule("au", 12, "all") and "with a positive" in f1_rule("au", 12, "present")
    spec = track_spec("abaw2", "expr")
    assert spec.rule("all").startswith("0.67·F1 + 0.33·accuracy") and "over all 7 classes" in spec.rule("all")
    assert "over all" not in track_spec("abaw2", "va").rule("present")  # VA has no F1


# --------------------------------------------------------- JSON, CLI, compare


def test_json_and_table_state_the_rule(expr_split, monkeypatch):
    root, _, _ = expr_split
    runner = CliRunner()
    monkeypatch.setenv("COLUMNS", "250")
    out = root / "score.json"
    result = runner.invoke(main, ["score", str(root / "pred"), "--data", str(root / "data"), "--track", "expr",
                                  "--edition", "abaw6", "--f1-average", "present", "--json", str(out)])
    assert result.exit_code == 0, result.output
    payload = json.loads(out.read_text())
    assert payload["f1_average"] == "present"
    assert "present in truth or prediction" in payload["rule"]
    assert "present in that video" in payload["per_video_rule"]
    assert "[--f1-average present]" in result.output and "present in truth or prediction" in result.output
    default = runner.invoke(main, ["score", str(root / "pred"), "--data", str(root / "data"), "--track", "expr",
                                   "--edition", "abaw6", "--bootstrap", "0"])
    assert "over all 8 classes / 8" in default.output and "[--f1-average all]" in default.output
    wrong = runner.invoke(main, ["score", str(root / "pred"), "--data", str(root / "data"), "--track", "expr",
                                 "--f1-average", "weighted"])
    assert wrong.exit_code == 2 and "weighted" in wrong.output


def test_compare_recomputes_with_the_rule_the_json_states(expr_split, tmp_path):
    root, _, _ = expr_split
    paths = {}
    for rule in ("all", "present"):
        payload = scoring.score(root / "pred", root / "data", "expr", "abaw6", resamples=0, f1_average=rule)
        paths[rule] = tmp_path / f"{rule}.json"
        paths[rule].write_text(json.dumps(payload))
    for rule, path in paths.items():
        scored = compare.scored_from_json(json.loads(path.read_text()), path, rule)
        assert scored.f1_average == rule and scored.statistics is not None, scored.notes
    # a JSON whose stated rule does not match its numbers loses its statistics, with a note
    lying = json.loads(paths["all"].read_text())
    lying["f1_average"] = "present"
    scored = compare.scored_from_json(lying, paths["all"], "lying")
    assert scored.statistics is None and "another F1 rule" in scored.notes[0]
    # JSONs written before the key existed were EXPR over the present classes
    legacy = json.loads(paths["present"].read_text())
    del legacy["f1_average"]
    assert compare.scored_from_json(legacy, paths["present"], "legacy").statistics is not None
    a = compare.scored_from_json(json.loads(paths["all"].read_text()), paths["all"], "a")
    b = compare.scored_from_json(json.loads(paths["present"].read_text()), paths["present"], "b")
    assert "different F1 rules" in compare.comparability(a, b)


def test_paired_bootstrap_takes_the_rule(expr_split):
    from abawbench.significance import paired_bootstrap

    root, _, _ = expr_split
    payload = scoring.score(root / "pred", root / "data", "expr", "abaw6", resamples=0)
    stats = np.asarray(payload["statistics"]["values"], dtype=float)
    other = stats.copy()
    other[:, np.arange(8), np.arange(8)] += 1  # one more right frame per class row
    for rule in ("all", "present"):
        boot = paired_bootstrap("expr", other, stats, False, 50, 0, rule)
        a = metrics.scores_from_stats("expr", other.sum(axis=0), False, rule)["f1"]
        b = metrics.scores_from_stats("expr", stats.sum(axis=0), False, rule)["f1"]
        assert boot["f1"]["delta"] == pytest.approx(float(a - b), abs=1e-12)
