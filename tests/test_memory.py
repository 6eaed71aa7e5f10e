"""tg.keep_freed_memory(): freed arrays are reused instead of page-faulted back in."""
import subprocess
import sys

import pytest

import tinygraph as tg

# Allocate and free 6 arrays of 8 MB, five times; print the page faults of rounds 2-5.
ROUNDS = """
import resource, sys
import numpy as np
import tinygraph as tg
if sys.argv[1] == "keep":
    assert tg.keep_freed_memory()
faults = []
for _ in range(5):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    arrays = [np.ones(2 * 2**20, dtype=np.float32) for _ in range(6)]
    del arrays
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(sum(faults[1:]))
"""


def faults_after_warmup(mode: str) -> int:
    result = subprocess.run([sys.executable, "-c", ROUNDS, mode], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return int(result.stdout.split()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt only")
def test_freed_arrays_are_reused_without_page_faults():
    kept = faults_after_warmup("keep")
    default = faults_after_warmup("default")
    pages_per_round = 6 * 8 * 2**20 // 4096
    # By default glibc returns part of the freed 48 MB to the OS each round and faults it back in
    # (~12 MB a round with glibc 2.36); kept, (almost) no page is touched for the first time again.
    assert default > 4 * pages_per_round // 8
    assert kept < pages_per_round // 20


def test_bad_argument_is_a_value_error():
    with pytest.raises(ValueError, match="keep_freed_memory: megabytes must be a non-negative int"):
        tg.keep_freed_memory(-1)
    with pytest.raises(ValueError, match="megabytes"):
        tg.keep_freed_memory(1.5)
