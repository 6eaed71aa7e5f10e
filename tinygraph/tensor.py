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

from tinygraph.grad_mode import STATE


class Tensor:
    """A NumPy array plus what reverse mode needs: `grad`, `requires_grad` and the creator node.

    `Tensor(data, requires_grad=False, name=None)` copies `data` into a new array, as
    `torch.tensor` does (`tg.from_numpy` shares memory instead). Dtypes are kept as given:
    float32 stays float32, integer and bool arrays stay integer and bool (labels, indices, masks);
    Python floats become float64 and Python ints int64, as in NumPy. Only floating tensors can
    require grad.
    """

    __slots__ = ("data", "grad", "requires_grad", "name", "_node", "_retain_grad", "_version_counter",
                 "_stand_in", "__weakref__")
    # Make NumPy hand `ndarray + Tensor` back to Tensor.__radd__ instead of looping over elements.
    __array_ufunc__ = None
    # False only for the stand-ins that keep a graph's structure after backward() freed the values.
    values_available = True

    def __init__(self, data: Any, requires_grad: bool = False, name: str | None = None):
        if isinstance(data, Tensor):
            data = data.data
        self.data = _checked_array(np.array(data, copy=True), data, "tinygraph.tensor")
        self.grad: np.ndarray | None = None
        self.requires_grad = False
        self.name = name
        self._node = None
        self._retain_grad = False
        self._version_counter = [0]
        self._stand_in = None
        if requires_grad:
            self.requires_grad_()

    @classmethod
    def _wrap(cls, array: np.ndarray, version_counter: list | None = None) -> "Tensor":
        """Fast constructor for arrays the library made itself (any dtype, no copy, no checks)."""
        t = cls.__new__(cls)
        t.data = array
        t.grad = None
        t.requires_grad = False
        t.name = None
        t._node = None
        t._retain_grad = False
        t._version_counter = [0] if version_counter is None else version_counter
        t._stand_in = None
        return t

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
        """Record an in-place update of `data` (optimizer steps, load_state_dict, `+=` under no_grad)."""
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
        if self.data.size != 1:
            raise RuntimeError(f"bool(): the truth value of {self._label()} with {self.data.size} elements "
                               "is ambiguous; reduce it to one element first (for example .sum() or .max())")
        return bool(self.data)

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self.data.size != 1 or self.data.dtype.kind not in "biu":
            raise TypeError(f"only one-element integer tensors can be used as an index, not {self._label()} "
                            f"of dtype {self.data.dtype}")
        return int(self.data.item())

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        """np.asarray(t): the array itself (a copy only when a dtype or copy=True asks for one)."""
        if copy:
            return np.array(self.data, dtype=dtype, copy=True)
        return self.data if dtype is None else self.data.astype(dtype, copy=False)

    def tolist(self):
        """The values as (nested) Python lists of numbers; a 0-d tensor gives one number."""
        return self.data.tolist()

    # ----------------------------------------------------------------- comparisons
    # Bool tensors that need no gradient (nothing flows through a comparison), broadcasting as NumPy.
    def _compare(self, other, ufunc) -> "Tensor":
        if isinstance(other, Tensor):
            other = other.data
        elif not isinstance(other, (np.ndarray, np.generic, int, float, bool, list, tuple)):
            return NotImplemented
        try:
            return Tensor._wrap(np.asarray(ufunc(self.data, other)))
        except ValueError:
            raise ValueError(f"{ufunc.__name__}: cannot compare {self._label()} with shape "
                             f"{np.shape(other)}: the shapes do not broadcast") from None

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
        return self.data

    def item(self) -> float:
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
        return self

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
    # Allowed where no graph is being recorded through the tensor (under no_grad(), or on a tensor
    # that needs no gradient), as in PyTorch; each bumps the version, so a backward() that needs the
    # old values raises instead of computing with the new ones.
    def _update_in_place(self, ufunc, other, symbol: str) -> "Tensor":
        if self.requires_grad and STATE.grad_enabled:
            kind = "a leaf" if self._node is None else "a recorded"
            raise RuntimeError(f"'{symbol}': in-place update of {kind} {self._label()} that requires grad "
                               f"while the graph is being recorded; do it inside tg.no_grad() (as an "
                               f"optimizer step does) or write the out-of-place form x = x {symbol[0]} y")
        value = other.data if isinstance(other, Tensor) else other
        try:
            ufunc(self.data, value, out=self.data, casting="same_kind")
        except (TypeError, ValueError) as error:      # read-only data, a dtype that cannot be cast, a shape
            raise type(error)(f"'{symbol}': cannot update {self._label()} (dtype {self.data.dtype}) "
                              f"in place with {np.shape(value)}-shaped {np.result_type(value)} data: {error}") from None
        self._bump_version()
        return self

    def __iadd__(self, other): return self._update_in_place(np.add, other, "+=")
    def __isub__(self, other): return self._update_in_place(np.subtract, other, "-=")
    def __imul__(self, other): return self._update_in_place(np.multiply, other, "*=")
    def __itruediv__(self, other): return self._update_in_place(np.true_divide, other, "/=")

    def zero_(self) -> "Tensor":
        """Set every element to 0 in place."""
        return self._update_in_place(np.multiply, 0, "zero_")

    def copy_(self, source: Any) -> "Tensor":
        """Copy `source` (broadcast to this shape) into this tensor in place."""
        return self._update_in_place(lambda _, value, out, casting: np.copyto(out, value, casting=casting),
                                     source, "copy_")


def tensor(data: Any, requires_grad: bool = False, name: str | None = None) -> Tensor:
    """Make a tensor from a copy of `data`; see `Tensor`."""
    return Tensor(data, requires_grad=requires_grad, name=name)


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


class ReleasedTensor(Tensor):
    """Stands in the recorded graph for an intermediate tensor whose values the graph does not keep.

    Two kinds, one class: after a plain `backward()` the graph keeps its structure (ops, names,
    shapes, dtypes) but not the intermediate arrays nobody else holds (`ReleasedTensor.of`); and
    from the forward pass on, a large intermediate (`standing_for`) is referenced by the ops that
    used it only through its stand-in, which follows the tensor while something else holds it
    (values, name, `.grad` of a `retain_grad()` tensor) and keeps only its shape once it is gone.
    Either way a kept graph costs bytes per node, not per activation, and reading `.data` of a
    freed one says what happened instead of handing back stale numbers.
    """

    __slots__ = ("_shape", "_dtype", "_live")

    @classmethod
    def of(cls, t: Tensor) -> "ReleasedTensor":
        stand_in = cls.__new__(cls)
        Tensor.grad.__set__(stand_in, None)
        stand_in.requires_grad = t.requires_grad
        Tensor.name.__set__(stand_in, t.name)
        stand_in._node = t._node
        Tensor._retain_grad.__set__(stand_in, False)
        stand_in._version_counter = t._version_counter
        stand_in._shape, stand_in._dtype = t.data.shape, t.data.dtype
        stand_in._live = None
        stand_in._stand_in = None
        return stand_in

    @classmethod
    def standing_for(cls, t: Tensor) -> "ReleasedTensor":
        """The one stand-in of `t` that every op using it records (made on first use): it holds t weakly."""
        stand_in = t._stand_in
        if stand_in is None:
            stand_in = t._stand_in = cls.of(t)
            stand_in._live = weakref.ref(t)
        return stand_in

    def _tensor(self) -> Tensor | None:
        """The tensor this stands for, while something holds it."""
        return None if self._live is None else self._live()

    @property
    def values_available(self) -> bool:
        return self._tensor() is not None

    @property
    def data(self):
        t = self._tensor()
        if t is None and self._live is None:
            raise RuntimeError(f"the values of {self._label()} were freed after backward(); keep a reference "
                               "to the tensor, call backward(retain_graph=True), or draw before backward()")
        if t is None:
            raise RuntimeError(f"the values of {self._label()} were freed once nothing held the tensor: the graph "
                               f"keeps no intermediate array of {LET_GO_BYTES // 1024} kB or more for its own sake; "
                               "keep a reference to the tensor, or run the forward pass inside tg.record_backward()")
        return t.data

    # A stand-in that follows a live tensor reads and writes that tensor's name, grad and retain flag.
    @property
    def name(self):
        t = self._tensor()
        return Tensor.name.__get__(self) if t is None else t.name

    @name.setter
    def name(self, value):
        Tensor.name.__set__(self, value)

    @property
    def grad(self):
        t = self._tensor()
        return Tensor.grad.__get__(self) if t is None else t.grad

    @grad.setter
    def grad(self, value):
        t = self._tensor()
        Tensor.grad.__set__(self if t is None else t, value)

    @property
    def _retain_grad(self):
        t = self._tensor()
        return t is not None and t._retain_grad

    @property
    def shape(self) -> tuple[int, ...]:
        return self._shape

    @property
    def ndim(self) -> int:
        return len(self._shape)

    @property
    def dtype(self) -> np.dtype:
        return self._dtype

    @property
    def size(self) -> int:
        return math.prod(self._shape)

    def __repr__(self) -> str:
        t = self._tensor()
        if t is not None:
            return repr(t)
        name = f", name={self.name!r}" if self.name else ""
        return f"Tensor(<values freed>, shape={self._shape}, dtype={self._dtype}{name})"


# An intermediate array of at least this many bytes is referenced by the ops that use it only
# through its stand-in (ReleasedTensor.standing_for): it is freed as soon as nothing else needs it,
# as PyTorch frees an activation no rule saved. Smaller ones stay in the graph until backward(), so a
# drawing of a small graph has every value.
LET_GO_BYTES = 1 << 18
