"""Forward mode (tg.autograd.forward_ad, issue 19's stretch): every op's jvp rule against its backward rule.

For f with inputs x_i, a direction v_i per input and a cotangent u of the output, the two modes
must agree on one number: ⟨J·v, u⟩ (forward mode, one pass) = Σ_i ⟨v_i, (Jᵀu)_i⟩ (backward, the
gradients of ⟨f, u⟩). Rows of the gradcheck table (tests/cases.py) whose ops all have a jvp rule
are checked in float64; the others must refuse, naming an op without one.
"""
from __future__ import annotations

import numpy as np
import pytest

import tinygraph as tg
from cases import CASES

fwad = tg.autograd.forward_ad


def _ops_of(case) -> set[str]:
    out = case.fn(*case.make(np.random.default_rng(0)))
    return {t.op.name for t in tg.topological_order(out) if t.op is not None}


def _directional(case):
    """(⟨J·v, u⟩ by forward mode, Σ⟨v, Jᵀu⟩ by backward) on the row's inputs."""
    args = case.make(np.random.default_rng(0))
    rng = np.random.default_rng(1)
    differentiable = [i for i, a in enumerate(args) if isinstance(a, tg.Tensor) and a.requires_grad]
    directions = {i: rng.standard_normal(args[i].shape) for i in differentiable}
    with fwad.dual_level():
        duals = [fwad.make_dual(a, directions[i]) if i in directions else a for i, a in enumerate(args)]
        out = case.fn(*duals)
        tangent = fwad.unpack_dual(out).tangent
    cotangent = rng.standard_normal(out.shape)
    forward = 0.0 if tangent is None else float(np.sum(tangent.data * cotangent))
    out = case.fn(*args)
    (out * cotangent).sum().backward()
    backward = sum(float(np.sum(directions[i] * (0 if args[i].grad is None else args[i].grad.data)))
                   for i in differentiable)
    return forward, backward


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_forward_mode_agrees_with_backward(case):
    missing = sorted(name for name in _ops_of(case) if tg.registry()[name].jvp is None)
    if missing:
        with pytest.raises(NotImplementedError, match=rf"forward_ad: ({'|'.join(missing)}) has no forward-mode rule"):
            _directional(case)
        return
    try:
        forward, backward = _directional(case)
    except NotImplementedError as error:       # a rule along only some inputs (softmax_xent's targets)
        pytest.skip(str(error))
    assert forward == pytest.approx(backward, rel=1e-10, abs=1e-12)


def test_a_wrong_jvp_rule_is_caught(monkeypatch):
    from tinygraph.ops.tanh import Tanh
    monkeypatch.setattr(Tanh, "jvp", staticmethod(lambda ctx, tangents, inputs, out, attrs: tangents[0] * (1 + out * out)))
    case = next(c for c in CASES if c.op == "tanh")
    forward, backward = _directional(case)
    assert forward != pytest.approx(backward, rel=1e-6)


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")   # torch.func's import
def test_the_derivations_cnn_in_one_forward_pass_against_pytorch():
    torch = pytest.importorskip("torch")
    from tinygraph.models import TwoLayerCNN
    model = TwoLayerCNN(image_size=8, dtype=np.float64)
    rng = np.random.default_rng(0)
    x, labels = rng.standard_normal((4, 1, 8, 8)), rng.integers(0, 10, 4)
    directions = [rng.standard_normal(p.shape) for p in model.parameters()]
    W, b, U, c = (p.data for p in model.parameters())
    with fwad.dual_level():
        duals = [fwad.make_dual(tg.tensor(p), v) for p, v in zip((W, b, U, c), directions)]
        loss = tg.softmax_xent(tg.maxpool(tg.conv2d(tg.tensor(x), duals[0], duals[1]).relu(), 2).flatten(1)
                               @ duals[2].T + duals[3], labels)
        ours = float(fwad.unpack_dual(loss).tangent.data)

    def f(W, b, U, c):
        z = torch.nn.functional.conv2d(torch.from_numpy(x), W, b).relu()
        s = torch.nn.functional.max_pool2d(z, 2).flatten(1) @ U.T + c
        return torch.nn.functional.cross_entropy(s, torch.from_numpy(labels))
    _, theirs = torch.func.jvp(f, tuple(torch.from_numpy(p) for p in (W, b, U, c)),
                               tuple(torch.from_numpy(v) for v in directions))
    assert ours == pytest.approx(float(theirs), rel=1e-10)


def test_make_dual_and_unpack_dual_outside_a_level_and_with_a_wrong_shape():
    with pytest.raises(RuntimeError, match="dual_level"):
        fwad.make_dual(tg.tensor([1.0]), np.ones(1))
    with fwad.dual_level():
        with pytest.raises(ValueError, match=r"tangent of shape \(2,\)"):
            fwad.make_dual(tg.tensor([1.0, 2.0, 3.0]), np.ones(2))
        plain = tg.tensor([1.0])
        assert fwad.unpack_dual(plain).tangent is None
