"""Second derivatives of every op, driven by the gradcheck table (tests/cases.py): issue 19.

A row whose ops all have a `differentiable_backward` must pass `tg.gradgradcheck` (Hessian-vector
products and the rule's own linearity in δout against central differences, float64). A row with
an op that has only its NumPy rule must refuse to be differentiated twice, naming that op, never
give a silent zero. ONCE_DIFFERENTIABLE lists those ops: giving one a rule means taking it off.
"""
from __future__ import annotations

import numpy as np
import pytest

import tinygraph as tg
from cases import CASES

# Ops whose backward is not yet written in ops (their gradients raise when differentiated again).
ONCE_DIFFERENTIABLE: set[str] = set()


def twice_differentiable(name: str) -> bool:
    return tg.registry()[name].differentiable_backward is not None


def ops_of(case) -> set[str]:
    out = case.fn(*case.make(np.random.default_rng(0)))
    return {t.op.name for t in tg.topological_order(out) if t.op is not None}


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_gradgradcheck(case):
    args = case.make(np.random.default_rng(0))
    missing = sorted(name for name in ops_of(case) if not twice_differentiable(name))
    if missing:
        with pytest.raises(RuntimeError, match=rf"({'|'.join(missing)}): backward is not differentiable"):
            tg.gradgradcheck(case.fn, *args)
    else:
        assert tg.gradgradcheck(case.fn, *args)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_the_recorded_rule_gives_the_numpy_rules_gradient(case):
    """gradgradcheck differentiates the recorded gradient but takes its value as given: a
    differentiable_backward that computes a wrong first derivative (and differentiates it correctly)
    passes it. So the gradient it records must equal the NumPy rule's."""
    args = case.make(np.random.default_rng(0))
    leaves = [a for a in args if isinstance(a, tg.Tensor) and a.requires_grad]
    out = case.fn(*args)
    weights = tg.tensor(np.random.default_rng(1).uniform(0.5, 1.5, size=out.shape))
    recorded = tg.autograd.grad(out, leaves, grad_outputs=weights, create_graph=True, allow_unused=True)
    plain = tg.autograd.grad(out, leaves, grad_outputs=weights, allow_unused=True)
    for i, (r, p) in enumerate(zip(recorded, plain)):
        assert (r is None) == (p is None), f"input {i}: one rule gives a gradient, the other none"
        if p is not None:
            np.testing.assert_allclose(r.data, p.data, rtol=1e-10, atol=1e-12, err_msg=f"gradient of input {i}")


def test_the_once_differentiable_ops_are_the_listed_ones():
    shipped = {name for name, op in tg.registry().items() if op.__module__.split(".")[0] == "tinygraph"}
    assert {name for name in shipped if not twice_differentiable(name)} == ONCE_DIFFERENTIABLE


def test_gradgradcheck_catches_a_wrong_second_order_rule():
    @tg.register_op("cube_bad_twice", forward="{out} = {x}³", backward="δ{x} = δ{out} ⊙ 3{x}²")
    class CubeBadTwice(tg.Op):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        def backward(ctx, grad_out):
            (x,) = ctx.saved
            return (grad_out * 3 * x ** 2,)

        @staticmethod
        def differentiable_backward(ctx, grad_out):
            (x,) = ctx.saved
            return (grad_out * 3 * x ** 2,)          # x as a constant: the x-dependence is lost

    try:
        x = tg.tensor(np.array([0.5, -1.0, 2.0]), requires_grad=True)
        assert tg.gradcheck(tg.cube_bad_twice, x)             # first order is right
        with pytest.raises(tg.GradcheckError):
            tg.gradgradcheck(tg.cube_bad_twice, x)
    finally:
        tg.unregister_op("cube_bad_twice")
