"""The rest of what PyTorch users type on tensors (issue 20), composed from registered ops.

Methods: `.float() .double() .half() .long() .int() .bool() .to(dtype | device | tensor) .cpu() .type()`,
`.new_zeros() .new_ones() .new_empty() .new_full() .new_tensor()`,
`.numel() .dim() .size(d) .view_as() .reshape_as() .type_as() .norm()`, `.eq/.ne/.lt/.le/.gt/.ge`,
`.split() .chunk() .gather() .scatter_add() .sort() .topk() .div(rounding_mode=)`, `//`, `%`, `abs(t)`.
Functions: `tg.max/min` (PyTorch's three forms), `tg.argmax/argmin`, `tg.flatten`, `tg.split/chunk`,
`tg.gather/scatter_add`, `tg.sort/topk`, `tg.eq`…`tg.ge`, `tg.arcsin/arccos/arctan`, `tg.numel`.

`t.size` stays the element count (an int, as NumPy's and tinygraph 0.2's `t.size`) and is also
callable: `t.size()` is the shape, `t.size(d)` one dim, as PyTorch. A dtype conversion between
floating dtypes is the differentiable `cast` op (δx is cast back); to an integer or bool dtype it
needs no gradient, as in PyTorch. `install()` runs once, from tinygraph/__init__.py.
"""
from __future__ import annotations

import builtins
import math
from collections import namedtuple
from typing import Any

import numpy as np

from tinygraph import factories
from tinygraph.dtypes import CPU, TYPE_NAMES, as_dtype, check_device, is_device, bool_, float16, float32, float64
from tinygraph.dtypes import int8, int16, int32, int64, uint8
from tinygraph.errors import OpError
from tinygraph.op import apply
from tinygraph.ops._axes import one_axis
from tinygraph.ops.abs import Abs
from tinygraph.ops.cast import Cast
from tinygraph.ops.clone import Clone
from tinygraph.ops.div import Div
from tinygraph.ops.floor_divide import FloorDivide
from tinygraph.ops.getitem import GetItem
from tinygraph.ops.maximum import Maximum
from tinygraph.ops.minimum import Minimum
from tinygraph.ops.remainder import Remainder
from tinygraph.ops.reshape import Reshape
from tinygraph.ops.rounding import Trunc
from tinygraph.ops.scatter_add_along_dim import ScatterAddAlongDim
from tinygraph.ops.take_along_dim import TakeAlongDim
from tinygraph.tensor import Tensor, from_numpy

__all__ = ["max", "min", "argmax", "argmin", "flatten", "split", "chunk", "gather", "scatter_add", "sort", "topk",
           "eq", "ne", "lt", "le", "gt", "ge", "arcsin", "arccos", "arctan", "numel", "is_tensor",
           "is_floating_point", "norm"]

SortResult = namedtuple("sort", ["values", "indices"])
TopkResult = namedtuple("topk", ["values", "indices"])


# ----------------------------------------------------------------------------- dtypes and devices
def to_dtype(x: Tensor, dtype, where: str = "to") -> Tensor:
    """x as `dtype`: x itself if it already is; through the differentiable cast op to a floating dtype."""
    dtype = as_dtype(dtype, where)
    if x.dtype == dtype:
        return x
    if dtype.kind == "f":
        return apply(Cast, x, dtype=dtype)
    return from_numpy(x.data.astype(dtype))          # integer and bool results need no gradient


def _to(self, *args, **kwargs) -> Tensor:
    """x.to(dtype), x.to("cpu"), x.to(other) (its dtype), x.to(device, dtype), x.to(dtype=..., device=...)."""
    dtype, device = kwargs.pop("dtype", None), kwargs.pop("device", None)
    copy = kwargs.pop("copy", False)
    kwargs.pop("non_blocking", None)
    kwargs.pop("memory_format", None)
    if kwargs:
        raise TypeError(f"Tensor.to() got unexpected arguments {sorted(kwargs)}")
    for arg in args:
        if isinstance(arg, Tensor):
            dtype = arg.dtype
        elif is_device(arg):
            device = arg
        else:
            dtype = arg
    check_device(device, "Tensor.to")
    out = self if dtype is None else to_dtype(self, dtype, "Tensor.to")
    return apply(Clone, out) if copy and out is self else out


def _converter(dtype: np.dtype, name: str):
    def convert(self) -> Tensor:
        return to_dtype(self, dtype, f"Tensor.{name}")
    convert.__name__ = name
    convert.__doc__ = f"x.to({dtype.name}): x itself when it already is {dtype.name}."
    return convert


def _type(self, dtype=None) -> Any:
    """x.type(): the type name ("tinygraph.FloatTensor"); x.type(dtype): x.to(dtype)."""
    if dtype is None:
        return "tinygraph." + TYPE_NAMES.get(self.dtype, str(self.dtype))
    return to_dtype(self, dtype, "Tensor.type")


def _cpu(self) -> Tensor:
    """Already on the CPU: x itself."""
    return self


def _cuda(self, *args, **kwargs) -> Tensor:
    check_device("cuda", "Tensor.cuda")


def is_floating_point(x: Tensor) -> bool:
    return x.dtype.kind == "f"


def is_tensor(value: Any) -> bool:
    return isinstance(value, Tensor)


def _new_like(factory, name: str):
    """x.new_zeros(*size) and friends: a new tensor of x's dtype (unless dtype= says otherwise), as PyTorch."""
    def new(self, *size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
        return factory(*size, dtype=self.dtype if dtype is None else dtype, device=device, requires_grad=requires_grad)
    new.__name__ = name
    return new


def _new_full(self, size, fill_value, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return factories.full(size, fill_value, dtype=self.dtype if dtype is None else dtype, device=device,
                          requires_grad=requires_grad)


def _new_tensor(self, data, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A copy of data with x's dtype (unless dtype= says otherwise), as PyTorch's x.new_tensor(data)."""
    check_device(device, "Tensor.new_tensor")
    values = data.data if isinstance(data, Tensor) else data
    out = from_numpy(np.array(values, dtype=as_dtype(self.dtype if dtype is None else dtype, "Tensor.new_tensor")))
    return out.requires_grad_() if requires_grad else out


# ----------------------------------------------------------------------------- size, numel, dim
class CallableSize(int):
    """`t.size`: the element count, an int as NumPy's `a.size`; called, PyTorch's `t.size()` / `t.size(d)`."""

    def __new__(cls, shape: tuple[int, ...]):
        count = super().__new__(cls, math.prod(shape))
        count.shape = tuple(shape)
        return count

    def __call__(self, dim: int | None = None):
        if dim is None:
            return self.shape
        return self.shape[one_axis("size", dim, self.shape)] if self.shape else one_axis("size", dim, ()) + 1

    def __repr__(self) -> str:
        return int.__repr__(self)


def _size(self) -> CallableSize:
    return CallableSize(self.shape)


def numel(x: Tensor) -> int:
    """How many elements x has."""
    return math.prod(x.shape)


def _dim(self) -> int:
    return len(self.shape)


def _view_as(self, other: Tensor) -> Tensor:
    return apply(Reshape, self, shape=tuple(other.shape))


def _type_as(self, other: Tensor) -> Tensor:
    return to_dtype(self, other.dtype, "Tensor.type_as")


# ----------------------------------------------------------------------------- comparisons
def eq(input, other) -> Tensor: return _tensor(input) == other
def ne(input, other) -> Tensor: return _tensor(input) != other
def lt(input, other) -> Tensor: return _tensor(input) < other
def le(input, other) -> Tensor: return _tensor(input) <= other
def gt(input, other) -> Tensor: return _tensor(input) > other
def ge(input, other) -> Tensor: return _tensor(input) >= other


# ----------------------------------------------------------------------------- division, abs
def _div(self, other, *, rounding_mode: str | None = None) -> Tensor:
    """x / y; rounding_mode "trunc" rounds the quotient toward 0, "floor" down (both with δ = 0, as PyTorch)."""
    if rounding_mode is None:
        return apply(Div, self, other)
    if rounding_mode == "floor":
        return apply(FloorDivide, self, other)
    if rounding_mode == "trunc":
        other_data = other.data if isinstance(other, Tensor) else np.asarray(other)
        if np.result_type(self.data, other_data).kind in "biu":      # exact integer quotient, toward 0
            if not np.all(other_data):
                raise ZeroDivisionError(f"div: integer division by zero (shapes {self.shape}, {other_data.shape})")
            quotient = np.abs(self.data) // np.abs(other_data) * np.sign(self.data) * np.sign(other_data)
            return from_numpy(np.asarray(quotient).astype(np.result_type(self.data, other_data)))
        return apply(Trunc, apply(Div, self, other))
    raise ValueError(f"div: rounding_mode must be None, 'trunc' or 'floor', got {rounding_mode!r}")


_div.op = Div


def _floordiv(self, other): return apply(FloorDivide, self, other)
def _rfloordiv(self, other): return apply(FloorDivide, other, self)
def _mod(self, other): return apply(Remainder, self, other)
def _rmod(self, other): return apply(Remainder, other, self)
def _abs(self): return apply(Abs, self)


# ----------------------------------------------------------------------------- max, min, argmax, flatten
def max(input: Tensor, dim=None, keepdim: bool = False, *, other=None):
    """tg.max(t): the largest element; tg.max(t, dim): (values, indices); tg.max(a, b): tg.maximum(a, b)."""
    if other is not None or isinstance(dim, (Tensor, np.ndarray)):
        return apply(Maximum, input, dim if other is None else other)
    return _tensor(input).max(dim, keepdim) if dim is not None else _tensor(input).max()


def min(input: Tensor, dim=None, keepdim: bool = False, *, other=None):
    """tg.min(t): the smallest element; tg.min(t, dim): (values, indices); tg.min(a, b): tg.minimum(a, b)."""
    if other is not None or isinstance(dim, (Tensor, np.ndarray)):
        return apply(Minimum, input, dim if other is None else other)
    return _tensor(input).min(dim, keepdim) if dim is not None else _tensor(input).min()


def argmax(input: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    return _tensor(input).argmax(dim, keepdim)


def argmin(input: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    return _tensor(input).argmin(dim, keepdim)


def flatten(input: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    return _tensor(input).flatten(start_dim, end_dim)


# ----------------------------------------------------------------------------- split, chunk
def split(tensor: Tensor, split_size_or_sections, dim: int = 0) -> tuple[Tensor, ...]:
    """Pieces of split_size along dim (the last one smaller), or pieces of the listed sizes; views with gradients."""
    x = _tensor(tensor)
    axis = one_axis("split", dim, x.shape)
    if not x.shape:
        raise OpError("split", "tensor", "split of a 0-d tensor")
    length = x.shape[axis]
    if isinstance(split_size_or_sections, (list, tuple)):
        sizes = [int(n) for n in split_size_or_sections]
        if sum(sizes) != length or any(n < 0 for n in sizes):
            raise OpError("split", "split_size_or_sections", f"sizes {sizes} must be non-negative and add up to "
                          f"{length}, the size of dim {dim} of a tensor of shape {x.shape}")
    else:
        size = int(split_size_or_sections)
        if size <= 0 and not (size == 0 and length == 0):
            raise OpError("split", "split_size_or_sections", f"split_size must be positive, got {size}")
        sizes = [builtins.min(size, length - start) for start in range(0, length, size)] if length else [0]
    pieces, start = [], 0
    for n in sizes:
        index = (slice(None),) * axis + (slice(start, start + n),)
        pieces.append(apply(GetItem, x, index=index))
        start += n
    return tuple(pieces)


def chunk(input: Tensor, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
    """At most `chunks` pieces of ⌈size / chunks⌉ along dim, as torch.chunk."""
    x = _tensor(input)
    if int(chunks) <= 0:
        raise OpError("chunk", "chunks", f"chunks must be positive, got {chunks}")
    length = x.shape[one_axis("chunk", dim, x.shape)] if x.shape else 0
    return split(x, builtins.max(1, -(-length // int(chunks))), dim)


# ----------------------------------------------------------------------------- gather, scatter_add
def gather(input: Tensor, dim: int, index) -> Tensor:
    """out[i][j] = input[index[i][j]][j] (dim 0), out of index's shape; δinput scatter-adds δout back."""
    x, index_data = _tensor(input), _index_array("gather", index)
    axis = one_axis("gather", dim, x.shape)
    if index_data.ndim != x.ndim and not (x.ndim == 0 and index_data.ndim <= 1):
        raise OpError("gather", "index", f"index of shape {index_data.shape} must have as many dims as input "
                      f"of shape {x.shape}")
    if any(n > m for d, (n, m) in enumerate(zip(index_data.shape, x.shape)) if d != axis):
        raise OpError("gather", "index", f"index of shape {index_data.shape} is larger than input of shape "
                      f"{x.shape} outside dim {axis}")
    size = x.shape[axis] if x.shape else 1
    if index_data.size and (index_data.min() < 0 or index_data.max() >= size):
        raise OpError("gather", "index", f"index values must lie in [0, {size}) for dim {axis} of input of shape "
                      f"{x.shape}; got [{index_data.min()}, {index_data.max()}]")
    # Only input's index-shaped corner outside dim is read: take along dim from that slice.
    corner = tuple(slice(None) if d == axis else slice(0, n) for d, n in enumerate(index_data.shape))
    sliced = x if all(s == slice(None) or s.stop == m for s, m in zip(corner, x.shape)) else apply(GetItem, x, index=corner)
    return apply(TakeAlongDim, sliced, index_data, dim=axis)


def scatter_add(input: Tensor, dim: int, index, src) -> Tensor:
    """out = input, then out[index[i][j]][j] += src[i][j] (dim 0); differentiable in input and src."""
    return apply(ScatterAddAlongDim, input, _index_array("scatter_add", index), src, dim=dim)


# ----------------------------------------------------------------------------- sort, topk
def sort(input: Tensor, dim: int = -1, descending: bool = False, stable: bool = False) -> SortResult:
    """(values, indices) along dim; NaN sorts as the largest; values carry the gradient back to where each came from."""
    x = _tensor(input)
    data = x.data if x.ndim else x.data.reshape(1)
    axis = one_axis("sort", dim, x.shape)
    if descending:      # ascending order of the reversed array, reversed: equal values keep their order
        flipped = np.argsort(np.flip(data, axis), axis=axis, kind="stable")
        order = data.shape[axis] - 1 - np.flip(flipped, axis)
    else:
        order = np.argsort(data, axis=axis, kind="stable")
    order = order.astype(np.int64).reshape(x.shape)
    return SortResult(apply(TakeAlongDim, x, order, dim=axis), from_numpy(order))


def topk(input: Tensor, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> TopkResult:
    """The k largest (or smallest) values along dim and their indices, largest first."""
    x = _tensor(input)
    axis = one_axis("topk", dim, x.shape)
    length = x.shape[axis] if x.shape else 1
    if not 0 <= int(k) <= length:
        raise OpError("topk", "k", f"k={k} is out of range for dim {dim} of size {length} (input shape {x.shape})")
    order = sort(x, axis, descending=largest, stable=True).indices.data
    if x.shape:
        order = order[(slice(None),) * axis + (slice(0, int(k)),)]
    order = np.ascontiguousarray(order)
    return TopkResult(apply(TakeAlongDim, x, order, dim=axis), from_numpy(order))


# ----------------------------------------------------------------------------- norms
def norm(input: Tensor, p: Any = "fro", dim=None, keepdim: bool = False) -> Tensor:
    """The vector p-norm of `input` (all elements, or along `dim`), as torch.norm / Tensor.norm.

    p: 2 or "fro" (the default), 1, inf, -inf, 0 (the count of non-zeros) or any other positive
    number. Composed of registered ops, so it is differentiable as often as they are. Where the
    norm or an element is 0 its gradient is 0, as in PyTorch (the root's and |x|^p's infinite
    slopes there are masked, never multiplied by zero).
    """
    x = _tensor(input)
    if x.dtype.kind != "f":
        raise OpError("norm", "input", f"norm needs a floating tensor, got {x._label()} of dtype {x.dtype}")
    if p == "fro":
        p = 2
    if isinstance(p, str) or isinstance(p, bool) or not isinstance(p, (int, float)) or p < 0 and p != -math.inf:
        raise OpError("norm", "p", f"p must be 'fro', a number >= 0, inf or -inf, got {p!r}")
    magnitude = x.abs()
    if p == math.inf:
        return magnitude.amax(dim, keepdim)
    if p == -math.inf:
        return magnitude.amin(dim, keepdim)
    if p == 0:
        return magnitude.where(magnitude == 0, 1.0).sum(dim, keepdim)    # a count, with a zero gradient
    if p == 1:
        return magnitude.sum(dim, keepdim)
    if p == 2:
        total = (x * x).sum(dim, keepdim)
    else:                                    # |x|^p, with the zeros kept out of the power's slope
        nonzero = magnitude > 0
        total = (magnitude.where(nonzero, 1.0) ** p).where(nonzero, 0.0).sum(dim, keepdim)
    positive = total > 0
    safe = total.where(positive, 1.0)        # the root is taken only where it has a finite slope
    root = safe.sqrt() if p == 2 else safe ** (1.0 / p)
    return root.where(positive, 0.0)


# ----------------------------------------------------------------------------- aliases
def arcsin(input): return _tensor(input).asin()
def arccos(input): return _tensor(input).acos()
def arctan(input): return _tensor(input).atan()


# ----------------------------------------------------------------------------- plumbing
def _tensor(value) -> Tensor:
    return value if isinstance(value, Tensor) else Tensor(value)


def _index_array(op: str, index) -> np.ndarray:
    data = index.data if isinstance(index, Tensor) else np.asarray(index)
    if data.dtype.kind not in "iu":
        raise OpError(op, "index", f"index must be an integer tensor (int64), got dtype {data.dtype}")
    return data


_METHODS = {
    "to": _to, "cpu": _cpu, "cuda": _cuda, "type": _type, "type_as": _type_as,
    "float": _converter(float32, "float"), "double": _converter(float64, "double"),
    "half": _converter(float16, "half"), "long": _converter(int64, "long"), "int": _converter(int32, "int"),
    "short": _converter(int16, "short"), "char": _converter(int8, "char"), "byte": _converter(uint8, "byte"),
    "bool": _converter(bool_, "bool"), "is_floating_point": is_floating_point,
    "numel": numel, "dim": _dim, "view_as": _view_as, "reshape_as": _view_as,
    "eq": eq, "ne": ne, "lt": lt, "le": le, "gt": gt, "ge": ge,
    "div": _div, "__floordiv__": _floordiv, "__rfloordiv__": _rfloordiv, "__mod__": _mod, "__rmod__": _rmod,
    "__abs__": _abs, "split": split, "chunk": chunk, "gather": gather, "scatter_add": scatter_add,
    "sort": sort, "topk": topk, "norm": norm, "arcsin": arcsin, "arccos": arccos, "arctan": arctan,
    "new_zeros": _new_like(factories.zeros, "new_zeros"), "new_ones": _new_like(factories.ones, "new_ones"),
    "new_empty": _new_like(factories.empty, "new_empty"), "new_full": _new_full, "new_tensor": _new_tensor,
}


def install() -> None:
    """Put the methods above on Tensor, and make `size` callable (idempotent)."""
    for name, method in _METHODS.items():
        setattr(Tensor, name, method)
    setattr(Tensor, "device", property(lambda self: CPU, doc="Always the CPU."))
    setattr(Tensor, "is_cuda", property(lambda self: False))
    size = property(_size, doc=CallableSize.__doc__)
    for cls in (Tensor, *Tensor.__subclasses__()):
        if cls is Tensor or "size" in vars(cls):
            setattr(cls, "size", size)
