"""Each op's double backward against PyTorch's (issue 19), one row per op (a few ops have more), float64.

For a row f and random inputs x, output weights v and directions u, both frameworks compute the
first derivative with a graph, g = autograd.grad(f(x), x, grad_outputs=v, create_graph=True), then
differentiate s = Σ_k Σ g_k ⊙ u_k again with respect to x and v: Hessian-vector products in x, and
the rule itself (J u) in v. Where PyTorch's g carries no graph (zeros_like(grad) of a piecewise-
constant op), tinygraph's must carry none either. A row's `fn` runs in both frameworks unless the
row gives PyTorch's spelling as `torch_fn`; index arrays are constants baked into the functions.

torch is a test-only dependency: without it this file is skipped, except under CI=true, where it fails.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest
from torch_required import require_torch

torch = require_torch(__file__)

import torch.nn.functional as F  # noqa: E402

import tinygraph as tg  # noqa: E402
from torch_compare import assert_close, to_numpy  # noqa: E402

torch.set_num_threads(1)

RTOL = ATOL = 1e-9


@dataclass
class Row:
    op: str
    label: str
    fn: Callable                                   # tinygraph's f (and PyTorch's, if torch_fn is None)
    make: Callable[[np.random.Generator], list]    # the float64 inputs, each differentiated
    torch_fn: Callable | None = None

    @property
    def id(self) -> str:
        return f"{self.op}-{self.label}" if self.label else self.op


def normal(*shape):
    return lambda rng: rng.standard_normal(shape)


def uniform(low, high, *shape):
    return lambda rng: rng.uniform(low, high, size=shape)


def away_from_zero(*shape):
    """|values| in [0.2, 1.5], and at least 0.05 from an integer: no jump of floor, round, ... nearby."""
    def make(rng):
        values = rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.2, 1.5, size=shape)
        near = np.abs(values - np.round(values)) < 0.05
        return np.where(near, values + 0.1, values)
    return make


def inputs(*makers):
    return lambda rng: [make(rng) for make in makers]


GATHER_INDEX = np.array([[0, 0, 2], [2, 1, 1]])
SCATTER_INDEX = np.array([[1, 0, 1], [1, 1, 0]])
UNPOOL_INDICES = np.array([[[[0, 3], [9, 14]], [[5, 6], [8, 15]]]])


def torch_index(index: np.ndarray):
    return torch.from_numpy(index.astype(np.int64))


ROWS = [
    Row("sin", "", lambda x: x.sin(), inputs(normal(3, 4))),
    Row("cos", "", lambda x: x.cos(), inputs(normal(3, 4))),
    Row("tan", "away from the poles", lambda x: x.tan(), inputs(uniform(-1.2, 1.2, 3, 4))),
    Row("asin", "inside (-1, 1)", lambda x: x.asin(), inputs(uniform(-0.8, 0.8, 3, 4))),
    Row("acos", "inside (-1, 1)", lambda x: x.acos(), inputs(uniform(-0.8, 0.8, 3, 4))),
    Row("atan", "", lambda x: x.atan(), inputs(normal(3, 4))),
    Row("sinh", "", lambda x: x.sinh(), inputs(normal(3, 4))),
    Row("cosh", "", lambda x: x.cosh(), inputs(normal(3, 4))),
    Row("log1p", "", lambda x: x.log1p(), inputs(uniform(-0.5, 2.0, 3, 4))),
    Row("expm1", "", lambda x: x.expm1(), inputs(normal(3, 4))),
    Row("log2", "", lambda x: x.log2(), inputs(uniform(0.5, 2.0, 3, 4))),
    Row("log10", "", lambda x: x.log10(), inputs(uniform(0.5, 2.0, 3, 4))),
    Row("exp2", "", lambda x: x.exp2(), inputs(normal(3, 4))),
    Row("rsqrt", "", lambda x: x.rsqrt(), inputs(uniform(0.5, 2.0, 3, 4))),
    Row("reciprocal", "", lambda x: x.reciprocal(), inputs(away_from_zero(3, 4))),
    Row("square", "", lambda x: x.square(), inputs(normal(3, 4))),
    Row("erf", "", lambda x: x.erf(), inputs(normal(3, 4))),
    # Piecewise constant: zeros with no graph, in both.
    Row("sign", "", lambda x: x.sign(), inputs(away_from_zero(3, 4))),
    Row("floor", "", lambda x: x.floor(), inputs(away_from_zero(3, 4))),
    Row("ceil", "", lambda x: x.ceil(), inputs(away_from_zero(3, 4))),
    Row("round", "decimals 1", lambda x: x.round(decimals=1), inputs(uniform(0.21, 0.24, 3, 4))),
    Row("trunc", "", lambda x: x.trunc(), inputs(away_from_zero(3, 4))),
    Row("floor_divide", "broadcast", lambda a, b: a // b, inputs(away_from_zero(3, 4), uniform(0.5, 2.0, 4)),
        torch_fn=lambda a, b: torch.div(a, b, rounding_mode="floor")),
    Row("frac", "", lambda x: x.frac(), inputs(away_from_zero(3, 4))),
    Row("clone", "reused", lambda x: x.clone() * x, inputs(normal(3, 4))),
    Row("remainder", "broadcast", lambda a, b: a % b, inputs(away_from_zero(3, 4), uniform(0.5, 2.0, 4))),
    Row("cumsum", "dim 1", lambda x: x.cumsum(1), inputs(normal(3, 4))),
    Row("cumsum", "dim 0, then squared", lambda x: x.cumsum(0).square(), inputs(normal(3, 2, 2))),
    Row("take_along_dim", "gather, repeated indices, times x", lambda x: tg.gather(x, 1, GATHER_INDEX).square(),
        inputs(normal(2, 3)), torch_fn=lambda x: torch.gather(x, 1, torch_index(GATHER_INDEX)).square()),
    Row("take_along_dim", "x broadcast outside dim", lambda x: tg.take_along_dim(x, GATHER_INDEX, dim=1).sin(),
        inputs(normal(1, 3)), torch_fn=lambda x: torch.take_along_dim(x, torch_index(GATHER_INDEX), dim=1).sin()),
    # src of index's shape: PyTorch's own backward refuses a larger src (its gather returns index's shape).
    Row("scatter_add_along_dim", "repeated indices, index narrower than x",
        lambda x, s: tg.scatter_add(x, 0, SCATTER_INDEX, s).square(), inputs(normal(2, 4), normal(2, 3)),
        torch_fn=lambda x, s: torch.scatter_add(x, 0, torch_index(SCATTER_INDEX), s).square()),
    Row("conv_transpose2d", "stride 2, padding 1, output_padding 1, bias",
        lambda x, w, b: tg.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1),
        inputs(normal(2, 3, 3, 4), normal(3, 2, 3, 3), normal(2)),
        torch_fn=lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1)),
    Row("conv_transpose2d", "groups 2, stride (1, 2), dilation (2, 1)",
        lambda x, w: tg.conv_transpose2d(x, w, stride=(1, 2), groups=2, dilation=(2, 1)),
        inputs(normal(1, 4, 3, 3), normal(4, 3, 2, 3)),
        torch_fn=lambda x, w: F.conv_transpose2d(x, w, stride=(1, 2), groups=2, dilation=(2, 1))),
    Row("conv_transpose2d", "dilation 2 above stride 1, output_padding 1",
        lambda x, w, b: tg.conv_transpose2d(x, w, b, output_padding=1, dilation=2),
        inputs(normal(2, 2, 3, 3), normal(2, 3, 2, 2), normal(3)),
        torch_fn=lambda x, w, b: F.conv_transpose2d(x, w, b, output_padding=1, dilation=2)),
    Row("max_unpool2d", "2×2 windows, then squared",
        lambda x: tg.max_unpool2d(x, UNPOOL_INDICES, output_size=(4, 4)).square(), inputs(normal(1, 2, 2, 2)),
        torch_fn=lambda x: F.max_unpool2d(x, torch_index(UNPOOL_INDICES), 2, output_size=(4, 4)).square()),
    Row("avg_pool2d", "2×2 blocks, odd width", lambda x: tg.avg_pool2d(x, 2).square(), inputs(normal(2, 3, 6, 5)),
        torch_fn=lambda x: F.avg_pool2d(x, 2).square()),
    Row("avg_pool2d", "3×3, stride 2, padding 1, ceil_mode",
        lambda x: tg.avg_pool2d(x, 3, 2, padding=1, ceil_mode=True).square(), inputs(normal(2, 2, 6, 7)),
        torch_fn=lambda x: F.avg_pool2d(x, 3, 2, padding=1, ceil_mode=True).square()),
    Row("avg_pool2d", "padding not counted, (3, 2) windows, stride 1",
        lambda x: tg.avg_pool2d(x, (3, 2), 1, padding=1, count_include_pad=False).square(), inputs(normal(1, 2, 5, 4)),
        torch_fn=lambda x: F.avg_pool2d(x, (3, 2), 1, padding=1, count_include_pad=False).square()),
    Row("avg_pool2d", "gaps: size 2, stride 3", lambda x: tg.avg_pool2d(x, 2, 3).square(), inputs(normal(1, 2, 7, 8)),
        torch_fn=lambda x: F.avg_pool2d(x, 2, 3).square()),
    Row("pad", "last two axes, value 0.5", lambda x: tg.pad(x, pad=(1, 2, 0, 1), value=0.5).square(),
        inputs(normal(2, 3, 4)), torch_fn=lambda x: F.pad(x, (1, 2, 0, 1), value=0.5).square()),
    Row("pad", "negative amounts crop", lambda x: tg.pad(x, pad=(-1, 2, 1, -2)).square(), inputs(normal(4, 5)),
        torch_fn=lambda x: F.pad(x, (-1, 2, 1, -2)).square()),
]


def double_backward(library, fn: Callable, arrays: list, v: np.ndarray, directions: list) -> tuple[list, list | None]:
    """(g, second): g = vᵀ ∂fn/∂x per input with create_graph=True, then ∂(Σ_k Σ g_k ⊙ u_k)/∂(x..., v)
    in `library` (tinygraph or torch), as arrays; second is None when Σ g ⊙ u carries no graph."""
    xs = [library.tensor(a, requires_grad=True) for a in arrays]
    weights = library.tensor(v, requires_grad=True)
    grads = library.autograd.grad(fn(*xs), xs, grad_outputs=weights, create_graph=True, allow_unused=True)
    total = None
    for g, u in zip(grads, directions):
        if g is not None:
            term = (g * library.tensor(u)).sum()
            total = term if total is None else total + term
    first = [np.zeros(a.shape) if g is None else _array(g) for g, a in zip(grads, arrays)]
    if total is None or not total.requires_grad:
        return first, None
    seconds = library.autograd.grad(total, xs + [weights], allow_unused=True)
    return first, [np.zeros(np.shape(a)) if g is None else _array(g) for g, a in zip(seconds, arrays + [v])]


def _array(g) -> np.ndarray:
    return to_numpy(g) if isinstance(g, torch.Tensor) else np.asarray(g.data)


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.id)
def test_double_backward_matches_torch(row):
    rng = np.random.default_rng(0)
    arrays = row.make(rng)
    with torch.no_grad():
        shape = tuple((row.torch_fn or row.fn)(*[torch.tensor(a) for a in arrays]).shape)
    v = rng.uniform(0.5, 1.5, size=shape)
    directions = [rng.uniform(-1.0, 1.0, size=a.shape) for a in arrays]
    first, second = double_backward(tg, row.fn, arrays, v, directions)
    torch_first, torch_second = double_backward(torch, row.torch_fn or row.fn, arrays, v, directions)
    names = [f"input {i}" for i in range(len(arrays))]
    for name, actual, expected in zip(names, first, torch_first):
        assert_close(actual, expected, RTOL, ATOL, f"{row.op}: first derivative for {name}")
    if torch_second is None:
        assert second is None, f"{row.op}: PyTorch's gradient carries no graph (zeros_like), tinygraph's does"
        return
    assert second is not None, f"{row.op}: tinygraph's gradient carries no graph, PyTorch's does"
    for name, actual, expected in zip(names + ["v"], second, torch_second):
        assert_close(actual, expected, RTOL, ATOL, f"{row.op}: second derivative for {name}")


def test_every_op_in_the_table_has_a_differentiable_backward():
    assert [row.op for row in ROWS if tg.registry()[row.op].differentiable_backward is None] == []
