"""Synthetic multi-task (MTL) files, derived from a synthetic Aff-Wild2 root.

``synthesize_mtl(affwild2_root, out)`` reads the per-video EXPR, VA and AU annotations
of an 8-class Aff-Wild2 root (``abawbench data synth``'s ``affwild2_abaw6``), picks a
subset of the frames that have a crop — MTL rows are single images, not whole videos —
and writes them in the layouts of the three MTL editions (README, MTL section)::

    3rd ABAW Annotations/Third ABAW Annotations/MTL_Challenge/train_set.txt, validation_set.txt   ABAW3
    CVPR_2022_3rd_ABAW_Competition _Test_Set_Release_&_Submission_Instructions/
        Multi_Task_Learning_Challenge_test_set_release.txt                                    ABAW3 test list
    s-Aff-Wild2/training_set_annotations.txt, validation_set_annotations.txt                  ABAW4 and ABAW7
    s-Aff-Wild2/MTL_Challenge_test_set_release.txt                                            ABAW4 test list
    test_set_examples/MTL.txt                                                                 ABAW7 test list

Only the file names, headers and row layouts are the organisers'; the folders that hold
the ABAW4/ABAW7 files are not known from public sources and are named here. ABAW3's
set takes other frames than ABAW4's (the editions' sets differ); ABAW7 reuses ABAW4's
files, as its published counts show.

Rows: ``video/00001.jpg,valence,arousal,expression,AU1,…,AU26`` with the missing tracks of
a video written as the markers (VA -5,-5; EXPR -1; AU -1 in all 12). Planted, as the
sources report or allow: a ground-truth image listed twice (ABAW4/7 train), a row
whose every label is invalid (validation), VA written ``-5.0`` in the ABAW3 files and
``-5`` in ABAW4's, test lists with (ABAW7) and without a trailing comma. The test lists
name frames of the videos without annotations (of the validation videos when every
video is annotated), and so do the three video lists of the ABAW3 release folder.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from abawbench import atomic
from abawbench.tracks import AU_NAMES_12, EXPR_CLASSES_8, MTL_HEADER

ABAW3_FOLDER = Path("3rd ABAW Annotations/Third ABAW Annotations/MTL_Challenge")
ABAW3_TEST_FOLDER = Path("CVPR_2022_3rd_ABAW_Competition _Test_Set_Release_&_Submission_Instructions")
S_AFF_WILD2_FOLDER = Path("s-Aff-Wild2")
ABAW7_TEST_FOLDER = Path("test_set_examples")


def _per_video_labels(root: Path) -> tuple[dict[str, str], dict[str, np.ndarray]]:
    """``(split of each video, labels (lines, 15) float64 per video)`` from the per-video
    annotation folders (missing tracks as their invalid markers)."""
    from abawbench.data.affwild2 import annotation_files, find_annotation_folders
    from abawbench.formats import read_many
    from abawbench.tracks import track_spec

    columns = {"va": slice(0, 2), "expr": slice(2, 3), "au": slice(3, 15)}
    markers = {"va": -5.0, "expr": -1.0, "au": -1.0}
    per_track: dict[str, dict[str, np.ndarray]] = {}
    split_of: dict[str, str] = {}
    for folder in find_annotation_folders(root):
        if folder.track == "expr" and folder.columns != EXPR_CLASSES_8 or \
                folder.track == "au" and folder.columns != AU_NAMES_12:
            raise ValueError(f"{folder.folder}: MTL files need the 8-class EXPR and 12-AU annotations "
                             "(an ABAW3+ layout, e.g. affwild2_abaw6 of `abawbench data synth`)")
        spec = track_spec("abaw6", folder.track)
        paths = annotation_files(folder.folder)
        for path, values in zip(paths, read_many(paths, spec, allow_invalid=True)):
            per_track.setdefault(path.stem, {})[folder.track] = values
            split_of[path.stem] = folder.split
    labels = {}
    for video, tracks in per_track.items():
        lines = max(len(values) for values in tracks.values())
        table = np.empty((lines, 15))
        for track, part in columns.items():
            table[:, part] = markers[track]
            if track in tracks:
                table[: len(tracks[track]), part] = tracks[track]
        labels[video] = table
    return split_of, labels


def _format_row(video: str, frame: int, values: np.ndarray, minus_five: str) -> str:
    va = ",".join(minus_five if v == -5 else f"{v:.3f}" for v in values[:2])
    return f"{video}/{frame:05d}.jpg,{va}," + ",".join(str(int(v)) for v in values[2:])


def _rows(labels: dict[str, np.ndarray], crops: dict[str, np.ndarray], videos: list[str],
          rng: np.random.Generator, share: float) -> list[tuple[str, int, np.ndarray]]:
    """About ``share`` of the frames of each video that have a crop and some valid label."""
    rows = []
    for video in videos:
        table = labels[video]
        frames = crops.get(video, np.zeros(0, dtype=np.int64))
        frames = frames[frames <= len(table)]
        values = table[frames - 1]
        labelled = (values[:, 0] != -5) | (values[:, 2] != -1) | (values[:, 3] != -1)
        chosen = frames[labelled & (rng.random(frames.size) < share)]
        rows += [(video, int(frame), table[frame - 1]) for frame in chosen]
    return rows


def synthesize_mtl(affwild2_root: Path, out: Path, seed: int = 0) -> dict:
    """Write the MTL files of ABAW3, ABAW4 and ABAW7 derived from ``affwild2_root`` into
    ``out`` (see the module docstring); returns the manifest, also written to
    ``out/mtl_manifest.json``: per edition and split the file, its rows and the valid
    labels of each part, the planted quirks, and the test lists."""
    from abawbench.data.affwild2 import list_crops

    affwild2_root, out = Path(affwild2_root), Path(out)
    rng = np.random.default_rng(seed)
    split_of, labels = _per_video_labels(affwild2_root)
    crops = list_crops(affwild2_root)
    header = ",".join(MTL_HEADER)
    manifest: dict = {"generator": "abawbench.data.synth_mtl", "schema": 1, "seed": seed,
                      "source": os.path.relpath(affwild2_root, out), "editions": {}, "test_lists": {}, "planted": {}}
    by_split = {split: sorted(v for v, s in split_of.items() if s == split) for split in ("train", "validation")}
    # test lists name the videos without annotations (the validation videos when there are none)
    unannotated = sorted(set(crops) - set(labels)) or by_split["validation"]

    def write(path: Path, lines: list[str]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_text(path, "\n".join(lines) + "\n")

    def summary(path: Path, rows) -> dict:
        values = np.array([v for _, _, v in rows]).reshape(-1, 15)
        return {"file": str(path.relative_to(out)), "rows": len(rows),
                "valid": {"va": int(((values[:, 0] != -5) & (values[:, 1] != -5)).sum()),
                          "expr": int((values[:, 2] != -1).sum()), "au": int((values[:, 3:] != -1).all(1).sum())}}

    sets = {"abaw3": (ABAW3_FOLDER, {"train": "train_set.txt", "validation": "validation_set.txt"}, 0.6, "-5.0"),
            "abaw4": (S_AFF_WILD2_FOLDER, {"train": "training_set_annotations.txt",
                                           "validation": "validation_set_annotations.txt"}, 0.45, "-5")}
    for edition, (folder, names, share, minus_five) in sets.items():
        manifest["editions"][edition] = {}
        for split, name in names.items():
            rows = _rows(labels, crops, by_split[split], rng, share)
            if edition == "abaw4" and split == "train" and rows:
                repeated = rows[len(rows) // 2]
                rows.insert(len(rows) // 2 + 1, repeated)  # an image listed twice, as the real files have
                manifest["planted"]["repeated_image"] = {"file": str(folder / name),
                                                        "image": f"{repeated[0]}/{repeated[1]:05d}.jpg"}
            if split == "validation" and rows:
                video, frame, values = rows[-1]
                dead = values.copy()
                dead[:2], dead[2:] = -5, -1  # a row whose every label is invalid: it needs no prediction
                rows[-1] = (video, frame, dead)
                manifest["planted"].setdefault("unlabelled_rows", []).append(
                    {"file": str(folder / name), "image": f"{video}/{frame:05d}.jpg"})
            write(out / folder / name, [header] + [_format_row(v, f, x, minus_five) for v, f, x in rows])
            manifest["editions"][edition][split] = summary(out / folder / name, rows)
    manifest["editions"]["abaw7"] = manifest["editions"]["abaw4"]  # ABAW7 reuses ABAW4's files
    test_rows = [f"{video}/{frame:05d}.jpg" for video in unannotated
                 for frame in crops[video][rng.random(crops[video].size) < 0.5]]
    lists = {"abaw3": (ABAW3_TEST_FOLDER / "Multi_Task_Learning_Challenge_test_set_release.txt", ""),
             "abaw4": (S_AFF_WILD2_FOLDER / "MTL_Challenge_test_set_release.txt", ""),
             "abaw7": (ABAW7_TEST_FOLDER / "MTL.txt", ",")}
    for edition, (path, trailing) in lists.items():
        write(out / path, [header] + [row + trailing for row in test_rows])
        manifest["test_lists"][edition] = {"file": str(path), "rows": len(test_rows),
                                           "trailing_comma": bool(trailing)}
    # the other test lists of the ABAW3 release folder: one video name per line
    for name in ("Valence_Arousal_Estimation_Challenge_test_set_release.txt",
                 "Expression_Classification_Challenge_test_set_release.txt",
                 "Action_Unit_Detection_Challenge_test_set_release.txt"):
        write(out / ABAW3_TEST_FOLDER / name, unannotated)
    atomic.write_text(out / "mtl_manifest.json", json.dumps(manifest, indent=1) + "\n")
    return manifest
