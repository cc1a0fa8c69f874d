import sys
from pathlib import Path

import pytest

# test modules share small reference helpers (e.g. test_metrics.reference_ccc)
sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture(scope="session", autouse=True)
def private_cache_folder(tmp_path_factory):
    """The tests' caches go to a folder of their own, never the user's ~/.cache (subprocesses
    inherit it through ABAWBENCH_CACHE)."""
    import os

    folder = tmp_path_factory.mktemp("abawbench_cache")
    before = os.environ.get("ABAWBENCH_CACHE")
    os.environ["ABAWBENCH_CACHE"] = str(folder)
    yield folder
    if before is None:
        os.environ.pop("ABAWBENCH_CACHE", None)
    else:
        os.environ["ABAWBENCH_CACHE"] = before


@pytest.fixture(scope="session")
def synthetic_data(tmp_path_factory):
    """One synthetic dataset (all four databases) for the reader and index tests: ``(root, manifest)``.

    10 videos: enough for every planted quirk, including the unannotated test video.
    Tests that edit files work on copies.
    """
    from abawbench.data.synth import synthesize

    out = tmp_path_factory.mktemp("synthetic_data")
    return out, synthesize(out, videos=10, frames=48, seed=5)


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
