"""Regenerate the example submissions of this folder (deterministic).

    python submissions/generate.py

Writes a tiny ground truth in two editions' layouts under ``data/``, one valid
submission per track and format under ``valid/``, and one broken submission per error
kind under ``broken/`` with ``broken/cases.json`` saying what error each must raise
(the tests run the CLI on every case).

The multi-task (MTL) examples live under ``data/mtl``, in the layouts of ABAW3 (its
MTL_Challenge folder and test release folder) and ABAW4/ABAW7 (``s-Aff-Wild2/``, a
folder name of ours: the sources give the file names only), with the test lists of the
three editions (ABAW7's rows end with a comma).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from abawbench import formats
from abawbench.tracks import MTL_HEADER, track_spec

HERE = Path(__file__).resolve().parent
VIDEOS = {"1-30-1280x720": 48, "video10_1": 40, "10-60-1280x720_right": 36}
ABAW2_FOLDERS = {"expr": "annotations/EXPR_Set", "va": "annotations/VA_Set", "au": "annotations/AU_Set"}
ABAW6_FOLDERS = {"expr": "6th ABAW Annotations/EXPR_Recognition_Challenge",
                 "va": "6th ABAW Annotations/VA_Estimation_Challenge",
                 "au": "6th ABAW Annotations/AU_Detection_Challenge"}
MTL_VIDEOS = {"video45_1": 90, "video10_1": 75, "1-30-1280x720_left": 60}
MTL_TEST_VIDEOS = {"video45_1": 40, "118-30-640x480": 30}
ABAW3_MTL = "3rd ABAW Annotations/Third ABAW Annotations/MTL_Challenge/validation_set.txt"
ABAW3_RELEASE = "CVPR_2022_3rd_ABAW_Competition _Test_Set_Release_&_Submission_Instructions"
ABAW4_MTL = "s-Aff-Wild2/validation_set_annotations.txt"


def _truth(spec, n, rng):
    if spec.track == "expr":
        values = rng.integers(0, spec.n_classes, size=(n, 1))
    elif spec.track == "va":
        values = np.round(np.clip(np.cumsum(rng.normal(0, 0.08, size=(n, 2)), axis=0), -1, 1), 3)
    else:
        values = (rng.random((n, len(spec.columns))) < 0.3).astype(np.int64)
    values[3:6] = spec.invalid  # a run of invalid frames, as the real files have
    return values


def _prediction(spec, truth, rng):
    prediction = truth.copy()
    if spec.track == "expr":
        wrong = rng.random(len(truth)) < 0.4
        prediction[wrong, 0] = rng.integers(0, spec.n_classes, size=wrong.sum())
    elif spec.track == "va":
        prediction = np.round(np.clip(truth + rng.normal(0, 0.15, size=truth.shape), -1, 1), 3)
    else:
        flip = rng.random(truth.shape) < 0.2
        prediction = np.where(flip, 1 - np.clip(truth, 0, 1), np.clip(truth, 0, 1))
    prediction[(truth == spec.invalid).any(axis=1)] = 0  # a model predicts something everywhere
    return prediction


def _write_lines(path: Path, lines: list[str], newline: str = "\n") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(newline.join(lines).encode("utf-8") + newline.encode())


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def main() -> None:
    rng = np.random.default_rng(2021)
    for sub in ("data", "valid", "broken"):
        shutil.rmtree(HERE / sub, ignore_errors=True)
    for edition, folders in (("abaw2", ABAW2_FOLDERS), ("abaw6", ABAW6_FOLDERS)):
        for track, folder in folders.items():
            spec = track_spec(edition, track)
            truths = {video: _truth(spec, n, rng) for video, n in VIDEOS.items()}
            formats.write_per_video(HERE / "data" / edition / folder / "Validation_Set", spec, truths)
            predictions = {video: _prediction(spec, t, rng) for video, t in truths.items()}
            if edition == "abaw2":
                formats.write_per_video(HERE / "valid" / f"abaw2-{track}", spec, predictions)
            else:
                formats.write_image_location(HERE / "valid" / f"abaw6-{track}.txt", spec, {
                    video: (np.arange(1, len(p) + 1), p) for video, p in predictions.items()})
                template = [f"image_location,{spec.header}"] + [
                    f"{video}/{frame:05d}.jpg" + "," * spec.n_values
                    for video, n in VIDEOS.items() for frame in range(1, n + 1)]
                _write_lines(HERE / "data" / "abaw6" / "prediction_files_format" /
                             f"CVPR_6th_ABAW_{track.upper()}_test_set_sample.txt", template)
    _write_lines(HERE / "data" / "abaw6" / "names_of_videos_in_each_test_set" / "test_set_release.txt",
                 list(VIDEOS))
    _write_mtl(np.random.default_rng(2022))
    _write_broken()


def _mtl_truth(rng) -> list[tuple[str, int, np.ndarray]]:
    """Rows of an MTL ground truth: about a third of each video's frames, with labels
    missing as the real files have them (EXPR -1 on many rows, VA -5,-5, AU -1 rows)."""
    rows = []
    for video, n in MTL_VIDEOS.items():
        frames = np.flatnonzero(rng.random(n) < 0.35) + 1
        va = np.round(np.clip(np.cumsum(rng.normal(0, 0.1, size=(frames.size, 2)), axis=0), -1, 1), 3)
        expr = rng.integers(0, 8, size=frames.size).astype(float)
        aus = (rng.random((frames.size, 12)) < 0.3).astype(float)
        expr[rng.random(frames.size) < 0.3] = -1
        va[rng.random(frames.size) < 0.1] = -5
        aus[rng.random(frames.size) < 0.1] = -1
        rows += [(video, int(f), np.concatenate([v, [e], a])) for f, v, e, a in zip(frames, va, expr, aus)]
    return rows


def _mtl_prediction(truth: np.ndarray, rng) -> np.ndarray:
    prediction = truth.copy()
    prediction[:, :2] = np.where(truth[:, :2] == -5, rng.uniform(-1, 1, size=(len(truth), 2)),
                                 np.clip(truth[:, :2] + rng.normal(0, 0.2, size=(len(truth), 2)), -1, 1))
    wrong = (truth[:, 2] == -1) | (rng.random(len(truth)) < 0.4)
    prediction[wrong, 2] = rng.integers(0, 8, size=wrong.sum())
    aus = np.clip(truth[:, 3:], 0, 1)
    flip = rng.random(aus.shape) < 0.2
    prediction[:, 3:] = np.where(flip, 1 - aus, aus)
    return prediction


def _mtl_line(video: str, frame: int, values: np.ndarray, minus_five: str = "-5") -> str:
    va = ",".join(minus_five if v == -5 else f"{v:.4f}" for v in values[:2])
    return f"{video}/{frame:05d}.jpg,{va}," + ",".join(str(int(v)) for v in values[2:])


def _write_mtl(rng) -> None:
    """MTL ground truth of ABAW3 and ABAW4/7, their test lists, valid submissions."""
    header = ",".join(MTL_HEADER)
    data = HERE / "data" / "mtl"
    for edition, path, minus_five in (("abaw3", ABAW3_MTL, "-5.0"), ("abaw4", ABAW4_MTL, "-5")):
        truth = _mtl_truth(rng)
        _write_lines(data / path, [header] + [_mtl_line(v, f, x, minus_five) for v, f, x in truth])
        prediction = _mtl_prediction(np.array([x for _, _, x in truth]), rng)
        _write_lines(HERE / "valid" / f"{edition}-mtl.txt",
                     [header] + [_mtl_line(v, f, p) for (v, f, _), p in zip(truth, prediction)])
    test_rows = [f"{video}/{frame:05d}.jpg" for video, n in MTL_TEST_VIDEOS.items() for frame in range(1, n + 1, 3)]
    _write_lines(data / ABAW3_RELEASE / "Multi_Task_Learning_Challenge_test_set_release.txt", [header] + test_rows)
    for name in ("Valence_Arousal_Estimation_Challenge", "Expression_Classification_Challenge",
                 "Action_Unit_Detection_Challenge"):
        _write_lines(data / ABAW3_RELEASE / f"{name}_test_set_release.txt", list(MTL_TEST_VIDEOS))
    _write_lines(data / "s-Aff-Wild2" / "MTL_Challenge_test_set_release.txt", [header] + test_rows)
    _write_lines(data / "test_set_examples" / "MTL.txt", [header] + [row + "," for row in test_rows])
    prediction = _mtl_prediction(np.zeros((len(test_rows), 15)), rng)
    _write_lines(HERE / "valid" / "abaw7-mtl-test.txt",
                 [header] + [f"{row},{_mtl_line('v', 1, p).split(',', 1)[1]}" for row, p in zip(test_rows, prediction)])


def _write_broken() -> None:
    """One broken copy of a valid submission per error kind."""
    cases = []
    broken = HERE / "broken"

    def per_video(name, track, mutate, expect, line, edition="abaw2", file="1-30-1280x720.txt", kind="score"):
        source = HERE / "valid" / f"abaw2-{track}"
        target = broken / name
        shutil.copytree(source, target)
        mutate(target)
        cases.append({"name": name, "path": f"broken/{name}", "track": track, "edition": edition,
                      "data": "data/abaw2", "expect": expect, "file": file, "line": line, "command": kind})

    def single(name, track, mutate, expect, line, extra=None):
        lines = _lines(HERE / "valid" / f"abaw6-{track}.txt")
        lines = mutate(lines)
        target = broken / f"{name}.txt"
        if isinstance(lines, bytes):
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(lines)
        else:
            _write_lines(target, lines)
        case = {"name": name, "path": f"broken/{name}.txt", "track": track, "edition": "abaw6",
                "data": "data/abaw6", "expect": expect, "file": f"{name}.txt", "line": line, "command": "score"}
        case.update(extra or {})
        cases.append(case)

    def edit(video="1-30-1280x720", line=None, text=None, delete=False, insert=None, header=None):
        def apply(folder):
            path = folder / f"{video}.txt"
            lines = _lines(path)
            if header is not None:
                lines[0] = header
            if line is not None and text is not None:
                lines[line - 1] = text
            if delete:
                del lines[line - 1]
            if insert is not None:
                lines.insert(line - 1, insert)
            _write_lines(path, lines)
        return apply

    expr7 = track_spec("abaw2", "expr").header
    per_video("missing-header", "expr", edit(header="3"), "header line is missing", 1)
    per_video("wrong-header", "expr", edit(header="valence,arousal"), "expected the header", 1)
    per_video("header-of-other-edition", "expr", edit(header=track_spec("abaw6", "expr").header),
              "8-column EXPR", 1)
    per_video("truncated-header", "va", edit(header="valence"), "expected the header", 1)
    per_video("too-few-lines", "expr", edit(line=10, delete=True), "too few", 49)
    per_video("too-many-lines", "va", edit(line=20, insert="0.1,0.2"), "too many", 50)
    per_video("empty-line", "va", edit(line=12, text=""), "empty line", 12)
    per_video("not-a-number", "va", edit(line=7, text="0.12,abc"), "'abc'", 7)
    per_video("nan-value", "va", edit(line=8, text="nan,0.1"), "finite number", 8)
    per_video("inf-value", "va", edit(line=9, text="0.2,inf"), "finite number", 9)
    per_video("va-out-of-range", "va", edit(line=15, text="1.5,0.2"), "[-1, 1]", 15)
    per_video("va-invalid-marker", "va", edit(line=16, text="-5,-5"), "[-1, 1]", 16)
    per_video("class-out-of-range", "expr", edit(line=11, text="7"), "integer class id 0-6", 11)
    per_video("negative-class", "expr", edit(line=13, text="-1"), "integer class id 0-6", 13)
    per_video("class-not-integer", "expr", edit(line=14, text="2.0"), "integer", 14)
    per_video("va-one-column", "va", edit(line=17, text="0.25"), "2 comma-separated values", 17)
    per_video("va-three-columns", "va", edit(line=18, text="0.25,0.1,0.3"), "2 comma-separated values", 18)
    per_video("au-not-binary", "au", edit(line=6, text="0,1,0,0,2,0,0,0,1,0,0,0"), "0 or 1", 6)
    per_video("au-too-few-columns", "au", edit(line=7, text="0,1,0,0,1,0,0,0,1,0,0"), "12 comma-separated", 7)
    per_video("huge-integer", "expr", edit(line=12, text="99999999999999999999999"), "integer class id 0-6", 12)
    per_video("va-boolean-words", "va", edit(line=10, text="TRUE,FALSE"), "'TRUE'", 10)
    per_video("not-utf8", "expr", lambda f: (f / "1-30-1280x720.txt").write_bytes(b"\xff\xfe\x00N\x00e"),
              "UTF-8", 1)
    per_video("empty-file", "expr", lambda f: (f / "1-30-1280x720.txt").write_bytes(b""), "empty file", 1)
    per_video("missing-video", "expr", lambda f: (f / "video10_1.txt").unlink(), "none for 'video10_1'", None,
              file="missing-video")
    per_video("unknown-video", "expr",
              lambda f: shutil.copy(f / "video10_1.txt", f / "5-60-1920x1080-1.txt"),
              "5-60-1920x1080-1", None, file="5-60-1920x1080-1.txt")
    per_video("missing-video-validate", "va", lambda f: (f / "video10_1.txt").unlink(), "none for 'video10_1'",
              None, file="missing-video-validate", kind="validate")

    image_header = f"image_location,{track_spec('abaw6', 'va').header}"
    single("il-missing-header", "va", lambda ls: ls[1:], "header line is missing", 1)
    single("il-per-video-header", "va", lambda ls: ["valence,arousal"] + ls[1:], "expected the header", 1)
    single("il-seven-class-header", "expr", lambda ls: [f"image_location,{expr7}"] + ls[1:], "expected the header", 1)
    single("il-duplicate-row", "va", lambda ls: ls[:10] + [ls[9]] + ls[10:], "duplicate", 11)
    single("il-unordered-frames", "va", lambda ls: ls[:5] + [ls[6], ls[5]] + ls[7:], "increasing order", 7)
    single("il-video-split", "va", lambda ls: ls[:3] + ls[49:52] + ls[3:49] + ls[52:], "rows of each video together", 7)
    single("il-bad-location", "va", lambda ls: ls[:4] + ["1-30-1280x720-00004.jpg,0.1,0.2"] + ls[5:], "image_location like", 5)
    single("il-frame-not-5-digits", "va", lambda ls: ls[:6] + [ls[6].replace("/00006.jpg", "/6.jpg")] + ls[7:],
           "5-digit frame number", 7)
    single("il-empty-value", "expr", lambda ls: ls[:3] + [ls[3].split(",")[0] + ","] + ls[4:], "an empty field", 4)
    single("il-frame-beyond-video", "va", lambda ls: ls[:49] + ["1-30-1280x720/00049.jpg,0.1,0.1"] + ls[49:],
           "frames 1-48", 50)
    single("il-missing-frame", "va", lambda ls: ls[:20] + ls[21:], "a row for '1-30-1280x720/00020.jpg'", 21)
    single("il-unknown-video", "va", lambda ls: ls + ["ghost-video/00001.jpg,0.1,0.1"], "ghost-video", len(_lines(
        HERE / "valid" / "abaw6-va.txt")) + 1)
    single("il-missing-video", "va", lambda ls: [ls[0]] + [r for r in ls[1:] if not r.startswith("video10_1/")],
           "none for 'video10_1'", None)
    single("il-wrong-field-count", "va", lambda ls: ls[:8] + [ls[8] + ",0.3"] + ls[9:], "2 comma-separated", 9)
    single("il-class-out-of-range", "expr", lambda ls: ls[:9] + [ls[9].rsplit(",", 1)[0] + ",8"] + ls[10:],
           "integer class id 0-7", 10)
    single("il-au-value", "au", lambda ls: ls[:9] + [ls[9][:-1] + "3"] + ls[10:], "0 or 1", 10)
    single("il-template-mismatch", "va", lambda ls: ls[:30] + ls[31:], "as on line 31 of the template", 31,
           {"command": "validate", "template": "data/abaw6/prediction_files_format/CVPR_6th_ABAW_VA_test_set_sample.txt"})
    single("il-no-rows", "va", lambda ls: ls[:1], "no rows", 2)
    assert image_header  # the VA single-file header the il-* cases start from

    def mtl(name, mutate, expect, line, extra=None):
        """A broken copy of the valid ABAW4 MTL submission, scored against data/mtl (or
        validated against a test list when ``extra`` says so)."""
        source = extra.pop("source", "abaw4-mtl") if extra else "abaw4-mtl"
        lines = mutate(_lines(HERE / "valid" / f"{source}.txt"))
        target = broken / f"{name}.txt"
        _write_lines(target, lines)
        case = {"name": name, "path": f"broken/{name}.txt", "track": "mtl", "edition": "abaw4", "data": "data/mtl",
                "expect": expect, "file": f"{name}.txt", "line": line, "command": "score"}
        case.update(extra or {})
        cases.append(case)

    def row(i, change):
        return lambda ls: ls[:i] + [change(ls[i])] + ls[i + 1:]

    def field(i, k, value):
        return row(i, lambda text: ",".join(value if j == k else cell for j, cell in enumerate(text.split(","))))

    mtl("mtl-missing-header", lambda ls: ls[1:], "header line is missing", 1)
    mtl("mtl-image-location-header", lambda ls: ["image_location,valence,arousal,expression,aus"] + ls[1:],
        "MTL files start with 'image'", 1)
    mtl("mtl-uni-task-header", lambda ls: ["valence,arousal"] + ls[1:], "uni-task header", 1)
    mtl("mtl-header-case", lambda ls: ["Image,Valence,Arousal,Expression,AUs"] + ls[1:], "letter case", 1)
    mtl("mtl-too-few-fields", row(5, lambda t: t.rsplit(",", 1)[0]), "16 comma-separated fields", 6)
    mtl("mtl-trailing-comma", row(7, lambda t: t + ","), "found 17", 8)
    mtl("mtl-valence-out-of-range", field(9, 1, "1.5"), "valence a number in [-1, 1]", 10)
    mtl("mtl-va-invalid-marker", field(4, 2, "-5"), "arousal a number in [-1, 1]", 5)
    mtl("mtl-expression-out-of-range", field(11, 3, "8"), "expression an integer class id 0-7", 12)
    mtl("mtl-expression-not-integer", field(12, 3, "3.0"), "an integer (expression)", 13)
    mtl("mtl-au-not-binary", field(6, 9, "2"), "AU10 0 or 1", 7)
    mtl("mtl-au-invalid-marker", field(8, 15, "-1"), "AU26 0 or 1", 9)
    mtl("mtl-not-a-number", field(3, 1, "abc"), "a number (valence)", 4)
    mtl("mtl-empty-line", row(10, lambda t: ""), "empty", 11)
    mtl("mtl-bad-location", field(2, 0, "video45_1-00004.jpg"), "image_location like", 3)
    mtl("mtl-duplicate-row", lambda ls: ls[:6] + [ls[5]] + ls[6:], "no duplicate rows", 7)
    mtl("mtl-unknown-image", lambda ls: ls[:3] + [ls[2].replace(ls[2].split(",")[0], "video45_1/09999.jpg")] + ls[3:],
        "only images the reference lists", 4)
    mtl("mtl-unknown-video", lambda ls: ls + ["ghost/00001.jpg," + ls[1].split(",", 1)[1]], "ghost",
        len(_lines(HERE / "valid" / "abaw4-mtl.txt")) + 1)
    mtl("mtl-missing-image", lambda ls: ls[:15] + ls[16:], "a row for", 16)
    mtl("mtl-test-missing-image", lambda ls: ls[:20] + ls[21:], "a row for", 21,
        {"source": "abaw7-mtl-test", "command": "validate", "edition": "abaw7",
         "template": "data/mtl/test_set_examples/MTL.txt"})
    mtl("mtl-test-unknown-image", lambda ls: ls[:2] + ["video45_1/00002.jpg," + ls[1].split(",", 1)[1]] + ls[2:],
        "only images the reference lists", 3,
        {"source": "abaw7-mtl-test", "command": "validate", "edition": "abaw7",
         "template": "data/mtl/test_set_examples/MTL.txt"})
    (broken / "cases.json").write_text(json.dumps(cases, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
