"""In-place updates as PyTorch has them: `x += y`, `x[i] = v`, `x.add_(y)`, `x.copy_(y)`, `x.zero_()`, ...

Where no gradient is needed (inside `no_grad()`, or when neither the tensor nor an operand requires
grad) an update is a NumPy write into the tensor's memory, counted in its version (an optimizer
step, a data loader refilling a batch). Otherwise it is recorded, as in PyTorch:

1. the new value is computed out of place by ops, from a copy of the old value;
2. it is written into the tensor's memory, and the tensor takes the op's Node as its creator,
   so the tensor becomes a non-leaf (a leaf that requires grad refuses, as in PyTorch);
3. every earlier use of the tensor keeps its edge to the Node of the old value, and a rule that
   saved the old array refuses at backward (the version check).

A tensor that is a view of another (x[0], x.T, x.reshape(...)) shares its memory, so updating the
view updates that tensor too: it becomes `setitem(old, where the view lies, the view's new values)`
and the view reads its part of the result, so gradients reach both (PyTorch's CopySlices).
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from tinygraph.grad_mode import STATE, no_grad
from tinygraph.op import apply
from tinygraph.ops._tensor_methods import _plain_index
from tinygraph.ops.cast import Cast
from tinygraph.ops.setitem import SetItem
from tinygraph.tensor import Tensor


def update_in_place(x: Tensor, symbol: str, new_value: Callable[..., Tensor], *operands: Any) -> Tensor:
    """Give `x` the value `new_value(x, *operands)` in place; recorded when a gradient is needed."""
    if not (STATE.grad_enabled and (x.requires_grad or any(
            isinstance(o, Tensor) and o.requires_grad for o in operands))):
        with no_grad():
            new = new_value(x, *operands)
        if STATE.recorder is None:
            _write(x, new.data, symbol)
        else:                                   # tg.compile is recording: it writes, now and at each replay
            STATE.recorder.write(x, new.data, _write, symbol)
        x._bump_version()
        _tangent_follows(new, x)
        return x
    if STATE.recorder is not None:
        STATE.recorder.refuse(f"'{symbol}' updates {x._label()} in place while recording its gradient; "
                              "a compiled step may update in place only under tg.no_grad()")
    _check_recordable(x, symbol)
    new = _same_kind(x, new_value(_snapshot(x), *operands), symbol)
    if x._base is None:
        _take_result(x, new)
    else:
        _update_through_view(x, new)
    return x


def _check_recordable(x: Tensor, symbol: str) -> None:
    for t, what in ((x, "a leaf"), (x._base, "a view of a leaf")):
        if t is not None and t.requires_grad and t._node is None:
            raise RuntimeError(f"'{symbol}': {what} tensor that requires grad ({t._label()}) cannot be updated "
                               "in place while the graph is being recorded (as in PyTorch); do it inside "
                               "tg.no_grad(), as an optimizer step does, or write the out-of-place form x = x + y")
    if not x.data.flags.writeable:
        raise ValueError(f"'{symbol}': {x._label()} is read-only (it shares a read-only NumPy array)")


def _snapshot(x: Tensor) -> Tensor:
    """The old value as a tensor of its own: a copy (the op's rule may save it), with x's creator."""
    old = Tensor._wrap(x.data.copy())
    old._node, old.requires_grad, old._name = x._node, x.requires_grad, x._name
    _tangent_follows(x, old)
    return old


def _take_result(x: Tensor, result: Tensor) -> None:
    x._take_result(result)
    _tangent_follows(result, x)


def _tangent_follows(source: Tensor, target: Tensor) -> None:
    """In forward mode (forward_ad), `target` now holds `source`'s values: its tangent too."""
    if STATE.dual is not None:
        STATE.dual.follow(source, target)


def _same_kind(x: Tensor, new: Tensor, symbol: str) -> Tensor:
    """The new value in x's shape and dtype: cast (recorded) within a kind, refused across kinds."""
    _check_shape(x, new.shape, symbol)
    if new.dtype != x.dtype:
        if not np.can_cast(new.dtype, x.dtype, casting="same_kind"):
            raise TypeError(f"'{symbol}': the result has dtype {new.dtype}, which cannot be stored in place in "
                            f"{x._label()} of dtype {x.dtype} (as in PyTorch)")
        new = apply(Cast, new, dtype=x.dtype)
    return new


def _check_shape(x: Tensor, shape: tuple, symbol: str) -> None:
    if shape != x.shape:
        raise ValueError(f"'{symbol}': the result has shape {shape}, but {x._label()} cannot change its shape "
                         "in place (the other operand must broadcast to it)")


def _write(x: Tensor, values: np.ndarray, symbol: str) -> None:
    _check_shape(x, np.shape(values), symbol)
    try:
        np.copyto(x.data, values, casting="same_kind")
    except (TypeError, ValueError) as error:     # read-only memory, or a dtype that cannot be stored
        raise type(error)(f"'{symbol}': cannot update {x._label()} (dtype {x.dtype}) in place with "
                          f"{np.result_type(values)} values: {error}") from None


def _update_through_view(view: Tensor, new: Tensor) -> None:
    """Record the update of `view` as an update of the tensor whose memory it shares (view._base)."""
    base = view._base
    positions = memory_positions(view.data, base.data)
    flat_old = _snapshot(base).reshape(-1)
    flat_new = apply(SetItem, flat_old, new.reshape(-1), index=positions.reshape(-1))
    _take_result(base, flat_new.reshape(*base.shape))
    _take_result(view, base.reshape(-1)[positions])


def memory_positions(view: np.ndarray, base: np.ndarray) -> np.ndarray:
    """For each element of `view`, the flat index of the element of `base` at the same address."""
    base_addresses = _addresses(base).reshape(-1)
    order = np.argsort(base_addresses, kind="stable")
    found = np.searchsorted(base_addresses, _addresses(view).reshape(-1), sorter=order)
    return order[found].reshape(view.shape)


def _addresses(a: np.ndarray) -> np.ndarray:
    """The byte address of every element of `a`, in `a`'s shape."""
    start = a.__array_interface__["data"][0]
    offsets = np.zeros(a.shape, dtype=np.int64)
    for axis, (length, stride) in enumerate(zip(a.shape, a.strides)):
        offsets += (np.arange(length, dtype=np.int64) * stride).reshape([-1 if k == axis else 1 for k in range(a.ndim)])
    return start + offsets


# ------------------------------------------------------------------------------- the Tensor methods
def _set(x, value, index=Ellipsis):
    return apply(SetItem, x, value, index=index)


def _clamped(x, min=None, max=None):
    return x.clamp(min=min, max=max)


def install_in_place_methods() -> None:
    """Give Tensor its in-place operators and methods (PyTorch's names, trailing underscore)."""
    def binary(symbol, name, method):
        def update(self, other):
            return update_in_place(self, symbol, getattr(Tensor, method), other)
        update.__name__ = name
        update.__doc__ = f"self {symbol} other, in place (recorded when a gradient is needed)."
        return update

    for symbol, name, method in (("+=", "__iadd__", "__add__"), ("-=", "__isub__", "__sub__"),
                                 ("*=", "__imul__", "__mul__"), ("/=", "__itruediv__", "__truediv__"),
                                 ("mul_", "mul_", "__mul__"), ("div_", "div_", "__truediv__")):
        setattr(Tensor, name, binary(symbol, name, method))

    def add_(self, other, *, alpha=1):
        """self += alpha * other, in place."""
        return update_in_place(self, "add_", lambda x, o: x + (o if alpha == 1 else o * alpha), other)

    def sub_(self, other, *, alpha=1):
        """self -= alpha * other, in place."""
        return update_in_place(self, "sub_", lambda x, o: x - (o if alpha == 1 else o * alpha), other)

    def copy_(self, source):
        """Copy `source` (broadcast to this shape, cast to this dtype) into this tensor, in place."""
        if not isinstance(source, Tensor):
            source = np.asarray(source)
        return update_in_place(self, "copy_", lambda x, s: _set(x, s.astype(x.dtype) if isinstance(s, np.ndarray)
                                                                 else s), source)

    def fill_(self, value):
        """Set every element to `value`, in place."""
        return update_in_place(self, "fill_", _set, value)

    def zero_(self):
        """Set every element to 0, in place."""
        return update_in_place(self, "zero_", _set, 0)

    def clamp_(self, min=None, max=None):
        """Clamp every element into [min, max], in place."""
        return update_in_place(self, "clamp_", lambda x: _clamped(x, min, max))

    def __setitem__(self, index, value):
        """x[index] = value, recorded as `setitem` when a gradient is needed (value broadcast to x[index])."""
        index = _plain_index(index)
        update_in_place(self, "x[i] = v", lambda x, v: _set(x, v, index), value)

    for method in (add_, sub_, copy_, fill_, zero_, clamp_, __setitem__):
        setattr(Tensor, method.__name__, method)
    Tensor.clip_ = clamp_
    for name in ("relu", "neg", "exp", "log", "sqrt", "abs", "sigmoid", "tanh"):
        setattr(Tensor, name + "_", _unary(name))


def _unary(name: str):
    def update(self):
        return update_in_place(self, name + "_", lambda x: getattr(x, name)())
    update.__name__ = name + "_"
    update.__doc__ = f"self = self.{name}(), in place."
    return update
