"""Tensor's Python operators and hand-written op methods: `+ - * / ** @`, `x[i]`, `.sum(dim)`, `.view(*shape)`, `.T`.

tensor.py knows nothing of ops; the op layer gives Tensor its operators, as HIPS autograd's numpy
layer gives ArrayBox its own. Every other registered op gets its method (`x.relu()`, `x.exp()`)
from `register_op`; the ones here keep PyTorch's signatures where they differ from their op's
forward (`x.reshape(2, 3)`, `x.sum(1, keepdim=True)` also as `axis=`/`keepdims=`, `x.max(dim)`
returning values and indices, `x.transpose(0, 1)` swapping two dims). Shape methods compose
reshape and transpose; argmax/argmin return plain index tensors that need no gradient.
`install_tensor_methods()` runs once, in `tinygraph.ops`, after the op files have registered.
"""
from __future__ import annotations

from collections import namedtuple

import math
import sys

import numpy as np

from tinygraph.errors import OpError
from tinygraph.op import apply
from tinygraph.ops._axes import dim_alias, one_axis, reduction_axes
from tinygraph.ops.add import Add
from tinygraph.ops.amax import Amax
from tinygraph.ops.amin import Amin
from tinygraph.ops.clamp import Clamp
from tinygraph.ops.expand import Expand
from tinygraph.ops.getitem import GetItem
from tinygraph.ops.logsumexp import LogSumExp
from tinygraph.ops.maximum import Maximum
from tinygraph.ops.minimum import Minimum
from tinygraph.ops.std import Std
from tinygraph.ops.var import Var
from tinygraph.ops.where import Where
from tinygraph.ops.div import Div
from tinygraph.ops.matmul import MatMul
from tinygraph.ops.mean import Mean
from tinygraph.ops.mul import Mul
from tinygraph.ops.neg import Neg
from tinygraph.ops.pow import Pow
from tinygraph.ops.reshape import Reshape
from tinygraph.ops.sub import Sub
from tinygraph.ops.sum import Sum
from tinygraph.ops.transpose import Transpose
from tinygraph.tensor import Tensor

tensor_module = sys.modules["tinygraph.tensor"]     # its hooks for tg.compile (the name `tinygraph.tensor` is also a function)


class TensorMethods:
    """Not a class to use: the methods `install_tensor_methods` copies onto Tensor."""

    # ----------------------------------------------------------------- arithmetic
    def __add__(self, other): return apply(Add, self, other)
    def __radd__(self, other): return apply(Add, other, self)
    def __sub__(self, other): return apply(Sub, self, other)
    def __rsub__(self, other): return apply(Sub, other, self)
    def __mul__(self, other): return apply(Mul, self, other)
    def __rmul__(self, other): return apply(Mul, other, self)
    def __truediv__(self, other): return apply(Div, self, other)
    def __rtruediv__(self, other): return apply(Div, other, self)
    def __neg__(self): return apply(Neg, self)
    def __matmul__(self, other): return apply(MatMul, self, other)
    def __rmatmul__(self, other): return apply(MatMul, other, self)

    def __pow__(self, exponent) -> Tensor: return apply(Pow, self, exponent)
    def __rpow__(self, base) -> Tensor: return apply(Pow, base, self)

    def add(self, other): return self + other
    def sub(self, other): return self - other
    def mul(self, other): return self * other
    def div(self, other): return self / other
    def neg(self): return -self
    def pow(self, exponent): return self ** exponent

    # ----------------------------------------------------------------- reductions (PyTorch's dim, keepdim;
    # NumPy's axis, keepdims accepted as aliases)
    def sum(self, dim=None, keepdim=None, *, dtype=None, axis=None, keepdims=None, out=None) -> Tensor:
        dim, keepdim = dim_alias("sum", dim, keepdim, axis, keepdims)
        return apply(Sum, _in_dtype(self, "sum", dtype, out), dim=dim, keepdim=keepdim)

    def mean(self, dim=None, keepdim=None, *, dtype=None, axis=None, keepdims=None, out=None) -> Tensor:
        dim, keepdim = dim_alias("mean", dim, keepdim, axis, keepdims)
        return apply(Mean, _in_dtype(self, "mean", dtype, out), dim=dim, keepdim=keepdim)

    def amax(self, dim=None, keepdim=None, *, axis=None, keepdims=None) -> Tensor:
        dim, keepdim = dim_alias("amax", dim, keepdim, axis, keepdims)
        return apply(Amax, self, dim=dim, keepdim=keepdim)

    def amin(self, dim=None, keepdim=None, *, axis=None, keepdims=None) -> Tensor:
        dim, keepdim = dim_alias("amin", dim, keepdim, axis, keepdims)
        return apply(Amin, self, dim=dim, keepdim=keepdim)

    def logsumexp(self, dim=None, keepdim=None, *, axis=None, keepdims=None) -> Tensor:
        dim, keepdim = dim_alias("logsumexp", dim, keepdim, axis, keepdims)
        return apply(LogSumExp, self, dim=dim, keepdim=keepdim)

    def var(self, dim=None, unbiased=None, keepdim=None, *, correction=None, axis=None, keepdims=None) -> Tensor:
        dim, keepdim = dim_alias("var", dim, keepdim, axis, keepdims)
        return apply(Var, self, dim=dim, correction=_correction("var", unbiased, correction), keepdim=keepdim)

    def std(self, dim=None, unbiased=None, keepdim=None, *, correction=None, axis=None, keepdims=None) -> Tensor:
        dim, keepdim = dim_alias("std", dim, keepdim, axis, keepdims)
        return apply(Std, self, dim=dim, correction=_correction("std", unbiased, correction), keepdim=keepdim)

    def max(self, dim=None, keepdim=None, *, axis=None, keepdims=None):
        """max(): the largest element; max(dim): (values, indices) along dim; max(other): tg.maximum."""
        if isinstance(dim, Tensor) or isinstance(dim, np.ndarray):
            return apply(Maximum, self, dim)
        dim, keepdim = dim_alias("max", dim, keepdim, axis, keepdims)
        if dim is None:
            return apply(Amax, self, keepdim=keepdim)
        return _values_and_indices(self, "max", dim, keepdim)

    def min(self, dim=None, keepdim=None, *, axis=None, keepdims=None):
        """min(): the smallest element; min(dim): (values, indices) along dim; min(other): tg.minimum."""
        if isinstance(dim, Tensor) or isinstance(dim, np.ndarray):
            return apply(Minimum, self, dim)
        dim, keepdim = dim_alias("min", dim, keepdim, axis, keepdims)
        if dim is None:
            return apply(Amin, self, keepdim=keepdim)
        return _values_and_indices(self, "min", dim, keepdim)

    def argmax(self, dim=None, keepdim=None, *, axis=None, keepdims=None) -> Tensor:
        """Index of the largest element (of the flattened tensor when dim is None); needs no gradient."""
        dim, keepdim = dim_alias("argmax", dim, keepdim, axis, keepdims)
        return _arg_index(self, "argmax", dim, keepdim)

    def argmin(self, dim=None, keepdim=None, *, axis=None, keepdims=None) -> Tensor:
        dim, keepdim = dim_alias("argmin", dim, keepdim, axis, keepdims)
        return _arg_index(self, "argmin", dim, keepdim)

    # ----------------------------------------------------------------- elementwise with friendlier names
    def clip(self, min=None, max=None) -> Tensor:
        return apply(Clamp, self, min=min, max=max)

    def where(self, condition, other) -> Tensor:
        """x.where(condition, other) is tg.where(condition, x, other), as in PyTorch."""
        return apply(Where, condition, self, other)

    # ----------------------------------------------------------------- shapes
    def reshape(self, *shape: int) -> Tensor:
        return apply(Reshape, self, shape=_sizes(shape))

    def view(self, *shape: int) -> Tensor:
        """The same as reshape (tinygraph's reshape never copies a contiguous array either)."""
        return apply(Reshape, self, shape=_sizes(shape))

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        """Merge dims start_dim..end_dim into one, as torch.flatten: (N, C, H, W).flatten(1) -> (N, C·H·W)."""
        shape = self.data.shape
        if not shape:
            one_axis("flatten", start_dim, shape)
            one_axis("flatten", end_dim, shape)
            return apply(Reshape, self, shape=(1,))
        start, end = _dim_of("flatten", "start_dim", start_dim, shape), _dim_of("flatten", "end_dim", end_dim, shape)
        if start > end:
            raise OpError("flatten", "start_dim", f"start_dim={start_dim} comes after end_dim={end_dim} "
                          f"for a tensor of shape {shape}")
        merged = math.prod(shape[start:end + 1])             # not -1: a size-0 dim elsewhere leaves it ambiguous
        return apply(Reshape, self, shape=shape[:start] + (merged,) + shape[end + 1:])

    def squeeze(self, dim=None) -> Tensor:
        """Drop size-1 dims (all of them, or those among `dim`; a named dim of another size stays)."""
        shape = self.data.shape
        axes = range(len(shape)) if dim is None else reduction_axes("squeeze", dim, shape)
        return apply(Reshape, self, shape=tuple(n for i, n in enumerate(shape) if not (i in axes and n == 1)))

    def unsqueeze(self, dim: int) -> Tensor:
        """Insert a size-1 dim at position `dim` (-1: at the end)."""
        shape = self.data.shape
        position = one_axis("unsqueeze", dim, shape, extra=1)
        return apply(Reshape, self, shape=shape[:position] + (1,) + shape[position:])

    def expand(self, *sizes: int) -> Tensor:
        return apply(Expand, self, size=_sizes(sizes))

    def expand_as(self, other: Tensor) -> Tensor:
        return apply(Expand, self, size=other.shape)

    def transpose(self, dim0: int, dim1: int) -> Tensor:
        """Swap two dims, as torch.transpose (not NumPy's permutation: use permute, or .T to reverse)."""
        shape = self.data.shape
        axes = list(range(len(shape)))
        first, second = one_axis("transpose", dim0, shape), one_axis("transpose", dim1, shape)
        if shape:
            axes[first], axes[second] = axes[second], axes[first]
        return apply(Transpose, self, axes=tuple(axes))

    def permute(self, *dims: int) -> Tensor:
        return apply(Transpose, self, axes=_sizes(dims))

    @property
    def T(self) -> Tensor:
        return apply(Transpose, self, axes=None)

    # ----------------------------------------------------------------- indexing
    def __getitem__(self, index) -> Tensor:
        return apply(GetItem, self, index=_plain_index(index))

    def __iter__(self):
        if self.data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (apply(GetItem, self, index=i) for i in range(len(self.data)))


def _sizes(sizes: tuple) -> tuple:
    """f(2, 3) and f((2, 3)) alike."""
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        return tuple(sizes[0])
    return tuple(sizes)


def _dim_of(op: str, name: str, dim, shape: tuple) -> int:
    try:
        return one_axis(op, dim, shape)
    except OpError as error:
        raise OpError(op, name, f"{name}={dim} is out of range for a tensor of shape {shape}") from error


def _correction(op: str, unbiased, correction) -> float:
    if unbiased is not None and correction is not None:
        raise TypeError(f"{op}(): give unbiased or correction, not both")
    if unbiased is not None:
        return 1 if unbiased else 0
    return 1 if correction is None else correction


def _plain_index(index):
    """The index with tensors replaced by their arrays and lists by arrays, for NumPy (and the drawing)."""
    if isinstance(index, tuple):
        return tuple(_plain_index(part) for part in index)
    if isinstance(index, Tensor):
        index = index.data
    elif isinstance(index, list):
        index = np.asarray([part.data if isinstance(part, Tensor) else part for part in index])
    if isinstance(index, np.ndarray) and index.dtype.kind not in "biu":
        raise IndexError(f"getitem: tensors used as indices must be integer or bool, got dtype {index.dtype}")
    return index


_ValuesIndices = {"max": namedtuple("max", ["values", "indices"]), "min": namedtuple("min", ["values", "indices"])}


def _values_and_indices(x: Tensor, op: str, dim, keepdim: bool):
    """torch.max(x, dim): the values (with a gradient, to the chosen element only) and their indices."""
    indices = _arg_index(x, "arg" + op, dim, keepdim=False)
    if x.data.ndim == 0:
        values = apply(GetItem, x, index=())
    else:
        axis = one_axis(op, dim, x.data.shape)
        picked = list(np.indices(indices.shape, sparse=True))
        picked.insert(axis, indices.data)
        values = apply(GetItem, x, index=tuple(picked))
        if keepdim:
            values, indices = values.unsqueeze(axis), Tensor._wrap(np.expand_dims(indices.data, axis))
    return _ValuesIndices[op](values, indices)


def _in_dtype(x: Tensor, op: str, dtype, out) -> Tensor:
    """x cast to `dtype` first, as PyTorch's sum(dtype=) does (np.sum(t) passes dtype=None and out=None)."""
    if out is not None:
        raise TypeError(f"{op}(): out= is not supported; the result is a new tensor (input {x._label()})")
    return x if dtype is None else x.to(dtype)


def _arg_index(x: Tensor, op: str, dim, keepdim: bool) -> Tensor:
    result = _arg_index_of(x, op, dim, keepdim)
    if tensor_module.computed is not None:        # tg.compile is recording: a replay finds the index again
        tensor_module.computed(op, lambda data: _arg_index_of(Tensor._wrap(data), op, dim, keepdim).data, [x], result)
    return result


def _arg_index_of(x: Tensor, op: str, dim, keepdim: bool) -> Tensor:
    find = np.argmax if op == "argmax" else np.argmin
    data = x.data
    if dim is None:
        if data.size == 0:
            raise OpError(op, "input", f"{op} of an empty tensor (shape {data.shape})")
        index = np.asarray(find(data), dtype=np.int64)
        return Tensor._wrap(index.reshape((1,) * data.ndim) if keepdim else index)
    axis = one_axis(op, dim, data.shape)
    if data.ndim == 0:
        return Tensor._wrap(np.zeros((), dtype=np.int64))
    if data.shape[axis] == 0:
        raise OpError(op, "dim", f"{op} over an empty dim (input of shape {data.shape}, dim={dim})")
    return Tensor._wrap(find(data, axis=axis, keepdims=keepdim).astype(np.int64, copy=False))


# The op each hand-written method runs: `register_op` leaves a method that has an `op` alone when
# the op is registered again, and `unregister_op` removes it with the op.
_OPS = {"add": Add, "sub": Sub, "mul": Mul, "div": Div, "neg": Neg, "pow": Pow,
        "sum": Sum, "mean": Mean, "reshape": Reshape, "transpose": Transpose, "amax": Amax, "amin": Amin,
        "logsumexp": LogSumExp, "var": Var, "std": Std, "where": Where, "expand": Expand}
_CLASS_MACHINERY = {"__module__", "__qualname__", "__doc__", "__dict__", "__weakref__", "__firstlineno__",
                    "__static_attributes__"}


def install_tensor_methods() -> None:
    """Copy TensorMethods' operators and methods onto Tensor (idempotent)."""
    for name, method in vars(TensorMethods).items():
        if name in _CLASS_MACHINERY:
            continue
        if name in _OPS:
            method.op = _OPS[name]
        setattr(Tensor, name, method)
