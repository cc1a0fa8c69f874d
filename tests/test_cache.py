"""Tests of abawbench.cache: where it is, what it stores, and that a bad entry is never believed."""

from __future__ import annotations

import json
import logging
import pickle
import struct
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from abawbench import cache
from abawbench.cli import main


@pytest.fixture
def cache_folder(tmp_path, monkeypatch):
    """A fresh cache folder through ABAWBENCH_CACHE; configure() and the warning flag reset."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("ABAWBENCH_CACHE", str(folder))
    monkeypatch.setattr(cache, "_warned", False)
    cache.configure()
    yield folder
    cache.configure()


IDENTITY = ("/data/affwild2/annotations/VA_Set/Validation_Set", "valence,arousal")


def sample_arrays():
    rng = np.random.default_rng(0)
    return {"values": rng.normal(size=(1000, 2)), "lengths": np.array([400, 600], dtype=np.int64),
            "flags": rng.random(7) < 0.5, "small": np.arange(5, dtype=np.int8), "empty": np.zeros((0, 3))}


def test_round_trip_keeps_values_dtypes_shapes_and_meta(cache_folder):
    arrays = sample_arrays()
    assert cache.write("truth", IDENTITY, "key-1", arrays, {"note": "ok", "n": [1, 2]})
    entry = cache.read("truth", IDENTITY, "key-1")
    assert set(entry.arrays) == set(arrays) and entry.meta == {"note": "ok", "n": [1, 2]}
    for name, array in arrays.items():
        assert entry.arrays[name].dtype == array.dtype and entry.arrays[name].shape == array.shape
        assert np.array_equal(entry.arrays[name], array)
    entry.arrays["values"][0, 0] = 7.0  # writable, like freshly parsed arrays
    path = cache.path_for("truth", IDENTITY)
    assert path.parent.parent == cache_folder and path.is_file()
    assert (cache_folder / "CACHEDIR.TAG").read_text().startswith("Signature: 8a477f597d28d172789f06886806bc55")


def test_a_different_key_or_identity_is_a_miss_and_a_new_key_rewrites_the_same_entry(cache_folder):
    cache.write("truth", IDENTITY, "key-1", sample_arrays())
    assert cache.read("truth", IDENTITY, "key-2") is None
    assert cache.read("truth", (IDENTITY[0], "other header"), "key-1") is None
    assert cache.read("index", IDENTITY, "key-1") is None
    cache.write("truth", IDENTITY, "key-2", sample_arrays())
    assert len(list((cache_folder / "truth").iterdir())) == 1  # a changed dataset does not pile up entries
    assert cache.read("truth", IDENTITY, "key-2") is not None


def test_location_precedence(tmp_path, monkeypatch):
    monkeypatch.delenv("ABAWBENCH_CACHE", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    try:
        cache.configure()
        assert cache.location() == tmp_path / "home" / ".cache" / "abawbench"
        monkeypatch.setenv("XDG_CACHE_HOME", "relative/path")  # the XDG spec says: ignore it
        assert cache.location() == tmp_path / "home" / ".cache" / "abawbench"
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
        assert cache.location() == tmp_path / "xdg" / "abawbench"
        monkeypatch.setenv("ABAWBENCH_CACHE", str(tmp_path / "mine"))
        assert cache.location() == tmp_path / "mine" and cache.source() == "$ABAWBENCH_CACHE"
        cache.configure(tmp_path / "flag")
        assert cache.location() == tmp_path / "flag" and cache.source() == "--cache-dir"
        cache.configure(tmp_path / "flag", enabled=False)
        assert cache.location() is None and cache.path_for("truth", IDENTITY) is None
        assert cache.write("truth", IDENTITY, "k", sample_arrays()) is False
        assert cache.read("truth", IDENTITY, "k") is None
    finally:
        cache.configure()


def _prefix(path: Path) -> tuple:
    return struct.unpack("<8sIIQII", path.read_bytes()[:32])


def _rewrite_header(path: Path, change) -> None:
    """Edit the JSON header of an entry and fix its lengths and checksum (a well-formed lie)."""
    raw = path.read_bytes()
    magic, version, header_bytes, payload_bytes, _, zero = _prefix(path)
    header = json.loads(raw[32:32 + header_bytes])
    change(header)
    encoded = json.dumps(header).encode()
    encoded += b" " * (-(32 + len(encoded)) % 64)
    payload = raw[32 + header_bytes:]
    checksum = zlib.crc32(encoded + payload)
    path.write_bytes(struct.pack("<8sIIQII", magic, version, len(encoded), payload_bytes, checksum, zero)
                     + encoded + payload)


def _zero_tail(path: Path) -> None:
    raw = bytearray(path.read_bytes())
    raw[-800:] = bytes(800)  # the reproduction: -5 markers turned into valid zeros
    path.write_bytes(bytes(raw))


def _flip_payload_byte(path: Path) -> None:
    raw = bytearray(path.read_bytes())
    raw[-3] ^= 0x01
    path.write_bytes(bytes(raw))


def _garbage_prefix(path: Path) -> None:
    path.write_bytes(b"\xff" * 32 + path.read_bytes()[32:])


def _huge_lengths(path: Path) -> None:
    raw = path.read_bytes()
    magic, version, header_bytes, payload_bytes, checksum, zero = _prefix(path)
    path.write_bytes(struct.pack("<8sIIQII", magic, version, 2**32 - 1, 2**63, checksum, zero) + raw[32:])


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-100])


def _object_dtype(path: Path) -> None:
    _rewrite_header(path, lambda header: header["arrays"]["values"].update(dtype="|O"))


def _array_beyond_payload(path: Path) -> None:
    _rewrite_header(path, lambda header: header["arrays"]["values"].update(shape=[10**9, 2]))


def _negative_shape(path: Path) -> None:
    _rewrite_header(path, lambda header: header["arrays"]["lengths"].update(shape=[-1]))


def _newer_version(path: Path) -> None:
    raw = path.read_bytes()
    magic, version, header_bytes, payload_bytes, checksum, zero = _prefix(path)
    path.write_bytes(struct.pack("<8sIIQII", magic, version + 1, header_bytes, payload_bytes, checksum, zero)
                     + raw[32:])


def _empty(path: Path) -> None:
    path.write_bytes(b"")


@pytest.mark.parametrize("damage", [_zero_tail, _flip_payload_byte, _garbage_prefix, _huge_lengths, _truncate,
                                    _object_dtype, _array_beyond_payload, _negative_shape, _newer_version, _empty])
def test_a_damaged_entry_is_a_miss_never_an_error_or_a_wrong_answer(cache_folder, damage):
    cache.write("truth", IDENTITY, "key", sample_arrays())
    path = cache.path_for("truth", IDENTITY)
    assert cache.read("truth", IDENTITY, "key") is not None
    damage(path)
    assert cache.read("truth", IDENTITY, "key") is None


def test_rewriting_a_header_unchanged_keeps_the_entry_valid(cache_folder):
    """A control: the header edits above recompute the checksum, so it is the checks that refuse them."""
    cache.write("truth", IDENTITY, "key", sample_arrays())
    path = cache.path_for("truth", IDENTITY)
    _rewrite_header(path, lambda header: None)  # rewritten, nothing changed: still believed
    assert cache.read("truth", IDENTITY, "key") is not None


class _Exploit:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "the pickle ran"))


def test_a_planted_pickle_runs_nothing(cache_folder, tmp_path):
    marker = tmp_path / "ran.txt"
    path = cache.path_for("truth", IDENTITY)
    path.parent.mkdir(parents=True)
    path.write_bytes(pickle.dumps((("key"), _Exploit(marker))))
    pickle.loads(pickle.dumps(_Exploit(tmp_path / "control.txt")))  # the exploit works when unpickled
    assert (tmp_path / "control.txt").exists()
    assert cache.read("truth", IDENTITY, "key") is None
    assert not marker.exists()


def test_an_unwritable_cache_folder_warns_once_and_fails_nothing(tmp_path, monkeypatch, caplog):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("ABAWBENCH_CACHE", str(blocker / "cache"))  # cannot be created, even by root
    monkeypatch.setattr(cache, "_warned", False)
    cache.configure()
    with caplog.at_level(logging.WARNING, logger="abawbench.cache"):
        assert cache.write("truth", IDENTITY, "key", sample_arrays()) is False
        assert cache.write("index", IDENTITY, "key", sample_arrays()) is False
        crops = cache.folder_for("crops", ("/some/expw", "112"))
    assert len(caplog.records) == 1 and str(blocker) in caplog.records[0].getMessage()
    assert crops.is_dir() and blocker not in crops.parents  # a temporary folder stands in
    assert cache.read("truth", IDENTITY, "key") is None


def test_frames_round_trip_as_data(cache_folder):
    table = pd.DataFrame({
        "source": pd.Categorical(["affwild2"] * 3, categories=["affwild2", "expw"]),
        "video": pd.Categorical(["b", "a", "b"]),
        "frame": np.array([1, 2, 3], dtype=np.int32),
        "path": pd.Series(["b/00001.jpg", "a/00002.jpg", "b/[bold]é.jpg"], dtype=object),
        "valence": np.array([0.5, -5, 0.25], dtype=np.float32),
        "has_crop": np.array([True, False, True]),
    })
    table.attrs.update({"root": "/data", "folders": [["va", "train", "/data/x"]], "lines": {"va": {"a": 3}}})
    arrays, meta = cache.frame_to_arrays(table)
    cache.write("index", IDENTITY, "key", arrays, meta)
    entry = cache.read("index", IDENTITY, "key")
    back = cache.frame_from_arrays(entry.arrays, entry.meta)
    pd.testing.assert_frame_equal(back, table)
    assert back.attrs == table.attrs
    empty = table.iloc[:0]
    pd.testing.assert_frame_equal(cache.frame_from_arrays(*cache.frame_to_arrays(empty)), empty)
    with_nul = table.assign(path=["a\0b", "c", "d"])
    assert cache.frame_to_arrays(with_nul) is None  # a NUL would split a value: not stored
    assert cache.frame_to_arrays(table.assign(path=[1, "c", "d"])) is None


def test_clear_removes_only_the_kinds_folders(cache_folder):
    cache.write("truth", IDENTITY, "key", sample_arrays())
    cache.folder_for("crops", ("/x", "112")).joinpath("face.jpg").write_bytes(b"\xff\xd8")
    mine = cache_folder / "not-abawbench.txt"  # ABAWBENCH_CACHE may point at a shared folder
    mine.write_text("keep me")
    info = cache.info()
    assert info["kinds"]["truth"]["entries"] == 1 and info["kinds"]["crops"]["files"] == 1
    assert info["kinds"]["truth"]["bytes"] == cache.path_for("truth", IDENTITY).stat().st_size
    removed = cache.clear()
    assert set(removed) == {"truth", "crops"} and removed["crops"] == 2
    assert mine.read_text() == "keep me"
    assert not (cache_folder / "truth").exists() and not (cache_folder / "crops").exists()


def test_cache_info_and_clear_commands(cache_folder, tmp_path):
    cache.write("truth", IDENTITY, "key", sample_arrays())
    runner = CliRunner()
    shown = runner.invoke(main, ["cache", "info"], env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    assert str(cache_folder) in shown.output and "$ABAWBENCH_CACHE" in shown.output
    assert "truth" in shown.output and "crops" in shown.output
    other = runner.invoke(main, ["cache", "info", "--cache-dir", str(tmp_path / "elsewhere")], env={"COLUMNS": "200"})
    assert "not created yet" in other.output and "--cache-dir" in other.output
    cleared = runner.invoke(main, ["cache", "clear"])
    assert cleared.exit_code == 0 and "removed" in cleared.output
    assert cache.read("truth", IDENTITY, "key") is None


def test_ground_truth_comes_from_the_cache_and_an_entry_that_does_not_fit_is_parsed_again(cache_folder, tmp_path,
                                                                                           monkeypatch):
    from abawbench import scoring
    from abawbench.data.affwild2 import annotation_files

    from test_scoring import make_truth_and_predictions

    spec, truths, _ = make_truth_and_predictions(tmp_path, "abaw6", "va", n_videos=3)
    expected = np.concatenate(list(truths.values()))
    lengths = [len(values) for values in truths.values()]
    first = scoring.load_ground_truth(tmp_path / "data", "va", "validation", "abaw6")
    assert np.array_equal(first.stacked, expected) and first.lengths.tolist() == lengths

    def parse(*args, **kwargs):
        raise AssertionError("parsed again although the cache entry is current")

    with monkeypatch.context() as patch:
        patch.setattr(scoring, "read_stacked", parse)
        cached = scoring.load_ground_truth(tmp_path / "data", "va", "validation", "abaw6")
    assert np.array_equal(cached.stacked, expected) and cached.lengths.tolist() == lengths
    identity = (str(first.folder.resolve()), spec.header)
    key = scoring._truth_key(annotation_files(first.folder), spec)
    lengths_array = np.array(lengths, dtype=np.int64)
    unfit = [{"values": expected[:, :1], "lengths": lengths_array},  # one column where VA has two
             {"values": expected, "lengths": np.append(lengths_array, 0)},  # a length too many
             {"values": expected.ravel(), "lengths": lengths_array},  # not (frames, values)
             {"values": expected, "lengths": lengths_array.astype(float) + 0.5}]  # not counts
    for arrays in unfit:
        assert cache.write("truth", identity, key, arrays)
        loaded = scoring.load_ground_truth(tmp_path / "data", "va", "validation", "abaw6")
        assert np.array_equal(loaded.stacked, expected) and loaded.lengths.tolist() == lengths


def test_a_truth_entry_is_believed_only_when_its_lengths_fit_its_rows(cache_folder):
    """The ground-truth cache's own check, past the checksum: lengths are non-negative
    integers, one per file, summing to the rows (a video may have none)."""
    from abawbench.scoring import _load_truth_cache

    values = np.zeros((4, 2))
    cases = [(np.array([0, 4]), True), (np.array([1, 3], dtype=np.uint32), True),
             (np.array([-1, 5]), False), (np.array([2.0, 2.0]), False), (np.array([1, 2]), False),
             (np.array([4]), False)]
    for lengths, believed in cases:
        cache.write("truth", IDENTITY, "key", {"values": values, "lengths": lengths})
        loaded = _load_truth_cache(IDENTITY, "key", 2, 2)
        assert (loaded is not None) == believed, lengths
        if believed:
            assert loaded[1].dtype == np.int64 and loaded[1].tolist() == lengths.tolist()
    cache.write("truth", IDENTITY, "key", {"values": values, "lengths": np.array([2, 2])})
    assert _load_truth_cache(IDENTITY, "key", 2, 3) is None  # another track's width
