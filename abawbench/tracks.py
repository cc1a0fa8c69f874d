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
"""

from __future__ import annotations

import re
from dataclasses import dataclass

EXPR_CLASSES_7 = ("Neutral", "Anger", "Disgust", "Fear", "Happiness", "Sadness", "Surprise")
EXPR_CLASSES_8 = EXPR_CLASSES_7 + ("Other",)
VA_COLUMNS = ("valence", "arousal")
AU_NAMES_8 = ("AU1", "AU2", "AU4", "AU6", "AU12", "AU15", "AU20", "AU25")
AU_NAMES_12 = ("AU1", "AU2", "AU4", "AU6", "AU7", "AU10", "AU12", "AU15", "AU23", "AU24", "AU25", "AU26")

TRACKS = ("expr", "va", "au")
INVALID_MARKER = {"expr": -1, "va": -5.0, "au": -1}
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


_EDITIONS = (
    Edition("abaw1", "ABAW1 (FG 2020)", EXPR_CLASSES_7, AU_NAMES_8, True, PER_VIDEO),
    Edition("abaw2", "ABAW2 (ICCV 2021)", EXPR_CLASSES_7, AU_NAMES_12, True, PER_VIDEO,
            "some ABAW2 copies still carry 8-AU files; the ground truth's header decides"),
    Edition("abaw3", "ABAW3 (CVPR 2022)", EXPR_CLASSES_8, AU_NAMES_12, False, PER_VIDEO),
    Edition("abaw4", "ABAW4 (ECCV 2022)", EXPR_CLASSES_8, AU_NAMES_12, False, SINGLE_FILE,
            "multi-task challenge on s-Aff-Wild2; EXPR/VA/AU are scored as its components"),
    Edition("abaw5", "ABAW5 (CVPR 2023)", EXPR_CLASSES_8, AU_NAMES_12, False, SINGLE_FILE),
    Edition("abaw6", "ABAW6 (CVPR 2024)", EXPR_CLASSES_8, AU_NAMES_12, False, SINGLE_FILE),
    Edition("abaw7", "ABAW7 (ECCV 2024)", EXPR_CLASSES_8, AU_NAMES_12, False, SINGLE_FILE,
            "multi-task challenge; EXPR/VA/AU are scored as its components"),
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
    the class names, VA rows two floats, AU rows one 0/1 per AU.
    """

    edition: Edition
    track: str
    columns: tuple[str, ...]

    @property
    def header(self) -> str:
        return ",".join(self.columns)

    @property
    def n_values(self) -> int:
        """Numbers per row of a per-video file."""
        return 1 if self.track == "expr" else len(self.columns)

    @property
    def n_classes(self) -> int:
        if self.track != "expr":
            raise ValueError("only EXPR has classes")
        return len(self.columns)

    @property
    def invalid(self) -> float:
        return INVALID_MARKER[self.track]

    @property
    def metrics(self) -> tuple[str, ...]:
        """Metric names of the score JSON, the official one first."""
        if self.track == "va":
            return ("mean", "valence", "arousal")
        if self.edition.criterion_era:
            return ("criterion", "f1", "acc")
        return ("f1", "acc")

    @property
    def main_metric(self) -> str:
        return self.metrics[0]

    @property
    def rule(self) -> str:
        """How the official number is computed, in words."""
        if self.track == "va":
            return "mean of CCC(valence) and CCC(arousal), population moments, all valid frames pooled"
        if self.track == "expr":
            f1 = f"macro F1 over the classes (of {self.n_classes}) present in truth or prediction"
            return f"0.67·F1 + 0.33·accuracy, {f1}" if self.edition.criterion_era else f1
        f1 = f"mean per-AU F1 over {len(self.columns)} AUs"
        return f"0.5·F1 + 0.5·accuracy over all frame×AU cells, {f1}" if self.edition.criterion_era else f1

    def value_description(self) -> str:
        if self.track == "expr":
            return f"an integer class id 0-{self.n_classes - 1}"
        if self.track == "va":
            return "a number in [-1, 1]"
        return "0 or 1"


def track_spec(edition: str | Edition, track: str, au_names: tuple[str, ...] | None = None) -> TrackSpec:
    """The spec of ``track`` in ``edition``; ``au_names`` overrides the edition's AU
    list when a ground-truth header says otherwise (8-AU files in an ABAW2 copy)."""
    ed = edition if isinstance(edition, Edition) else get_edition(edition)
    track = track.lower()
    if track == "expr":
        return TrackSpec(ed, track, ed.expr_classes)
    if track == "va":
        return TrackSpec(ed, track, VA_COLUMNS)
    if track == "au":
        return TrackSpec(ed, track, tuple(au_names) if au_names else ed.au_names)
    raise ValueError(f"unknown track {track!r}; expected one of {', '.join(TRACKS)}")


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
