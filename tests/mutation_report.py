"""Kill rate per module and the surviving mutants of the last ``make mutate`` run.

Reads mutmut's results (``mutants/**/*.py.meta``) for the mutant-name patterns given on
the command line (the Makefile's MUTANTS), prints one row per module and every mutant
that survived, and says which survivors ``tests/mutation-survivors.md`` does not explain
(a survivor is explained when its name appears in that file's "Equivalent" part with a reason). Exit status 1 when
an unexplained survivor remains, so a new one cannot go unnoticed.

Usage: python tests/mutation_report.py 'abawbench.metrics.*' ...   (no pattern: all)
"""

from __future__ import annotations

import fnmatch
import json
import re
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SURVIVORS_FILE = ROOT / "tests" / "mutation-survivors.md"
# mutmut's exit codes (mutmut.stats.status_by_exit_code), restated so this script needs no mutmut
KILLED, SURVIVED, TIMEOUT = {1, 3}, {0}, {36, 24, -24, 152, 255}
NO_TESTS, NOT_CHECKED = {5, 33}, {None}


def module_of(mutant: str) -> str:
    """``abawbench.data.loading.xǁ_AugmentedImagesǁ_corners__mutmut_3`` -> ``abawbench.data.loading``."""
    return re.split(r"\.xǁ|\.x_", mutant, maxsplit=1)[0]


def load_results(patterns: list[str]) -> dict[str, int | None]:
    results = {}
    for meta in sorted((ROOT / "mutants").rglob("*.py.meta")):
        for attempt in range(20):
            try:
                data = json.loads(meta.read_text())
                break
            except json.JSONDecodeError:  # mutmut is rewriting it: read it again
                time.sleep(0.1)
        for name, code in data["exit_code_by_key"].items():
            if not patterns or any(fnmatch.fnmatch(name, p) for p in patterns):
                results[name] = code
    return results


def main(patterns: list[str]) -> int:
    results = load_results([p.strip("'\"") for p in patterns])
    if not results:
        print("no mutmut results: run `make mutate` first")
        return 1
    per_module: dict[str, Counter] = defaultdict(Counter)
    survivors = []
    for name, code in results.items():
        counts = per_module[module_of(name)]
        if code in KILLED:
            counts["killed"] += 1
        elif code in TIMEOUT:
            counts["timeout"] += 1  # the tests ran past mutmut's limit: counted as caught, as mutmut does
        elif code in SURVIVED:
            counts["survived"] += 1
            survivors.append(name)
        elif code in NO_TESTS:
            counts["no tests"] += 1
            survivors.append(name)
        elif code in NOT_CHECKED:
            counts["not checked"] += 1
        else:
            counts["other"] += 1
    print(f"{'module':32} {'mutants':>8} {'killed':>7} {'timeout':>8} {'survived':>9} {'no tests':>9} "
          f"{'not run':>8} {'kill rate':>10}")
    for module in sorted(per_module):
        c = per_module[module]
        tested = c["killed"] + c["timeout"] + c["survived"] + c["no tests"]
        rate = f"{100 * (c['killed'] + c['timeout']) / tested:.1f}%" if tested else "-"
        print(f"{module:32} {sum(c.values()):>8} {c['killed']:>7} {c['timeout']:>8} {c['survived']:>9} "
              f"{c['no tests']:>9} {c['not checked']:>8} {rate:>10}")
    text = SURVIVORS_FILE.read_text(encoding="utf-8") if SURVIVORS_FILE.exists() else ""
    # only the "Equivalent" part explains a survivor; "Not killed yet" is a to-do list
    equivalent_part = text.split("\n## Not killed yet")[0]
    explained = set(re.findall(r"`([\w.ǁ]+__mutmut_\d+)`", equivalent_part))
    unexplained = [name for name in sorted(survivors) if name not in explained]
    print(f"\n{len(survivors)} surviving mutant(s); {len(survivors) - len(unexplained)} explained in "
          f"{SURVIVORS_FILE.relative_to(ROOT)}")
    for name in unexplained:
        print(f"  unexplained: {name}   (see: mutmut show {name})")
    return 1 if unexplained else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
