"""Shared reporting for the benchmarks: a rich table on the terminal and a JSON record."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from shared_fixtures import private_cache_folder, restore_torch_globals  # noqa: E402,F401


@pytest.fixture(scope="module")
def publish(request):
    """``publish(title, header, rows, name, record)``: print a table past pytest's capture
    and save ``.benchmarks/<name>.json``. Works under ``--benchmark-only`` too."""

    def show(title: str, header: list[str], rows: list[list[str]], name: str, record: dict) -> None:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title)
        for i, column in enumerate(header):
            table.add_column(column, justify="left" if i == 0 else "right")
        for row in rows:
            table.add_row(*row)
        out = Path(".benchmarks")
        out.mkdir(exist_ok=True)
        (out / f"{name}.json").write_text(json.dumps(record, indent=2) + "\n")
        capture = request.config.pluginmanager.getplugin("capturemanager")
        with capture.global_and_fixture_disabled():
            Console(width=110).print()
            Console(width=110).print(table)

    return show
