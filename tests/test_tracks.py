"""Every edition's rules and official numbers, ABAW1 to ABAW8, checked by value.

The expectations are written out here from the ABAW papers (abaw-formats.md, "Metrics
per edition"), not read from ``abawbench.tracks``:

* ABAW1 (FG 2020), ABAW2 (ICCV 2021): EXPR 0.67·F1 + 0.33·accuracy over 7 classes;
  AU 0.5·F1 + 0.5·accuracy over all frame×AU cells, 8 AUs in ABAW1 and 12 in ABAW2;
* ABAW3 (CVPR 2022) to ABAW8: EXPR macro F1 over 8 classes (7 + "Other"); AU mean
  F1 over 12 AUs;
* VA in every edition: mean of CCC(valence) and CCC(arousal), all valid frames pooled.

Scores come from scikit-learn (F1, accuracy) and the CCC written out in test_metrics. The
data make every class occur in the pooled truth, so macro F1 over the classes present
and over all classes agree: the F1 expectations name their class set (``labels=``)
explicitly, which is the point of the rule and easy to adapt.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score

from abawbench import formats, scoring
from abawbench.tracks import get_edition, track_spec

from test_metrics import reference_ccc

CLASSES_7 = ("Neutral", "Anger", "Disgust", "Fear", "Happiness", "Sadness", "Surprise")
CLASSES_8 = CLASSES_7 + ("Other",)
AUS_8 = ("AU1", "AU2", "AU4", "AU6", "AU12", "AU15", "AU20", "AU25")
AUS_12 = ("AU1", "AU2", "AU4", "AU6", "AU7", "AU10", "AU12", "AU15", "AU23", "AU24", "AU25", "AU26")

# edition: (EXPR classes, EXPR/AU scored as weighted F1 + accuracy, AU names)
EDITIONS = {
    "abaw1": (CLASSES_7, True, AUS_8),
    "abaw2": (CLASSES_7, True, AUS_12),
    "abaw3": (CLASSES_8, False, AUS_12),
    "abaw4": (CLASSES_8, False, AUS_12),
    "abaw5": (CLASSES_8, False, AUS_12),
    "abaw6": (CLASSES_8, False, AUS_12),
    "abaw7": (CLASSES_8, False, AUS_12),
    "abaw8": (CLASSES_8, False, AUS_12),
}
# abaw-formats.md, "Submission formats": ABAW1-3 a folder of per-video files, ABAW5 onwards
# one image_location file (ABAW4's format is not stated there, so it is not tested here).
SUBMISSION_FORMAT = {"abaw1": "per-video", "abaw2": "per-video", "abaw3": "per-video",
                     "abaw5": "image_location", "abaw6": "image_location", "abaw7": "image_location",
                     "abaw8": "image_location"}


@pytest.mark.parametrize("edition", sorted(EDITIONS))
def test_edition_table_is_the_papers(edition):
    classes, criterion_era, aus = EDITIONS[edition]
    ed = get_edition(edition)
    assert ed.expr_classes == classes
    assert ed.criterion_era is criterion_era
    assert ed.au_names == aus
    if edition in SUBMISSION_FORMAT:
        assert ed.submission_format == SUBMISSION_FORMAT[edition]
    expr, au, va = (track_spec(edition, t) for t in ("expr", "au", "va"))
    assert expr.header == ",".join(classes) and expr.n_classes == len(classes)
    assert au.header == ",".join(aus) and va.header == "valence,arousal"
    official = "criterion" if criterion_era else "f1"
    assert expr.main_metric == official and au.main_metric == official and va.main_metric == "mean"
    assert (expr.invalid, va.invalid, au.invalid) == (-1, -5, -1)


# ------------------------------------------------------------------ data per edition

N_VIDEOS = 4


def _expr_data(rng, n_classes):
    truths, predictions = {}, {}
    for i in range(N_VIDEOS):
        n = 30 + 7 * i
        truth = rng.integers(0, n_classes, size=n)
        truth[:n_classes] = np.arange(n_classes)  # every class occurs in every video
        prediction = np.where(rng.random(n) < 0.55, truth, rng.integers(0, n_classes, size=n))
        truth[-3:] = -1  # invalid frames: not scored
        truths[f"{i}-30-640x480"], predictions[f"{i}-30-640x480"] = truth[:, None], prediction[:, None]
    return truths, predictions


def _va_data(rng):
    truths, predictions = {}, {}
    for i in range(N_VIDEOS):
        n = 40 + 5 * i
        truth = np.round(rng.uniform(-1, 1, size=(n, 2)), 3)
        prediction = np.round(np.clip(0.6 * truth + rng.normal(0.1, 0.3, size=(n, 2)), -1, 1), 3)
        truth[2:4, 1] = -5  # arousal missing: the whole frame is invalid
        truths[f"{i}-30-640x480"], predictions[f"{i}-30-640x480"] = truth, prediction
    return truths, predictions


def _au_data(rng, n_aus):
    truths, predictions = {}, {}
    for i in range(N_VIDEOS):
        n = 35 + 4 * i
        truth = (rng.random((n, n_aus)) < 0.35).astype(int)
        truth[0], truth[1] = 1, 0  # every AU has positives and negatives
        prediction = np.where(rng.random(truth.shape) < 0.2, 1 - truth, truth)
        truth[5, 3] = -1  # one invalid AU invalidates the frame
        truths[f"{i}-30-640x480"], predictions[f"{i}-30-640x480"] = truth, prediction
    return truths, predictions


def _valid(truths, predictions, marker):
    keep = [~(t == marker).any(axis=1) for t in truths.values()]
    truth = np.concatenate([t[k] for t, k in zip(truths.values(), keep)])
    prediction = np.concatenate([p[k] for p, k in zip(predictions.values(), keep)])
    return truth, prediction


def _write(root, edition, track, truths, predictions):
    spec = track_spec(edition, track)
    formats.write_per_video(root / "data" / "annotations" / f"{track.upper()}_Set" / "Validation_Set", spec, truths)
    formats.write_per_video(root / f"pred-{track}", spec, predictions)


@pytest.fixture(scope="module", params=sorted(EDITIONS))
def edition_data(request, tmp_path_factory):
    edition = request.param
    classes, _, aus = EDITIONS[edition]
    rng = np.random.default_rng(sorted(EDITIONS).index(edition))
    root = tmp_path_factory.mktemp(edition)
    data = {"expr": _expr_data(rng, len(classes)), "va": _va_data(rng), "au": _au_data(rng, len(aus))}
    for track, (truths, predictions) in data.items():
        _write(root, edition, track, truths, predictions)
    return edition, root, data


def _score(root, edition, track):
    return scoring.score(root / f"pred-{track}", root / "data", track, edition, resamples=0)


def test_expr_official_number_by_value(edition_data):
    edition, root, data = edition_data
    classes, criterion_era, _ = EDITIONS[edition]
    truth, prediction = _valid(*data["expr"], -1)
    assert set(truth[:, 0]) == set(range(len(classes)))  # every class occurs: the F1 rule is not the point
    f1 = f1_score(truth[:, 0], prediction[:, 0], labels=list(range(len(classes))), average="macro")
    acc = accuracy_score(truth[:, 0], prediction[:, 0])
    result = _score(root, edition, "expr")
    assert result["n_frames"] == len(truth)
    assert result["metrics"]["f1"] == pytest.approx(f1, abs=1e-12)
    assert result["metrics"]["acc"] == pytest.approx(acc, abs=1e-12)
    if criterion_era:
        assert result["main_metric"] == "criterion"
        assert result["metrics"]["criterion"] == pytest.approx(0.67 * f1 + 0.33 * acc, abs=1e-12)
    else:
        assert result["main_metric"] == "f1" and set(result["metrics"]) == {"f1", "acc"}


def test_va_official_number_by_value(edition_data):
    edition, root, data = edition_data
    truth, prediction = _valid(*data["va"], -5)
    valence = reference_ccc(prediction[:, 0], truth[:, 0])
    arousal = reference_ccc(prediction[:, 1], truth[:, 1])
    result = _score(root, edition, "va")
    assert result["main_metric"] == "mean" and result["n_frames"] == len(truth)
    assert result["metrics"]["valence"] == pytest.approx(valence, abs=1e-9)
    assert result["metrics"]["arousal"] == pytest.approx(arousal, abs=1e-9)
    assert result["metrics"]["mean"] == pytest.approx((valence + arousal) / 2, abs=1e-9)


def test_au_official_number_by_value(edition_data):
    edition, root, data = edition_data
    _, criterion_era, aus = EDITIONS[edition]
    truth, prediction = _valid(*data["au"], -1)
    assert truth.shape[1] == len(aus)
    f1 = np.mean([f1_score(truth[:, a], prediction[:, a]) for a in range(len(aus))])
    acc = np.mean(truth == prediction)  # every frame×AU cell
    result = _score(root, edition, "au")
    assert result["n_frames"] == len(truth)
    assert result["metrics"]["f1"] == pytest.approx(f1, abs=1e-12)
    assert result["metrics"]["acc"] == pytest.approx(acc, abs=1e-12)
    if criterion_era:
        assert result["main_metric"] == "criterion"
        assert result["metrics"]["criterion"] == pytest.approx(0.5 * f1 + 0.5 * acc, abs=1e-12)
    else:
        assert result["main_metric"] == "f1" and "criterion" not in result["metrics"]


def test_a_later_edition_keeps_abaw8s_rules_and_says_so():
    later = get_edition("ABAW-12")
    assert later.name == "abaw12" and later.expr_classes == CLASSES_8 and later.criterion_era is False
    assert later.au_names == AUS_12 and "ABAW8" in later.note
    with pytest.raises(ValueError, match="unknown ABAW edition"):
        get_edition("abaw0")
    with pytest.raises(ValueError, match="unknown ABAW edition"):
        get_edition("abaw")


def test_what_a_value_must_be_is_said_in_words():
    assert track_spec("abaw2", "expr").value_description() == "an integer class id 0-6"
    assert track_spec("abaw6", "expr").value_description() == "an integer class id 0-7"
    assert track_spec("abaw6", "va").value_description() == "a number in [-1, 1]"
    assert track_spec("abaw1", "au").value_description() == "0 or 1"
    with pytest.raises(ValueError, match="only EXPR has classes"):
        track_spec("abaw6", "va").n_classes
    with pytest.raises(ValueError, match="unknown track 'xyz'"):
        track_spec("abaw6", "xyz")
