import sys
from pathlib import Path

import pytest

# test modules share small reference helpers (e.g. test_metrics.reference_ccc)
sys.path.insert(0, str(Path(__file__).resolve().parent))

from examples_budget import MUTATING  # noqa: E402
from shared_fixtures import private_cache_folder, restore_torch_globals  # noqa: E402,F401

if MUTATING:
    from hypothesis import Phase, settings

    # one run per mutant: stop at the first failing example, no shrinking, no example database
    settings.register_profile("mutate", phases=[Phase.explicit, Phase.reuse, Phase.generate], database=None,
                              deadline=None)
    settings.load_profile("mutate")


@pytest.hookimpl(trylast=True)  # after -m has deselected: `-m "not gpu"` never imports torch here
def pytest_collection_modifyitems(config, items):
    """Skip ``gpu`` tests where CUDA is absent (torch is imported only when such a test is selected).

    Under ``make mutate`` the tests of a mutant run fastest first, by the times of mutmut's
    stats pass, so the first to fail (``-x``) ends the run soon: mutmut sorts them itself
    only in a process forked from its own, not in one forked from its fork server."""
    if MUTATING:
        _fastest_first(items)
        _leave_out_training(items)
    gpu_items = [item for item in items if item.get_closest_marker("gpu")]
    if not gpu_items:
        return
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device (torch.cuda.is_available() is False)")
    for item in gpu_items:
        item.add_marker(skip)


def _fastest_first(items) -> None:
    import json

    stats = Path.cwd() / "mutmut-stats.json"  # mutmut runs the tests from its mutants/ folder
    if not stats.is_file():
        return
    seconds = json.loads(stats.read_text()).get("duration_by_test", {})
    items.sort(key=lambda item: seconds.get(item.nodeid, float("inf")))


# The tests that train the baseline's networks. Under ``make mutate`` they are left out:
# in a process forked from mutmut's, which ran them for its stats, some hang until their
# time limit (counted as caught), and they take tens of seconds per mutant besides.
# The mutated modules (scoring, formats, the data layer's labels and splits) have
# their own tests; the kill rates are those of the rest of the suite.
TRAINING_TESTS = ("test_training.py", "test_gru.py")


def _leave_out_training(items) -> None:
    skip = pytest.mark.skip(reason="trains networks: left out under make mutate (tests/conftest.py)")
    for item in items:
        if item.path.name in TRAINING_TESTS:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def synthetic_data(tmp_path_factory):
    """One synthetic dataset (all four databases) for the reader and index tests: ``(root, manifest)``.

    10 videos: enough for every planted quirk, including the unannotated test video.
    Tests that edit files work on copies.
    """
    from abawbench.data.synth import synthesize

    out = tmp_path_factory.mktemp("synthetic_data")
    if MUTATING:
        return out, _pristine_synthetic_copy(out)
    return out, synthesize(out, videos=10, frames=48, seed=5)


def _pristine_synthetic_copy(out: Path) -> dict:
    """Under ``make mutate`` every mutant's test run would synthesise the dataset again
    (seconds each); the generator is not mutated, so it is made once per version of
    synth.py and each run gets its own copy of it."""
    import hashlib
    import json

    from abawbench.data import synth
    from abawbench.data.synth import synthesize

    version = hashlib.sha1(Path(synth.__file__).read_bytes()).hexdigest()[:12]
    _copy_made_once(f"synthetic-{version}", lambda staging: synthesize(staging, videos=10, frames=48, seed=5), out)
    return json.loads((out / "manifest.json").read_text())


def _copy_made_once(name: str, make, out: Path) -> None:
    """Copy into ``out`` the folder ``make(folder)`` fills, made once per ``name`` in the
    temporary folder (staged, then renamed into place, so parallel runs never see half of it)."""
    import os
    import shutil
    import tempfile

    pristine = Path(tempfile.gettempdir()) / f"abawbench-mutate-{os.getuid()}-{name}"
    if not pristine.is_dir():
        staging = Path(tempfile.mkdtemp(prefix=pristine.name + ".", dir=pristine.parent))
        make(staging)
        try:
            os.rename(staging, pristine)
        except OSError:  # another run got there first
            shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(pristine, out, dirs_exist_ok=True)


@pytest.fixture
def database_copy(synthetic_data, tmp_path):
    """``database_copy("expw")``: a private copy of one synthetic database (no cached crops) to break."""
    import shutil

    def make(name: str) -> Path:
        target = tmp_path / name
        shutil.copytree(synthetic_data[0] / name, target, ignore=shutil.ignore_patterns(".abawbench_crops"))
        return target

    return make


@pytest.fixture
def edit_line():
    """``edit_line(path, index, change)``: rewrite line ``index`` (0-based) of a text file as
    ``change(old line)``; returns the file's lines as they were."""

    def edit(path: Path, index: int, change) -> list[str]:
        lines = Path(path).read_text().splitlines()
        edited = list(lines)
        edited[index] = change(lines[index])
        Path(path).write_text("\n".join(edited) + "\n")
        return lines

    return edit


@pytest.fixture(scope="session")
def micro_run(synthetic_data, tmp_path_factory):
    """A complete tiny run (every stage of the paper baseline, a few steps each) on the
    session's synthetic data: ``(run folder, run record)``."""
    from test_training import MICRO

    from abawbench.training.paper_baseline import train_paper_baseline

    out = tmp_path_factory.mktemp("micro") / "run"
    record = train_paper_baseline(synthetic_data[0], out, "tiny", None, MICRO + ["seed=3"])
    return out, record


@pytest.fixture
def progress_tasks(monkeypatch) -> list:
    """rich.progress.Progress replaced by a recorder: the ``(description, total)`` of each
    task the code under test starts, in order."""
    import rich.progress

    tasks: list = []

    class RecordingProgress:
        def __init__(self, *args, **kwargs):
            pass

        def start(self):
            pass

        def stop(self):
            pass

        def add_task(self, description, total):
            tasks.append((description, total))
            return 0

        def advance(self, task, *args, **kwargs):
            pass

    monkeypatch.setattr(rich.progress, "Progress", RecordingProgress)
    return tasks
