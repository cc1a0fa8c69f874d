"""Strict parsing: tolerated editor artefacts, exact errors, fast path equal to slow path."""

import os
import signal
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from abawbench import formats
from abawbench.formats import FormatError
from abawbench.tracks import track_spec

from examples_budget import examples

VA = track_spec("abaw2", "va")
EXPR = track_spec("abaw2", "expr")
AU = track_spec("abaw2", "au")
EXPR8 = track_spec("abaw6", "expr")


def write(tmp_path: Path, name: str, content: bytes | str) -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def test_editor_artefacts_are_tolerated_and_change_nothing(tmp_path):
    clean = write(tmp_path, "clean.txt", "valence,arousal\n0.1,-0.2\n0.35,0.5\n")
    messy = write(tmp_path, "messy.txt", b"\xef\xbb\xbfvalence, arousal\r\n0.1, -0.2\r\n 0.35 ,0.5\r\n\r\n\n")
    assert np.array_equal(formats.read_prediction(clean, VA), formats.read_prediction(messy, VA))
    no_final_newline = write(tmp_path, "nofinal.txt", "valence,arousal\n0.1,-0.2\n0.35,0.5")
    assert np.array_equal(formats.read_prediction(clean, VA), formats.read_prediction(no_final_newline, VA))


@pytest.mark.parametrize("content, line, fragment", [
    ("valence,arousal\n0.1,0.2\n\n0.3,0.1\n", 3, "empty line"),
    ("valence,arousal\n0.1;0.2\n", 2, "'0.1;0.2'"),
    ("valence,arousal\n0.1,0.2\n1e999,0\n", 3, "[-1, 1]"),
    ("valence,arousal\n0.1,0.2\n0.1_0,0\n", 3, "'0.1_0'"),
    ("valence,arousal\n0.1,0.2\n-0.4,\n", 3, "empty field"),
    ("valence,arousal\n0x1,0\n", 2, "'0x1'"),
    ("valence,arousal\n0.1,0.2\n-1.0001,0\n", 3, "[-1, 1]"),
    ("Valence,Arousal\n0.1,0.2\n", 1, "header"),
    ('valence,arousal\n0.1,0.2\n"0.3",0.1\n', 3, "'\"0.3\"'"),  # pandas would unquote it
    ("valence,arousal\n0.1,0.2\n0.3,0.1\x00\n", 3, r"0.1\x00"),
])
def test_va_errors_name_file_and_line(tmp_path, content, line, fragment):
    path = write(tmp_path, "v.txt", content)
    with pytest.raises(FormatError) as caught:
        formats.read_prediction(path, VA)
    assert caught.value.line == line
    assert fragment in str(caught.value)
    assert str(caught.value).startswith(f"{path}:{line}:")


def test_expr_edition_decides_the_class_range(tmp_path):
    seven = write(tmp_path, "e7.txt", EXPR.header + "\n0\n6\n")
    assert formats.read_prediction(seven, EXPR)[:, 0].tolist() == [0, 6]
    eight = write(tmp_path, "e8.txt", EXPR8.header + "\n7\n")
    assert formats.read_prediction(eight, EXPR8)[:, 0].tolist() == [7]
    with pytest.raises(FormatError, match="8-column EXPR"):
        formats.read_prediction(eight, EXPR, "--edition abaw2 uses 7 classes")


def test_annotation_reader_detects_track_and_keeps_invalid_markers(tmp_path):
    path = write(tmp_path, "a.txt", "AU1,AU2,AU4,AU6,AU7,AU10,AU12,AU15,AU23,AU24,AU25,AU26\n" +
                 "0,1,0,0,0,0,1,0,0,0,1,0\n" + ",".join(["-1"] * 12) + "\n")
    spec, columns, values = formats.read_annotation(path)
    assert spec.track == "au" and len(columns) == 12
    assert values[1].tolist() == [-1] * 12
    au8 = track_spec("abaw1", "au")
    with pytest.raises(FormatError, match=r"p.txt:2: expected 0 or 1"):  # no invalid marker in a prediction
        formats.read_prediction(write(tmp_path, "p.txt", au8.header + "\n" + ",".join(["-1"] * 8) + "\n"), au8)


def test_image_location_reader_and_writer_round_trip(tmp_path):
    rows = {"video_a": (np.array([1, 2, 5]), np.array([[0.1, 0.2], [0.3, -0.4], [1.0, -1.0]])),
            "video_b": (np.array([3]), np.array([[0.0, 0.5]]))}
    path = tmp_path / "va.txt"
    formats.write_image_location(path, VA, rows)
    read = formats.read_image_location(path, VA)
    assert read.videos.tolist() == ["video_a"] * 3 + ["video_b"]
    assert read.frames.tolist() == [1, 2, 5, 3]
    assert np.allclose(read.values, np.concatenate([rows["video_a"][1], rows["video_b"][1]]))
    assert read.locations[2] == "video_a/00005.jpg"


def test_writers_are_atomic(tmp_path):
    target = tmp_path / "submission"
    formats.write_per_video(target, VA, {"v1": np.zeros((3, 2))})
    with pytest.raises(ValueError):
        formats.write_per_video(target, VA, {"v2": np.zeros((3, 2)), "v3": np.array([["x", "y"]])})
    assert sorted(p.name for p in target.iterdir()) == ["v1.txt"]  # the old folder is intact
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_video_list_reader(tmp_path):
    path = write(tmp_path, "list.txt", "1-30-1280x720\nvideo10_1,300\n")
    assert formats.read_video_list(path) == {"1-30-1280x720": None, "video10_1": 300}
    with pytest.raises(FormatError, match="list.txt:3"):
        formats.read_video_list(write(tmp_path, "list.txt", "a\nb\na\n"))


# --------------------------------------------------- fast path equals slow path


va_rows = st.lists(st.tuples(st.floats(-1, 1), st.floats(-1, 1)), min_size=1, max_size=60)
spacing = st.sampled_from(["", " ", "  "])


@settings(max_examples=examples(150), deadline=None)
@given(va_rows, spacing, st.sampled_from(["\n", "\r\n"]), st.booleans())
def test_fast_and_slow_parsers_agree_on_valid_va(rows, space, newline, bom):
    body = newline.join(f"{v:.4f},{space}{a:.6g}" for v, a in rows)
    text = formats.TextFile(Path("x.txt"), VA.header, body.replace("\r\n", "\n").encode(), len(rows))
    fast = formats._fast_parse(text.body, text.n_rows, 2, integer=False)
    slow = formats._slow_parse(text, 2, False, "va")
    assert fast is not None
    assert np.array_equal(fast, slow)


@settings(max_examples=examples(100), deadline=None)
@given(st.lists(st.lists(st.integers(0, 1), min_size=12, max_size=12), min_size=1, max_size=40))
def test_fast_and_slow_parsers_agree_on_valid_au(rows):
    body = "\n".join(",".join(map(str, row)) for row in rows).encode()
    text = formats.TextFile(Path("x.txt"), AU.header, body, len(rows))
    assert np.array_equal(formats._fast_parse(body, len(rows), 12, integer=True),
                          formats._slow_parse(text, 12, True, "au"))


# ------------------------------------------------- mutation: no silent success


def _valid_va_file(n: int = 30) -> list[str]:
    rng = np.random.default_rng(n)
    return [VA.header] + [f"{v:.3f},{a:.3f}" for v, a in rng.uniform(-1, 1, size=(n, 2))]


BREAKING = [
    ("delete a row", lambda lines, i: lines[:i] + lines[i + 1:]),
    ("duplicate a row", lambda lines, i: lines[:i] + [lines[i]] + lines[i:]),
    ("blank a row", lambda lines, i: lines[:i] + [""] + lines[i + 1:]),
    ("drop a field", lambda lines, i: lines[:i] + [lines[i].split(",")[0]] + lines[i + 1:]),
    ("add a field", lambda lines, i: lines[:i] + [lines[i] + ",0.1"] + lines[i + 1:]),
    ("letters", lambda lines, i: lines[:i] + [lines[i].replace("0", "O", 1) if "0" in lines[i] else "x,y"] + lines[i + 1:]),
    ("out of range", lambda lines, i: lines[:i] + ["1.25," + lines[i].split(",")[1]] + lines[i + 1:]),
    ("nan", lambda lines, i: lines[:i] + ["nan,0"] + lines[i + 1:]),
    ("semicolon", lambda lines, i: lines[:i] + [lines[i].replace(",", ";")] + lines[i + 1:]),
    ("drop the header", lambda lines, i: lines[1:]),
    ("garble the header", lambda lines, i: ["valence,arousal,"] + lines[1:]),
]


@settings(max_examples=examples(120), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(BREAKING), st.integers(1, 30), st.sampled_from(["\n", "\r\n"]))
def test_breaking_mutations_are_caught_with_file_and_line(tmp_path, mutation, row, newline):
    from abawbench.scoring import Expected, Submission, align

    name, mutate = mutation
    lines = mutate(_valid_va_file(), row)
    path = tmp_path / "video.txt"
    path.write_bytes((newline.join(lines) + newline).encode())
    with pytest.raises(FormatError) as caught:
        values = formats.read_prediction(path, VA)
        # a deleted or duplicated row only shows against the expected frame count
        align(Submission(tmp_path, "per-video", per_video={"video": values}), Expected({"video": 30}, source="test"))
    assert caught.value.line is not None and caught.value.line >= 1, name
    assert str(caught.value).startswith(str(path)), name


@settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(1, 30), spacing, st.sampled_from(["\n", "\r\n"]), st.booleans(), st.integers(0, 3))
def test_harmless_mutations_parse_to_the_same_values(tmp_path, row, space, newline, bom, trailing):
    lines = _valid_va_file()
    lines[row] = lines[row].replace(",", "," + space)
    content = newline.join(lines) + newline * (1 + trailing)
    path = tmp_path / "video.txt"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + content.encode())
    clean = tmp_path / "clean.txt"
    clean.write_text("\n".join(_valid_va_file()) + "\n")
    assert np.array_equal(formats.read_prediction(path, VA), formats.read_prediction(clean, VA))


@settings(max_examples=examples(100), deadline=None)
@given(st.lists(st.lists(st.sampled_from(["0", "1", "7", "-1", "12", " 3"]), min_size=3, max_size=3),
                min_size=1, max_size=30))
def test_integer_fast_paths_agree_with_the_slow_parser(rows):
    """Single digits, signed and multi-digit values and spaces: every fast path or the
    fallback gives the slow parser's values."""
    body = "\n".join(",".join(row) for row in rows).encode()
    text = formats.TextFile(Path("x.txt"), "a,b,c", body, len(rows))
    fast = formats._fast_parse(body, len(rows), 3, integer=True)
    slow = formats._slow_parse(text, 3, True, "ints")
    assert fast is None or np.array_equal(fast, slow)
    if all(cell in ("0", "1", "7") for row in rows for cell in row):
        assert fast is not None and np.array_equal(fast, slow)


def test_frame_numbers_start_at_one(tmp_path):
    """cropped_aligned names frames 00001.jpg onwards: 00000.jpg is no frame of any video."""
    header = "image_location,valence,arousal\n"
    first = write(tmp_path, "ok.txt", header + "video_a/00001.jpg,0.1,0.2\nvideo_b/99999.jpg,0.3,0.4\n")
    assert formats.read_image_location(first, VA).frames.tolist() == [1, 99999]
    zero = write(tmp_path, "zero.txt", header + "video_a/00001.jpg,0.1,0.2\nvideo_b/00000.jpg,0.1,0.2\n")
    with pytest.raises(FormatError) as caught:
        formats.read_image_location(zero, VA)
    assert caught.value.line == 3 and "'video_b/00000.jpg'" in str(caught.value)
    assert "a frame number of 1 or more" in str(caught.value)


# ------------------------------------------- annotation and video-list readers, edge by edge


def test_annotation_reader_checks_the_header_against_a_spec(tmp_path):
    seven = write(tmp_path, "e7.txt", EXPR.header + "\n0\n6\n-1\n")
    spec, columns, values = formats.read_annotation(seven)  # no spec: the header decides
    assert spec.track == "expr" and columns == EXPR.columns and spec.columns == EXPR.columns
    assert values[:, 0].tolist() == [0, 6, -1]
    assert formats.read_annotation(seven, EXPR)[2][:, 0].tolist() == [0, 6, -1]
    for other in (EXPR8, VA):  # same track, other classes; other track
        with pytest.raises(FormatError) as caught:
            formats.read_annotation(seven, other)
        assert str(caught.value) == f"{seven}:1: expected the header {other.header!r}, found {EXPR.header!r}"
    with pytest.raises(FormatError) as caught:  # the 7-class header admits 0-6 only
        formats.read_annotation(write(tmp_path, "e7bad.txt", EXPR.header + "\n0\n7\n"))
    assert caught.value.path == tmp_path / "e7bad.txt" and caught.value.line == 3
    assert str(caught.value).endswith("expected an integer class id 0-6, or -1 for an invalid frame, found '7'")


def test_unknown_annotation_header_is_quoted_and_shortened(tmp_path):
    path = write(tmp_path, "x.txt", "happy,sad\n1\n")
    with pytest.raises(FormatError) as caught:
        formats.read_annotation(path)
    assert str(caught.value) == f"{path}:1: expected an EXPR, VA or AU annotation header, found 'happy,sad'"
    long_header = ",".join(f"column{i:03d}" for i in range(30))  # 299 characters
    with pytest.raises(FormatError) as caught:
        formats.read_annotation(write(tmp_path, "long.txt", long_header + "\n1\n"))
    assert caught.value.found == repr(long_header[:119] + "…")  # at most 120 characters shown


def test_video_list_reader_edges(tmp_path):
    assert formats.read_video_list(write(tmp_path, "one.txt", "video10_1\n")) == {"video10_1": None}
    spaced = write(tmp_path, "spaced.txt", "1-30-1280x720 \n video10_1 , 300 \n")
    assert formats.read_video_list(spaced) == {"1-30-1280x720": None, "video10_1": 300}
    odd = formats.read_video_list(write(tmp_path, "odd.txt", b"v1\ncaf\xe9\n"))  # not UTF-8: replaced, not fatal
    assert list(odd) == ["v1", "caf\ufffd"]
    cases = [("a\n\nb\n", 2, "a video name", "an empty line"),
             ("a\nb,1,2\n", 2, "'video' or 'video,frames'", "'b,1,2'"),
             ("a\nb,x\n", 2, "'video' or 'video,frames'", "'b,x'"),
             ("a\nb,300\na,5\n", 3, "each video once", "'a' again")]
    for content, line, expected, found in cases:
        path = write(tmp_path, "list.txt", content)
        with pytest.raises(FormatError) as caught:
            formats.read_video_list(path)
        assert str(caught.value) == f"{path}:{line}: expected {expected}, found {found}", content


# The whole message for each kind of refusal: file, line, what was expected, what was found.
EXACT_MESSAGES = [
    (EXPR, "Neutral,Anger,Disgust,Fear,Happiness,Sadness,Surprise\n1\n1,2\n", 3,
     "expected 1 comma-separated value (an integer class id 0-6), found 2 in '1,2'"),
    (VA, "valence,arousal\n0.1,0.2\n0.1\n", 3, "expected 2 comma-separated values (a number in [-1, 1]), found 1 in '0.1'"),
    (VA, "valence,arousal\n0.1,-inf\n", 2, "expected a finite number (a number in [-1, 1]), found '-inf'"),
    (VA, "valence,arousal\n0.1,+NaN\n", 2, "expected a finite number (a number in [-1, 1]), found '+NaN'"),
    (VA, "valence,arousal\n0.1,abc\n", 2, "expected a number (a number in [-1, 1]), found 'abc'"),
    (VA, "valence,arousal\n0.1,\n", 2, "expected a number (a number in [-1, 1]), found an empty field"),
    (VA, "valence,arousal\n0.1,0.2\n\n0.3,0.4\n", 3, "expected a row of a number in [-1, 1], found an empty line"),
    (VA, b"valence,arousal\n0.1,0.2\n\xff,0\n", 3, "expected UTF-8 text, found bytes that are not UTF-8"),
    (VA, "valence,arousal\n 0.5 , 2\n", 2, "expected a number in [-1, 1], found ' 0.5 , 2'"),
    (EXPR, "Neutral,Anger,Disgust,Fear,Happiness,Sadness,Surprise\n1\n1.5\n", 3,
     "expected an integer (an integer class id 0-6), found '1.5'"),
    (VA, "-inf,nan\n0.1,0.2\n", 1, "expected the header 'valence,arousal', found a data row '-inf,nan' "
     "(the header line is missing)"),
    (VA, "inf,0.5\n0.1,0.2\n", 1, "expected the header 'valence,arousal', found a data row 'inf,0.5' "
     "(the header line is missing)"),
    (VA, "a/b,c\n0.1,0.2\n", 1, "expected the header 'valence,arousal', found 'a/b,c'"),
    (VA, "valence,arousal\n0.1,-Infinity\n", 2, "expected a finite number (a number in [-1, 1]), found '-Infinity'"),
    (EXPR, EXPR.header + "\n1\n99999999999999999999\n", 3, "expected an integer class id 0-6, found '99999999999999999999'"),
    (EXPR, EXPR8.header + "\n1\n", 1, f"expected the header {EXPR.header!r}, found {EXPR8.header!r} "
     "(that header is the 8-column EXPR one)"),
]


@pytest.mark.parametrize("spec, content, line, message", EXACT_MESSAGES)
def test_refusals_say_file_line_expected_and_found(tmp_path, spec, content, line, message):
    path = write(tmp_path, "p.txt", content)
    with pytest.raises(FormatError) as caught:
        formats.read_prediction(path, spec)
    assert str(caught.value) == f"{path}:{line}: {message}"


def test_row_order_refusals_name_both_lines(tmp_path):
    header = "image_location,valence,arousal\n"
    cases = [("a/00001.jpg\na/00001.jpg\n", 3, "expected no duplicate rows, found 'a/00001.jpg' again (line 2)"),
             ("a/00001.jpg\na/00003.jpg\na/00002.jpg\n", 4,
              "expected frames of a video in increasing order (after 'a/00003.jpg'), found 'a/00002.jpg'"),
             ("b/00001.jpg\na/00001.jpg\na/00002.jpg\nb/00002.jpg\n", 5,
              "expected the rows of each video together (video 'b' began at line 2), found 'b/00002.jpg' after "
              "other videos' rows"),
             ("/00001.jpg\n", 2, "expected an image_location like 'video/00001.jpg' (5-digit frame number, as "
              "cropped_aligned names the crops), found '/00001.jpg'")]
    for rows, line, message in cases:
        path = write(tmp_path, "il.txt", header + "".join(f"{r},0.1,0.2\n" for r in rows.splitlines()))
        with pytest.raises(FormatError) as caught:
            formats.read_image_location(path, VA)
        assert str(caught.value) == f"{path}:{line}: {message}", rows


def test_slow_path_keeps_integer_values_integer(tmp_path):
    spaced = write(tmp_path, "e.txt", EXPR.header + "\n 1\n2 \n")  # spaces: the line-by-line parser
    values = formats.read_prediction(spaced, EXPR)
    assert values.dtype == np.int64 and values[:, 0].tolist() == [1, 2]


def test_a_header_of_another_edition_names_it(tmp_path):
    eight = write(tmp_path, "e8.txt", EXPR8.header + "\n7\n")
    with pytest.raises(FormatError) as caught:
        formats.read_prediction(eight, EXPR, "--edition abaw2 uses 7 classes")
    assert str(caught.value).endswith("(that header is the 8-column EXPR one; --edition abaw2 uses 7 classes)")


def test_quoted_text_is_cut_at_the_limit():
    assert formats._quote("x" * 60) == repr("x" * 60)
    assert formats._quote("x" * 61) == repr("x" * 59 + "…")


IMAGE_LOCATION_MESSAGES = [
    (b"", 2, "expected one row per frame after the header, found no rows"),
    (b"a/00001.jpg,0.1,0.2\n\xffa/00002.jpg,0.1,0.2\n", 3, "expected UTF-8 text, found bytes that are not UTF-8"),
    (b"a/00001.jpg,0.1,0.2\n   \na/00002.jpg,0.1,0.2\n", 3,
     "expected an image_location like 'video/00001.jpg', found an empty line"),
    (b"a/00001.jpg,0.1,0.2\n,0.1,0.2\n", 3, "expected an image_location like 'video/00001.jpg', found an empty first field"),
    (b"a/00001.jpg,0.1,0.2\na/00002.jpg\n", 3, "expected 2 value(s) after the image_location, found 'a/00002.jpg'"),
    (b"a/00001.jpg,0.1,0.2\na/00002.jpg, \n", 3, "expected 2 value(s) after the image_location, found an empty field"),
    (b"a/00001.jpg,0.1,0.2\na/00002.jpg,-5,-5\n", 3, "expected a number in [-1, 1], found '-5,-5'"),
]


@pytest.mark.parametrize("body, line, message", IMAGE_LOCATION_MESSAGES)
def test_image_location_refusals_say_file_line_expected_and_found(tmp_path, body, line, message):
    path = write(tmp_path, "il.txt", b"image_location,valence,arousal\n" + body)
    with pytest.raises(FormatError) as caught:
        formats.read_image_location(path, VA)
    assert str(caught.value) == f"{path}:{line}: {message}"


def test_image_location_rows_keep_their_videos_and_frames(tmp_path):
    path = write(tmp_path, "il.txt", "image_location,valence,arousal\nvideo10_1/00002.jpg, 0.1 ,0.2\n"
                                     "10-60-1280x720_right/00010.jpg,-1,1\n")
    rows = formats.read_image_location(path, VA)
    assert rows.videos.tolist() == ["video10_1", "10-60-1280x720_right"] and rows.frames.dtype == np.int64
    assert rows.frames.tolist() == [2, 10] and rows.values.tolist() == [[0.1, 0.2], [-1.0, 1.0]]
    assert rows.runs()[0] == ["video10_1", "10-60-1280x720_right"]
    template = formats.read_image_location(write(tmp_path, "t.txt", "image_location,valence,arousal\nv/00001.jpg,,\n"),
                                           VA, template=True)
    assert template.values is None and template.locations == ["v/00001.jpg"]


def test_a_file_with_only_its_header_has_no_rows_of_the_tracks_shape(tmp_path):
    va = formats.read_prediction(write(tmp_path, "va.txt", "valence,arousal\n"), VA)
    assert va.shape == (0, 2) and va.dtype == np.float64
    expr = formats.read_prediction(write(tmp_path, "e.txt", EXPR.header + "\n"), EXPR)
    assert expr.shape == (0, 1) and expr.dtype == np.int64
    au = formats.read_prediction(write(tmp_path, "a.txt", AU.header + "\n"), AU)
    assert au.shape == (0, 12) and au.dtype == np.int64


def test_runs_of_no_rows_are_empty():
    empty = formats.LocatedRows(Path("x.txt"), [], np.zeros(0, np.int64), np.zeros(0, np.int64), None)
    videos, starts, ends = empty.runs()
    assert videos == [] and ends.dtype == np.int64 and ends.size == 0 and len(empty) == 0
    assert empty.video_codes({}).size == 0


def test_an_image_location_header_of_another_edition_names_it(tmp_path):
    path = write(tmp_path, "il.txt", f"image_location,{EXPR8.header}\nv/00001.jpg,1\n")
    with pytest.raises(FormatError) as caught:
        formats.read_image_location(path, EXPR, edition_hint="--edition abaw2 uses 7 classes")
    assert str(caught.value).endswith("(that header is the 8-column EXPR one; --edition abaw2 uses 7 classes)")


def test_a_long_header_is_quoted_cut_to_120_characters(tmp_path):
    # an AU header with spaces around its cells is still the AU header, 131 characters long
    header = ", ".join(f"{name:<8}" for name in ("AU1", "AU2", "AU4", "AU6", "AU7", "AU10", "AU12", "AU15", "AU23",
                                                  "AU24", "AU25", "AU26")) + " " * 11
    assert len(header) > 121
    path = tmp_path / "a.txt"
    path.write_text(header + "\n" + ",".join(["0"] * 12) + "\n")
    with pytest.raises(FormatError) as caught:
        formats.read_annotation(path, track_spec("abaw6", "va"))
    assert str(caught.value) == f"{path}:1: expected the header 'valence,arousal', found {header[:119] + '…'!r}"


def test_stacked_reading_names_the_file_with_another_header_and_reads_no_file_as_empty(tmp_path):
    spec = track_spec("abaw6", "va")
    (tmp_path / "a.txt").write_text("valence,arousal\n0.1,0.2\n")
    (tmp_path / "b.txt").write_text("Neutral,Anger,Disgust,Fear,Happiness,Sadness,Surprise,Other\n3\n")
    with pytest.raises(FormatError) as caught:
        formats.read_stacked([tmp_path / "a.txt", tmp_path / "b.txt"], spec, allow_invalid=True,
                             edition_hint="every file must carry the same header")
    assert str(caught.value) == (f"{tmp_path / 'b.txt'}:1: expected the header 'valence,arousal', found "
                                 "'Neutral,Anger,Disgust,Fear,Happiness,Sadness,Surprise,Other' "
                                 "(every file must carry the same header)")
    values, rows = formats.read_stacked([], spec, allow_invalid=True)
    assert values.shape == (0, 2) and rows.tolist() == []


def test_an_empty_file_is_named_as_such(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_text("\n\n")
    with pytest.raises(FormatError) as caught:
        formats.read_text_file(path)
    assert str(caught.value) == f"{path}:1: expected a header line, found an empty file"



class _OpenedDescriptor:
    """Stands in for ``os.fdopen``'s file object in ``read_regular_file``: closes the
    descriptor on exit; subclasses say what ``read`` does."""

    def __init__(self, descriptor, mode):
        self.descriptor = descriptor

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        os.close(self.descriptor)


def test_files_that_cannot_be_read_are_named_whole(tmp_path, monkeypatch):
    missing = tmp_path / "missing.txt"
    with pytest.raises(FormatError) as caught:
        formats.read_regular_file(missing)
    assert str(caught.value) == f"{missing}: expected a readable file, found No such file or directory"
    with pytest.raises(FormatError) as caught:
        formats.read_regular_file(tmp_path)
    assert str(caught.value) == f"{tmp_path}: expected a file, found a folder"
    regular = tmp_path / "a.txt"
    regular.write_text("valence,arousal\n")

    class FailingStream(_OpenedDescriptor):  # a file whose read fails (a disk error)
        def read(self, size):
            raise OSError(5, "Input/output error")

    monkeypatch.setattr(formats.os, "fdopen", FailingStream)
    with pytest.raises(FormatError) as caught:
        formats.read_regular_file(regular)
    assert str(caught.value) == f"{regular}: expected a readable file, found Input/output error"


def test_a_read_error_without_an_errno_is_named_by_its_message(tmp_path, monkeypatch):
    regular = tmp_path / "a.txt"
    regular.write_text("valence,arousal\n")

    class VanishingStream(_OpenedDescriptor):  # an OSError raised with a message only: no strerror
        def read(self, size):
            raise OSError("the network share went away")

    monkeypatch.setattr(formats.os, "fdopen", VanishingStream)
    with pytest.raises(FormatError) as caught:
        formats.read_regular_file(regular)
    assert str(caught.value) == f"{regular}: expected a readable file, found the network share went away"


def test_a_fifo_that_replaces_a_file_after_its_check_is_refused_without_hanging(tmp_path, monkeypatch):
    regular = tmp_path / "a.txt"
    regular.write_text("x\n")
    fifo = tmp_path / "fifo.txt"
    os.mkfifo(fifo)
    real_stat = os.stat

    def stat_as_before(path, *args, **kwargs):  # the check saw a regular file; then the FIFO took its place
        return real_stat(regular) if str(path) == str(fifo) else real_stat(path, *args, **kwargs)

    monkeypatch.setattr(formats.os, "stat", stat_as_before)
    previous = signal.signal(signal.SIGALRM,
                             lambda *args: (_ for _ in ()).throw(AssertionError("opening the FIFO hung")))
    signal.alarm(5)
    try:
        with pytest.raises(FormatError) as caught:
            formats.read_regular_file(fifo)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert str(caught.value) == f"{fifo}: expected a regular file, found a FIFO (named pipe)"


def test_a_file_that_grows_while_read_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "a.txt"
    path.write_text("x\n")

    class GrowingStream(_OpenedDescriptor):  # fstat saw 2 bytes; by the read, the file holds 11
        def read(self, size):
            return b"x" * size

    monkeypatch.setattr(formats.os, "fdopen", GrowingStream)
    with pytest.raises(FormatError) as caught:
        formats.read_regular_file(path, formats.ReadLimit(10, "a test bound"))
    assert str(caught.value) == f"{path}: expected a file of at most 10 bytes (a test bound), found more"


def test_header_and_location_refusals_word_for_word(tmp_path):
    expr = track_spec("abaw6", "expr")
    classes = "Neutral,Anger,Disgust,Fear,Happiness,Sadness,Surprise,Other"
    row = "v/00001.jpg,0.1,0.2,3,0,1,0,1,1,0,0,0,1,0,1,0"
    mtl_expected = "expected the header 'image,valence,arousal,expression,aus' (or one naming all 16 fields)"
    long_header = "image," + "x" * 130
    cases = [
        (lambda p: formats.read_mtl(p, "prediction"), f"{row}\n",
         f":1: {mtl_expected}, found a data row '{row}' (the header line is missing)"),
        (lambda p: formats.read_mtl(p, "prediction"), f"image_location,valence,arousal,expression,aus\n{row}\n",
         f":1: {mtl_expected}, found 'image_location,valence,arousal,expression,aus' ('image_location' starts the "
         "uni-task files; MTL files start with 'image')"),
        (lambda p: formats.read_mtl(p, "prediction"), f"image,valence,arousal\n{row}\n",
         f":1: {mtl_expected}, found 'image,valence,arousal' (that is a uni-task header: pass the --track it belongs "
         "to)"),
        (lambda p: formats.read_mtl(p, "prediction"), f"{long_header}\n{row}\n",
         f":1: {mtl_expected}, found '{long_header[:119]}…'"),  # quoted up to 120 characters
        (lambda p: formats.read_image_location(p, expr), "image_location,valence,arousal\na/00001.jpg,0.1,0.2\n",
         f":1: expected the header 'image_location,{classes}', found 'image_location,valence,arousal' (that header "
         "is the 2-column VA one)"),
        (lambda p: formats.read_image_location(p, expr), f"image_location,{classes}\na/00001.jpg,3\na/00000.jpg,3\n",
         ":3: expected a frame number of 1 or more (1-based), found 'a/00000.jpg'"),
    ]
    for number, (read, text, message) in enumerate(cases):
        path = tmp_path / f"case{number}.txt"
        path.write_text(text)
        with pytest.raises(FormatError) as caught:
            read(path)
        assert str(caught.value) == f"{path}{message}", number
    # a location under a folder names the folder as part of the video (the scorer then names it as unknown)
    path = tmp_path / "nested.txt"
    path.write_text(f"image_location,{classes}\ncropped_aligned/v/00002.jpg,3\n")
    rows = formats.read_image_location(path, expr)
    assert rows.runs()[0] == ["cropped_aligned/v"] and rows.frames.tolist() == [2]


def test_integer_rows_read_line_by_line_stay_integers(tmp_path):
    """A row with spaces is read by the line-by-line parser; EXPR values stay integers."""
    expr = track_spec("abaw6", "expr")
    path = tmp_path / "v.txt"
    path.write_text("Neutral,Anger,Disgust,Fear,Happiness,Sadness,Surprise,Other\n3\n 2 \n")
    values = formats.read_prediction(path, expr)
    assert values.dtype == np.int64 and values.tolist() == [[3], [2]]
    (tmp_path / "w.txt").write_text("Neutral,Anger,Disgust,Fear,Happiness,Sadness,Surprise,Other\n+5\n")
    values, rows = formats.read_stacked([path, tmp_path / "w.txt"], expr, allow_invalid=False)
    assert values.tolist() == [[3], [2], [5]] and rows.tolist() == [2, 1]
    (tmp_path / "none.txt").write_text("Neutral,Anger,Disgust,Fear,Happiness,Sadness,Surprise,Other\n")
    values, rows = formats.read_stacked([tmp_path / "none.txt"] * 2, expr, allow_invalid=False)  # no row at all
    assert values.shape == (0, 1) and values.dtype == np.int64 and rows.tolist() == [0, 0]


def test_one_digit_class_files_read_as_bytes_and_a_colon_is_no_digit(tmp_path):
    expr = track_spec("abaw6", "expr")
    path = tmp_path / "v.txt"
    path.write_text("Neutral,Anger,Disgust,Fear,Happiness,Sadness,Surprise,Other\n3\n2\n7\n")
    values = formats.read_prediction(path, expr)
    assert values.dtype == np.int8 and values.tolist() == [[3], [2], [7]]  # the usual files: one byte a value
    path.write_text("Neutral,Anger,Disgust,Fear,Happiness,Sadness,Surprise,Other\n3\n:\n")  # ':' follows '9' in ASCII
    with pytest.raises(FormatError) as caught:
        formats.read_prediction(path, expr)
    assert str(caught.value) == f"{path}:3: expected an integer (an integer class id 0-7), found ':'"


def test_a_video_list_over_16_mib_is_refused_unread(tmp_path):
    path = tmp_path / "videos.txt"
    with open(path, "wb") as stream:
        stream.truncate(16 * 1024 * 1024 + 1)  # sparse
    with pytest.raises(FormatError) as caught:
        formats.read_video_list(path)
    assert str(caught.value) == (f"{path}: expected a file of at most 16,777,216 bytes (a list of video names), "
                                 "found 16,777,217 bytes")


def test_videos_whose_names_differ_in_one_late_byte_are_separate_runs(tmp_path):
    """The fast split compares names 8 bytes at a time: names of one length that differ
    only at byte 7, 8 or 16 (video10_1 / video10_2, as Aff-Wild2 names them) are other videos."""
    names = ["video10_1", "video10_2", "abcdefgXyz", "abcdefgYyz", "0123456789abcdefX", "0123456789abcdefY",
             "abcdefgX", "abcdefgY"]  # the last: 8 bytes, the last of a whole word
    path = tmp_path / "p.txt"
    path.write_text("image_location,valence,arousal\n" + "".join(f"{n}/{k:05d}.jpg,0.1,0.2\n"
                                                                 for n in names for k in (1, 2)))
    rows = formats.read_image_location(path, track_spec("abaw6", "va"))
    assert rows.runs()[0] == names and rows.frames.tolist() == [1, 2] * len(names)


def test_read_many_passes_its_hint_on_and_reads_no_files_as_none(tmp_path):
    expr = track_spec("abaw6", "expr")
    (tmp_path / "a.txt").write_text("valence,arousal\n0.1,0.2\n")
    with pytest.raises(FormatError) as caught:
        formats.read_many([tmp_path / "a.txt"], expr, allow_invalid=False)
    assert str(caught.value).endswith("(that header is the 2-column VA one)")
    with pytest.raises(FormatError) as caught:
        formats.read_many([tmp_path / "a.txt"], expr, allow_invalid=False, edition_hint="a hint")
    assert str(caught.value).endswith("(that header is the 2-column VA one; a hint)")
    assert formats.read_many([], expr, allow_invalid=False) == []
    text = formats.TextFile(tmp_path / "a.txt", "valence,arousal", b"0.1,0.2", 1)
    with pytest.raises(FormatError) as caught:
        formats.check_header(text, expr.columns)  # no hint unless one is given
    assert str(caught.value).endswith("(that header is the 2-column VA one)")


def test_a_colon_in_a_frame_number_is_refused(tmp_path):
    """':' follows '9' in ASCII: the fast split must not read it as the digit 10."""
    path = tmp_path / "p.txt"
    path.write_text("image_location,valence,arousal\na/00001.jpg,0.1,0.2\na/0000:.jpg,0.1,0.2\n")
    with pytest.raises(FormatError) as caught:
        formats.read_image_location(path, track_spec("abaw6", "va"))
    assert str(caught.value) == (f"{path}:3: expected an image_location like 'video/00001.jpg' (5-digit frame number, "
                                 "as cropped_aligned names the crops), found 'a/0000:.jpg'")


def test_row_shape_header_case_and_long_header_refusals_word_for_word(tmp_path):
    au, va = track_spec("abaw6", "au"), track_spec("abaw6", "va")
    path = tmp_path / "p.txt"
    # a row one field long and the next one short: the separators add up, the rows do not
    path.write_text(",".join(au.columns) + "\n" + ",".join(["1"] * 13) + "\n" + ",".join(["0"] * 11) + "\n")
    with pytest.raises(FormatError) as caught:
        formats.read_prediction(path, au)
    assert str(caught.value) == f"{path}:2: expected 12 comma-separated values (0 or 1), found 13 in '{','.join(['1'] * 13)}'"
    path.write_text("image_location,Valence,Arousal\na/00001.jpg,0.1,0.2\n")
    with pytest.raises(FormatError) as caught:
        formats.read_image_location(path, va)
    assert str(caught.value) == (f"{path}:1: expected the header 'image_location,valence,arousal', found "
                                 "'image_location,Valence,Arousal' (only the letter case differs: submissions spell "
                                 "the header 'image_location,valence,arousal')")
    path.write_text("x" * 130 + "\n0.1,0.2\n")
    with pytest.raises(FormatError) as caught:
        formats.read_prediction(path, va)
    assert str(caught.value) == f"{path}:1: expected the header 'valence,arousal', found '{'x' * 119}…'"


def test_stacked_ground_truth_names_the_file_and_line_of_the_first_real_error(tmp_path):
    """Several files read at once: markers (-1) are not errors in ground truth, and the first
    real error is named by its own file and line, also when it opens a later file."""
    expr = track_spec("abaw2", "expr")  # 7 classes: 7 is out of range
    header = ",".join(expr.columns)
    (tmp_path / "a.txt").write_text(f"{header}\n3\n-1\n2\n")
    (tmp_path / "b.txt").write_text(f"{header}\n7\n1\n")
    (tmp_path / "c.txt").write_text(f"{header}\n-1\n4\n9\n")
    wanted = "expected an integer class id 0-6, or -1 for an invalid frame, found '{}'"
    with pytest.raises(FormatError) as caught:
        formats.read_stacked([tmp_path / "a.txt", tmp_path / "b.txt"], expr, allow_invalid=True)
    assert str(caught.value) == f"{tmp_path / 'b.txt'}:2: " + wanted.format(7)
    with pytest.raises(FormatError) as caught:
        formats.read_stacked([tmp_path / "a.txt", tmp_path / "c.txt"], expr, allow_invalid=True)
    assert str(caught.value) == f"{tmp_path / 'c.txt'}:4: " + wanted.format(9)
    values, rows = formats.read_stacked([tmp_path / "a.txt"], expr, allow_invalid=True)
    assert values.ravel().tolist() == [3, -1, 2] and rows.tolist() == [3]
    (tmp_path / "d.txt").write_text("valence,arousal\n0.1,0.2\n")
    with pytest.raises(FormatError) as caught:  # without a hint, none is added
        formats.read_stacked([tmp_path / "a.txt", tmp_path / "d.txt"], expr, allow_invalid=True)
    assert str(caught.value) == f"{tmp_path / 'd.txt'}:1: expected the header '{header}', found 'valence,arousal'"
    (tmp_path / "e.txt").write_text("x" * 130 + "\n1\n")
    with pytest.raises(FormatError) as caught:  # a long header is quoted up to 120 characters
        formats.read_stacked([tmp_path / "e.txt"], expr, allow_invalid=True)
    assert str(caught.value) == f"{tmp_path / 'e.txt'}:1: expected the header '{header}', found '{'x' * 119}…'"


def test_text_files_read_any_line_ending_and_strip_only_blank_ends(tmp_path):
    va = track_spec("abaw6", "va")
    path = tmp_path / "v.txt"
    path.write_bytes(b"valence,arousal\r0.1,0.2\r0.3,0.4\r")  # old Mac line endings
    text = formats.read_text_file(str(path))  # a str path too
    assert text.header == "valence,arousal" and text.body == b"0.1,0.2\n0.3,0.4" and text.n_rows == 2
    for tail, shown in [(b"\x0c", "an empty line"), (b"X", "found '0.4X'")]:  # only newlines, tabs, spaces are cut
        path.write_bytes(b"valence,arousal\n0.1,0.2\n0.3,0.4" + (b"\n" if tail == b"\x0c" else b"") + tail)
        with pytest.raises(FormatError) as caught:
            formats.read_prediction(path, va)
        assert caught.value.line == (4 if tail == b"\x0c" else 3) and shown in str(caught.value), str(caught.value)


def test_more_refusals_and_line_by_line_reads_word_for_word(tmp_path):
    from abawbench.tracks import MTL_LONG_HEADER

    expr = track_spec("abaw6", "expr")
    path = tmp_path / "p.txt"
    row = "v/00001.jpg,0.1,0.2,3,0,1,0,1,1,0,0,0,1,0,1,0"
    long_header = ",".join(MTL_LONG_HEADER).upper()  # 85 characters: quoted whole
    path.write_text(f"{long_header}\n{row}\n")
    with pytest.raises(FormatError) as caught:
        formats.read_mtl(path, "prediction")
    assert str(caught.value) == (f"{path}:1: expected the header 'image,valence,arousal,expression,aus' (or one naming "
                                 f"all 16 fields), found '{long_header}' (only the letter case differs: submissions "
                                 "spell it 'image,valence,arousal,expression,aus')")
    path.write_text("image,valence,arousal,expression,aus\nv/00001.jpg,0.1,0.2,:,0,1,0,1,1,0,0,0,1,0,1,0\n")
    with pytest.raises(FormatError) as caught:  # ':' follows '9' in ASCII: no digit
        formats.read_mtl(path, "prediction")
    assert str(caught.value) == f"{path}:2: expected an integer (expression), found ':'"
    # a vertical tab is blank to the line-by-line reader only: the values stay integers
    path.write_bytes((",".join(expr.columns) + "\n3\n2\x0b\n").encode())
    values = formats.read_prediction(path, expr)
    assert values.dtype == np.int64 and values.tolist() == [[3], [2]]
    # a space sends the rows to the line-by-line reader, which splits a nested location the same way
    path.write_text("image_location," + ",".join(expr.columns) + "\ncropped_aligned/v/00002.jpg, 3\n")
    rows = formats.read_image_location(path, expr)
    assert rows.runs()[0] == ["cropped_aligned/v"] and rows.frames.tolist() == [2]
    text = formats.read_text_file(str(path))
    assert isinstance(text.path, Path) and text.path == path


def test_a_header_that_is_not_utf8_is_refused_word_for_word(tmp_path):
    path = tmp_path / "v.txt"
    path.write_bytes(b"valence,arous\xffal\n0.1,0.2\n")
    with pytest.raises(FormatError) as caught:
        formats.read_text_file(path)
    assert str(caught.value) == f"{path}:1: expected a UTF-8 text header, found bytes that are not UTF-8 text"


def test_a_link_to_a_device_is_named_with_where_it_leads(tmp_path):
    """In-process (the subprocess test in test_reliability checks memory, which mutmut cannot map)."""
    link = tmp_path / "zero.txt"
    link.symlink_to("/dev/zero")
    with pytest.raises(FormatError) as caught:
        formats.read_regular_file(link)
    assert str(caught.value) == f"{link}: expected a regular file, found a character device (a link to /dev/zero)"
    with pytest.raises(FormatError) as caught:
        formats.read_regular_file(Path("/dev/zero"))
    assert str(caught.value) == "/dev/zero: expected a regular file, found a character device"


def test_a_file_that_cannot_be_opened_is_named(tmp_path, monkeypatch):
    """Root opens anything, so the refusal comes from a stand-in for os.open."""
    path = tmp_path / "v.txt"
    path.write_text("valence,arousal\n0.1,0.2\n")

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(formats.os, "open", refuse)
    with pytest.raises(FormatError) as caught:
        formats.read_regular_file(path)
    assert str(caught.value) == f"{path}: expected a readable file, found Permission denied"


def test_a_colon_in_a_va_value_is_no_digit(tmp_path):
    """':' follows '9' in ASCII: the fast decimal reader must not read '0.:' as 0.(10), i.e. 1.0."""
    path = write(tmp_path, "v.txt", "valence,arousal\n0.1,0.2\n0.:,0.1\n")
    with pytest.raises(FormatError) as caught:
        formats.read_prediction(path, VA)
    assert str(caught.value) == f"{path}:3: expected a number (a number in [-1, 1]), found '0.:'"


def test_a_value_of_128_digits_is_read_whole_not_modulo_2_to_the_64(tmp_path):
    """2**64 · 10**108 has 128 digits: a digit count kept in 8 bits wraps to -128 and a 64-bit
    mantissa to 0, so a reader that let such a field through would accept it as 0.0. It is
    1.8e127, out of range."""
    value = str(2**64) + "0" * 108
    assert len(value) == 128 and float(value) > 1e127
    path = write(tmp_path, "v.txt", f"valence,arousal\n0.1,0.2\n{value},0.1\n")
    with pytest.raises(FormatError) as caught:
        formats.read_prediction(path, VA)
    assert str(caught.value) == f"{path}:3: expected a number in [-1, 1], found '{value[:59]}…'"


def test_values_with_more_digits_than_an_exact_mantissa_read_as_python_reads_them(tmp_path):
    """24 bytes each, with 22 or 23 digits: past the fast decimal reader's 18-digit bound
    (and the first past the powers of ten it divides by), so each value must come from the
    general reader, equal to Python's float() of it."""
    values = [".00000000000000000000001", "-0.000000000000000000001", "0.1234567890123456789012"]
    path = write(tmp_path, "v.txt", "valence,arousal\n" + "".join(f"{v},0.5\n" for v in values))
    read = formats.read_prediction(path, VA)
    assert read[:, 0].tolist() == [float(v) for v in values] and read[:, 1].tolist() == [0.5] * 3


def test_a_file_of_exactly_the_limit_is_read_and_one_byte_more_is_not(tmp_path):
    path = tmp_path / "v.txt"
    path.write_bytes(b"x" * 100)
    limit = formats.ReadLimit(100, "a test bound")
    assert formats.read_regular_file(path, limit) == b"x" * 100
    path.write_bytes(b"x" * 101)
    with pytest.raises(FormatError) as caught:
        formats.read_regular_file(path, limit)
    assert str(caught.value) == f"{path}: expected a file of at most 100 bytes (a test bound), found 101 bytes"
