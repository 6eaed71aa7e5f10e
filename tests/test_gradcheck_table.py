"""Every op's backward rule against central differences in float64, driven by one table (tests/cases.py).

A new op is one new row (or several) in CASES: `test_every_registered_op_has_a_row` fails until it has one.
"""
from __future__ import annotations

import numpy as np
import pytest

import tinygraph as tg
from cases import CASES


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_gradcheck(case):
    args = case.make(np.random.default_rng(0))
    assert tg.gradcheck(case.fn, *args)


def test_every_registered_op_has_a_row():
    shipped = {name for name, op in tg.registry().items() if op.__module__.split(".")[0] == "tinygraph"}
    assert {"conv2d", "maxpool", "softmax_xent", "relu", "matmul"} <= shipped
    missing = shipped - {case.op for case in CASES}
    assert not missing, f"ops without a gradcheck row in CASES: {sorted(missing)}"


def test_each_row_calls_the_op_it_names():
    """A row for op X must put an X node in the graph (so a typo cannot make a row check nothing)."""
    for case in CASES:
        out = case.fn(*case.make(np.random.default_rng(0)))
        ops = {t.op.name for t in tg.topological_order(out) if t.op is not None}
        assert case.op in ops, f"row {case.id} builds {sorted(ops)}, not {case.op}"


def test_gradcheck_catches_a_wrong_backward_rule():
    @tg.register_op("bad_square", forward="{out} = {x}²", backward="δ{x} = δ{out} ⊙ {x}  (the 2 is missing)")
    class BadSquare(tg.Op):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, grad_out):
            (x,) = ctx.saved
            return (grad_out * x,)          # wrong on purpose: d(x²)/dx is 2x

    try:
        x = tg.tensor(np.random.default_rng(0).standard_normal((2, 3)) + 3.0, requires_grad=True, name="Z")
        with pytest.raises(tg.GradcheckError, match=r"input 0 \('Z'\) of shape \(2, 3\)"):
            tg.gradcheck(lambda x: tg.bad_square(x), x)
    finally:
        tg.unregister_op("bad_square")
    assert "bad_square" not in tg.registry()
