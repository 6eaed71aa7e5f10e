"""Tensor: a NumPy array that remembers the op that produced it."""
from __future__ import annotations

from typing import Any

import numpy as np



class Tensor:
    """A NumPy array plus what reverse mode needs: `grad`, `requires_grad` and the creator node.

    `Tensor(data, requires_grad=False, name=None)` wraps `np.asarray(data)`. Floating dtypes are
    kept as given (float32 stays float32); Python scalars, bools and integers become float64.
    """

    __slots__ = ("data", "grad", "requires_grad", "name", "_node", "_retain_grad", "__weakref__")
    # Make NumPy hand `ndarray + Tensor` back to Tensor.__radd__ instead of looping over elements.
    __array_ufunc__ = None
    # Methods written by hand below with friendlier signatures than their op's forward().
    HANDWRITTEN = frozenset({"add", "sub", "mul", "div", "neg", "pow", "sum", "reshape", "transpose"})

    def __init__(self, data: Any, requires_grad: bool = False, name: str | None = None):
        if isinstance(data, Tensor):
            data = data.data
        array = np.asarray(data)
        if array.dtype.kind in "biu":
            array = array.astype(np.float64)
        elif array.dtype.kind != "f":
            raise TypeError(f"tinygraph.tensor: cannot make a tensor from data of dtype {array.dtype} "
                            f"(type {type(data).__name__}); give numbers or a numeric array")
        self.data = array
        self.grad: np.ndarray | None = None
        self.requires_grad = bool(requires_grad)
        self.name = name
        self._node = None
        self._retain_grad = False

    @classmethod
    def _wrap(cls, array: np.ndarray) -> "Tensor":
        """Fast constructor for arrays the library made itself (any dtype, no copy, no checks)."""
        t = cls.__new__(cls)
        t.data = array
        t.grad = None
        t.requires_grad = False
        t.name = None
        t._node = None
        t._retain_grad = False
        return t

    # ----------------------------------------------------------------- plain attributes
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def op(self):
        """The Op class that produced this tensor, or None for a leaf."""
        return None if self._node is None else self._node.op

    @property
    def is_leaf(self) -> bool:
        return self._node is None

    def __len__(self) -> int:
        return len(self.data)

    def named(self, name: str) -> "Tensor":
        """Set the name shown in drawings and error messages; returns self for chaining."""
        self.name = name
        return self

    def numpy(self) -> np.ndarray:
        return self.data

    def item(self) -> float:
        if self.data.size != 1:
            raise ValueError(f"item(): tensor of shape {self.data.shape} has {self.data.size} elements, not 1")
        return self.data.item()

    def detach(self) -> "Tensor":
        """The same data, cut from the graph (no gradient flows through it)."""
        return Tensor._wrap(self.data).named(self.name)

    def retain_grad(self) -> "Tensor":
        """Keep `.grad` on this intermediate tensor after backward (leaves always keep theirs)."""
        if not self.requires_grad:
            raise RuntimeError(f"retain_grad(): {self._label()} does not require grad")
        self._retain_grad = True
        return self

    def zero_grad(self) -> None:
        self.grad = None

    def backward(self, grad: Any = None, retain_graph: bool = False) -> None:
        """Reverse-mode accumulation of d(self)/d(leaf) into every leaf's `.grad`."""
        from tinygraph.engine import backward
        backward(self, grad, retain_graph)

    def __repr__(self) -> str:
        parts = [f"shape={self.data.shape}", f"dtype={self.data.dtype}"]
        if self.name:
            parts.append(f"name={self.name!r}")
        if self._node is not None:
            parts.append(f"op={self._node.op.name}")
        elif self.requires_grad:
            parts.append("requires_grad=True")
        if self.data.size <= 8:
            values = np.array2string(self.data, precision=4, separator=", ")
            parts.insert(0, values)
        return f"Tensor({', '.join(parts)})"

    def _label(self) -> str:
        name = f"'{self.name}' " if self.name else ""
        return f"tensor {name}of shape {self.data.shape}"

    # ----------------------------------------------------------------- arithmetic
    def __add__(self, other): return apply(REGISTRY["add"], self, other)
    def __radd__(self, other): return apply(REGISTRY["add"], other, self)
    def __sub__(self, other): return apply(REGISTRY["sub"], self, other)
    def __rsub__(self, other): return apply(REGISTRY["sub"], other, self)
    def __mul__(self, other): return apply(REGISTRY["mul"], self, other)
    def __rmul__(self, other): return apply(REGISTRY["mul"], other, self)
    def __truediv__(self, other): return apply(REGISTRY["div"], self, other)
    def __rtruediv__(self, other): return apply(REGISTRY["div"], other, self)
    def __neg__(self): return apply(REGISTRY["neg"], self)
    def __matmul__(self, other): return apply(REGISTRY["matmul"], self, other)
    def __rmatmul__(self, other): return apply(REGISTRY["matmul"], other, self)

    def __pow__(self, exponent: float) -> "Tensor":
        if isinstance(exponent, Tensor) or np.ndim(exponent) != 0:
            raise TypeError(f"pow: the exponent must be a scalar, got {type(exponent).__name__} "
                            f"of shape {np.shape(exponent)}; use (tensor.log() * e).exp() for tensor exponents")
        return apply(REGISTRY["pow"], self, exponent=float(exponent))

    def __rpow__(self, base: float) -> "Tensor":
        if np.ndim(base) != 0 or not base > 0:
            raise TypeError(f"pow: base ** tensor needs a positive scalar base, got {base!r}")
        return (self * float(np.log(base))).exp()

    def add(self, other): return self + other
    def sub(self, other): return self - other
    def mul(self, other): return self * other
    def div(self, other): return self / other
    def neg(self): return -self
    def pow(self, exponent: float): return self ** exponent

    # ----------------------------------------------------------------- reductions and shapes
    def sum(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> "Tensor":
        return apply(REGISTRY["sum"], self, axis=axis, keepdims=keepdims)

    def mean(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> "Tensor":
        """sum / count, composed from sum and mul so it needs no backward rule of its own."""
        total = self.sum(axis=axis, keepdims=keepdims)
        count = self.data.size // max(total.data.size, 1) if self.data.size else 0
        if count == 0:
            raise ValueError(f"mean: no elements to average in a tensor of shape {self.data.shape} over axis={axis}")
        return total * (1.0 / count)

    def reshape(self, *shape: int) -> "Tensor":
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return apply(REGISTRY["reshape"], self, shape=shape)

    def flatten(self, start_dim: int = 1) -> "Tensor":
        """Merge the axes from `start_dim` on into one: (N, C, H, W) -> (N, C·H·W)."""
        ndim = self.data.ndim
        start = start_dim + ndim if start_dim < 0 else start_dim
        if not 0 <= start < max(ndim, 1):
            raise ValueError(f"flatten: start_dim={start_dim} is out of range for a tensor of shape {self.data.shape}")
        return self.reshape(self.data.shape[:start] + (-1,))

    def transpose(self, *axes: int) -> "Tensor":
        """Permute axes as NumPy does; no axes reverses them."""
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return apply(REGISTRY["transpose"], self, axes=axes or None)

    @property
    def T(self) -> "Tensor":
        return self.transpose()


def tensor(data: Any, requires_grad: bool = False, name: str | None = None) -> Tensor:
    """Make a tensor; see `Tensor`."""
    return Tensor(data, requires_grad=requires_grad, name=name)


from tinygraph.op import apply  # noqa: E402  (op.py needs Tensor defined first)
from tinygraph.registry import REGISTRY  # noqa: E402
