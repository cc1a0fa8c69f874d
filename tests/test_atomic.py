"""Atomic writes: the data go through a temporary file renamed into place, so a failure
at any point leaves the old file (or no file) and no temporary behind."""

from __future__ import annotations

import os
import stat

import pytest

from abawbench import atomic


def siblings(path):
    return sorted(p.name for p in path.parent.iterdir())


def test_write_replaces_the_file_by_a_rename_not_in_place(tmp_path):
    target = tmp_path / "result.json"
    target.write_bytes(b"old")
    before = target.stat().st_ino
    keeper = tmp_path / "hard-link-to-the-old-file"
    os.link(target, keeper)  # a rename leaves the old inode, and this link, as they were
    atomic.write_bytes(target, b"new content")
    assert target.read_bytes() == b"new content"
    assert target.stat().st_ino != before
    assert keeper.read_bytes() == b"old"
    assert siblings(target) == ["hard-link-to-the-old-file", "result.json"]


def test_the_temporary_file_is_a_sibling_renamed_onto_the_target(tmp_path, monkeypatch):
    target = tmp_path / "sub" / "scores.json"
    calls = []
    real_replace = os.replace

    def spy(source, destination):
        calls.append((os.fspath(source), os.fspath(destination), open(source, "rb").read()))
        return real_replace(source, destination)

    monkeypatch.setattr(os, "replace", spy)
    atomic.write_text(target, "héllo")
    (source, destination, content), = calls
    assert destination == os.fspath(target) and source != destination
    assert os.path.dirname(source) == os.path.dirname(destination)  # one filesystem: the rename is atomic
    assert content == "héllo".encode("utf-8")  # whole before the rename
    assert target.read_text(encoding="utf-8") == "héllo" and siblings(target) == ["scores.json"]


def test_a_failed_rename_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "result.json"
    target.write_bytes(b"old")

    def fail(source, destination):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        atomic.write_bytes(target, b"new")
    assert target.read_bytes() == b"old"
    assert siblings(target) == ["result.json"]


def test_a_failure_mid_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "result.json"
    target.write_bytes(b"old content")
    real_fdopen = os.fdopen

    class HalfWriter:
        """Writes half of what it is given, then fails: a full disk, a Ctrl-C."""

        def __init__(self, stream):
            self.stream = stream

        def write(self, data):
            self.stream.write(data[: len(data) // 2])
            self.stream.flush()
            raise KeyboardInterrupt

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.stream.close()
            return False

    monkeypatch.setattr(os, "fdopen", lambda fd, *a, **k: HalfWriter(real_fdopen(fd, *a, **k)))
    with pytest.raises(KeyboardInterrupt):
        atomic.write_bytes(target, b"0123456789" * 100)
    assert target.read_bytes() == b"old content"
    assert siblings(target) == ["result.json"]


def test_a_new_file_appears_whole_or_not_at_all(tmp_path, monkeypatch):
    target = tmp_path / "deeper" / "new.json"

    def fail(source, destination):
        raise OSError("no")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError):
        atomic.write_json(target, {"a": 1})
    assert not target.exists() and list(target.parent.iterdir()) == []
    monkeypatch.undo()
    atomic.write_json(target, {"a": 1})
    assert target.read_text() == '{\n  "a": 1\n}\n'


def test_staged_folder_replaces_the_old_folder_only_on_success(tmp_path):
    target = tmp_path / "submission"
    with atomic.staged_folder(target) as staging:
        (staging / "a.txt").write_text("1")
    assert sorted(p.name for p in target.iterdir()) == ["a.txt"]
    with pytest.raises(RuntimeError):
        with atomic.staged_folder(target) as staging:
            (staging / "b.txt").write_text("2")
            raise RuntimeError("crash while filling")
    assert sorted(p.name for p in target.iterdir()) == ["a.txt"]  # the old folder is intact
    with atomic.staged_folder(target) as staging:
        (staging / "c.txt").write_text("3")
    assert sorted(p.name for p in target.iterdir()) == ["c.txt"]  # replaced whole, nothing merged
    assert sorted(p.name for p in tmp_path.iterdir()) == ["submission"]  # no staging or backup left


def test_json_keeps_the_payloads_key_order(tmp_path):
    # the score JSON reads top-down as the design lists its keys: track, edition, split, …
    atomic.write_json(tmp_path / "s.json", {"track": "va", "edition": "abaw2", "metrics": {"mean": 0.5}})
    assert (tmp_path / "s.json").read_text(encoding="utf-8") == (
        '{\n  "track": "va",\n  "edition": "abaw2",\n  "metrics": {\n    "mean": 0.5\n  }\n}\n')


def test_the_temporary_is_hidden_and_missing_folders_are_made(tmp_path, monkeypatch):
    # hidden (".name.…tmp"): folder scans such as annotation_files skip it while it is written
    target = tmp_path / "two" / "levels" / "result.json"
    sources = []
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda s, d: (sources.append(os.path.basename(s)), real_replace(s, d))[1])
    atomic.write_bytes(target, b"x")
    (name,) = sources
    assert name.startswith(".result.json.") and name.endswith(".tmp")
    assert target.read_bytes() == b"x"


# ----------------------------------------------------------- checks before any work


@pytest.mark.parametrize("mode, words", [
    (stat.S_IFDIR, "a folder"), (stat.S_IFIFO, "a FIFO (named pipe)"), (stat.S_IFCHR, "a character device"),
    (stat.S_IFBLK, "a block device"), (stat.S_IFSOCK, "a socket"), (0, "not a regular file")])
def test_describe_kind_names_each_kind_of_file(mode, words):
    assert atomic.describe_kind(mode | 0o644) == words


def test_check_new_folder_refuses_what_is_in_the_way_unless_forced(tmp_path, monkeypatch):
    atomic.check_new_folder(tmp_path / "absent")  # missing: fine
    (tmp_path / "empty").mkdir()
    atomic.check_new_folder(tmp_path / "empty")  # empty: fine
    one = tmp_path / "one"
    one.mkdir()
    (one / "a.txt").write_text("x")
    with pytest.raises(atomic.TargetNotEmpty) as caught:
        atomic.check_new_folder(one)  # not forced by default
    assert str(caught.value) == (f"{one} is not empty (it holds 1 entry, e.g. 'a.txt'); pass --force to replace it "
                                 "whole, or choose another folder")
    (one / "b.txt").write_text("x")
    with pytest.raises(atomic.TargetNotEmpty) as caught:
        atomic.check_new_folder(one)
    assert str(caught.value) == (f"{one} is not empty (it holds 2 entries, e.g. 'a.txt'); pass --force to replace "
                                 "it whole, or choose another folder")
    atomic.check_new_folder(one, force=True)
    with pytest.raises(atomic.TargetNotEmpty) as caught:
        atomic.check_new_folder(one / "a.txt", force=True)
    assert str(caught.value) == f"{one / 'a.txt'} exists and is not a folder"

    def unlistable(path):
        assert str(path) == str(one)
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(atomic.os, "listdir", unlistable)
    with pytest.raises(atomic.TargetNotEmpty) as caught:
        atomic.check_new_folder(one)
    assert str(caught.value) == f"{one}: cannot list the folder (Permission denied)"


def test_output_problem_of_standard_output_and_of_an_unwritable_device(tmp_path, monkeypatch):
    monkeypatch.setattr(atomic, "folder_problem", lambda folder: "no folder is writable here")
    assert atomic.output_problem("-") is None  # standard output, whatever the folders
    assert atomic.output_problem(tmp_path / "x.json") == "no folder is writable here"
    monkeypatch.setattr(atomic.os, "access", lambda path, mode: False)
    assert atomic.output_problem("/dev/null") == "/dev/null: a character device that cannot be written"


def test_folder_problem_asks_for_write_and_search_permission(tmp_path, monkeypatch):
    """Root may write anywhere, so the permission is checked through a stand-in for
    os.access that grants only what a read-only folder grants (it exists, can be searched)."""
    asked = []

    def read_only(path, mode):
        asked.append(mode)
        return not mode & os.W_OK

    monkeypatch.setattr(atomic.os, "access", read_only)
    assert atomic.folder_problem(tmp_path / "new" / "deeper") == f"{tmp_path}: the folder is not writable"
    assert asked == [os.W_OK | os.X_OK]
