"""Ops: the `Op` base class, and `apply`, which runs a forward rule and records it (registry.py registers ops).

An op is a class with two static methods on plain NumPy arrays, side by side:

    @tg.register_op("relu", forward="{out} = max(0, {x})", backward="δ{x} = δ{out} ⊙ 1[{x} > 0]")
    class ReLU(tg.Op):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x > 0)
            return np.maximum(x, 0)

        @staticmethod
        def backward(ctx, grad_out):
            (mask,) = ctx.saved
            return (grad_out * mask,)

Positional parameters of `forward` after `ctx` are the op's array inputs; keyword-only parameters
are hyperparameters (`stride`, `axis`, ...), which forward stores on `ctx` itself if backward
needs them. `backward` returns one gradient per array input (None where there is none) and must
never modify `grad_out` in place: the engine may hand the same array to several rules.
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np

from tinygraph.errors import OpError
from tinygraph.grad_mode import STATE
from tinygraph.parallel import Split, run_forward
from tinygraph.node import Node
from tinygraph.tensor import Tensor


class Context:
    """What one application of an op keeps for its backward rule."""

    # Set by the op machinery (tinygraph/parallel.py) where it applies; class defaults otherwise,
    # so a small op's context costs two attribute writes.
    saved: tuple | None = ()
    parts: list | None = None          # one Context per part when the op ran split over its batch
    plan = None                        # how parallel.py ran forward (in parts, BLAS at one thread): its business

    def __init__(self, needs_input_grad: tuple[bool, ...]):
        # needs_input_grad[i] is False when input i needs no gradient: backward may skip it.
        self.needs_input_grad = needs_input_grad

    def save_for_backward(self, *values: Any) -> None:
        """Keep arrays (or anything) for backward; released after backward unless retain_graph."""
        self.saved = values

    def map_saved(self, change) -> None:
        """Replace every saved value v by change(v), in every part too; a value several parts saved (a
        shared weight) once, so they still share it (saved_whole relies on that)."""
        changed: dict[int, tuple] = {}

        def once(v):
            if id(v) not in changed:
                changed[id(v)] = (v, change(v))        # v kept in the entry, so its id stays its own
            return changed[id(v)][1]

        for context in [self, *(self.parts or ())]:
            if context.saved:
                context.saved = tuple(once(v) for v in context.saved)

    def release(self) -> None:
        """Let go of everything saved (after backward, unless retain_graph)."""
        self.saved = None
        for part in self.parts or ():
            part.saved = None

    # ------------------------------------------------------------------ for a differentiable backward
    # backward(create_graph=True) runs an op's `differentiable_backward(ctx, grad_out)`, whose rule is
    # written in ops on Tensors. It reads the op's inputs and output as Tensors bound to the graph, so
    # what it computes from them can be differentiated again.
    node = None                        # the Node being backpropagated (set by the engine)

    def input(self, index: int, values: np.ndarray | None = None) -> Tensor | None:
        """Input `index` as a Tensor of the graph: the leaf or constant itself, or a Tensor made by the
        input's Node (its values: `values` if given, e.g. an array the rule saved, else what the Node kept)."""
        parent = self.node.parents[index]
        if parent is None or type(parent) is not Node:
            return parent
        return _bound(parent, values, f"its input {self.node.op.arg_names[index]!r}", self.node)

    def saved_whole(self, index: int) -> Any:
        """Saved value `index` for the whole batch. When forward ran in parts: the one value every part
        saved (a weight shared by the batch, or None), else the parts' values joined along axis 0."""
        if self.parts is None:
            return self.saved[index]
        values = [part.saved[index] for part in self.parts]
        if all(value is values[0] for value in values):
            return values[0]
        return np.concatenate(values, axis=0)

    def output(self, values: np.ndarray | None = None) -> Tensor:
        """The op's output as a Tensor made by this Node (values as in `input`)."""
        return _bound(self.node, values, "its output", self.node)


def _bound(node: Node, values, what: str, user: Node) -> Tensor:
    if values is None:
        values = node.value()
        if values is None:
            raise RuntimeError(
                f"backward(create_graph=True): op '{user.op.name}' needs the values of {what} "
                f"({node.output._label()}), which were freed once nothing held the tensor; keep a reference "
                "to that tensor until the gradient is taken, or run the forward pass inside tg.record_backward()")
    t = Tensor._wrap(values)
    t._node, t.requires_grad, t._name = node, True, node.name
    return t


class Op:
    """Base class of every op. Subclass it, write `forward` and `backward`, decorate with `register_op`."""

    name: str = ""
    arg_names: tuple[str, ...] = ()       # array inputs, from forward's positional parameters
    attr_names: tuple[str, ...] = ()      # hyperparameters, from forward's keyword-only parameters
    arg_defaults: tuple = ()              # defaults of the trailing optional array inputs (e.g. b=None)
    forward_formula: str = ""             # e.g. "{out} = max(0, {x})"; placeholders are tensor symbols
    backward_formulas: tuple[str, ...] = ()   # one per array input, e.g. "δ{x} = δ{out} ⊙ 1[{x} > 0]"
    broadcasting: bool = False            # True: the engine sums input gradients down to the input shapes
    # How the op's work may be split over the batch axis: a tinygraph.parallel.Split, which only the
    # op machinery reads (None: the op always runs in one piece).
    split: Split | None = None
    # The rule on Tensors, recorded by backward(create_graph=True): `differentiable_backward(ctx, grad_out)`
    # returns one Tensor (or None) per input, like `backward`. None: the op is differentiable once.
    differentiable_backward = None
    # False: a rule returning None for an input that requires grad is a bug the engine names (the
    # input would silently get no gradient). A torch-style autograd.Function may return None (zero).
    none_is_zero = False
    # Forward mode (tg.autograd.forward_ad): `jvp(ctx, tangents, inputs, out, attrs)` returns the
    # output's tangent J·t from the inputs' tangents (None where zero), after forward ran with ctx.
    # None: the op has no forward-mode rule and refuses, naming itself.
    jvp = None
    # Other names a caller may use for a hyperparameter, e.g. NumPy's {"axis": "dim", "keepdims": "keepdim"}.
    aliases: dict[str, str] = {}

    @staticmethod
    def forward(ctx: Context, *arrays: np.ndarray, **attrs: Any) -> np.ndarray:
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Context, grad_out: np.ndarray) -> tuple:
        raise NotImplementedError


def _bind(op: type[Op], args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    """Sort a call's arguments into array inputs and hyperparameters, by forward's signature."""
    names, n = op.arg_names, len(op.arg_names)
    # The two common shapes of a call, without the general bookkeeping below (it runs for every op):
    # every input by position and options by name (x.reshape(shape=...)), or all by position (maxpool(x, 2)).
    if len(args) == n and all(key in op.attr_names for key in kwargs):
        return args, kwargs
    if not kwargs and n < len(args) <= n + len(op.attr_names):
        return args[:n], dict(zip(op.attr_names, args[n:]))
    inputs = list(args[:n])
    attrs = {}
    for value, attr in zip(args[n:], op.attr_names):
        attrs[attr] = value
    if len(args) > n + len(op.attr_names):
        raise TypeError(f"{op.name}() takes at most {n + len(op.attr_names)} positional arguments "
                        f"({', '.join(names + op.attr_names)}), got {len(args)}")
    for key, value in kwargs.items():
        if key in op.aliases:
            key = op.aliases[key]
            if key in kwargs:
                raise TypeError(f"{op.name}() got {key!r} under two names")
        if key in names:
            index = names.index(key)
            if index < len(inputs):
                raise TypeError(f"{op.name}() got input {key!r} both by position and by name")
            inputs.extend([_MISSING] * (index + 1 - len(inputs)))
            inputs[index] = value
        elif key in op.attr_names:
            if key in attrs:
                raise TypeError(f"{op.name}() got {key!r} both by position and by name")
            attrs[key] = value
        else:
            raise TypeError(f"{op.name}() got an unexpected argument {key!r}; "
                            f"inputs: {names}, options: {op.attr_names}")
    first_default = n - len(op.arg_defaults)
    inputs.extend([_MISSING] * (n - len(inputs)))
    for i, value in enumerate(inputs):
        if value is _MISSING:
            if i < first_default:
                raise TypeError(f"{op.name}() is missing its input {names[i]!r}")
            inputs[i] = op.arg_defaults[i - first_default]
    return tuple(inputs), attrs


_MISSING = object()
# The version counter every constant tensor apply makes shares: nothing updates a constant in place.
_CONSTANT_VERSION = [0]
_PYTHON_SCALARS = (int, float, bool)


def apply(op: type[Op], *args: Any, **kwargs: Any) -> Tensor:
    """Run `op.forward` on the arrays behind `args` and, when a gradient is needed, record a Node.

    Python and NumPy scalars are weak, as in NumPy 2 and PyTorch: they take the dtype of the op's
    tensor inputs where it can hold them (`x32 * 2.0` stays float32, `ints + 1` stays integer).
    Other arrays are wrapped as constant tensors with their own dtype; an array the rule saves for
    backward is copied, so the caller may reuse its buffer before backward().
    """
    if len(args) != len(op.arg_names) or kwargs:
        args, kwargs = _bind(op, args, kwargs)
    arrays = []
    needs = []
    raw = None                       # indices of inputs that were not tensors
    for a in args:
        if isinstance(a, Tensor):
            arrays.append(a.data)
            needs.append(a.requires_grad)
        else:
            if a is not None:
                raw = [] if raw is None else raw
                raw.append(len(arrays))
            arrays.append(None)
            needs.append(False)
    inputs = args
    half_with_number = False
    if raw is not None:
        inputs = list(args)
        half_with_number = _wrap_constants(op, args, inputs, arrays, raw)
    record = STATE.grad_enabled and True in needs
    ctx = Context(tuple(needs))
    timer = STATE.forward_timer
    try:
        if timer is None:
            data = run_forward(op, ctx, arrays, kwargs)
        else:
            start = time.perf_counter()
            data = run_forward(op, ctx, arrays, kwargs)
            timer(op, time.perf_counter() - start)
    except ValueError as error:
        if not isinstance(error, OpError):      # the op's own refusal already names op and argument
            _check_broadcast(op, arrays)
        raise
    data = finished_output(data, half_with_number)
    if STATE.detect_anomaly and data.dtype.kind == "f" and not np.isfinite(data).all():
        described = ", ".join(_describe(t) for t in inputs if t is not None)
        raise FloatingPointError(f"detect_anomaly: {op.name} produced NaN/Inf in its forward "
                                 f"(output {data.shape}); inputs: {described}")
    if STATE.recorder is not None:
        STATE.recorder.forward(op, ctx, inputs, arrays, kwargs, data, half_with_number)
    out = Tensor._wrap(data)
    if data.base is not None:
        _mark_view(out, data, inputs, arrays)
    if STATE.dual is not None:                  # forward mode: the output's tangent from the inputs'
        STATE.dual.forward(op, ctx, inputs, arrays, kwargs, out)
    if record:
        out.requires_grad = True
        # The edges: the Node that made each input, or the input itself (a leaf or a constant).
        parents = tuple(t if t is None or t._node is None else t._node for t in inputs)
        node = out._node = Node(op, ctx, parents, kwargs, out, STATE.keep_values)
        if ctx.saved:
            node.saved_versions = _watch_saved(ctx, args, inputs, arrays, raw, data, out)
        hooks = STATE.forward_hooks
        if hooks:
            for hook in hooks:
                hook(out)
    return out


def finished_output(data, half_with_number: bool) -> np.ndarray:
    """A forward rule's result as the op's output: an array; in float16 when a number met float16
    tensors (computed in float32, rounded once, as PyTorch's kernels). tg.compile's replay uses it too."""
    if type(data) is not np.ndarray:
        data = np.asarray(data)
    if half_with_number and data.dtype == np.float32:
        with np.errstate(over="ignore"):
            data = data.astype(np.float16)
    return data


def _wrap_constants(op: type[Op], args: tuple, inputs: list, arrays: list, raw: list) -> bool:
    """Turn the non-tensor inputs into constant tensors: scalars weak, arrays with their own dtype.

    A number meeting float16 tensors is kept in float32, and the op computes in float32 (its result
    rounded to float16 once, by apply), as PyTorch's kernels do: x16 / 1e6 would otherwise divide by
    float16's inf, and x16 * 1e-8 multiply by its 0. Returns whether that happened."""
    half_with_number = False
    like = None
    for a in args:
        if isinstance(a, Tensor):
            like = a.data.dtype if like is None else np.promote_types(like, a.data.dtype)
    for i in raw:
        a = args[i]
        if isinstance(a, np.generic) and a.ndim == 0 and not isinstance(a, np.ndarray):
            a = a.item()                 # NumPy scalars are weak too (NumPy 2 would make them strong)
        if isinstance(a, _PYTHON_SCALARS):
            dtype = np.result_type(like, a) if like is not None else None
            if dtype == np.float16:
                dtype, half_with_number = np.dtype(np.float32), True
            array = np.asarray(a, dtype=dtype)
        else:
            array = np.asarray(a)
            if array.dtype.kind not in "biuf":
                raise TypeError(f"{op.name}(): input {op.arg_names[i]!r} of type {type(a).__name__} "
                                "is not a tensor, an array or a number")
        arrays[i] = array
        inputs[i] = Tensor._wrap(array, _CONSTANT_VERSION)
    return half_with_number


def _owner(array: np.ndarray):
    """The object that owns an array's memory (itself, unless it is a view)."""
    base = array.base
    return array if base is None else base


def _mark_view(out: Tensor, data: np.ndarray, inputs, arrays: list) -> None:
    """A view of an input (reshape, transpose, x[0:2], ...) shares that input's version counter, as
    in PyTorch, and remembers the tensor that owns the memory (`_base`), so that an in-place update
    of the view can be recorded as an update of that tensor too."""
    owner = data.base
    for t, a in zip(inputs, arrays):
        if a is not None and (a is owner or _owner(a) is owner) and t._version_counter is not _CONSTANT_VERSION:
            out._version_counter = t._version_counter
            out._base = t if t._base is None else t._base
            return


def _watch_saved(ctx: Context, args: tuple, inputs: list, arrays: list, raw: list | None,
                 data: np.ndarray, out: Tensor) -> tuple:
    """Versions of the tensors whose memory the rule saved; copies of saved caller-owned arrays."""
    # ctx.saved holds the arrays alive, so their owners' ids are stable while we compare.
    saved_owners = {id(_owner(v)) for v in ctx.saved if type(v) is np.ndarray}
    if not saved_owners:
        return ()
    # Flat (counter, version, index, counter, ...): one tuple per node, not one per entry, since every
    # tuple that holds a list is one more object for the cyclic garbage collector to walk.
    watched = []
    for i, (t, a) in enumerate(zip(inputs, arrays)):
        if a is None or id(_owner(a)) not in saved_owners:
            continue
        if raw is not None and i in raw:
            # A constant: nothing can update its tensor in place. The caller's own array (a
            # data-loader buffer) is copied, so refilling it is safe.
            if a is args[i] and a.flags.writeable:
                owner = _owner(a)
                ctx.map_saved(lambda v: np.array(v) if type(v) is np.ndarray and _owner(v) is owner else v)
        else:
            watched += (t._version_counter, t._version_counter[0], i)
    if id(_owner(data)) in saved_owners and all(counter is not out._version_counter for counter in watched[::3]):
        watched += (out._version_counter, out._version_counter[0], -1)
    return tuple(watched)


def _check_broadcast(op: type[Op], arrays: list) -> None:
    """Turn NumPy's broadcasting error into one that names the op, its inputs and their shapes."""
    if op.broadcasting:
        shapes = [a.shape for a in arrays if a is not None]
        try:
            np.broadcast_shapes(*shapes)
        except ValueError:
            described = " and ".join(f"{name} of shape {a.shape}" for name, a in zip(op.arg_names, arrays)
                                     if a is not None)
            raise OpError(op.name, None, f"cannot broadcast {described} together") from None


def _describe(t: Tensor) -> str:
    label = f"{t.name!r} " if t.name else ""
    return f"{label}{t.data.shape} {t.data.dtype}"
