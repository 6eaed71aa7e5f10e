"""Each registered op's PyTorch reference, declared once: the table tests/test_matrix.py generates its cases from.

How to add an entry (a new op without one fails `test_every_registered_op_has_a_reference`):

    "myop": Reference(
        calls={"dim -1": (lambda x: tg.myop(x, dim=-1),          # tinygraph, on the inputs below
                          lambda x: torch.myop(x, dim=-1))},      # PyTorch, on the same inputs
        inputs=(Input("x"),),                                     # one Input per argument of the calls
        shapes={"main": [(3, 4)], "empty": [(0, 4)], "0-d": [()]},
        dtypes=FLOATS + INTS,                                     # FLOATS unless the op takes integers
    ),

calls       label -> (tinygraph callable, torch callable), both taking the inputs in order. The first
            call gets the whole matrix (every dtype x value class x layout); further calls get every
            dtype x value class in the contiguous layout.
inputs      what each argument is: Input(name, kind, grad). kind "value" follows the case's dtype and
            value class (±0, negatives, ties, large, tiny, inf, NaN, ...); "plain" follows the dtype with ordinary
            values (weights, biases); "labels", "index", "mask" and "probabilities" are the
            non-differentiable arguments (int64 labels, int64 index arrays, bool masks, float rows
            summing to 1). grad=False: not differentiated. Index-like inputs reach tinygraph as plain
            NumPy arrays that the test overwrites after the forward pass (PyTorch keeps its own copy),
            so an op that keeps a caller's array by reference instead of copying it is caught.
shapes      "main": one shape per input, the shape most cases use; "empty" and "0-d": the shapes of
            those value classes; more labels: extra shapes, run with ordinary values on every dtype.
            A missing "empty" or "0-d" needs a reason in `skip`.
skip        selector -> why those cases are not generated (not applicable). A selector is one or
            more case parts joined by "/": a dtype ("int32", or "int" for both integer dtypes), a
            call label, a value class, a layout ("empty", "float16/nan", "fortran"); "!part" excludes
            ("float/!empty").
differences selector -> a documented, intentional difference from PyTorch; those cases are generated
            and reported as skipped with the reason.
xfail       selector -> a known defect being fixed in that op's own file (owned by someone else):
            pytest.mark.xfail(strict=True), so the mark goes once the fix lands. Remove the line then.
error_mentions  words one of which tinygraph's error must contain where PyTorch raises (default: the
            op's name).

IN_PLACE (at the end) is a second table of the same Reference rows: in-place idioms on a tensor
inside a graph (h += y, h.clamp_(...), h[mask] = 0, writes through views, ...), one function that
runs unchanged on both frameworks' tensors; a new idiom is one more line in its list.

Value domains are not restricted: log of negatives, sqrt of negatives, 0/0 are NaN in both
frameworks, and are compared NaN-equal. Where PyTorch raises, tinygraph must raise an error whose
message names the op.

Rules applied to every entry (not repeated per op):
- integer inputs to an op whose result is floating: NumPy's promotion gives float64 where PyTorch
  gives float32 (README "Dtypes"); the value is compared at float32's tolerance.
- where PyTorch's CPU has no float16 kernel ("not implemented for 'Half'"), the reference runs in
  float32 and is rounded to float16, which is what a float16 kernel that accumulates in float32
  (PyTorch's own) computes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

import tinygraph as tg

FLOATS = ("float16", "float32", "float64")
INTS = ("int32", "int64")
VALUE_CLASSES = ("normal", "zeros", "negatives", "ties", "large", "tiny", "inf", "nan", "empty", "0-d")
LAYOUTS = ("contiguous", "fortran", "broadcast", "readonly")
# The values of "ties": the clamp bounds below (±0.5), relu's kink (0), repeated maxima and minima.
TIE_VALUES = (-1.0, -0.5, 0.0, 0.5, 1.0)

# |tinygraph - PyTorch| <= atol·max(1, max|PyTorch|) + rtol·|PyTorch|, in units of the dtype's
# resolution (eps): float16 is compared to about 4 of its last bits, float32 and float64 more loosely
# in ulps because NumPy and PyTorch sum in different orders.
ULPS = {np.dtype(np.float16): 4, np.dtype(np.float32): 64, np.dtype(np.float64): 1024}


def tolerance(dtype) -> tuple[float, float]:
    """(rtol, atol) for values of `dtype`: exact for integers and bool."""
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        return 0.0, 0.0
    eps = float(np.finfo(dtype).eps)
    return ULPS[dtype] * eps, ULPS[dtype] * eps


@dataclass(frozen=True)
class Input:
    name: str
    kind: str = "value"       # "value", "plain", "labels", "index", "mask", "probabilities"
    grad: bool = True         # differentiated when the case's dtype is floating


@dataclass(frozen=True)
class Reference:
    calls: dict[str, tuple[Callable, Callable]]
    inputs: tuple[Input, ...]
    shapes: dict[str, list[tuple]]
    dtypes: tuple[str, ...] = FLOATS
    skip: dict[str, str] = field(default_factory=dict)
    differences: dict[str, str] = field(default_factory=dict)
    xfail: dict[str, str] = field(default_factory=dict)
    # Where PyTorch raises, tinygraph's error must contain one of these (default: the op's name).
    error_mentions: tuple[str, ...] = ()


X = (Input("x"),)
AB = (Input("a"), Input("b"))
LABEL_CLASSES = 3           # the class count of every "labels" input (the last axis of its logits)

EMPTY_IMAGE = "an image with an empty batch is in 'empty'; 0-d has no image layout"
ORDER_OF_OVERFLOW = ("sums of products of values near max/8 overflow to inf or to inf - inf = NaN depending on "
                     "the summation order, which BLAS and PyTorch's kernels choose differently")
# Defects in files another helper is fixing (issue 18): the matrix marks their cases xfail(strict=True).
# An intentional difference: integers where PyTorch has no integer kernel ("not implemented for 'Long'",
# "mean(): could not infer output dtype"); tinygraph computes as NumPy does, in float64 (README "Dtypes").
NUMPY_INTEGERS = "integer input: PyTorch has no integer kernel and raises; tinygraph computes in float64 as NumPy does"
DROPOUT_INTEGERS = ("dropout refuses integer input in training (a mask scaled by 1/(1 - p) is no integer); "
                    "PyTorch returns integer zeros for p = 1 and an empty tensor as it is")


def unary(tg_fn, torch_fn, dtypes=FLOATS + INTS, **extra) -> Reference:
    """An elementwise op of one input."""
    return Reference(calls={"x": (tg_fn, torch_fn)}, inputs=X,
                     shapes={"main": [(3, 4)], "empty": [(0, 3)], "0-d": [()]}, dtypes=dtypes, **extra)


def binary(tg_fn, torch_fn, dtypes=FLOATS + INTS, **extra) -> Reference:
    """An elementwise op of two inputs, broadcasting a row against a matrix."""
    return Reference(calls={"a, b": (tg_fn, torch_fn)}, inputs=AB,
                     shapes={"main": [(3, 4), (4,)], "empty": [(0, 4), (4,)], "0-d": [(), ()],
                             "both broadcast": [(3, 1), (1, 4)]}, dtypes=dtypes, **extra)


def reduction(name: str, torch_name: str, dtypes=FLOATS + INTS, **extra) -> Reference:
    """A reduction with (dim, keepdim): over the last axis, and over everything."""
    return Reference(
        calls={"dim -1": (lambda x: getattr(tg, name)(x, dim=-1), lambda x: getattr(torch, torch_name)(x, dim=-1)),
               "all": (lambda x: getattr(tg, name)(x),
                       lambda x: getattr(torch, torch_name)(x, dim=tuple(range(x.ndim))))},
        inputs=X, shapes={"main": [(3, 4)], "empty": [(3, 0)], "0-d": [()]}, dtypes=dtypes, **extra)


def reversed_axes(x) -> tuple:
    return tuple(reversed(range(x.ndim)))


def dropout_reference(p: float):
    """tinygraph's mask, drawn from default_rng(0), applied by PyTorch (its own random stream differs)."""
    def reference(x):
        if not x.is_floating_point():
            return F.dropout(x, p)          # PyTorch's own answer to an integer input
        keep = np.asarray(np.random.default_rng(0).random(tuple(x.shape)) < 1 - p)
        return x * torch.from_numpy(keep) * (0.0 if p == 1 else 1 / (1 - p))
    return reference


REFERENCES: dict[str, Reference] = {
    # ---- elementwise arithmetic (NumPy broadcasting)
    "add": binary(lambda a, b: a + b, lambda a, b: a + b),
    "sub": binary(lambda a, b: a - b, lambda a, b: a - b),
    "mul": binary(lambda a, b: a * b, lambda a, b: a * b),
    "div": binary(lambda a, b: a / b, lambda a, b: a / b),
    "maximum": binary(tg.maximum, torch.maximum),
    "minimum": binary(tg.minimum, torch.minimum),
    "neg": unary(lambda x: -x, lambda x: -x),
    "abs": unary(tg.abs, torch.abs),
    "relu": unary(tg.relu, torch.relu),
    "exp": unary(tg.exp, torch.exp),
    "log": unary(tg.log, torch.log),
    "sqrt": unary(tg.sqrt, torch.sqrt),
    "sigmoid": unary(tg.sigmoid, torch.sigmoid),
    "tanh": unary(tg.tanh, torch.tanh),
    "pow": Reference(
        calls={"x ** 3": (lambda x, y: x ** 3, lambda x, y: x ** 3),
               "x ** -2": (lambda x, y: x ** -2, lambda x, y: x ** -2),
               "x ** 2.5": (lambda x, y: x ** 2.5, lambda x, y: x ** 2.5),
               "x ** 0": (lambda x, y: x ** 0, lambda x, y: x ** 0),
               "x ** y (a tensor)": (lambda x, y: x ** y, lambda x, y: x ** y),
               "2.5 ** x": (lambda x, y: 2.5 ** x, lambda x, y: 2.5 ** x)},
        inputs=(Input("x"), Input("y", "plain")),
        shapes={"main": [(3, 4), (4,)], "empty": [(0, 3), (3,)], "0-d": [(), ()]}, dtypes=FLOATS + INTS,
        differences={"int/x ** y (a tensor)": "an integer tensor ** a negative integer tensor: tinygraph refuses, "
                                              "as NumPy and PyTorch's scalar exponents do; PyTorch's tensor "
                                              "exponent truncates (2 ** -1 = 0, 0 ** -1 = 0)"}),
    "clamp": Reference(
        calls={"[-0.5, 0.5]": (lambda x: x.clamp(-0.5, 0.5), lambda x: x.clamp(-0.5, 0.5)),
               "min only": (lambda x: x.clamp(min=0.0), lambda x: x.clamp(min=0.0))},
        inputs=X, shapes={"main": [(3, 4)], "empty": [(0, 3)], "0-d": [()]}, dtypes=FLOATS + INTS),
    "where": Reference(
        calls={"mask, a, b": (tg.where, torch.where)},
        inputs=(Input("condition", "mask"), Input("a"), Input("b")),
        shapes={"main": [(3, 4), (3, 4), (4,)], "empty": [(0, 4), (0, 4), (4,)], "0-d": [(), (), ()]},
        dtypes=FLOATS + INTS),
    # ---- reductions
    "sum": reduction("sum", "sum"),
    "mean": reduction("mean", "mean", differences={"int": NUMPY_INTEGERS}),
    "amax": reduction("amax", "amax"),
    "amin": reduction("amin", "amin"),
    "logsumexp": reduction("logsumexp", "logsumexp"),
    "var": reduction("var", "var", differences={"int": NUMPY_INTEGERS}),
    "std": reduction("std", "std", differences={
        "int": NUMPY_INTEGERS,
        "float32/large/all": "PyTorch's all-elements std of float32 takes the mean in float32, which overflows to inf "
                             "for these values; tinygraph accumulates in float64 as PyTorch's per-dim std does "
                             "(std(dim=-1) agrees, finite)"}),
    "softmax": unary(lambda x: tg.softmax(x, dim=-1), lambda x: torch.softmax(x, dim=-1),
                     differences={"int": NUMPY_INTEGERS}),
    "log_softmax": unary(lambda x: tg.log_softmax(x, dim=-1), lambda x: torch.log_softmax(x, dim=-1),
                         differences={"int": NUMPY_INTEGERS}),
    # ---- shapes and indexing
    "reshape": unary(lambda x: tg.reshape(x, shape=tuple(reversed(x.shape))),
                     lambda x: x.reshape(tuple(reversed(x.shape)))),
    "transpose": unary(lambda x: tg.transpose(x, axes=reversed_axes(x)), lambda x: x.permute(reversed_axes(x))),
    "expand": Reference(
        calls={"new axis, size-1 axes": (lambda x: x.expand(2, *[4 if n == 1 else n for n in x.shape]),
                                         lambda x: x.expand(2, *[4 if n == 1 else n for n in x.shape]))},
        inputs=X, shapes={"main": [(3, 1)], "empty": [(0, 1)], "0-d": [()]}, dtypes=FLOATS + INTS),
    "cat": Reference(
        calls={"dim 0": (lambda a, b: tg.cat([a, b], dim=0), lambda a, b: torch.cat([a, b], dim=0)),
               "dim -1": (lambda a, b: tg.cat([a, b], dim=-1), lambda a, b: torch.cat([a, b], dim=-1))},
        inputs=AB, shapes={"main": [(2, 3), (2, 3)], "empty": [(0, 3), (0, 3)], "0-d": [(), ()],
                           "different lengths": [(1, 3), (1, 3)]},
        dtypes=FLOATS + INTS),
    "getitem": Reference(
        calls={"index array, repeats": (lambda x, i, m: x[i], lambda x, i, m: x[i]),
               "boolean mask": (lambda x, i, m: x[m], lambda x, i, m: x[m]),
               "slices, negative step": (lambda x, i, m: x[1:, ::-2], lambda x, i, m: x[1:].flip(-1)[..., ::2])},
        inputs=(Input("x"), Input("index", "index"), Input("mask", "mask")),
        shapes={"main": [(4, 3), (5,), (4, 3)], "empty": [(0, 3), (5,), (0, 3)], "0-d": [(), (5,), ()]},
        dtypes=FLOATS + INTS),
    "pad": Reference(
        calls={"(1, 2), value 0.5": (lambda x: tg.pad(x, pad=(1, 2), value=0.5), lambda x: F.pad(x, (1, 2), value=0.5)),
               "crop (-1, 1)": (lambda x: tg.pad(x, pad=(-1, 1)), lambda x: F.pad(x, (-1, 1)))},
        inputs=X, shapes={"main": [(3, 4)], "empty": [(0, 4)], "0-d": [()]}, dtypes=FLOATS + INTS),
    # ---- linear algebra and layers
    "matmul": Reference(
        calls={"a @ b": (lambda a, b: a @ b, lambda a, b: a @ b)},
        inputs=AB, shapes={"main": [(3, 4), (4, 5)], "empty": [(3, 0), (0, 5)], "0-d": [(), ()],
                           "batched @ 1-D": [(2, 3, 4), (4,)]},
        dtypes=FLOATS + INTS, skip={"large": ORDER_OF_OVERFLOW}),
    "linear": Reference(
        calls={"x, w, b": (tg.linear, F.linear)},
        inputs=(Input("x"), Input("w", "plain"), Input("b", "plain")),
        shapes={"main": [(3, 5), (4, 5), (4,)], "empty": [(0, 5), (4, 5), (4,)], "0-d": [(), (4, 5), (4,)]},
        dtypes=FLOATS + INTS),
    "conv2d": Reference(
        calls={"padding 1": (lambda x, w, b: tg.conv2d(x, w, b, padding=1), lambda x, w, b: F.conv2d(x, w, b, padding=1)),
               "stride 2, dilation 2": (lambda x, w, b: tg.conv2d(x, w, b, stride=2, dilation=2),
                                        lambda x, w, b: F.conv2d(x, w, b, stride=2, dilation=2))},
        inputs=(Input("x"), Input("w", "plain"), Input("b", "plain")),
        shapes={"main": [(2, 3, 6, 5), (4, 3, 2, 2), (4,)], "empty": [(0, 3, 6, 5), (4, 3, 2, 2), (4,)]},
        skip={"0-d": EMPTY_IMAGE, "large": ORDER_OF_OVERFLOW}, dtypes=FLOATS + INTS,
        differences={"int32/stride 2, dilation 2": NUMPY_INTEGERS}),
    "maxpool": Reference(
        calls={"2x2": (lambda x: tg.maxpool(x, 2), lambda x: F.max_pool2d(x, 2)),
               "3x3, stride 2, padding 1": (lambda x: tg.maxpool(x, 3, 2, padding=1),
                                            lambda x: F.max_pool2d(x, 3, 2, padding=1))},
        inputs=X, shapes={"main": [(2, 3, 6, 5)], "empty": [(0, 3, 6, 5)]}, skip={"0-d": EMPTY_IMAGE},
        dtypes=FLOATS + INTS),
    "avg_pool2d": Reference(
        calls={"2x2": (lambda x: tg.avg_pool2d(x, 2), lambda x: F.avg_pool2d(x, 2)),
               "3x3, stride 2, padding 1": (lambda x: tg.avg_pool2d(x, 3, 2, padding=1),
                                            lambda x: F.avg_pool2d(x, 3, 2, padding=1))},
        inputs=X, shapes={"main": [(2, 3, 6, 5)], "empty": [(0, 3, 6, 5)]}, skip={"0-d": EMPTY_IMAGE},
        dtypes=FLOATS + INTS, differences={"int32": NUMPY_INTEGERS}),
    "batch_norm": Reference(
        calls={"training": (lambda x, w, b: tg.batch_norm(x, w, b, training=True),
                            lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True)),
               "eval, running statistics": (
                   lambda x, w, b: tg.batch_norm(x, w, b, np.full(3, 0.25, x.dtype), np.full(3, 2.0, x.dtype)),
                   lambda x, w, b: F.batch_norm(x, torch.full((3,), 0.25, dtype=x.dtype),
                                                torch.full((3,), 2.0, dtype=x.dtype), w, b))},
        inputs=(Input("x"), Input("weight", "plain"), Input("bias", "plain")),
        shapes={"main": [(4, 3, 2), (3,), (3,)], "empty": [(0, 3), (3,), (3,)], "0-d": [(), (3,), (3,)]},
        dtypes=FLOATS + INTS, differences={"int": NUMPY_INTEGERS}),
    "dropout": Reference(
        calls={"p 0.5, mask of default_rng(0)": (lambda x: tg.dropout(x, p=0.5, generator=np.random.default_rng(0)),
                                                 dropout_reference(0.5)),
               "p 1": (lambda x: tg.dropout(x, p=1.0, generator=np.random.default_rng(0)),
                       lambda x: F.dropout(x, p=1.0)),
               "eval": (lambda x: tg.dropout(x, training=False), lambda x: F.dropout(x, training=False))},
        inputs=X, shapes={"main": [(3, 4)], "empty": [(0, 3)], "0-d": [()]}, dtypes=FLOATS + INTS,
        differences={"int/p 1": DROPOUT_INTEGERS, "int/p 0.5, mask of default_rng(0)/empty": DROPOUT_INTEGERS}),
    # ---- losses
    "mse_loss": Reference(
        calls={"mean": (tg.mse_loss, F.mse_loss),
               "none": (lambda x, y: tg.mse_loss(x, y, reduction="none"), lambda x, y: F.mse_loss(x, y, reduction="none")),
               "sum": (lambda x, y: tg.mse_loss(x, y, reduction="sum"), lambda x, y: F.mse_loss(x, y, reduction="sum"))},
        inputs=(Input("input"), Input("target", "plain")), dtypes=FLOATS + INTS,
        differences={"int": NUMPY_INTEGERS},
        shapes={"main": [(3, 4), (3, 4)], "empty": [(0, 4), (0, 4)], "0-d": [(), ()]}),
    "nll_loss": Reference(
        calls={"mean": (lambda x, y: tg.nll_loss(x, y), lambda x, y: F.nll_loss(x, y)),
               "none": (lambda x, y: tg.nll_loss(x, y, reduction="none"), lambda x, y: F.nll_loss(x, y, reduction="none")),
               "sum": (lambda x, y: tg.nll_loss(x, y, reduction="sum"), lambda x, y: F.nll_loss(x, y, reduction="sum"))},
        inputs=(Input("input"), Input("target", "labels")), dtypes=FLOATS + INTS,
        differences={"int": NUMPY_INTEGERS},
        shapes={"main": [(4, LABEL_CLASSES), (4,)], "empty": [(0, LABEL_CLASSES), (0,)],
                "0-d": [(LABEL_CLASSES,), ()]}),
    "softmax_xent": Reference(
        calls={"labels, mean": (lambda s, y, p: tg.softmax_xent(s, y), lambda s, y, p: F.cross_entropy(s, y)),
               "labels, none": (lambda s, y, p: tg.softmax_xent(s, y, reduction="none"),
                                lambda s, y, p: F.cross_entropy(s, y, reduction="none")),
               "probabilities, sum": (lambda s, y, p: tg.softmax_xent(s, p, reduction="sum"),
                                      lambda s, y, p: F.cross_entropy(s, p, reduction="sum"))},
        inputs=(Input("logits"), Input("target", "labels"), Input("probabilities", "probabilities")),
        dtypes=FLOATS + INTS, differences={"int": NUMPY_INTEGERS},
        shapes={"main": [(4, LABEL_CLASSES), (4,), (4, LABEL_CLASSES)],
                "empty": [(0, LABEL_CLASSES), (0,), (0, LABEL_CLASSES)],
                "0-d": [(LABEL_CLASSES,), (), (LABEL_CLASSES,)]}),
}


# ---- issue 20: the rest of PyTorch's tensor vocabulary
import tinygraph.functional as tgF  # noqa: E402

ZERO_GRADIENT_OF_FLOOR = ("PyTorch has no derivative for floor_divide ('not implemented'); tinygraph's is 0, "
                          "as PyTorch's div(rounding_mode='floor')")
NO_0D_ALONG_DIM = "a gather along a dim needs at least one dim: 0-d has none"


def along_rows(tg_fn, torch_fn):
    """Calls of (x, index) with the index made valid along dim 0 (index % rows), and as given (PyTorch refuses
    negative and out-of-range indices: tinygraph must too, naming the op)."""
    return {"index % rows": (lambda x, i, *rest: tg_fn(x, i % max(x.shape[0], 1), *rest),
                             lambda x, i, *rest: torch_fn(x, torch.remainder(i, max(x.shape[0], 1)), *rest)),
            "index as given": (tg_fn, torch_fn)}


REFERENCES.update({
    "sin": unary(tg.sin, torch.sin, differences={"int": NUMPY_INTEGERS}),
    "cos": unary(tg.cos, torch.cos, differences={"int": NUMPY_INTEGERS}),
    "tan": unary(tg.tan, torch.tan, differences={"int": NUMPY_INTEGERS}),
    "asin": unary(tg.asin, torch.asin, differences={"int": NUMPY_INTEGERS}),
    "acos": unary(tg.acos, torch.acos, differences={"int": NUMPY_INTEGERS}),
    "atan": unary(tg.atan, torch.atan, differences={"int": NUMPY_INTEGERS}),
    "sinh": unary(tg.sinh, torch.sinh, differences={"int": NUMPY_INTEGERS}),
    "cosh": unary(tg.cosh, torch.cosh, differences={"int": NUMPY_INTEGERS}),
    "log1p": unary(tg.log1p, torch.log1p, differences={"int": NUMPY_INTEGERS}),
    "expm1": unary(tg.expm1, torch.expm1, differences={"int": NUMPY_INTEGERS}),
    "log2": unary(tg.log2, torch.log2, differences={"int": NUMPY_INTEGERS}),
    "log10": unary(tg.log10, torch.log10, differences={"int": NUMPY_INTEGERS}),
    "exp2": unary(tg.exp2, torch.exp2, differences={"int": NUMPY_INTEGERS}),
    "rsqrt": unary(tg.rsqrt, torch.rsqrt, differences={"int": NUMPY_INTEGERS}),
    "reciprocal": unary(tg.reciprocal, torch.reciprocal, differences={"int": NUMPY_INTEGERS}),
    "erf": unary(tg.erf, torch.erf, differences={"int": NUMPY_INTEGERS}),
    "square": unary(tg.square, torch.square),
    "frac": unary(tg.frac, torch.frac),
    "floor": unary(tg.floor, torch.floor),
    "ceil": unary(tg.ceil, torch.ceil),
    "round": Reference(
        calls={"halves to even": (tg.round, torch.round),
               "decimals 1": (lambda x: tg.round(x, decimals=1), lambda x: torch.round(x, decimals=1))},
        inputs=X, shapes={"main": [(3, 4)], "empty": [(0, 3)], "0-d": [()]}, dtypes=FLOATS + INTS),
    "trunc": unary(tg.trunc, torch.trunc),
    "sign": unary(tg.sign, torch.sign),
    "floor_divide": binary(tg.floor_divide, torch.floor_divide, differences={"float": ZERO_GRADIENT_OF_FLOOR}),
    "remainder": binary(tg.remainder, torch.remainder),
    "cast": Reference(
        calls={"to float32": (lambda x: x.to(tg.float32) * 1, lambda x: x.to(torch.float32) * 1),
               "to float64": (lambda x: tg.cast(x, dtype=tg.float64), lambda x: x.to(torch.float64)),
               "to float16": (lambda x: x.half() * 1, lambda x: x.half() * 1)},
        inputs=X, shapes={"main": [(3, 4)], "empty": [(0, 3)], "0-d": [()]}, dtypes=FLOATS + INTS,
        skip={"int/!to float64": "the matrix expects NumPy's float64 from integer input; a cast's dtype is its "
                                 "argument, as PyTorch's (tests/test_torch_parity.py checks it)"}),
    "clone": unary(lambda x: x.clone(), lambda x: x.clone()),
    "cumsum": Reference(
        calls={"dim 1": (lambda x: tg.cumsum(x, 1), lambda x: torch.cumsum(x, 1)),
               "dim 0": (lambda x: x.cumsum(dim=0), lambda x: x.cumsum(dim=0))},
        inputs=X, shapes={"main": [(3, 4)], "empty": [(0, 3)]}, skip={"0-d": "dim 1 of a 0-d tensor is out of range"},
        dtypes=FLOATS + INTS),
    "take_along_dim": Reference(
        calls=along_rows(lambda x, i: tg.take_along_dim(x, i, dim=0), lambda x, i: torch.take_along_dim(x, i, dim=0)),
        inputs=(Input("x"), Input("index", "index")),
        shapes={"main": [(4, 3), (5, 3)], "empty": [(0, 3), (2, 3)], "broadcast index": [(4, 3), (6, 1)]},
        skip={"0-d": NO_0D_ALONG_DIM}, dtypes=FLOATS + INTS),
    "scatter_add_along_dim": Reference(
        calls=along_rows(lambda x, i, s: tg.scatter_add(x, 0, i, s), lambda x, i, s: torch.scatter_add(x, 0, i, s)),
        inputs=(Input("x"), Input("index", "index"), Input("src")),
        shapes={"main": [(4, 3), (5, 3), (5, 3)], "empty": [(0, 3), (0, 3), (0, 3)]},
        skip={"0-d": NO_0D_ALONG_DIM}, dtypes=FLOATS + INTS),
    "conv_transpose2d": Reference(
        calls={"stride 2, padding 1, output_padding 1": (
                   lambda x, w, b: tg.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1),
                   lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1)),
               "groups 3, dilation 2": (lambda x, w, b: tg.conv_transpose2d(x, w, b[:6], groups=3, dilation=2),
                                        lambda x, w, b: F.conv_transpose2d(x, w, b[:6], groups=3, dilation=2))},
        inputs=(Input("x"), Input("w", "plain"), Input("b", "plain")),
        shapes={"main": [(2, 3, 4, 5), (3, 2, 3, 2), (6,)], "empty": [(0, 3, 4, 5), (3, 2, 3, 2), (6,)]},
        skip={"0-d": EMPTY_IMAGE, "large": ORDER_OF_OVERFLOW}),
    "max_unpool2d": Reference(
        calls={"2x2 round trip": (lambda x: tgF.max_unpool2d(*tgF.max_pool2d(x, 2, return_indices=True), 2),
                                  lambda x: F.max_unpool2d(*F.max_pool2d(x, 2, return_indices=True), 2))},
        inputs=X, shapes={"main": [(2, 3, 4, 6)], "empty": [(0, 3, 4, 6)]},
        skip={"0-d": EMPTY_IMAGE}),
})


# indexing's adjoint: zeros, then out[i] += g (repeats add up), as torch's index_put(accumulate=True)
REFERENCES["add_at"] = Reference(
    calls={"index array, repeats": (lambda g, i: tg.add_at(g, index=i, shape=(6, 3)),
                                    lambda g, i: torch.zeros(6, 3, dtype=g.dtype).index_put((i,), g, accumulate=True))},
    inputs=(Input("g"), Input("index", "index")),
    shapes={"main": [(5, 3), (5,)], "empty": [(0, 3), (0,)]},
    skip={"0-d": "an index picks rows: a 0-d gradient has none"},
    dtypes=FLOATS + INTS)


# ---- writing into tensors: the setitem op, and the in-place idioms that record it and the others
REFERENCES["setitem"] = Reference(
    calls={"x[mask] = v": (lambda x, v, m, i: tg.setitem(x, v, index=m), lambda x, v, m, i: _written(x, m, v)),
           "x[1:] = v": (lambda x, v, m, i: tg.setitem(x, v, index=slice(1, None)),
                         lambda x, v, m, i: _written(x, slice(1, None), v)),
           "x[index array, repeats] = v": (lambda x, v, m, i: tg.setitem(x, v, index=i),
                                           lambda x, v, m, i: _written(x, i, v))},
    inputs=(Input("x"), Input("value", "plain"), Input("mask", "mask"), Input("index", "index")),
    shapes={"main": [(3, 4), (), (3, 4), (4,)], "empty": [(0, 4), (), (0, 4), (2,)], "0-d": [(), (), (), (2,)]},
    dtypes=FLOATS + INTS)


def _written(x, index, value):
    """PyTorch's out-of-place x[index] = value: a clone written in place (recorded as CopySlices)."""
    out = x.clone()
    out[index] = value
    return out


# In-place idioms on a tensor inside a graph, h = x * 1: each function runs unchanged on tinygraph's
# tensors and on PyTorch's (the same method names), so one function is both calls. tests/test_matrix.py
# runs them in test_in_place_idioms_match_pytorch, over FLOATS x IN_PLACE_VALUES.
IN_PLACE_VALUES = ("normal", "zeros", "ties", "inf", "nan", "empty", "0-d")


def _iadd(x, y, m):
    h = x * 1
    h += y
    return h * 2


def _isub_imul(x, y, m):
    h = x * 1
    h -= y
    h *= y
    return h


def _itruediv(x, y, m):
    h = x * 1
    h /= y
    return h


def _add_alpha(x, y, m):
    h = x * 1
    h.add_(y, alpha=2)
    return h


def _sub_mul_div(x, y, m):
    h = x * 1
    h.sub_(y).mul_(y).div_(2.0)
    return h


def _clamp(x, y, m):
    h = x * y
    h.clamp_(-0.5, 0.5)
    return h


def _zero(x, y, m):
    h = x * 1
    h.zero_()
    return h + y


def _fill(x, y, m):
    h = x * 1
    h.fill_(0.5)
    return h * y


def _copy(x, y, m):
    h = x * 1
    h.copy_(y)
    return h * x


def _masked_zero(x, y, m):
    h = x * y
    h[m] = 0
    return h


def _row_from_other(x, y, m):
    h = x * 1
    h[1] = y[0] * 3
    return h


def _view_update(x, y, m):
    h = x * 1
    h[0] += y[0]
    h[:, 1:] *= 2
    return h


def _transposed_view(x, y, m):
    h = x * 1
    h.T.mul_(y.T)
    return h


def _old_value_used(x, y, m):
    h = x * 1
    before = h * 2 + h / 4          # a product or quotient by a number saves no tensor, so this stays valid
    h += y
    return before + h


def _relu_in_place(x, y, m):
    h = x * y
    h.relu_()
    return h * 2


def _sigmoid_in_place(x, y, m):
    h = x * y
    h.sigmoid_()
    return h


def _relu_then_sigmoid(x, y, m):
    h = x * y
    h.relu_()
    h.sigmoid_()                    # overwrites what PyTorch's relu saved (its output)
    return h


def _saved_value_overwritten(x, y, m):
    h = x * 1
    product = h * y                 # saves h for y's gradient
    h += 1
    return product                  # both frameworks refuse at backward


def _leaf_in_place(x, y, m):
    x += y                          # a leaf that requires grad: both frameworks refuse
    return x


IN_PLACE_ERRORS = ("in place", "in-place", "modified")
IN_PLACE_DIFFERENCES = {
    "h.relu_().sigmoid_()": {"float": "PyTorch's relu saves its output, so sigmoid_ overwriting it makes backward "
                                      "refuse; tinygraph's relu saves its mask (x <= 0), which sigmoid_ does not "
                                      "touch, so backward is correct"}}
IN_PLACE = {
    name: Reference(calls={name: (function, function)},
                    inputs=(Input("x"), Input("y", "plain"), Input("mask", "mask")),
                    shapes={"main": [(3, 4), (3, 4), (3, 4)], "empty": [(0, 4), (0, 4), (0, 4)], "0-d": [(), (), ()]},
                    error_mentions=IN_PLACE_ERRORS, skip=skip or {},
                    differences=IN_PLACE_DIFFERENCES.get(name, {}))
    for name, function, skip in [
        ("h += y", _iadd, None), ("h -= y; h *= y", _isub_imul, None), ("h /= y", _itruediv, None),
        ("h.add_(y, alpha=2)", _add_alpha, None), ("h.sub_(y).mul_(y).div_(2)", _sub_mul_div, None),
        ("h.clamp_(-0.5, 0.5)", _clamp, None), ("h.zero_() + y", _zero, None), ("h.fill_(0.5) * y", _fill, None),
        ("h.copy_(y) * x", _copy, None), ("h[mask] = 0", _masked_zero, None),
        ("h[1] = y[0] * 3", _row_from_other, {"empty": "no row 1", "0-d": "no row 1"}),
        ("h[0] += y[0]; h[:, 1:] *= 2", _view_update, {"empty": "no row 0", "0-d": "no row 0"}),
        ("h.T.mul_(y.T)", _transposed_view, None), ("old value used after h += y", _old_value_used, None),
        ("h.relu_() * 2", _relu_in_place, None), ("h.sigmoid_()", _sigmoid_in_place, None),
        ("h.relu_().sigmoid_()", _relu_then_sigmoid, None),
        ("saved value overwritten", _saved_value_overwritten, None), ("leaf += y", _leaf_in_place, None)]
}
