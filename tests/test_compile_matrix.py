"""Every row of the gradcheck table (tests/cases.py, one or more per registered op) as a compiled step.

Each row becomes a step — its function, a weighted sum, backward — called on three different draws
of its inputs (same shapes). A compiled step must give bitwise what the same step gives eagerly,
output and every input's gradient, or run eagerly with a warning that says why. A replay that
differs silently fails here: an op whose forward keeps state outside its context, or a wrapper
that computes an argument in Python from the values, is caught at once.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import tinygraph as tg
from cases import CASES

DRAWS = 3


def _step(case):
    def step(*args):
        out = case.fn(*args)
        weights = np.linspace(-1.0, 1.0, int(np.prod(out.shape))).reshape(out.shape).astype(out.dtype)
        loss = (out * weights).sum()
        if loss.requires_grad:
            loss.backward()
        return out, tuple(a.grad for a in args if isinstance(a, tg.Tensor) and a.requires_grad)
    return step


def _run(case, compiled):
    step = tg.compile(_step(case)) if compiled else _step(case)
    results = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for seed in range(DRAWS):
            args = case.make(np.random.default_rng(seed))
            out, grads = step(*args)
            results.append((np.array(out.data), [None if g is None else np.array(g.data) for g in grads]))
    return results, [str(w.message) for w in caught if "tg.compile" in str(w.message)], step


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_a_compiled_row_is_bitwise_its_eager_row_or_says_why_not(case):
    eager, _, _ = _run(case, compiled=False)
    compiled, warned, step = _run(case, compiled=True)
    for draw, ((out_e, grads_e), (out_c, grads_c)) in enumerate(zip(eager, compiled)):
        assert out_e.dtype == out_c.dtype and np.array_equal(out_e, out_c, equal_nan=True), \
            f"draw {draw}: the output differs from eager ({step!r})"
        for i, (a, b) in enumerate(zip(grads_e, grads_c)):
            assert (a is None) == (b is None), f"draw {draw}: gradient {i} present in one run only"
            if a is not None:
                assert np.array_equal(a, b, equal_nan=True), f"draw {draw}: gradient {i} differs from eager ({step!r})"
    if warned:
        assert step.schedules == [] and len(warned) == 1, warned
    else:
        assert step.schedule is not None and step.schedule.replays == DRAWS - 1, repr(step)
