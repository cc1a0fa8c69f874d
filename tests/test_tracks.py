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
from abawbench.tracks import MTL_RELEASES, detect_mtl_header, detect_track, get_edition, track_spec

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
    # only numbers past ABAW8 are later editions: "abaw08" is not ABAW8 spelt another way
    with pytest.raises(ValueError, match="unknown ABAW edition 'abaw08'"):
        get_edition("abaw08")


def test_what_a_value_must_be_is_said_in_words():
    assert track_spec("abaw2", "expr").value_description() == "an integer class id 0-6"
    assert track_spec("abaw6", "expr").value_description() == "an integer class id 0-7"
    assert track_spec("abaw6", "va").value_description() == "a number in [-1, 1]"
    assert track_spec("abaw1", "au").value_description() == "0 or 1"
    with pytest.raises(ValueError, match="only EXPR has classes"):
        track_spec("abaw6", "va").n_classes
    with pytest.raises(ValueError, match="unknown track 'xyz'"):
        track_spec("abaw6", "xyz")


# ------------------------------------------------ words and errors, asserted whole

VA_RULE = "mean of CCC(valence) and CCC(arousal), population moments"
EXPR_ALL = "macro F1 = sum of the per-class F1 over all {k} classes / {k} (absent classes count 0)"
EXPR_PRESENT = "macro F1 over the classes (of {k}) present in truth or prediction (scikit-learn's default)"
AU_ALL = "mean per-AU F1 over all {k} AUs (an AU without positives in truth and prediction counts 0)"
AU_PRESENT = "mean per-AU F1 over the AUs (of {k}) with a positive in truth or prediction"


def test_each_tracks_rule_in_words():
    # the README's score outputs print these lines (EXPR ABAW2 and MTL under "all")
    assert track_spec("abaw2", "va").rule("present") == f"{VA_RULE}, all valid frames pooled"
    assert track_spec("abaw2", "expr").rule() == "0.67·F1 + 0.33·accuracy, F1 the " + EXPR_ALL.format(k=7)
    assert track_spec("abaw2", "expr").rule("present") == ("0.67·F1 + 0.33·accuracy, F1 the "
                                                           + EXPR_PRESENT.format(k=7))
    assert track_spec("abaw6", "expr").rule("all") == EXPR_ALL.format(k=8)
    assert track_spec("abaw6", "expr").rule("present") == EXPR_PRESENT.format(k=8)
    assert track_spec("abaw1", "au").rule("present") == ("0.5·F1 + 0.5·accuracy over all frame×AU cells, F1 the "
                                                         + AU_PRESENT.format(k=8))
    assert track_spec("abaw2", "au").rule("all") == ("0.5·F1 + 0.5·accuracy over all frame×AU cells, F1 the "
                                                     + AU_ALL.format(k=12))
    assert track_spec("abaw6", "au").rule("all") == AU_ALL.format(k=12)
    assert track_spec("abaw6", "au").rule("present") == AU_PRESENT.format(k=12)
    mtl = "P_MTL = P_VA + P_EXPR + P_AU, each over the rows whose own label is valid, pooled: P_VA the " + VA_RULE
    assert track_spec("abaw7", "mtl").rule("all") == (f"{mtl}; P_EXPR the {EXPR_ALL.format(k=8)}; "
                                                      f"P_AU the {AU_ALL.format(k=12)}")
    assert track_spec("abaw3", "mtl").rule("present") == (f"{mtl}; P_EXPR the {EXPR_PRESENT.format(k=8)}; "
                                                          f"P_AU the {AU_PRESENT.format(k=12)}")
    with pytest.raises(ValueError, match="^the F1 average must be one of all, present, not 'macro'$"):
        track_spec("abaw6", "expr").rule("macro")


def test_spec_properties_and_errors_in_words():
    mtl = track_spec("abaw4", "MTL")  # the track name's case does not matter
    assert mtl.track == "mtl" and mtl.header == "image,valence,arousal,expression,aus"
    assert mtl.value_description() == ("valence and arousal in [-1, 1], an expression class id 0-7 and 12 AU values "
                                       "0 or 1 after the image")
    assert track_spec("abaw6", "expr").header == "Neutral,Anger,Disgust,Fear,Happiness,Sadness,Surprise,Other"
    assert track_spec("abaw6", "au").n_values == 12 and track_spec("abaw6", "expr").n_values == 1
    with pytest.raises(ValueError, match=r"^the MTL track has one invalid marker per part \(VA -5, EXPR -1, AU -1\)$"):
        mtl.invalid
    with pytest.raises(ValueError, match="^only EXPR has classes$"):
        track_spec("abaw6", "au").n_classes
    with pytest.raises(ValueError, match=r"^the multi-task \(MTL\) challenge was held in ABAW3, ABAW4 and ABAW7 only; "
                                         r"ABAW6 \(CVPR 2024\) has none: pass --edition abaw3, abaw4 or abaw7$"):
        track_spec("abaw6", "mtl")
    with pytest.raises(ValueError, match="^unknown track 'xyz'; expected one of expr, va, au, mtl$"):
        track_spec("abaw6", "xyz")
    with pytest.raises(ValueError, match=r"^unknown ABAW edition 'abaw0'; expected one of abaw1, abaw2, abaw3, abaw4, "
                                         r"abaw5, abaw6, abaw7, abaw8 \(or a later abawN\)$"):
        get_edition("abaw0")
    later = get_edition(" ABAW 9")
    assert (later.name, later.title, later.note) == ("abaw9", "ABAW9", "rules assumed equal to ABAW8 (CVPR 2025)")
    assert later.submission_format == "image_location" and later.note_for("va") == later.note


def test_headers_are_told_apart_whatever_their_spelling():
    assert detect_track("\ufeff neutral , ANGER,Disgust,Fear,Happiness,Sadness,Surprise\n") == ("expr", CLASSES_7)
    assert detect_track("Valence,Arousal") == ("va", ("valence", "arousal"))
    assert detect_track("valence,arousal,extra") is None
    # only the byte-order mark is stripped from the front, not letters
    assert detect_track("Xvalence,arousal") is None and detect_track("XXNeutral," + ",".join(CLASSES_7[1:])) is None
    assert detect_mtl_header("IMAGE, Valence,arousal,expression,AUs\r\n") == ("image", "valence", "arousal",
                                                                              "expression", "aus")
    long = "image,valence,arousal,expression," + ",".join(AUS_12)
    assert detect_mtl_header(long.lower()) == ("image", "valence", "arousal", "expression") + AUS_12
    assert detect_mtl_header("image,valence,arousal") is None
    assert MTL_RELEASES["abaw4"].split_of("Training_Set_Annotations.txt") == "train"
    assert MTL_RELEASES["abaw3"].split_of("validation_set.txt") == "validation"
    assert MTL_RELEASES["abaw3"].split_of("mtl.txt") is None
