"""How many examples a hypothesis test draws.

The fast suite draws the full number. Under mutation testing (``make mutate`` sets
``ABAWBENCH_MUTATE=1``) every test runs once per mutant, so property tests draw a tenth
(at least 10) and skip shrinking (see conftest.py): a mutant is killed by the first
failing example, and a counterexample's minimal form is of no use there.
"""

import os

MUTATING = bool(os.environ.get("ABAWBENCH_MUTATE"))


def examples(n: int) -> int:
    return max(10, n // 10) if MUTATING else n
