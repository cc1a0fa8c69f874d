"""What each ABAW edition and track is: classes, file headers, invalid markers, metrics.

This is the one table the rest of abawbench reads. Facts come from the ABAW papers
(see ``docs/abaw-formats.md`` in the shared docs):

* ABAW1 (FG 2020) and ABAW2 (ICCV 2021) score EXPR as 0.67·F1 + 0.33·Acc over 7
  classes and AU as 0.5·F1 + 0.5·Acc (8 AUs in ABAW1, 12 in ABAW2).
* ABAW3 (CVPR 2022) onwards score EXPR as macro F1 over 8 classes (the 7 plus
  "Other") and AU as the mean F1 over 12 AUs.
* VA is the mean of the concordance correlation coefficients of valence and arousal
  in every edition.
* ABAW1-3 take a folder of per-video ``<video>.txt`` predictions; ABAW4 onwards take one
  file per track whose rows start with an ``image_location`` column.
* The multi-task (MTL) challenge of ABAW3, ABAW4 and ABAW7 scores
  P_MTL = P_VA + P_EXPR + P_AU on one file per split, rows
  ``video/00001.jpg,valence,arousal,expression,AU1,…,AU26`` under the header
  ``image,valence,arousal,expression,aus`` (participants' code and the organisers' test
  lists; see the README's MTL section for the sources).
* F1 (EXPR macro F1, AU mean F1) is averaged over *all* classes by default, the papers'
  formula (sum of per-class F1 / number of classes); ``present`` averages over the
  classes present in truth or prediction, as scikit-learn's ``average="macro"`` does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

EXPR_CLASSES_7 = ("Neutral", "Anger", "Disgust", "Fear", "Happiness", "Sadness", "Surprise")
EXPR_CLASSES_8 = EXPR_CLASSES_7 + ("Other",)
VA_COLUMNS = ("valence", "arousal")
AU_NAMES_8 = ("AU1", "AU2", "AU4", "AU6", "AU12", "AU15", "AU20", "AU25")
AU_NAMES_12 = ("AU1", "AU2", "AU4", "AU6", "AU7", "AU10", "AU12", "AU15", "AU23", "AU24", "AU25", "AU26")

TRACKS = ("expr", "va", "au")  # the uni-task tracks: one annotation folder each
MTL = "mtl"
SCORED_TRACKS = TRACKS + (MTL,)  # what score/validate/compare accept
INVALID_MARKER = {"expr": -1, "va": -5.0, "au": -1}

# F1 averaging (EXPR macro F1, AU mean F1): "all" = the papers' formula, the sum of the
# per-class F1 over every class divided by their number; "present" = scikit-learn's
# f1_score(average="macro") without labels=, over the classes in truth or prediction.
F1_AVERAGES = ("all", "present")
DEFAULT_F1_AVERAGE = "all"

# The multi-task track. Row layout from every participant's reader (README, MTL section).
MTL_EDITIONS = ("abaw3", "abaw4", "abaw7")
MTL_HEADER = ("image", "valence", "arousal", "expression", "aus")  # 5 names, rows carry 16 fields
MTL_COLUMNS = VA_COLUMNS + ("expression",) + AU_NAMES_12  # the 15 values after the image
MTL_LONG_HEADER = ("image",) + MTL_COLUMNS  # a header naming all 16 fields, also accepted
MTL_METRICS = ("mtl", "va_mean", "valence", "arousal", "expr_f1", "au_f1")
IMAGE_LOCATION = "image_location"

PER_VIDEO = "per-video"
SINGLE_FILE = "image_location"

EXPR_CRITERION_WEIGHTS = (0.67, 0.33)  # F1, accuracy (ABAW1/ABAW2)
AU_CRITERION_WEIGHTS = (0.5, 0.5)  # F1, accuracy (ABAW1/ABAW2)


@dataclass(frozen=True)
class Edition:
    """One ABAW edition: which class sets it uses and how it scores them."""

    name: str
    title: str
    expr_classes: tuple[str, ...]
    au_names: tuple[str, ...]
    criterion_era: bool  # True: EXPR/AU are weighted F1 + accuracy; False: F1 alone
    submission_format: str
    note: str = ""
    note_tracks: tuple[str, ...] = SCORED_TRACKS  # the tracks the note concerns

    def note_for(self, track: str) -> str:
        """The edition's note when it concerns ``track``, else ""."""
        return self.note if track in self.note_tracks else ""


_EDITIONS = (
    Edition("abaw1", "ABAW1 (FG 2020)", EXPR_CLASSES_7, AU_NAMES_8, True, PER_VIDEO),
    Edition("abaw2", "ABAW2 (ICCV 2021)", EXPR_CLASSES_7, AU_NAMES_12, True, PER_VIDEO,
            "some ABAW2 copies still carry 8-AU files; the ground truth's header decides", ("au",)),
    Edition("abaw3", "ABAW3 (CVPR 2022)", EXPR_CLASSES_8, AU_NAMES_12, False, PER_VIDEO),
    Edition("abaw4", "ABAW4 (ECCV 2022)", EXPR_CLASSES_8, AU_NAMES_12, False, SINGLE_FILE,
            "ABAW4's challenge is multi-task on s-Aff-Wild2 (--track mtl); EXPR/VA/AU alone are scored "
            "as its components", TRACKS),
    Edition("abaw5", "ABAW5 (CVPR 2023)", EXPR_CLASSES_8, AU_NAMES_12, False, SINGLE_FILE),
    Edition("abaw6", "ABAW6 (CVPR 2024)", EXPR_CLASSES_8, AU_NAMES_12, False, SINGLE_FILE),
    Edition("abaw7", "ABAW7 (ECCV 2024)", EXPR_CLASSES_8, AU_NAMES_12, False, SINGLE_FILE,
            "ABAW7's challenge is multi-task on s-Aff-Wild2 (--track mtl); EXPR/VA/AU alone are scored "
            "as its components", TRACKS),
    Edition("abaw8", "ABAW8 (CVPR 2025)", EXPR_CLASSES_8, AU_NAMES_12, False, SINGLE_FILE),
)
EDITIONS = {edition.name: edition for edition in _EDITIONS}
LATEST = _EDITIONS[-1].name


def get_edition(name: str) -> Edition:
    """Return the edition called ``name`` (``abaw1`` … ``abaw8``; ``abaw9`` and later
    are taken to keep ABAW8's rules, and say so in their note)."""
    key = name.strip().lower().replace(" ", "").replace("-", "")
    if key in EDITIONS:
        return EDITIONS[key]
    match = re.fullmatch(r"abaw(\d+)", key)
    if match and int(match.group(1)) > int(LATEST[4:]):
        latest = EDITIONS[LATEST]
        return Edition(key, f"ABAW{match.group(1)}", latest.expr_classes, latest.au_names,
                       latest.criterion_era, latest.submission_format,
                       f"rules assumed equal to {latest.title}")
    known = ", ".join(EDITIONS)
    raise ValueError(f"unknown ABAW edition {name!r}; expected one of {known} (or a later abawN)")


@dataclass(frozen=True)
class TrackSpec:
    """A track as one edition defines it.

    ``columns`` is the annotation/per-video header; a ``image_location`` file prefixes it
    with ``image_location``. EXPR rows carry one integer although the header lists
    the class names, VA rows two floats, AU rows one 0/1 per AU. MTL: ``columns`` are the
    15 values after the image (:data:`MTL_COLUMNS`); the header is :data:`MTL_HEADER`.
    """

    edition: Edition
    track: str
    columns: tuple[str, ...]

    @property
    def header(self) -> str:
        return ",".join(MTL_HEADER if self.track == MTL else self.columns)

    @property
    def n_values(self) -> int:
        """Numbers per row of a per-video file (MTL: after the image)."""
        return 1 if self.track == "expr" else len(self.columns)

    @property
    def n_classes(self) -> int:
        if self.track != "expr":
            raise ValueError("only EXPR has classes")
        return len(self.columns)

    @property
    def invalid(self) -> float:
        if self.track == MTL:
            raise ValueError("the MTL track has one invalid marker per part (VA -5, EXPR -1, AU -1)")
        return INVALID_MARKER[self.track]

    @property
    def metrics(self) -> tuple[str, ...]:
        """Metric names of the score JSON, the official one first."""
        if self.track == MTL:
            return MTL_METRICS
        if self.track == "va":
            return ("mean", "valence", "arousal")
        if self.edition.criterion_era:
            return ("criterion", "f1", "acc")
        return ("f1", "acc")

    @property
    def main_metric(self) -> str:
        return self.metrics[0]

    def rule(self, f1_average: str = DEFAULT_F1_AVERAGE) -> str:
        """How the official number is computed, in words, under the F1 rule ``f1_average``."""
        check_f1_average(f1_average)
        va = "mean of CCC(valence) and CCC(arousal), population moments"
        if self.track == "va":
            return f"{va}, all valid frames pooled"
        expr_f1 = f1_rule("expr", self.n_classes if self.track == "expr" else len(EXPR_CLASSES_8), f1_average)
        au_f1 = f1_rule("au", len(self.columns) if self.track == "au" else len(AU_NAMES_12), f1_average)
        if self.track == MTL:
            return (f"P_MTL = P_VA + P_EXPR + P_AU, each over the rows whose own label is valid, pooled: P_VA the {va}; "
                    f"P_EXPR the {expr_f1}; P_AU the {au_f1}")
        if self.track == "expr":
            return f"0.67·F1 + 0.33·accuracy, F1 the {expr_f1}" if self.edition.criterion_era else expr_f1
        return f"0.5·F1 + 0.5·accuracy over all frame×AU cells, F1 the {au_f1}" if self.edition.criterion_era else au_f1

    def value_description(self) -> str:
        if self.track == MTL:
            return ("valence and arousal in [-1, 1], an expression class id 0-7 and 12 AU values 0 or 1 "
                    "after the image")
        if self.track == "expr":
            return f"an integer class id 0-{self.n_classes - 1}"
        if self.track == "va":
            return "a number in [-1, 1]"
        return "0 or 1"


def check_f1_average(f1_average: str) -> str:
    """``f1_average`` if it is one of :data:`F1_AVERAGES`, else ValueError."""
    if f1_average not in F1_AVERAGES:
        raise ValueError(f"the F1 average must be one of {', '.join(F1_AVERAGES)}, not {f1_average!r}")
    return f1_average


def f1_rule(track: str, n_classes: int, f1_average: str) -> str:
    """The F1 of an EXPR or AU score in words: ``n_classes`` classes (AUs), rule ``f1_average``."""
    if track == "expr":
        if f1_average == "all":
            return f"macro F1 = sum of the per-class F1 over all {n_classes} classes / {n_classes} (absent classes count 0)"
        return f"macro F1 over the classes (of {n_classes}) present in truth or prediction (scikit-learn's default)"
    if f1_average == "all":
        return f"mean per-AU F1 over all {n_classes} AUs (an AU without positives in truth and prediction counts 0)"
    return f"mean per-AU F1 over the AUs (of {n_classes}) with a positive in truth or prediction"


def track_spec(edition: str | Edition, track: str, au_names: tuple[str, ...] | None = None) -> TrackSpec:
    """The spec of ``track`` in ``edition``; ``au_names`` overrides the edition's AU
    list when a ground-truth header says otherwise (8-AU files in an ABAW2 copy).
    ``mtl`` exists in :data:`MTL_EDITIONS` only (ValueError elsewhere)."""
    ed = edition if isinstance(edition, Edition) else get_edition(edition)
    track = track.lower()
    if track == MTL:
        if ed.name not in MTL_EDITIONS:
            raise ValueError(f"the multi-task (MTL) challenge was held in ABAW3, ABAW4 and ABAW7 only; "
                             f"{ed.title} has none: pass --edition abaw3, abaw4 or abaw7")
        return TrackSpec(ed, track, MTL_COLUMNS)
    if track == "expr":
        return TrackSpec(ed, track, ed.expr_classes)
    if track == "va":
        return TrackSpec(ed, track, VA_COLUMNS)
    if track == "au":
        return TrackSpec(ed, track, tuple(au_names) if au_names else ed.au_names)
    raise ValueError(f"unknown track {track!r}; expected one of {', '.join(SCORED_TRACKS)}")


KNOWN_HEADERS = {
    EXPR_CLASSES_7: "expr",
    EXPR_CLASSES_8: "expr",
    VA_COLUMNS: "va",
    AU_NAMES_8: "au",
    AU_NAMES_12: "au",
}
_KNOWN_LOWER = {tuple(c.lower() for c in cols): (track, cols) for cols, track in KNOWN_HEADERS.items()}


def split_header(line: str) -> tuple[str, ...]:
    """Header cells with surrounding spaces and a UTF-8 BOM removed."""
    return tuple(cell.strip() for cell in line.lstrip("\ufeff").strip().split(","))


def detect_track(header_line: str) -> tuple[str, tuple[str, ...]] | None:
    """``(track, columns)`` for a known annotation header, else None.

    Ground-truth detection ignores case: copies of Aff-Wild2 differ in it. The
    columns returned are the canonical spelling.
    """
    cells = tuple(c.lower() for c in split_header(header_line))
    return _KNOWN_LOWER.get(cells)


@dataclass(frozen=True)
class MtlRelease:
    """What one edition's multi-task data is called (README, MTL section, for the sources).

    ``annotations`` maps a split to its ground-truth file name; ``test_list`` is the
    organisers' list of test images (header and one image per row), the template a
    submission must follow.
    """

    edition: str
    annotations: tuple[tuple[str, str], ...]
    test_list: str
    images: str

    def split_of(self, file_name: str) -> str | None:
        """The split whose ground truth this edition calls ``file_name``, else None."""
        return next((split for split, name in self.annotations if name == file_name.lower()), None)


_S_AFF_WILD2 = (("train", "training_set_annotations.txt"), ("validation", "validation_set_annotations.txt"))
MTL_RELEASES = {
    "abaw3": MtlRelease("abaw3", (("train", "train_set.txt"), ("validation", "validation_set.txt")),
                        "multi_task_learning_challenge_test_set_release.txt",
                        "Aff-Wild2 frames (cropped_aligned), 3rd ABAW Annotations/…/MTL_Challenge/"),
    "abaw4": MtlRelease("abaw4", _S_AFF_WILD2, "mtl_challenge_test_set_release.txt", "s-Aff-Wild2"),
    "abaw7": MtlRelease("abaw7", _S_AFF_WILD2, "mtl.txt", "s-Aff-Wild2 (ABAW4's files again)"),
}


def detect_mtl_header(header_line: str) -> tuple[str, ...] | None:
    """The canonical MTL header a header line spells (either form, any letter case), else None."""
    cells = tuple(c.lower() for c in split_header(header_line))
    for header in (MTL_HEADER, MTL_LONG_HEADER):
        if cells == tuple(c.lower() for c in header):
            return header
    return None
