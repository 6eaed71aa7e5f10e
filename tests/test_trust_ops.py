"""Issue 18, op-level silent failures (items 2-6, 9), one test each against PyTorch; every one failed before its fix."""
from __future__ import annotations

import numpy as np
import pytest

import tinygraph as tg
import tinygraph.functional as F
from torch_required import require_torch

torch = require_torch(__file__)
TF = torch.nn.functional


def grads_of(fn_tg, fn_torch, *values, dtype=np.float64):
    """Gradients of fn(x...).sum() for each input, from tinygraph and from PyTorch (as NumPy arrays)."""
    xs = [tg.tensor(np.asarray(v, dtype=dtype), requires_grad=True) for v in values]
    ts = [torch.tensor(np.asarray(v, dtype=dtype), requires_grad=True) for v in values]
    fn_tg(*xs).sum().backward()
    fn_torch(*ts).sum().backward()
    return [x.grad for x in xs], [t.grad.numpy() for t in ts]


def assert_same_grads(fn_tg, fn_torch, *values, dtype=np.float64):
    ours, theirs = grads_of(fn_tg, fn_torch, *values, dtype=dtype)
    for a, b in zip(ours, theirs):
        assert a.dtype == b.dtype
        np.testing.assert_allclose(a, b, rtol=1e-6, equal_nan=True)


# ------------------------------------------------------------------ 3. a rule that routes a gradient selects it

SIGNS = [-1.0, 0.0, 2.0, 3.0, np.nan]


@pytest.mark.parametrize("ours, theirs", [
    (lambda x: x.relu().sqrt(), lambda x: x.relu().sqrt()),
    (lambda x: x.clamp(min=0).sqrt(), lambda x: x.clamp(min=0).sqrt()),
    (lambda x: x.clamp(max=0).neg().sqrt(), lambda x: x.clamp(max=0).neg().sqrt()),
    (lambda x: tg.maximum(x, 0.0).sqrt(), lambda x: torch.maximum(x, torch.zeros((), dtype=x.dtype)).sqrt()),
    (lambda x: tg.maximum(0.0, x).sqrt(), lambda x: torch.maximum(torch.zeros((), dtype=x.dtype), x).sqrt()),
    (lambda x: (-tg.minimum(x, 0.0)).sqrt(), lambda x: (-torch.minimum(x, torch.zeros((), dtype=x.dtype))).sqrt()),
    (lambda x: (-tg.minimum(0.0, x)).sqrt(), lambda x: (-torch.minimum(torch.zeros((), dtype=x.dtype), x)).sqrt()),
    (lambda x: tg.where(x > 0, x, -1.0).sqrt(), lambda x: torch.where(x > 0, x, -1.0).sqrt()),
    (lambda x: (x.abs() * 0).sqrt(), lambda x: (x.abs() * 0).sqrt()),                 # PyTorch multiplies here
], ids=["relu", "clamp min", "clamp max", "maximum", "maximum (scalar first)", "minimum",
        "minimum (scalar first)", "where", "abs"])
def test_a_masked_off_element_gets_pytorchs_gradient_whatever_arrives(ours, theirs):
    with np.errstate(invalid="ignore", divide="ignore"):
        assert_same_grads(ours, theirs, SIGNS)


def test_maximum_of_two_tensors_routes_nan_and_ties_as_pytorch():
    a, b = [1.0, 2.0, np.nan, 3.0, 0.0], [2.0, 2.0, 1.0, np.nan, -1.0]
    with np.errstate(invalid="ignore", divide="ignore"):
        for ours, theirs in ((tg.maximum, torch.maximum), (tg.minimum, torch.minimum)):
            assert_same_grads(lambda x, y: ours(x, y) * np.array([1, np.inf, 1, 1, 1]),
                              lambda x, y: theirs(x, y) * torch.tensor([1, np.inf, 1, 1, 1]), a, b)


@pytest.mark.parametrize("options", [{}, {"stride": 1}, {"padding": 1}], ids=["2x2 blocks", "overlapping", "padded"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_maxpool_sends_a_nan_gradient_to_the_window_maximum_only(options, dtype):
    x = np.array([[[[1., -2, -3, -4], [-5, -6, -7, 8], [0, 1, 2, 3], [4, 5, -6, 7]]]])
    with np.errstate(invalid="ignore", divide="ignore"):
        assert_same_grads(lambda x: (F.max_pool2d(x, 2, **options) - 1.5).sqrt(),
                          lambda x: (TF.max_pool2d(x, 2, **options) - 1.5).sqrt(), x, dtype=dtype)
