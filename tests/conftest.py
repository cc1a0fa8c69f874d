import sys
from pathlib import Path

# test modules share small reference helpers (e.g. test_metrics.reference_ccc)
sys.path.insert(0, str(Path(__file__).resolve().parent))
