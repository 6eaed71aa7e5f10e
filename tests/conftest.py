"""Shared test set-up: the helper modules in tests/ importable, and Hypothesis reproducible.

The helper modules (derivation_oracle, torch_compare, cases, ...) are plain modules beside the
tests; putting tests/ on sys.path makes them importable under any pytest import mode.

Hypothesis runs derandomized by default: `make test` draws the same examples on every run and
every machine, so two runs give the same result. `make explore` (TINYGRAPH_HYPOTHESIS=explore)
draws new random examples, many more of them; a failure it finds prints the shrunk example, which
becomes a replayed regression (tests/differential_regressions.py for expression graphs).
"""
import os
import sys
from pathlib import Path

from hypothesis import settings

TESTS = str(Path(__file__).resolve().parent)
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)

settings.register_profile("reproducible", derandomize=True, database=None, deadline=None, print_blob=True)
settings.register_profile("explore", derandomize=False, database=None, deadline=None, print_blob=True)
PROFILE = os.environ.get("TINYGRAPH_HYPOTHESIS", "reproducible")
if PROFILE not in ("reproducible", "explore"):
    raise ValueError(f"TINYGRAPH_HYPOTHESIS={PROFILE!r}: use 'reproducible' (the default) or 'explore'")
settings.load_profile(PROFILE)
