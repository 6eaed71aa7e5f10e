"""Tensor: a NumPy array that remembers the op that produced it.

This module knows nothing of ops, the registry or the engine: they import Tensor, never the other
way round. The methods that need them are installed on Tensor by the layer that defines them,
as HIPS autograd's numpy layer gives ArrayBox its operators:

- `+ - * / ** @`, `x[i]`, iteration, `.sum()`, `.max()`, `.reshape()`, `.transpose()`, `.flatten()`, `.T`:
  the op layer (ops/_tensor_methods.py);
- one method per registered op, `x.relu()`, `x.exp()`, your own `x.sigmoid()`: `register_op`;
- `.backward(grad=None, retain_graph=False)`: the engine (`tinygraph.engine.backward`, the same
  function as `tg.backward(t)`).

Importing any part of tinygraph imports the whole package first, so they are always there.
"""
from __future__ import annotations

import math
import weakref
from typing import Any

import numpy as np

from tinygraph.dtypes import as_dtype, check_device

# While tg.compile records a step: called as value_read(tensor, how) when Python reads a tensor's
# values (item(), float(), bool(), numpy(), np.asarray()); set and cleared by tinygraph/compile/recorder.py.
value_read = None
# ... and called as computed(name, fn, inputs, result) when library code outside the ops made the
# tensor `result` as fn(*arrays of inputs) (a comparison, argmax), so that a replay computes it too.
computed = None
# ... and called as grad_assigned(tensor, value) when the step sets `t.grad = value`.
grad_assigned = None


class Tensor:
    """A NumPy array plus what reverse mode needs: `grad`, `requires_grad` and the creator node.

    `Tensor(data, requires_grad=False, name=None)` copies `data` into a new array, as
    `torch.tensor` does (`tg.from_numpy` shares memory instead). Dtypes are kept as given:
    float32 stays float32, integer and bool arrays stay integer and bool (labels, indices, masks);
    Python floats become float64 and Python ints int64, as in NumPy. Only floating tensors can
    require grad.
    """

    __slots__ = ("data", "_grad", "requires_grad", "_name", "_node", "_retain_grad", "_version_counter",
                 "_base", "_hooks", "__weakref__")

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        """NumPy meeting a tensor. An operator (`ndarray + t`, `2.0 * t`, `arr < t`) is the tensor's own,
        recorded like `t + ndarray`. Any other ufunc (`np.abs(p.grad)`, `np.isfinite(t)`, `arr -= t`)
        works on the arrays and gives an array, as it would on `t.numpy()`; on a tensor that requires
        grad it is refused, since its result would silently leave the graph (as in PyTorch)."""
        if method == "__call__" and not kwargs and len(inputs) == 2 and ufunc in _OPERATORS:
            a, b = inputs
            forward, reflected = _OPERATORS[ufunc]
            return getattr(a, forward)(b) if isinstance(a, Tensor) else getattr(b, reflected)(a)
        tensors = [x for x in inputs + tuple(kwargs.get("out", ())) if isinstance(x, Tensor)]
        for t in tensors:
            if t.requires_grad:
                raise TypeError(f"np.{ufunc.__name__}: {t._label()} requires grad, and NumPy's result would not "
                                f"be recorded; use the tensor's own op (for example t.{ufunc.__name__}() or "
                                f"tg.{ufunc.__name__}(t) where it exists), or np.{ufunc.__name__}(t.detach().numpy())")
            if value_read is not None:
                value_read(t, f"np.{ufunc.__name__}")
        arrays = [x.data if isinstance(x, Tensor) else x for x in inputs]
        if "out" in kwargs:
            kwargs["out"] = tuple(o.data if isinstance(o, Tensor) else o for o in kwargs["out"])
        return getattr(ufunc, method)(*arrays, **kwargs)
    # A tensor always has its values; the record a Node keeps of a tensor that is gone may not.
    values_available = True

    def __init__(self, data: Any, requires_grad: bool = False, name: str | None = None, *, dtype: Any = None,
                 device: Any = None):
        if isinstance(data, Tensor):
            data = data.data
        if device is not None:
            check_device(device, "tinygraph.tensor")
        if dtype is not None:
            dtype = as_dtype(dtype, "tinygraph.tensor")
        self.data = _checked_array(np.array(data, dtype=dtype, copy=True), data, "tinygraph.tensor")
        self._grad = None
        self.requires_grad = False
        self._name = name
        self._node = None
        self._retain_grad = False
        self._version_counter = [0]
        self._base = None
        self._hooks = None
        if requires_grad:
            self.requires_grad_()

    @classmethod
    def _wrap(cls, array: np.ndarray, version_counter: list | None = None) -> "Tensor":
        """Fast constructor for arrays the library made itself (any dtype, no copy, no checks)."""
        t = cls.__new__(cls)
        t.data = array
        t._grad = None
        t.requires_grad = False
        t._name = None
        t._node = None
        t._retain_grad = False
        t._version_counter = [0] if version_counter is None else version_counter
        t._base = None
        t._hooks = None
        return t

    @property
    def grad(self) -> "Tensor | None":
        """The gradient backward accumulated here: a Tensor, as in PyTorch (None before any backward).

        The engine keeps a first-order gradient as a bare array and wraps it only when `.grad` is
        read, once: later reads give the same Tensor, and `p.grad.zero_()`, `p.grad.norm()` and
        `np.asarray(p.grad)` all work on the one array the engine accumulates into.
        """
        g = self._grad
        if g is None or type(g) is not np.ndarray:
            return g
        g = self._grad = Tensor._wrap(g)
        return g

    @grad.setter
    def grad(self, value: "Tensor | np.ndarray | None") -> None:
        if value is not None:
            if isinstance(value, Tensor):
                array = value.data
            elif isinstance(value, np.ndarray):
                array = value
            else:
                raise TypeError(f".grad: assigned {type(value).__name__}; expected a Tensor (or NumPy array) "
                                f"of shape {self.data.shape}, or None")
            if array.shape != self.data.shape:
                raise RuntimeError(f".grad: assigned a gradient of shape {array.shape} to {self._label()}; "
                                   "a gradient has its tensor's shape")
            if array.dtype != self.data.dtype and self.data.dtype.kind == "f":
                raise RuntimeError(f".grad: assigned a gradient of dtype {array.dtype} to {self._label()} "
                                   f"of dtype {self.data.dtype}; a gradient has its tensor's dtype")
        if grad_assigned is not None:
            grad_assigned(self, value)
        self._grad = value

    def _grad_array(self) -> np.ndarray | None:
        """The gradient's array (no Tensor made), for optimizers and other hot paths."""
        g = self._grad
        return g if g is None or type(g) is np.ndarray else g.data

    @property
    def name(self) -> str | None:
        """The name shown in drawings and error messages (the Node that made the tensor keeps it too)."""
        return self._name

    @name.setter
    def name(self, value: str | None) -> None:
        self._name = value
        if self._node is not None:
            self._node.name = value

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        """Set `requires_grad` in place (only floating tensors can require grad); returns self."""
        if requires_grad and self.data.dtype.kind != "f":
            raise RuntimeError(f"requires_grad: only floating point tensors can require gradients; "
                               f"{self._label()} has dtype {self.data.dtype}")
        if not requires_grad and self._node is not None:
            raise RuntimeError(f"requires_grad_(False): {self._label()} was made by op '{self._node.op.name}'; "
                               "use .detach() to cut it from the graph")
        self.requires_grad = bool(requires_grad)
        return self

    @property
    def _version(self) -> int:
        """How many in-place updates the array behind this tensor has had (views share the count)."""
        return self._version_counter[0]

    def _bump_version(self) -> None:
        """Count one in-place update of `data` (views share the count), so a rule that saved it refuses."""
        self._version_counter[0] += 1

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
    def grad_fn(self):
        """The node that recorded this tensor (op, inputs, attrs, ctx), or None for a leaf."""
        return self._node

    @property
    def is_leaf(self) -> bool:
        return self._node is None

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self.data)

    def __bool__(self) -> bool:
        if value_read is not None:
            value_read(self, "bool()")
        if self.data.size != 1:
            raise RuntimeError(f"bool(): the truth value of {self._label()} with {self.data.size} elements "
                               "is ambiguous; reduce it to one element first (for example .sum() or .max())")
        return bool(self.data)

    def __float__(self) -> float:
        if value_read is not None:
            value_read(self, "float()")
        return float(self.item())

    def __int__(self) -> int:
        if value_read is not None:
            value_read(self, "int()")
        return int(self.item())

    def __index__(self) -> int:
        if value_read is not None:
            value_read(self, "an index")
        if self.data.size != 1 or self.data.dtype.kind not in "biu":
            raise TypeError(f"only one-element integer tensors can be used as an index, not {self._label()} "
                            f"of dtype {self.data.dtype}")
        return int(self.data.item())

    def __format__(self, spec: str) -> str:
        """f"{t:.4f}" formats a one-element tensor's number, as PyTorch does; other tensors take no spec."""
        if spec and self.data.ndim == 0:
            return format(self.item(), spec)
        return object.__format__(self, spec) if spec else repr(self)

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        """np.asarray(t): the array itself (a copy only when a dtype or copy=True asks for one)."""
        if value_read is not None:
            value_read(self, "np.asarray()")
        if copy:
            return np.array(self.data, dtype=dtype, copy=True)
        return self.data if dtype is None else self.data.astype(dtype, copy=False)

    def tolist(self):
        """The values as (nested) Python lists of numbers; a 0-d tensor gives one number."""
        if value_read is not None:
            value_read(self, "tolist()")
        return self.data.tolist()

    # ----------------------------------------------------------------- comparisons
    # Bool tensors that need no gradient (nothing flows through a comparison), broadcasting as NumPy.
    def _compare(self, other, ufunc) -> "Tensor":
        operand = other
        if isinstance(other, Tensor):
            other = other.data
        elif not isinstance(other, (np.ndarray, np.generic, int, float, bool, list, tuple)):
            return NotImplemented
        try:
            result = Tensor._wrap(np.asarray(ufunc(self.data, other)))
        except ValueError:
            raise ValueError(f"{ufunc.__name__}: cannot compare {self._label()} with shape "
                             f"{np.shape(other)}: the shapes do not broadcast") from None
        if computed is not None:
            computed(ufunc.__name__, lambda a, b: np.asarray(ufunc(a, b)), [self, operand], result)
        return result

    def __lt__(self, other): return self._compare(other, np.less)
    def __le__(self, other): return self._compare(other, np.less_equal)
    def __gt__(self, other): return self._compare(other, np.greater)
    def __ge__(self, other): return self._compare(other, np.greater_equal)
    def __eq__(self, other): return self._compare(other, np.equal)
    def __ne__(self, other): return self._compare(other, np.not_equal)
    # == compares values, so hashing stays by identity (as torch.Tensor): tensors still key dicts and sets.
    __hash__ = object.__hash__

    def named(self, name: str) -> "Tensor":
        """Set the name shown in drawings and error messages; returns self for chaining."""
        self.name = name
        return self

    def numpy(self) -> np.ndarray:
        """The array itself, shared (no copy), as torch's .numpy() does."""
        if value_read is not None:
            value_read(self, "numpy()")
        return self.data

    def item(self) -> float:
        if value_read is not None:
            value_read(self, "item()")
        if self.data.size != 1:
            raise ValueError(f"item(): tensor of shape {self.data.shape} has {self.data.size} elements, not 1")
        return self.data.item()

    def detach(self) -> "Tensor":
        """The same data, cut from the graph (no gradient flows through it); shares memory and version."""
        return Tensor._wrap(self.data, self._version_counter).named(self.name)

    def retain_grad(self) -> "Tensor":
        """Keep `.grad` on this intermediate tensor after backward (leaves always keep theirs)."""
        if not self.requires_grad:
            raise RuntimeError(f"retain_grad(): {self._label()} does not require grad")
        self._retain_grad = True
        if self._node is not None:
            self._node._retained = weakref.ref(self)
        return self

    # ----------------------------------------------------------------- hooks, as PyTorch's
    def register_hook(self, hook) -> "RemovableHandle":
        """Call `hook(grad)` with this tensor's gradient (a Tensor) each time backward computes it.

        A hook may return a replacement gradient (same shape), which is what flows on (and what a leaf
        accumulates). On a tensor made by an op, the hook belongs to that op's Node: an in-place
        update later gives the tensor a new Node, and the hook stays with the old value, as in PyTorch.
        """
        if not self.requires_grad:
            raise RuntimeError(f"register_hook: {self._label()} does not require grad, so no gradient reaches it")
        if self._node is not None:
            if self._node.grad_hooks is None:
                self._node.grad_hooks = []
            hooks = self._node.grad_hooks
        else:
            hooks = self._hook_lists()[0]
        hooks.append(hook)
        return RemovableHandle(hooks, hook)

    def register_post_accumulate_grad_hook(self, hook) -> "RemovableHandle":
        """On a leaf: call `hook(tensor)` right after backward has accumulated into its `.grad` (the
        moment a data-parallel trainer may start reducing that gradient)."""
        if self._node is not None or not self.requires_grad:
            raise RuntimeError("register_post_accumulate_grad_hook: only a leaf that requires grad accumulates a "
                               f".grad, and {self._label()} is not one")
        hooks = self._hook_lists()[1]
        hooks.append(hook)
        return RemovableHandle(hooks, hook)

    def _hook_lists(self) -> tuple[list, list]:
        """(gradient hooks, post-accumulate hooks) of a leaf, made on first use."""
        if self._hooks is None:
            self._hooks = ([], [])
        return self._hooks

    def zero_grad(self) -> None:
        self.grad = None

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
        return f"tensor {name}of shape {self.shape}"

    # ----------------------------------------------------------------- in-place updates
    # The op layer (ops/_in_place.py) gives Tensor `+=`, `x[i] = v`, `add_`, `copy_`, `zero_`, ...:
    # recorded as ops when a gradient is needed, plain NumPy writes otherwise (then `_bump_version`).
    def _take_result(self, result: "Tensor") -> None:
        """Become `result` in place: its values written into this tensor's memory, its Node as creator.

        Every edge recorded before keeps pointing at the Node that made the old value, so backward
        sends each use the gradient of the value it saw, as PyTorch's in-place ops do.
        """
        np.copyto(self.data, result.data, casting="unsafe")
        node = result._node
        if node is not None:
            node._tensor = weakref.ref(self)
            node.name = self._name
            if self._retain_grad:
                node._retained = weakref.ref(self)
            self._node = node
            self.requires_grad = True
        self._version_counter[0] += 1


# The ufuncs behind Python's operators: (the tensor's method when it is on the left, ... on the right).
_OPERATORS = {
    np.add: ("__add__", "__radd__"), np.subtract: ("__sub__", "__rsub__"),
    np.multiply: ("__mul__", "__rmul__"), np.true_divide: ("__truediv__", "__rtruediv__"),
    np.power: ("__pow__", "__rpow__"), np.matmul: ("__matmul__", "__rmatmul__"),
    np.floor_divide: ("__floordiv__", "__rfloordiv__"), np.remainder: ("__mod__", "__rmod__"),
    np.less: ("__lt__", "__gt__"), np.less_equal: ("__le__", "__ge__"),
    np.greater: ("__gt__", "__lt__"), np.greater_equal: ("__ge__", "__le__"),
    np.equal: ("__eq__", "__eq__"), np.not_equal: ("__ne__", "__ne__"),
}


class RemovableHandle:
    """What register_hook returns: `handle.remove()` takes the hook off again."""

    def __init__(self, hooks: list, hook) -> None:
        self._hooks, self._hook = hooks, hook

    def remove(self) -> None:
        if self._hook in self._hooks:
            self._hooks.remove(self._hook)


def tensor(data: Any, requires_grad: bool = False, name: str | None = None, *, dtype: Any = None,
           device: Any = None) -> Tensor:
    """Make a tensor from a copy of `data` (in `dtype` if given; `device` may only be the CPU); see `Tensor`."""
    return Tensor(data, requires_grad=requires_grad, name=name, dtype=dtype, device=device)


def from_numpy(array: np.ndarray, requires_grad: bool = False, name: str | None = None) -> Tensor:
    """Wrap `array` without copying: the tensor and the array share memory, as torch.from_numpy.

    Changing the array through NumPy changes the tensor and is not seen by the version check
    (as writing to `.data` is not): do it only when no backward() still needs the old values.
    """
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    t = Tensor._wrap(_checked_array(array, array, "from_numpy"))
    t.name = name
    if requires_grad:
        t.requires_grad_()
    return t


def _checked_array(array: np.ndarray, original: Any, where: str) -> np.ndarray:
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{where}: cannot make a tensor from data of dtype {array.dtype} "
                        f"(type {type(original).__name__}); give numbers or a numeric array")
    return array
