"""Make the plain helper modules in tests/ (derivation_oracle, torch_compare, ...) importable by the
test files under any pytest import mode, --import-mode=importlib included."""
import sys
from pathlib import Path

TESTS = str(Path(__file__).resolve().parent)
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)
