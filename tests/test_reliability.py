"""Reliability (issue 8): the dataset is only read, caches are trusted only when whole,
wrong inputs fail fast and clearly, outputs are never half-written or put in the wrong place.

Several tests run the command line in a subprocess: to measure its memory, to run it
concurrently, or to run it as a user who cannot write (or read) parts of the dataset.
As root, file permissions do not bind; those subprocesses then drop the two
capabilities that override them (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH), so the
permission bits apply to them as to anyone.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from abawbench import cache, formats
from abawbench.cli import main
from abawbench.tracks import track_spec

from examples_budget import MUTATING

CHECKOUT = Path(__file__).resolve().parent.parent


# ------------------------------------------------------------------ helpers


def snapshot(root: Path) -> dict:
    """Every entry under ``root`` (and ``root`` itself): type, permissions, size, mtime, content hash."""
    state = {}
    for path in [root, *sorted(root.rglob("*"))]:
        status = os.lstat(path)
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if stat.S_ISREG(status.st_mode) else None
        state[str(path.relative_to(root))] = (stat.S_IFMT(status.st_mode), stat.S_IMODE(status.st_mode),
                                              status.st_size, status.st_mtime_ns, digest)
    return state


@pytest.fixture(scope="module")
def dataset(synthetic_data, tmp_path_factory):
    """A copy of the synthetic Aff-Wild2 (ABAW2 layout) root for this module; tests that
    change permissions in it restore them."""
    root = tmp_path_factory.mktemp("reliability") / "affwild2"
    shutil.copytree(synthetic_data[0] / "affwild2_abaw2", root)
    return root


@pytest.fixture(scope="module")
def predictions(dataset):
    """Per-video predictions (ground truth + noise) of every track's validation videos."""
    from abawbench.demo import write_noisy_predictions

    folders = {}
    for track in ("expr", "va", "au"):
        folders[track] = dataset.parent / "pred" / track
        write_noisy_predictions(dataset, track, folders[track])
    return folders


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    folder = tmp_path / "cold-cache"
    monkeypatch.setenv("ABAWBENCH_CACHE", str(folder))
    cache.configure()
    return folder


def invoke(*args, **kwargs):
    result = CliRunner().invoke(main, [str(a) for a in args], env={"COLUMNS": "200"}, **kwargs)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


_DRIVER = r"""
import json, os, sys
from click.testing import CliRunner
from abawbench.cli import main

probe, commands = json.loads(sys.argv[1])
report = {"writable": None, "results": []}
if probe:
    try:
        open(os.path.join(probe, ".probe"), "w").close()
        os.unlink(os.path.join(probe, ".probe"))
        report["writable"] = True
    except OSError:
        report["writable"] = False
for args in commands:
    result = CliRunner().invoke(main, args, env={"COLUMNS": "200"})
    crashed = result.exception is not None and not isinstance(result.exception, SystemExit)
    report["results"].append({"code": result.exit_code, "output": result.output, "crashed": crashed})
# the peak of this program's own memory (VmHWM restarts at exec; ru_maxrss would carry
# the forking parent's, pytest's, over)
try:
    with open("/proc/self/status") as status:
        report["peak_kib"] = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
except OSError:
    import resource
    report["peak_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps(report))
"""


def _without_permission_override():
    """preexec: as root, drop the capabilities that bypass file permissions (PR_CAPBSET_DROP,
    effective at exec); as anyone else, nothing to drop."""
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, capability, 0, 0, 0) != 0:
            os._exit(97)


def run_restricted(commands: list[list], probe: Path | None = None, timeout: float = 120) -> dict:
    """Run CLI commands in one subprocess that file permissions bind; skip when impossible."""
    process = subprocess.run([sys.executable, "-c", _DRIVER, json.dumps([str(probe) if probe else None,
                                                                          [[str(a) for a in c] for c in commands]])],
                             capture_output=True, text=True, timeout=timeout, preexec_fn=_without_permission_override,
                             env={**os.environ, "PYTHONPATH": str(CHECKOUT)})
    if process.returncode == 97:
        pytest.skip("running as root and cannot drop CAP_DAC_OVERRIDE: permissions cannot be tested")
    assert process.returncode == 0, process.stderr
    report = json.loads(process.stdout)
    if probe is not None and report["writable"]:
        pytest.skip(f"{probe} stays writable for this user (permissions do not bind here)")
    return report


def set_tree_mode(root: Path, folder_mode: int, file_mode: int) -> None:
    for path in sorted(root.rglob("*"), reverse=True):
        if not path.is_symlink():
            os.chmod(path, folder_mode if path.is_dir() else file_mode)
    os.chmod(root, folder_mode)


def reference_va_mean(folder: Path, predictions: Path) -> float:
    """Pooled CCC by the population formula from files read with the csv module (abawbench not used)."""
    import csv

    truth, guess = [], []
    for path in sorted(folder.glob("*.txt")):
        with open(path) as t, open(predictions / path.name) as p:
            for (row_t, row_p) in zip(list(csv.reader(t))[1:], list(csv.reader(p))[1:]):
                if "-5" not in [c.strip() for c in row_t] and float(row_t[0]) != -5 and float(row_t[1]) != -5:
                    truth.append([float(c) for c in row_t])
                    guess.append([float(c) for c in row_p])
    truth, guess = np.array(truth), np.array(guess)
    cccs = []
    for dim in range(2):
        x, y = guess[:, dim], truth[:, dim]
        covariance = np.mean((x - x.mean()) * (y - y.mean()))
        cccs.append(2 * covariance / (x.var() + y.var() + (x.mean() - y.mean()) ** 2))
    return float(np.mean(cccs))


VA_TRUTH = "annotations/VA_Set/Validation_Set"


# --------------------------------------------- 1. the dataset is only read


def test_commands_leave_the_dataset_exactly_as_it_was(dataset, predictions, tmp_path):
    before = snapshot(dataset)
    out = tmp_path / "out"
    assert invoke("data", "check", dataset, "--json", out / "check.json").exit_code == 0
    assert invoke("data", "splits", dataset, "--out", out / "splits").exit_code == 0
    for track, folder in predictions.items():
        assert invoke("score", folder, "--data", dataset, "--track", track, "--bootstrap", 10,
                      "--json", out / f"{track}.json").exit_code == 0
        assert invoke("validate", folder, "--data", dataset, "--track", track).exit_code == 0
    assert snapshot(dataset) == before
    assert not [p for p in dataset.parent.iterdir() if p.name.startswith(".")]  # nothing hidden beside it
    assert json.loads((out / "va.json").read_text())["n_videos"] > 0


def test_external_database_crops_go_to_the_cache_not_the_database(synthetic_data, tmp_path, fresh_cache):
    from abawbench.data.expw import read_expw

    root = tmp_path / "expw"
    shutil.copytree(synthetic_data[0] / "expw", root)
    before = snapshot(root)
    faces = read_expw(root)
    assert snapshot(root) == before
    crops = Path(faces.attrs["cache_dir"])
    assert fresh_cache in crops.parents and len(list(crops.iterdir())) == len(faces)


def test_commands_work_on_a_dataset_the_user_cannot_write(dataset, predictions, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    before = snapshot(dataset)
    set_tree_mode(dataset, 0o555, 0o444)
    try:
        report = run_restricted([
            ["data", "check", dataset, "--json", out / "check.json"],
            ["data", "splits", dataset, "--out", out / "splits"],
            ["score", predictions["va"], "--data", dataset, "--track", "va", "--bootstrap", 10],
            ["score", predictions["expr"], "--data", dataset, "--track", "expr", "--no-cache"],
            ["validate", predictions["au"], "--data", dataset, "--track", "au"],
        ], probe=dataset)
    finally:
        set_tree_mode(dataset, 0o755, 0o644)
    assert report["writable"] is False
    for result in report["results"]:
        assert result["code"] == 0 and not result["crashed"], result["output"]
    assert (out / "splits" / "va-validation.txt").is_file()
    def without_modes(state):  # the test itself changed them
        return {name: (entry[0],) + entry[2:] for name, entry in state.items()}

    assert without_modes(snapshot(dataset)) == without_modes(before)


# ----------------------------------------------------- 5. unreadable folders


@pytest.mark.parametrize("unreadable", [VA_TRUTH, "annotations/EXPR_Set"], ids=["split folder", "track folder"])
def test_unreadable_split_and_track_folders_are_clear_errors(dataset, predictions, tmp_path, unreadable):
    folder = dataset / unreadable
    os.chmod(folder, 0)
    try:
        report = run_restricted([
            ["score", predictions["va"], "--data", dataset, "--track", "va"],
            ["data", "check", dataset],
            ["data", "splits", dataset, "--out", tmp_path / "splits"],
        ], probe=folder)
    finally:
        os.chmod(folder, 0o755)
    for result in report["results"]:
        output = result["output"].replace("\n", "")
        assert result["code"] == 2 and not result["crashed"], output
        # named, never skipped: an unreadable track used to vanish from data check and data splits
        assert f"{folder}: cannot read the folder (Permission denied)" in output
    assert not (tmp_path / "splits").exists()


# ----------------------------------------------------- 2. caches that cannot lie


def _truth_entry(dataset: Path) -> Path:
    return cache.path_for("truth", (str((dataset / VA_TRUTH).resolve()), track_spec("abaw2", "va").header))


def _zero_tail(path: Path) -> None:
    raw = bytearray(path.read_bytes())
    raw[-800:] = bytes(800)
    path.write_bytes(bytes(raw))


def _garbage_header(path: Path) -> None:
    raw = bytearray(path.read_bytes())
    raw[8:32] = b"\xff" * 24  # version, lengths and checksum: 2**32-1 and 2**64-1
    path.write_bytes(bytes(raw))


def _plant_pickle(path: Path) -> None:
    import pickle

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {path.parent / 'PWNED'}",))

    path.write_bytes(pickle.dumps(Exploit()))


@pytest.mark.parametrize("damage", [_zero_tail, _garbage_header, _plant_pickle])
def test_a_damaged_ground_truth_cache_is_rebuilt_and_the_score_is_right(dataset, predictions, fresh_cache, damage):
    expected = reference_va_mean(dataset / VA_TRUTH, predictions["va"])
    first = invoke("score", predictions["va"], "--data", dataset, "--track", "va", "--bootstrap", 0, "--json", "-")
    assert json.loads(first.stdout)["metrics"]["mean"] == pytest.approx(expected, abs=1e-9)
    entry = _truth_entry(dataset)
    assert entry.is_file()
    damage(entry)
    again = invoke("score", predictions["va"], "--data", dataset, "--track", "va", "--bootstrap", 0, "--json", "-")
    assert again.exit_code == 0 and "Traceback" not in again.output
    assert json.loads(again.stdout)["metrics"]["mean"] == pytest.approx(expected, abs=1e-9)
    assert not (entry.parent / "PWNED").exists()
    from abawbench.data.affwild2 import annotation_files
    from abawbench.scoring import _truth_key

    spec = track_spec("abaw2", "va")
    key = _truth_key(annotation_files(dataset / VA_TRUTH), spec)
    identity = (str((dataset / VA_TRUTH).resolve()), spec.header)
    assert cache.read("truth", identity, key) is not None  # rewritten whole


def test_a_planted_pickle_in_the_data_root_or_the_index_cache_runs_nothing(dataset, tmp_path, fresh_cache):
    from abawbench.data import affwild2

    table = affwild2.index(dataset)
    entry = cache.path_for("index", (str(dataset.resolve()), "", str(dataset)))
    assert entry.is_file()
    _plant_pickle(entry)
    legacy = tmp_path / "legacy"  # where the index cache used to be read from (the data root)
    shutil.copytree(dataset, legacy)
    _plant_pickle(legacy / ".abawbench_index.pkl")
    assert affwild2.index(dataset).equals(table)
    assert invoke("data", "splits", legacy, "--out", tmp_path / "splits").exit_code == 0
    assert not (entry.parent / "PWNED").exists() and not (legacy / "PWNED").exists()


def test_eight_concurrent_scores_on_a_cold_cache_all_print_the_right_score(dataset, predictions, tmp_path):
    expected = reference_va_mean(dataset / VA_TRUTH, predictions["va"])
    cold = tmp_path / "cold"
    env = {**os.environ, "ABAWBENCH_CACHE": str(cold), "PYTHONPATH": str(CHECKOUT)}
    processes = [subprocess.Popen([sys.executable, "-m", "abawbench", "score", str(predictions["va"]), "--data",
                                   str(dataset), "--track", "va", "--bootstrap", "20", "--json", "-"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
                 for _ in range(8)]
    outputs = [process.communicate(timeout=120) for process in processes]
    for process, (stdout, stderr) in zip(processes, outputs):
        assert process.returncode == 0, stderr
        assert json.loads(stdout)["metrics"]["mean"] == pytest.approx(expected, abs=1e-9)
        assert "Traceback" not in stderr and "warning" not in stderr
    entries = list((cold / "truth").iterdir())
    assert len(entries) == 1 and not entries[0].name.startswith(".")  # one entry, no temporary file left


def test_an_unwritable_cache_folder_costs_one_warning_not_the_result(dataset, predictions, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    env = {**os.environ, "ABAWBENCH_CACHE": str(blocker / "cache"), "PYTHONPATH": str(CHECKOUT)}
    process = subprocess.run([sys.executable, "-m", "abawbench", "score", str(predictions["va"]), "--data",
                              str(dataset), "--track", "va", "--bootstrap", "0"],
                             capture_output=True, text=True, env=env, timeout=60)
    assert process.returncode == 0 and "mean (official)" in process.stdout
    assert process.stderr.count("warning:") == 1 and str(blocker) in process.stderr
    assert "Traceback" not in process.stderr


def test_python_dash_m_abawbench_is_the_command_line():
    process = subprocess.run([sys.executable, "-m", "abawbench", "--help"], capture_output=True, text=True,
                             env={**os.environ, "PYTHONPATH": str(CHECKOUT)}, timeout=60)
    assert process.returncode == 0 and "Usage: abawbench" in process.stdout and "cache" in process.stdout


# ----------------------------------------------------- 3. inputs that are not regular files


def test_devices_fifos_and_huge_sparse_files_fail_fast_in_bounded_memory(dataset, predictions, tmp_path):
    """One subprocess tries every case; its peak memory shows nothing was read whole."""
    zero = tmp_path / "zero.txt"
    zero.symlink_to("/dev/zero")
    fifo = tmp_path / "fifo.txt"
    os.mkfifo(fifo)
    sparse = tmp_path / "sparse.txt"
    with open(sparse, "wb") as stream:
        stream.truncate(2 * 1024**3)
    per_video = tmp_path / "per-video"
    shutil.copytree(predictions["va"], per_video)
    victim = sorted(per_video.glob("*.txt"))[0]
    victim.unlink()
    with open(victim, "wb") as stream:
        stream.truncate(2 * 1024**3)
    score = ["score", "--data", dataset, "--track", "va", "--bootstrap", 0]
    video_list = tmp_path / "videos.txt"
    video_list.write_text("".join(f"{p.stem}\n" for p in sorted(predictions["va"].glob("*.txt"))))
    cases = [
        ([*score[:1], zero, *score[1:]], zero, "found a character device (a link to /dev/zero)"),
        ([*score[:1], fifo, *score[1:]], fifo, "found a FIFO"),
        ([*score[:1], sparse, *score[1:]], sparse, "found 2,147,483,648 bytes"),
        ([*score[:1], per_video, *score[1:]], victim, "found 2,147,483,648 bytes"),
        (["validate", sparse, "--track", "va", "--edition", "abaw6", "--template", fifo], fifo, "found a FIFO"),
        (["validate", predictions["va"], "--track", "va", "--videos", zero], zero, "found a character device"),
        (["validate", sparse, "--track", "va", "--edition", "abaw6", "--videos", video_list], sparse,
         "found 2,147,483,648 bytes"),
    ]
    # a read of the FIFO would hang: the timeout turns that into a failure
    process = subprocess.run([sys.executable, "-c", _DRIVER, json.dumps([None, [[str(a) for a in c[0]] for c in cases]])],
                             capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(CHECKOUT)})
    assert process.returncode == 0, process.stderr
    report = json.loads(process.stdout)
    for (_, path, found), result in zip(cases, report["results"]):
        output = result["output"].replace("\n", "")
        assert result["code"] == 2 and not result["crashed"], output
        assert f"{path}: expected" in output and found in output
    assert report["peak_kib"] < 600 * 1024, report["peak_kib"]  # reading a 2 GB file whole would take 2 GB


def test_a_folder_or_fifo_named_like_a_video_file_is_named_in_the_error(dataset, predictions, tmp_path):
    folder = tmp_path / "mine"
    shutil.copytree(predictions["va"], folder)
    victim = sorted(folder.glob("*.txt"))[0]
    victim.unlink()
    victim.mkdir()
    result = invoke("score", folder, "--data", dataset, "--track", "va")
    assert result.exit_code == 2
    assert f"{victim}: expected a regular file of one video's predictions, found a folder" in result.output
    victim.rmdir()
    os.mkfifo(victim)
    assert "found a FIFO (named pipe)" in invoke("score", folder, "--data", dataset, "--track", "va").output


def test_a_capitalised_va_header_gets_a_hint_about_case(dataset, predictions, tmp_path):
    folder = tmp_path / "mine"
    shutil.copytree(predictions["va"], folder)
    victim = sorted(folder.glob("*.txt"))[0]
    victim.write_text(victim.read_text().replace("valence,arousal", "Valence,Arousal", 1))
    result = invoke("score", folder, "--data", dataset, "--track", "va")
    assert result.exit_code == 2
    assert "only the letter case differs" in result.output and "2-column VA one" not in result.output


# ----------------------------------------------------- 4. outputs


def test_json_to_a_symlink_writes_its_target_and_keeps_the_link(dataset, predictions, tmp_path):
    target = tmp_path / "results" / "va.json"
    target.parent.mkdir()
    target.write_text("old")
    link = tmp_path / "latest.json"
    link.symlink_to(target)
    assert invoke("score", predictions["va"], "--data", dataset, "--track", "va", "--json", link).exit_code == 0
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert json.loads(target.read_text())["track"] == "va"


def test_output_files_honour_the_umask(dataset, predictions, tmp_path):
    old = os.umask(0o002)
    try:
        assert invoke("score", predictions["va"], "--data", dataset, "--track", "va", "--json",
                      tmp_path / "va.json").exit_code == 0
        assert invoke("data", "splits", dataset, "--out", tmp_path / "splits").exit_code == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "va.json").st_mode) == 0o664  # not mkstemp's 0600
    assert stat.S_IMODE(os.stat(tmp_path / "splits").st_mode) == 0o775  # not mkdtemp's 0700


def test_json_dash_is_standard_output_and_the_tables_go_to_standard_error(dataset, predictions):
    result = invoke("score", predictions["va"], "--data", dataset, "--track", "va", "--json", "-")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["track"] == "va"
    assert "mean (official)" in result.stderr


@pytest.mark.skipif(MUTATING, reason="under make mutate a mutant of the write path, run as root, replaced the "
                                      "machine's /dev/full with a regular file")
def test_a_full_device_as_output_is_a_clear_error_and_stays_a_device(dataset, predictions):
    if not os.path.exists("/dev/full") or not stat.S_ISCHR(os.stat("/dev/full").st_mode) \
            or not os.access("/dev/full", os.W_OK):
        pytest.skip("no writable /dev/full device here")
    result = invoke("score", predictions["va"], "--data", dataset, "--track", "va", "--json", "/dev/full")
    assert result.exit_code == 2 and "cannot write /dev/full: No space left on device" in result.output
    assert "mean (official)" not in result.output  # the JSON is written first: no table, then an error
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


def test_an_unwritable_output_location_fails_before_any_work(dataset, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    broken = tmp_path / "broken.txt"  # would fail on its own, later
    broken.write_text("not a submission\n")
    result = invoke("score", broken, "--data", dataset, "--track", "va", "--json", blocker / "va.json")
    assert result.exit_code == 2 and "Invalid value for '--json'" in result.output and "Not a directory" in result.output
    folder = invoke("score", broken, "--data", dataset, "--track", "va", "--json", tmp_path)
    assert folder.exit_code == 2 and "Invalid value for '--json'" in folder.output
    splits = invoke("data", "splits", dataset, "--out", blocker / "splits")
    assert splits.exit_code == 2 and "Invalid value for '--out'" in splits.output


# ----------------------------------------------------- 6. all or nothing


def test_data_splits_refuses_a_non_empty_folder_and_force_replaces_it_whole(dataset, tmp_path):
    out = tmp_path / "splits"
    out.mkdir()
    (out / "stale-from-another-root.txt").write_text("old-video\n")
    refused = invoke("data", "splits", dataset, "--out", out)
    assert refused.exit_code == 2 and "--force" in refused.output
    assert sorted(p.name for p in out.iterdir()) == ["stale-from-another-root.txt"]
    forced = invoke("data", "splits", dataset, "--out", out, "--force")
    assert forced.exit_code == 0
    names = sorted(p.name for p in out.iterdir())
    assert "stale-from-another-root.txt" not in names and len(names) == 16
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    inside = invoke("data", "splits", dataset, "--out", dataset / "splits")
    assert inside.exit_code == 2 and "only ever read" in inside.output and not (dataset / "splits").exists()
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "Documents").mkdir()
    not_splits = invoke("data", "splits", dataset, "--out", tmp_path / "home", "--force")
    assert not_splits.exit_code == 2 and (tmp_path / "home" / "Documents").is_dir()


def test_a_failure_while_writing_splits_leaves_the_old_folder_untouched(dataset, tmp_path, monkeypatch):
    from abawbench.data import affwild2

    out = tmp_path / "splits"
    table = affwild2.index(dataset)
    affwild2.write_standard_splits(table, out)
    before = snapshot(out)
    real_write_text = Path.write_text
    calls = []

    def failing(self, *args, **kwargs):
        calls.append(self)
        if len(calls) == 15:
            raise OSError(28, "No space left on device", str(self))
        return real_write_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", failing)
    with pytest.raises(OSError):
        affwild2.write_standard_splits(table, out, seed=3, force=True)
    monkeypatch.undo()
    assert len(calls) == 15 and snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["splits"]  # no staging folder left


# ----------------------------------------------------- 7. option values


@pytest.mark.parametrize("option", [("--seed", "-1"), ("--seed", "٣٧"), ("--bootstrap", "²"), ("--bootstrap", "٣٧")])
def test_bad_option_values_are_usage_errors(dataset, predictions, option):
    result = invoke("score", predictions["va"], "--data", dataset, "--track", "va", *option)
    assert result.exit_code == 2 and f"Invalid value for '{option[0]}'" in result.output
    splits = invoke("data", "splits", dataset, "--out", "unused", "--seed", "-1")
    assert splits.exit_code == 2 and "Invalid value for '--seed'" in splits.output


@pytest.mark.parametrize("count", ["²", "٣٧"])
def test_video_list_counts_must_be_ascii_digits(predictions, tmp_path, count):
    videos = sorted(p.stem for p in predictions["va"].glob("*.txt"))
    listing = tmp_path / "videos.txt"
    listing.write_text(f"{videos[0]},{count}\n" + "".join(f"{v}\n" for v in videos[1:]))
    result = invoke("validate", predictions["va"], "--track", "va", "--videos", listing)
    assert result.exit_code == 2 and f"{listing}:1: expected 'video' or 'video,frames'" in result.output


# ----------------------------------------------------- 8. smaller


def test_user_text_in_tables_is_shown_verbatim(tmp_path):
    spec = track_spec("abaw2", "va")
    rng = np.random.default_rng(0)
    truths = {name: np.round(rng.uniform(-1, 1, (30, 2)), 3) for name in ("[bold]x", "plain")}
    formats.write_per_video(tmp_path / "data" / VA_TRUTH, spec, truths)
    formats.write_per_video(tmp_path / "pred", spec, {v: np.clip(t + 0.1, -1, 1) for v, t in truths.items()})
    result = invoke("score", tmp_path / "pred", "--data", tmp_path / "data", "--track", "va")
    assert result.exit_code == 0 and "[bold]x" in result.output


def test_the_demo_reports_errors_as_the_other_commands_do(tmp_path, monkeypatch):
    import abawbench.demo
    from abawbench.scoring import ScoringError

    def broken(out, console, size):
        raise ScoringError("no ground truth")

    monkeypatch.setattr(abawbench.demo, "run_demo", broken)
    result = invoke("demo", "--out", tmp_path / "demo")
    assert result.exit_code == 2 and "error: no ground truth" in result.output


def test_a_split_list_that_is_a_fifo_is_refused_not_waited_on(tmp_path):
    from abawbench.data import affwild2
    from abawbench.formats import FormatError

    fifo = tmp_path / "expr-train.txt"
    os.mkfifo(fifo)
    with pytest.raises(FormatError, match="expected a regular file, found a FIFO"):
        affwild2.read_split(fifo)
