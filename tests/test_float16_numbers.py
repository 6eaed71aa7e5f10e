"""A Python number meeting a float16 tensor is not rounded to float16 first (issue 18, item 4's class).

PyTorch keeps the number in double, computes in float32 and rounds the result once: x16 / 1e6 is
1e-6, not x16 / inf = 0, and x16 * 1e-4 keeps its digits. Each case runs in both frameworks.
"""
import numpy as np
import pytest
from torch_required import require_torch

import tinygraph as tg

torch = require_torch(__file__)

VALUES = np.array([1.0, 2.0, -0.5, 600.0], dtype=np.float16)
CASES = {
    "x / 1e6": lambda x: x / 1e6,
    "x * 1e-4": lambda x: x * 1e-4,
    "1e5 + x (overflows to inf, as there)": lambda x: 1e5 + x,
    "x - 0.1": lambda x: x - 0.1,
    "2.5 ** x": lambda x: 2.5 ** x,
    "x ** 2": lambda x: x ** 2,
    "1 / x": lambda x: 1 / x,
    "maximum(x, 1e-7)": lambda x: (tg if isinstance(x, tg.Tensor) else torch).maximum(
        x, (tg.tensor if isinstance(x, tg.Tensor) else torch.tensor)(1e-7, dtype=x.dtype) * 0 + 1e-7),
}


@pytest.mark.parametrize("name", CASES)
def test_a_number_with_a_float16_tensor_computes_as_pytorch(name):
    f = CASES[name]
    x = tg.tensor(VALUES, requires_grad=True)
    t = torch.tensor(VALUES, requires_grad=True)
    mine, theirs = f(x), f(t)
    assert mine.dtype == np.float16
    np.testing.assert_array_equal(mine.data, theirs.detach().numpy())
    weights = np.array([1.0, -2.0, 0.5, 0.25], dtype=np.float16)
    (mine * weights).sum().backward()
    (theirs * torch.from_numpy(weights)).sum().backward()
    assert x.grad.dtype == np.float16
    np.testing.assert_allclose(np.asarray(x.grad, np.float64), t.grad.numpy().astype(np.float64), rtol=2e-3, atol=1e-7)
