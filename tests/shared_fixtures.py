"""Fixtures the tests and the benchmarks share (both conftest.py files import them)."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def private_cache_folder(tmp_path_factory):
    """Caches go to a folder of their own, never the user's ~/.cache (subprocesses inherit
    it through ABAWBENCH_CACHE)."""
    folder = tmp_path_factory.mktemp("abawbench_cache")
    before = os.environ.get("ABAWBENCH_CACHE")
    os.environ["ABAWBENCH_CACHE"] = str(folder)
    yield folder
    if before is None:
        os.environ.pop("ABAWBENCH_CACHE", None)
    else:
        os.environ["ABAWBENCH_CACHE"] = before


@pytest.fixture(scope="module")
def restore_torch_globals():
    """Training sets torch's thread count and deterministic algorithms for the process:
    a module that trains puts them back (``pytestmark = pytest.mark.usefixtures(...)``)."""
    import torch

    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    yield
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(deterministic)
