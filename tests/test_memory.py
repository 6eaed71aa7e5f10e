"""tg.keep_freed_memory(): says whether it changed the allocator, and arrays stay correct after it.

How many page faults it saves is the allocator's business (and the benchmark's, see README's
Performance section); these tests check what a caller relies on.
"""
import json
import platform
import subprocess
import sys

import pytest

import tinygraph as tg
from tinygraph import memory

GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"

# In a fresh process, since the setting is process-wide: one training step of a small CNN, then
# keep_freed_memory(), arrays of every size class allocated, freed and allocated again, and the
# same step once more. Prints what the call returned and whether everything came out right.
AFTER_KEEP = """
import json
import numpy as np
import tinygraph as tg

def step():
    rng = np.random.default_rng(0)
    x = tg.tensor(rng.standard_normal((16, 1, 12, 12)))
    w = tg.tensor(rng.standard_normal((8, 1, 3, 3)), requires_grad=True)
    u = tg.tensor(rng.standard_normal((10, 200)), requires_grad=True)
    loss = tg.softmax_xent(tg.maxpool(tg.conv2d(x, w).relu(), 2).flatten(1) @ u.T, np.arange(16) % 10)
    loss.backward()
    return loss.item(), w.grad.numpy().copy(), u.grad.numpy().copy()

loss, grad_w, grad_u = step()
kept = tg.keep_freed_memory()
arrays_ok = True
for round in range(3):
    for megabytes in (0.01, 1, 8, 40):               # heap-sized and mmap-sized arrays
        n = int(megabytes * 2**20) // 8
        a = np.full(n, float(round + 1))
        b = np.empty(n)
        np.multiply(a, 2.0, out=b)
        arrays_ok &= bool(a.sum() == n * (round + 1) and (b == 2.0 * (round + 1)).all())
        del a, b
again = step()
print(json.dumps({"kept": kept, "arrays_ok": arrays_ok,
                  "same_step": bool(again[0] == loss and (again[1] == grad_w).all() and (again[2] == grad_u).all())}))
"""


def run_after_keep() -> dict:
    result = subprocess.run([sys.executable, "-c", AFTER_KEEP], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def test_it_reports_whether_it_changed_the_allocator_and_arrays_stay_right_after_it():
    outcome = run_after_keep()
    assert outcome["kept"] is GLIBC          # True exactly where the C library is glibc
    assert outcome["arrays_ok"]
    assert outcome["same_step"]              # the same training step gives bit-identical loss and gradients


def test_without_glibc_it_returns_false_and_changes_nothing(monkeypatch):
    monkeypatch.setattr(memory, "_glibc_mallopt", lambda: None)
    assert tg.keep_freed_memory() is False
    assert tg.keep_freed_memory(0) is False


def test_it_returns_false_when_the_allocator_refuses_a_setting(monkeypatch):
    calls = []

    def refusing_mallopt(parameter, value):
        calls.append((parameter, value))
        return 0                             # mallopt's "failed"

    monkeypatch.setattr(memory, "_glibc_mallopt", lambda: refusing_mallopt)
    assert tg.keep_freed_memory(64) is False
    assert calls                             # it asked, and reported the refusal


def test_bad_argument_is_a_value_error():
    with pytest.raises(ValueError, match="keep_freed_memory: megabytes must be a non-negative int"):
        tg.keep_freed_memory(-1)
    with pytest.raises(ValueError, match="megabytes"):
        tg.keep_freed_memory(1.5)
    with pytest.raises(ValueError, match="megabytes"):
        tg.keep_freed_memory(True)
