"""The vectorised readers (image locations, signed one-digit integers, decimals) against
the line-by-line reference readers and Python's float()."""

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from abawbench import formats
from abawbench.formats import FormatError
from abawbench.tracks import track_spec

SPECS = {track: track_spec("abaw6", track) for track in ("expr", "va", "au")}
NAMES = st.sampled_from(["a", "video45_1", "10-60-1280x720_right", "v.i-d_é", "x" * 30, "1-30-1280x720"])


def slow_read(monkeypatch, path, spec, template=False):
    """read_image_location with the vectorised split turned off: the reference reader."""
    with monkeypatch.context() as patch:
        patch.setattr(formats, "_split_locations", lambda *args: None)
        return formats.read_image_location(path, spec, template=template)


def values_text(track, rng_values, fmt):
    if track == "va":
        return ",".join(fmt.format(float(v)) for v in rng_values[:2])
    if track == "expr":
        return str(int(abs(rng_values[0]) * 8) % 8)
    return ",".join(str(int(v > 0)) for v in rng_values[:12])


files = st.tuples(
    st.sampled_from(["expr", "va", "au"]),
    st.lists(st.tuples(NAMES, st.lists(st.integers(1, 99999), min_size=1, max_size=6, unique=True)),
             min_size=1, max_size=5, unique_by=lambda pair: pair[0]),
    st.sampled_from(["{:.3f}", "{:.6g}", "{!r}", "{:.2e}"]),
    st.integers(0, 2**32 - 1))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(files)
def test_vectorised_image_location_reader_equals_the_line_by_line_one(tmp_path_factory, monkeypatch, case):
    track, videos, fmt, seed = case
    rng = np.random.default_rng(seed)
    spec = SPECS[track]
    lines = [f"image_location,{spec.header}"]
    for video, frames in videos:
        for frame in sorted(frames):
            lines.append(f"{video}/{frame:05d}.jpg,{values_text(track, rng.uniform(-1, 1, 12), fmt)}")
    path = tmp_path_factory.mktemp("il") / "p.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    body = formats.read_text_file(path).body
    assert formats._split_locations(body, len(lines) - 1, spec.n_values) is not None
    assert formats._split_locations(body, len(lines) - 1) is not None  # as for a template
    fast = formats.read_image_location(path, spec)
    slow = slow_read(monkeypatch, path, spec)
    assert fast.run_videos == slow.run_videos == [video for video, _ in videos]
    assert np.array_equal(fast.run_starts, slow.run_starts)
    assert np.array_equal(fast.frames, slow.frames)
    assert np.array_equal(fast.values, slow.values)
    assert fast.locations == [line.split(",")[0] for line in lines[1:]]


def test_spaces_leave_the_fast_path_and_are_tolerated(tmp_path, monkeypatch):
    path = tmp_path / "p.txt"
    path.write_text("image_location,valence,arousal\n a/00001.jpg , 0.1,0.2\na/00002.jpg,0.3, 0.4\n")
    assert formats._split_locations(formats.read_text_file(path).body, 2) is None
    rows = formats.read_image_location(path, SPECS["va"])
    assert rows.locations == ["a/00001.jpg", "a/00002.jpg"] and rows.values.tolist() == [[0.1, 0.2], [0.3, 0.4]]


@pytest.mark.parametrize("row, fragment", [
    ("a/00000.jpg,4", "a frame number of 1 or more"),
    ("/00001.jpg,4", "image_location like"),
    ("a/0001.jpg,4", "5-digit frame number"),
    ("a/00001.png,4", "image_location like"),
    ("a/00001.jpg", r"1 value\(s\) after the image_location"),
    ("a/00001.jpg,", "an empty field"),
    ("a\\00001.jpg,4", "image_location like"),
    ("vid,eo/00001.jpg,4", "image_location like"),  # a comma in a name: the count tells the fast path
    ("a/00001.jpg,4,", "1 comma-separated value"),
])
def test_rows_the_fast_path_refuses_get_the_reference_error(tmp_path, row, fragment):
    path = tmp_path / "p.txt"
    path.write_text(f"image_location,{SPECS['expr'].header}\nb/00001.jpg,3\n{row}\nb/00002.jpg,3\n")
    with pytest.raises(FormatError, match=fragment) as caught:
        formats.read_image_location(path, SPECS["expr"])
    assert caught.value.line == 3


def test_runs_tell_names_of_equal_length_apart_at_any_byte(tmp_path):
    names = ["abcdefghij_0", "abcdefghij_1", "bbcdefghij_1", "abcdefghij_1x"[:12], "abcdefgh" + "ij_2"]
    lines = ["image_location,valence,arousal"] + [f"{name}/00001.jpg,0.1,0.2" for name in names]
    body = "\n".join(lines[1:]).encode()
    split = formats._split_locations(body, len(names))
    expected = [0] + [i for i in range(1, len(names)) if names[i] != names[i - 1]]
    assert split.run_starts.tolist() == expected
    assert split.run_videos == [names[i] for i in expected]


def test_template_rows_with_or_without_a_trailing_comma(tmp_path, monkeypatch):
    spec = SPECS["va"]
    for content, commas in (("a/00001.jpg\na/00002.jpg", False), ("a/00001.jpg,\na/00002.jpg,", True),
                            ("a/00001.jpg,,\na/00002.jpg,,", True)):
        path = tmp_path / "t.txt"
        path.write_text(f"image_location,{spec.header}\n{content}\n")
        fast = formats.read_image_location(path, spec, template=True)
        slow = slow_read(monkeypatch, path, spec, template=True)
        assert fast.empty_fields == slow.empty_fields == commas
        assert fast.frames.tolist() == slow.frames.tolist() == [1, 2] and fast.values is None


# ---------------------------------------------------------------- integers


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 12).flatmap(lambda k: st.tuples(st.just(k), st.lists(
    st.lists(st.sampled_from(["0", "1", "-1", "7", "9", "-9"]), min_size=k, max_size=k), min_size=1, max_size=40))))
def test_signed_one_digit_rows_equal_the_slow_parser(case):
    n_values, rows = case
    body = "\n".join(",".join(row) for row in rows).encode()
    text = formats.TextFile(Path("x.txt"), "h", body, len(rows))
    fast = formats._fast_parse(body, len(rows), n_values, integer=True)
    assert fast is not None and fast.dtype == np.int8
    assert np.array_equal(fast, formats._slow_parse(text, n_values, True, "ints"))


@pytest.mark.parametrize("body, n_rows, n_values", [
    (b"-1,--1", 1, 2), (b"1-,0", 1, 2), (b"-,1", 1, 2), (b"1,1,", 1, 2), (b",1,1", 1, 2), (b"1\n\n1", 2, 1),
    (b"1,-1\n1", 2, 2), (b"1,-1\n1,1,1", 2, 2), (b"11,-1", 1, 2), (b"1,-1-", 1, 2), (b"-1\n-", 2, 1),
])
def test_signed_digit_reader_refuses_what_is_not_exactly_that(body, n_rows, n_values):
    assert formats._signed_digit_rows(np.frombuffer(body, dtype=np.uint8), n_rows, n_values) is None


# ---------------------------------------------------------------- decimals


decimal_strings = st.one_of(
    st.floats(-1, 1).flatmap(lambda v: st.sampled_from([f"{v:.0f}", f"{v:.3f}", f"{v:.9f}", f"{v:.15f}", f"{v}"])),
    st.from_regex(r"[+-]?([0-9]{1,15}\.?[0-9]{0,3}|\.[0-9]{1,6})", fullmatch=True))


@settings(max_examples=300, deadline=None)
@given(st.lists(decimal_strings, min_size=1, max_size=30))
def test_decimals_equal_pythons_float_bit_for_bit(strings):
    body = "\n".join(strings).encode()
    buffer = np.frombuffer(body, dtype=np.uint8)
    values = formats._decimal_fields(buffer, *formats._field_bounds(buffer, len(strings), 1))
    plain = all("e" not in s.lower() for s in strings)
    digits = [sum(c.isdigit() for c in s) for s in strings]
    if plain and max(digits) <= 18 and all(int(s.strip("+-").replace(".", "")) < 2**53 for s in strings):
        assert values is not None
        expected = np.array([float(s) for s in strings])
        assert np.array_equal(values.view(np.int64), expected.view(np.int64))
    else:
        assert values is None


@pytest.mark.parametrize("text", ["1e5", "1.2.3", "-", ".", "+", "1-2", "+-1", "--1", "0x1", "1_0", "∞",
                                  "1234567890123456789", "0.12345678901234567"])
def test_decimals_refuse_everything_else(text):
    buffer = np.frombuffer(text.encode(), dtype=np.uint8)
    assert formats._decimal_fields(buffer, *formats._field_bounds(buffer, 1, 1)) is None


@pytest.mark.parametrize("body, n_rows, n_values, expected", [
    (b"-1,0\n1,-9", 2, 2, [[-1, 0], [1, -9]]), (b"-1", 1, 1, [[-1]]), (b"0,-1,-1\n-1,1,0", 2, 3, [[0, -1, -1], [-1, 1, 0]]),
])
def test_signed_digit_reader_reads_what_is_exactly_that(body, n_rows, n_values, expected):
    values = formats._signed_digit_rows(np.frombuffer(body, dtype=np.uint8), n_rows, n_values)
    assert values is not None and values.dtype == np.int8 and values.tolist() == expected


@pytest.mark.parametrize("body, n_rows, n_values, expected", [
    (b"0,1\n1,0\n7,9", 3, 2, [[0, 1], [1, 0], [7, 9]]), (b"4\n0\n7", 3, 1, [[4], [0], [7]]),
    (b"1,0,0,1", 1, 4, [[1, 0, 0, 1]]),
])
def test_single_digit_reader_reads_what_is_exactly_that(body, n_rows, n_values, expected):
    values = formats._single_digit_rows(np.frombuffer(body, dtype=np.uint8), n_rows, n_values)
    assert values is not None and values.dtype == np.int8 and values.tolist() == expected
