"""The gradcheck table: one row per op (or several), shared by the test files that drive ops from it.

A plain module, not a test file, so test_gradcheck_table.py and test_ops_contracts.py import it
under any pytest import mode (tests/conftest.py puts tests/ on sys.path). A new op is one new row:
`test_every_registered_op_has_a_row` fails until it has one. Inputs stay away from kinks: ReLU
inputs are at least 0.2 from 0, maxpool inputs have distinct values at least 0.1 apart (gradcheck
nudges by 1e-6), log/pow/div get positive values.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

import tinygraph as tg


@dataclass
class Case:
    op: str                                   # the registered op this row exercises
    label: str
    fn: Callable[..., tg.Tensor]
    make: Callable[[np.random.Generator], tuple]   # builds the inputs handed to fn

    @property
    def id(self) -> str:
        return f"{self.op}-{self.label}"


def normal(*shape, grad=True):
    return lambda rng: tg.tensor(rng.standard_normal(shape), requires_grad=grad)


def positive(*shape):
    return lambda rng: tg.tensor(rng.uniform(0.5, 2.0, size=shape), requires_grad=True)


def away_from_zero(*shape):
    """Values with |v| in [0.2, 1.5]: no ReLU kink within reach of gradcheck's nudges."""
    return lambda rng: tg.tensor(rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.2, 1.5, size=shape),
                                 requires_grad=True)


def distinct(*shape):
    """A shuffled grid of values 0.1 apart: every pooling window has one clear maximum."""
    return lambda rng: tg.tensor(rng.permutation(np.prod(shape)).reshape(shape) * 0.1 - 1.0, requires_grad=True)


def labels(n, classes):
    return lambda rng: rng.integers(0, classes, size=n)


def probabilities(n, classes):
    def make(rng):
        rows = rng.uniform(0.1, 1.0, size=(n, classes))
        return rows / rows.sum(axis=1, keepdims=True)
    return make


def inputs(*makers):
    return lambda rng: tuple(make(rng) for make in makers)


CASES = [
    # ---- elementwise arithmetic, with broadcasting
    Case("add", "same shape", lambda a, b: a + b, inputs(normal(3, 4), normal(3, 4))),
    Case("add", "row broadcast", lambda a, b: a + b, inputs(normal(3, 4), normal(4))),
    Case("add", "both broadcast", lambda a, b: a + b, inputs(normal(2, 1, 4), normal(3, 1))),
    Case("add", "python scalar", lambda a: 2.5 + a, inputs(normal(2, 3))),
    Case("sub", "column broadcast", lambda a, b: a - b, inputs(normal(3, 4), normal(3, 1))),
    Case("sub", "leading axes", lambda a, b: a - b, inputs(normal(4), normal(2, 3, 4))),
    Case("mul", "row broadcast", lambda a, b: a * b, inputs(normal(3, 4), normal(4))),
    Case("mul", "both broadcast", lambda a, b: a * b, inputs(normal(2, 3, 1), normal(3, 4))),
    Case("mul", "reused input", lambda a: a * a, inputs(normal(5))),
    Case("div", "column broadcast", lambda a, b: a / b, inputs(normal(3, 4), positive(3, 1))),
    Case("div", "scalar numerator", lambda b: 1.5 / b, inputs(positive(2, 3))),
    Case("neg", "matrix", lambda x: -x, inputs(normal(3, 4))),
    Case("neg", "3-D", lambda x: -x, inputs(normal(2, 3, 2))),
    Case("pow", "cube", lambda x: x ** 3, inputs(normal(3, 4))),
    Case("pow", "square root", lambda x: x ** 0.5, inputs(positive(5))),
    Case("pow", "negative exponent", lambda x: x ** -1.5, inputs(positive(2, 3))),
    Case("pow", "tensor exponent, broadcast", lambda x, y: x ** y, inputs(positive(2, 3), normal(3))),
    Case("pow", "number to a tensor power", lambda y: 2.5 ** y, inputs(normal(2, 3))),
    Case("exp", "matrix", lambda x: x.exp(), inputs(normal(3, 4))),
    Case("exp", "vector", lambda x: tg.exp(x), inputs(normal(6))),
    Case("log", "matrix", lambda x: x.log(), inputs(positive(3, 4))),
    Case("log", "4-D", lambda x: tg.log(x), inputs(positive(2, 1, 2, 3))),
    # ---- reductions and shapes
    Case("sum", "all", lambda x: x.sum(), inputs(normal(3, 4))),
    Case("sum", "axis 1", lambda x: x.sum(axis=1), inputs(normal(3, 4, 2))),
    Case("sum", "axes keepdims", lambda x: x.sum(axis=(0, 2), keepdims=True), inputs(normal(3, 4, 2))),
    Case("sum", "negative axis", lambda x: x.sum(axis=-1), inputs(normal(2, 5))),
    Case("sum", "0-d over axis 0", lambda x: x.sum(0) * x, inputs(normal())),
    Case("mean", "all", lambda x: x.mean(), inputs(normal(3, 4))),
    Case("mean", "axis 1", lambda x: x.mean(axis=1), inputs(normal(3, 4, 2))),
    Case("mean", "axes keepdims", lambda x: x.mean(axis=(0, 2), keepdims=True), inputs(normal(3, 4, 2))),
    Case("mean", "0-d", lambda x: x.mean() * x, inputs(normal())),
    Case("reshape", "merge", lambda x: x.reshape(6, 4), inputs(normal(2, 3, 4))),
    Case("reshape", "flatten", lambda x: x.flatten(1), inputs(normal(2, 3, 2, 2))),
    Case("transpose", "reverse", lambda x: x.T, inputs(normal(3, 4))),
    Case("transpose", "permute", lambda x: x.permute(1, 2, 0), inputs(normal(2, 3, 4))),
    Case("transpose", "swap two dims", lambda x: x.transpose(0, 2), inputs(normal(2, 3, 4))),
    # ---- PyTorch's tensor vocabulary (issue 11): indexing, joining, choosing
    Case("getitem", "int and slice", lambda x: x[1, 1:3], inputs(normal(3, 4))),
    Case("getitem", "ellipsis and None", lambda x: x[..., None, 0], inputs(normal(2, 3, 4))),
    Case("getitem", "negative step", lambda x: x[::-2], inputs(normal(5, 2))),
    Case("getitem", "repeated indices accumulate", lambda x: x[[0, 2, 0, 0]], inputs(normal(3, 2))),
    Case("getitem", "index tensor pairs", lambda x: x[tg.tensor([0, 1, 1]), tg.tensor([2, 0, 2])], inputs(normal(2, 3))),
    Case("getitem", "boolean mask", lambda x: x[x.data > 0], inputs(normal(3, 4))),
    Case("getitem", "max(dim) values", lambda x: x.max(dim=1).values, inputs(distinct(3, 4))),
    Case("getitem", "min(dim, keepdim) values", lambda x: x.min(0, keepdim=True).values, inputs(distinct(3, 4))),
    Case("getitem", "iteration", lambda x: sum(row * (i + 1) for i, row in enumerate(x)), inputs(normal(3, 2))),
    Case("add_at", "rows with repeats", lambda g: tg.add_at(g, index=np.array([0, 2, 0]), shape=(4, 2)),
         inputs(normal(3, 2))),
    Case("add_at", "integer then array (two steps)", lambda g: tg.add_at(g, index=(1, np.array([2, 0, 2])), shape=(3, 4)),
         inputs(normal(3))),
    Case("setitem", "a row from another tensor", lambda x, v: tg.setitem(x, v, index=1), inputs(normal(3, 4), normal(4))),
    Case("setitem", "broadcast value, mask", lambda x, v: tg.setitem(x, v, index=np.array([True, False, True])),
         inputs(normal(3, 2), normal(1, 2))),
    Case("setitem", "in place through a view", lambda x, v: _updated_through_a_view(x, v), inputs(normal(3, 4), normal(4))),
    Case("cat", "two along dim 1", lambda a, b: tg.cat([a, b], dim=1), inputs(normal(2, 3), normal(2, 1))),
    Case("cat", "three along dim 0", lambda a, b, c: tg.cat([a, b, c]), inputs(normal(1, 2), normal(3, 2), normal(2, 2))),
    Case("cat", "stack via unsqueeze", lambda a, b: tg.stack([a, b], dim=-1), inputs(normal(2, 3), normal(2, 3))),
    Case("where", "broadcast", lambda a, b: tg.where(a.data > 0, a, b), inputs(normal(3, 4), normal(4))),
    Case("where", "scalar other", lambda a: a.where(a.data < 0.5, 0.0), inputs(normal(2, 3))),
    Case("maximum", "broadcast", lambda a, b: tg.maximum(a, b), inputs(normal(3, 4), normal(4))),
    Case("minimum", "broadcast", lambda a, b: tg.minimum(a, b), inputs(normal(3, 1), normal(3, 4))),
    Case("expand", "size-1 dims and a new one", lambda x: x.expand(2, 3, 4), inputs(normal(3, 1))),
    Case("expand", "-1 keeps", lambda x: x.expand(-1, 5), inputs(normal(2, 1))),
    # ---- elementwise
    Case("abs", "matrix", lambda x: x.abs(), inputs(away_from_zero(3, 4))),
    Case("sqrt", "matrix", lambda x: x.sqrt(), inputs(positive(3, 4))),
    Case("clamp", "both bounds", lambda x: x.clamp(-0.45, 0.05), inputs(distinct(3, 4))),
    Case("clamp", "min only (clip)", lambda x: x.clip(min=0.05), inputs(distinct(3, 4))),
    Case("sigmoid", "matrix", lambda x: x.sigmoid(), inputs(normal(3, 4))),
    Case("tanh", "matrix", lambda x: tg.tanh(x), inputs(normal(3, 4))),
    Case("softmax", "dim 1", lambda x: x.softmax(dim=1), inputs(normal(3, 4))),
    Case("softmax", "dim 0 of 3-D", lambda x: tg.softmax(x, dim=0), inputs(normal(3, 2, 2))),
    Case("log_softmax", "dim -1", lambda x: x.log_softmax(-1), inputs(normal(3, 4))),
    Case("log_softmax", "0-d", lambda x: x.log_softmax(0) + x, inputs(normal())),
    # ---- reductions with dim / keepdim
    Case("amax", "all", lambda x: x.max(), inputs(distinct(3, 4))),
    Case("amax", "dims keepdim", lambda x: x.amax(dim=(0, 2), keepdim=True), inputs(distinct(3, 4, 2))),
    Case("amin", "dim", lambda x: x.amin(1), inputs(distinct(3, 4))),
    Case("amin", "all", lambda x: x.min(), inputs(distinct(2, 3))),
    Case("logsumexp", "dim 1", lambda x: x.logsumexp(1), inputs(normal(3, 4))),
    Case("logsumexp", "all, large values", lambda x: (x * 100).logsumexp(), inputs(normal(2, 3))),
    Case("var", "dim 1, unbiased", lambda x: x.var(1), inputs(normal(3, 4))),
    Case("var", "all, correction 0", lambda x: x.var(correction=0), inputs(normal(3, 4))),
    Case("std", "dim 0 keepdim", lambda x: x.std(0, keepdim=True), inputs(normal(3, 4))),
    Case("std", "all", lambda x: x.std(), inputs(normal(2, 3, 2))),
    # ---- matmul: 2-D, batched with broadcast batch axes, 1-D operands
    Case("matmul", "2-D", lambda a, b: a @ b, inputs(normal(3, 4), normal(4, 5))),
    Case("matmul", "batched @ 2-D", lambda a, b: a @ b, inputs(normal(2, 3, 4), normal(4, 5))),
    Case("matmul", "broadcast batch", lambda a, b: tg.matmul(a, b), inputs(normal(2, 1, 3, 4), normal(3, 4, 2))),
    Case("matmul", "1-D @ 2-D", lambda a, b: a @ b, inputs(normal(4), normal(4, 3))),
    Case("matmul", "2-D @ 1-D", lambda a, b: a @ b, inputs(normal(3, 4), normal(4))),
    Case("matmul", "1-D @ 1-D", lambda a, b: a @ b, inputs(normal(4), normal(4))),
    Case("matmul", "1-D @ batched", lambda a, b: a @ b, inputs(normal(4), normal(2, 4, 3))),
    Case("matmul", "FC layer s = p Uᵀ + c", lambda p, u, c: p @ u.T + c,
         inputs(normal(3, 6), normal(4, 6), normal(4))),
    # ---- the derivation's layers
    Case("relu", "matrix", lambda x: x.relu(), inputs(away_from_zero(3, 4))),
    Case("relu", "NCHW", lambda x: tg.relu(x), inputs(away_from_zero(2, 3, 4, 5))),
    Case("conv2d", "document: 1 channel, 3×3, stride 1",
         lambda x, w, b: tg.conv2d(x, w, b), inputs(normal(1, 1, 5, 5), normal(1, 1, 3, 3), normal(1))),
    Case("conv2d", "batch, non-square input and kernel, padding 1",
         lambda x, w, b: tg.conv2d(x, w, b, padding=1), inputs(normal(2, 3, 7, 6), normal(4, 3, 3, 2), normal(4))),
    Case("conv2d", "stride 2",
         lambda x, w, b: tg.conv2d(x, w, b, stride=2), inputs(normal(2, 2, 8, 7), normal(3, 2, 3, 3), normal(3))),
    Case("conv2d", "stride (2, 1), padding 2, no bias",
         lambda x, w: tg.conv2d(x, w, stride=(2, 1), padding=2), inputs(normal(2, 2, 5, 6), normal(3, 2, 2, 3))),
    Case("conv2d", "stride 2, padding (1, 2), 5×4 kernel",
         lambda x, w, b: tg.conv2d(x, w, b, stride=2, padding=(1, 2)),
         inputs(normal(3, 1, 6, 6), normal(2, 1, 5, 4), normal(2))),
    Case("conv2d", "1×1 kernel",
         lambda x, w, b: tg.conv2d(x, w, b), inputs(normal(2, 3, 3, 4), normal(2, 3, 1, 1), normal(2))),
    Case("conv2d", "first layer: input needs no grad",
         lambda x, w, b: tg.conv2d(x, w, b, stride=2, padding=1),
         inputs(normal(2, 3, 6, 5, grad=False), normal(2, 3, 3, 3), normal(2))),
    Case("maxpool", "document: 2×2 blocks", lambda x: tg.maxpool(x), inputs(distinct(1, 1, 4, 4))),
    Case("maxpool", "batch, odd sides drop trailing rows and columns",
         lambda x: tg.maxpool(x, size=2), inputs(distinct(2, 3, 7, 9))),
    Case("maxpool", "size 3, stride 3", lambda x: tg.maxpool(x, size=3, stride=3), inputs(distinct(2, 2, 9, 10))),
    Case("maxpool", "overlapping: size 3, stride 2", lambda x: tg.maxpool(x, size=3, stride=2),
         inputs(distinct(2, 2, 8, 7))),
    Case("maxpool", "gaps: size 2, stride 3", lambda x: tg.maxpool(x, size=2, stride=3), inputs(distinct(1, 2, 7, 8))),
    Case("maxpool", "non-square window, stride 1", lambda x: tg.maxpool(x, size=(2, 3), stride=1),
         inputs(distinct(2, 1, 5, 6))),
    *[Case("softmax_xent", f"labels, {reduction}", lambda s, y, r=reduction: tg.softmax_xent(s, y, reduction=r),
           inputs(normal(5, 4), labels(5, 4))) for reduction in ("mean", "sum", "none")],
    *[Case("softmax_xent", f"probabilities, {reduction}",
           lambda s, y, r=reduction: tg.softmax_xent(s, y, reduction=r),
           inputs(normal(4, 3), probabilities(4, 3))) for reduction in ("mean", "sum", "none")],
    Case("softmax_xent", "one-hot rows, one sample", lambda s, y: tg.softmax_xent(s, y),
         inputs(normal(1, 6), lambda rng: np.eye(6)[[2]])),
    Case("softmax_xent", "labels as an int32 tensor", lambda s, y: tg.softmax_xent(s, y),
         inputs(normal(3, 5), lambda rng: tg.tensor(np.array([4, 0, 2], dtype=np.int32)))),
    # ---- tinygraph.functional's layers (issue 11) and the one-node FC layer (issue 13)
    Case("conv2d", "dilation 2, groups 2",
         lambda x, w, b: tg.conv2d(x, w, b, padding=1, dilation=2, groups=2),
         inputs(normal(2, 4, 7, 6), normal(6, 2, 3, 2), normal(6))),
    Case("conv2d", "depthwise: groups = channels, stride 2, dilation (1, 2)",
         lambda x, w: tg.conv2d(x, w, stride=2, dilation=(1, 2), groups=3), inputs(normal(2, 3, 7, 8), normal(3, 1, 2, 3))),
    Case("maxpool", "padding 1, ceil_mode", lambda x: tg.maxpool(x, 3, 2, padding=1, ceil_mode=True),
         inputs(distinct(2, 2, 6, 7))),
    Case("maxpool", "dilation 2", lambda x: tg.maxpool(x, 2, 1, dilation=2), inputs(distinct(1, 2, 6, 5))),
    Case("maxpool", "2×2, ceil_mode on odd sides", lambda x: tg.maxpool(x, 2, ceil_mode=True), inputs(distinct(1, 2, 5, 7))),
    Case("avg_pool2d", "2×2 blocks", lambda x: tg.avg_pool2d(x, 2), inputs(normal(2, 3, 6, 5))),
    Case("avg_pool2d", "3×3, stride 2, padding 1, ceil_mode",
         lambda x: tg.avg_pool2d(x, 3, 2, padding=1, ceil_mode=True), inputs(normal(2, 2, 6, 7))),
    Case("avg_pool2d", "padding not counted, overlapping (3, 2) windows",
         lambda x: tg.avg_pool2d(x, (3, 2), 1, padding=1, count_include_pad=False), inputs(normal(1, 2, 5, 4))),
    Case("avg_pool2d", "gaps: size 2, stride 3", lambda x: tg.avg_pool2d(x, 2, 3), inputs(normal(1, 2, 7, 8))),
    Case("linear", "FC layer s = U p + c", lambda p, u, c: tg.linear(p, u, c), inputs(normal(3, 6), normal(4, 6), normal(4))),
    Case("linear", "3-D input, no bias", lambda p, u: tg.linear(p, u), inputs(normal(2, 3, 5), normal(4, 5))),
    Case("linear", "one vector p", lambda p, u, c: tg.linear(p, u, c), inputs(normal(5), normal(3, 5), normal(3))),
    Case("batch_norm", "training, NCHW", lambda x, g, b: tg.batch_norm(x, g, b, training=True),
         inputs(normal(3, 2, 3, 2), normal(2), normal(2))),
    Case("batch_norm", "training, (N, C), no affine", lambda x: tg.batch_norm(x, training=True, eps=1e-3),
         inputs(normal(5, 3))),
    Case("batch_norm", "eval, running statistics",
         lambda x, g, b: tg.batch_norm(x, g, b, np.array([0.1, -0.2]), np.array([0.5, 2.0])),
         inputs(normal(3, 2, 4), normal(2), normal(2))),
    Case("dropout", "p 0.3, one fixed mask", lambda x: tg.dropout(x, p=0.3, generator=np.random.default_rng(0)),
         inputs(normal(4, 5))),
    Case("dropout", "eval: the identity", lambda x: tg.dropout(x, training=False) * x, inputs(normal(3, 2))),
    Case("mse_loss", "mean", lambda x, y: tg.mse_loss(x, y), inputs(normal(3, 4), normal(3, 4))),
    Case("mse_loss", "none, broadcast target", lambda x, y: tg.mse_loss(x, y, reduction="none"),
         inputs(normal(3, 4), normal(4))),
    Case("nll_loss", "class weights, ignore_index",
         lambda x: tg.nll_loss(x, np.array([2, -100, 0, 1]), np.array([0.5, 2.0, 1.5])), inputs(normal(4, 3))),
    Case("nll_loss", "sum", lambda x: tg.nll_loss(x, np.array([1, 0, 1]), reduction="sum"), inputs(normal(3, 2))),
    Case("softmax_xent", "labels: weights, ignore_index, label smoothing",
         lambda s: tg.softmax_xent(s, np.array([2, -100, 0, 3, 3]), np.array([0.5, 2.0, 1.0, 1.5]), label_smoothing=0.2),
         inputs(normal(5, 4))),
    Case("softmax_xent", "probabilities: weights, label smoothing, none",
         lambda s, y: tg.softmax_xent(s, y, np.array([1.0, 0.3, 2.0]), reduction="none", label_smoothing=0.1),
         inputs(normal(4, 3), probabilities(4, 3))),
    Case("pad", "last two axes", lambda x: tg.pad(x, pad=(1, 2, 0, 1), value=0.5), inputs(normal(2, 3, 4))),
    Case("pad", "negative amounts crop", lambda x: tg.pad(x, pad=(-1, 2, 1, -2)), inputs(normal(4, 5))),
    # ---- the rest of PyTorch's vocabulary (issue 20): elementwise math, casts, indexing, layers
    Case("sin", "matrix", lambda x: x.sin(), inputs(normal(3, 4))),
    Case("cos", "matrix", lambda x: tg.cos(x), inputs(normal(3, 4))),
    Case("tan", "away from the poles", lambda x: x.tan(), inputs(normal(3, 4))),
    Case("asin", "inside (-1, 1)", lambda x: (x * 0.4).asin(), inputs(normal(3, 4))),
    Case("acos", "inside (-1, 1)", lambda x: tg.acos(x * 0.4), inputs(normal(3, 4))),
    Case("atan", "matrix", lambda x: x.atan(), inputs(normal(3, 4))),
    Case("sinh", "matrix", lambda x: x.sinh(), inputs(normal(3, 4))),
    Case("cosh", "matrix", lambda x: x.cosh(), inputs(normal(3, 4))),
    Case("log1p", "positive", lambda x: x.log1p(), inputs(positive(3, 4))),
    Case("expm1", "matrix", lambda x: x.expm1(), inputs(normal(3, 4))),
    Case("log2", "positive", lambda x: x.log2(), inputs(positive(3, 4))),
    Case("log10", "positive", lambda x: tg.log10(x), inputs(positive(3, 4))),
    Case("exp2", "matrix", lambda x: x.exp2(), inputs(normal(3, 4))),
    Case("rsqrt", "positive", lambda x: x.rsqrt(), inputs(positive(3, 4))),
    Case("reciprocal", "away from zero", lambda x: x.reciprocal(), inputs(away_from_zero(3, 4))),
    Case("square", "matrix", lambda x: x.square(), inputs(normal(3, 4))),
    Case("erf", "matrix", lambda x: x.erf(), inputs(normal(3, 4))),
    Case("frac", "away from integers", lambda x: (x * 0.8).frac(), inputs(away_from_zero(3, 4))),
    Case("floor", "zero gradient", lambda x: x.floor() + x, inputs(away_from_zero(3, 4))),
    Case("ceil", "zero gradient", lambda x: tg.ceil(x) * x, inputs(away_from_zero(3, 4))),
    Case("round", "zero gradient, decimals 1", lambda x: (x * 0.9 + 0.03).round(decimals=1) + x,
         inputs(away_from_zero(3, 4))),
    Case("trunc", "zero gradient", lambda x: x.trunc() + x, inputs(away_from_zero(3, 4))),
    Case("sign", "zero gradient", lambda x: x.sign() * x, inputs(away_from_zero(3, 4))),
    Case("floor_divide", "broadcast, zero gradient", lambda a, b: a // b + a * b,
         inputs(away_from_zero(3, 4), positive(4))),
    Case("remainder", "broadcast", lambda a, b: a % b, inputs(away_from_zero(3, 4), positive(4))),
    Case("cast", "to float64 (float32 rounding is checked against PyTorch)", lambda x: tg.cast(x, dtype=tg.float64).to(x.dtype) * x,
         inputs(normal(3, 4))),
    Case("clone", "matrix", lambda x: x.clone() * x, inputs(normal(3, 4))),
    Case("cumsum", "dim 1", lambda x: x.cumsum(1), inputs(normal(3, 4))),
    Case("cumsum", "dim 0 of 3-D", lambda x: tg.cumsum(x, dim=0), inputs(normal(3, 2, 2))),
    Case("take_along_dim", "gather with repeated indices", lambda x: tg.gather(x, 1, np.array([[0, 0], [2, 1]])),
         inputs(normal(2, 3))),
    Case("take_along_dim", "sort values, descending", lambda x: x.sort(0, descending=True).values, inputs(distinct(4, 3))),
    Case("take_along_dim", "broadcast index, dim None", lambda x: tg.take_along_dim(x, np.array([5, 0, 5])),
         inputs(normal(2, 3))),
    Case("take_along_dim", "x broadcast outside dim", lambda x: tg.take_along_dim(x, np.array([[2, 0], [1, 1]]), dim=1),
         inputs(normal(1, 3))),
    Case("scatter_add_along_dim", "repeated indices, larger src",
         lambda x, s: tg.scatter_add(x, 0, np.array([[1, 0, 1], [1, 1, 0]]), s), inputs(normal(2, 4), normal(3, 3))),
    Case("conv_transpose2d", "stride 2, padding 1, output_padding 1, bias",
         lambda x, w, b: tg.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1),
         inputs(normal(2, 3, 3, 4), normal(3, 2, 3, 3), normal(2))),
    Case("conv_transpose2d", "groups 2, dilation (2, 1), non-square kernel",
         lambda x, w: tg.conv_transpose2d(x, w, stride=(1, 2), groups=2, dilation=(2, 1)),
         inputs(normal(1, 4, 3, 3), normal(4, 3, 2, 3))),
    Case("conv_transpose2d", "dilation 2 above stride 1, output_padding 1",
         lambda x, w, b: tg.conv_transpose2d(x, w, b, output_padding=1, dilation=2),
         inputs(normal(2, 2, 3, 3), normal(2, 3, 2, 2), normal(3))),
    Case("max_unpool2d", "2×2 windows", lambda x: tg.max_unpool2d(x, np.array([[[[0, 3], [9, 14]]]]), output_size=(4, 4)),
         inputs(normal(1, 1, 2, 2))),
]


def _updated_through_a_view(x, v):
    """h[1] *= v on a view of h: recorded as setitem into h (and h[1] reading it back)."""
    h = x * 1.0
    h[1].mul_(v)
    return h * h
