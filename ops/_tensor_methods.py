"""Tensor's Python operators and hand-written op methods: `+ - * / ** @`, `.sum(axis)`, `.reshape(*shape)`, `.T`.

tensor.py knows nothing of ops; the op layer gives Tensor its operators, as HIPS autograd's numpy
layer gives ArrayBox its own. Every other registered op gets its method (`x.relu()`, `x.exp()`)
from `register_op`; the ones here keep signatures friendlier than their op's forward
(`x.reshape(2, 3)`, `x.transpose()` reversing the axes). `install_tensor_methods()` runs once, in
`tinygraph.ops`, after the op files have registered.
"""
from __future__ import annotations

import numpy as np

from tinygraph.errors import OpError
from tinygraph.op import apply
from tinygraph.ops.add import Add
from tinygraph.ops.div import Div
from tinygraph.ops.exp import Exp
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

    def __pow__(self, exponent: float) -> Tensor:
        if isinstance(exponent, Tensor) or np.ndim(exponent) != 0:
            raise TypeError(f"pow: the exponent must be a scalar, got {type(exponent).__name__} "
                            f"of shape {np.shape(exponent)}; use (tensor.log() * e).exp() for tensor exponents")
        return apply(Pow, self, exponent=float(exponent))

    def __rpow__(self, base: float) -> Tensor:
        if np.ndim(base) != 0 or not base > 0:
            raise TypeError(f"pow: base ** tensor needs a positive scalar base, got {base!r}")
        return apply(Exp, self * float(np.log(base)))

    def add(self, other): return self + other
    def sub(self, other): return self - other
    def mul(self, other): return self * other
    def div(self, other): return self / other
    def neg(self): return -self
    def pow(self, exponent: float): return self ** exponent

    # ----------------------------------------------------------------- reductions and shapes
    def sum(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        return apply(Sum, self, axis=axis, keepdims=keepdims)

    def mean(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        return apply(Mean, self, axis=axis, keepdims=keepdims)

    def reshape(self, *shape: int) -> Tensor:
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return apply(Reshape, self, shape=shape)

    def flatten(self, start_dim: int = 1) -> Tensor:
        """Merge the axes from `start_dim` on into one: (N, C, H, W) -> (N, C·H·W)."""
        ndim = self.data.ndim
        start = start_dim + ndim if start_dim < 0 else start_dim
        if not 0 <= start < max(ndim, 1):
            raise OpError("flatten", "start_dim",
                          f"start_dim={start_dim} is out of range for a tensor of shape {self.data.shape}")
        return self.reshape(self.data.shape[:start] + (-1,))

    def transpose(self, *axes: int) -> Tensor:
        """Permute axes as NumPy does; no axes reverses them."""
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return apply(Transpose, self, axes=axes or None)

    @property
    def T(self) -> Tensor:
        return self.transpose()


# The op each hand-written method runs: `register_op` leaves a method that has an `op` alone when
# the op is registered again, and `unregister_op` removes it with the op.
_OPS = {"add": Add, "sub": Sub, "mul": Mul, "div": Div, "neg": Neg, "pow": Pow,
        "sum": Sum, "mean": Mean, "reshape": Reshape, "transpose": Transpose}
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
