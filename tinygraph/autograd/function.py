"""`Function`: a differentiable function written on Tensors, with PyTorch's `autograd.Function` contract.

    forward(ctx, *args)         runs with grad recording off; returns a Tensor or a tuple of them
    backward(ctx, *grad_outs)   one Tensor per output in, one gradient (Tensor or None) per forward
                                argument out; a non-tensor argument gets None

`Function.apply(...)` turns the class into an op of the same name (one `Op` subclass per class and
per pattern of tensor and non-tensor arguments, made on first use) and runs it through
`tinygraph.op.apply`. That op's forward wraps its arrays as Tensors and calls the Function's
forward; its backward wraps the output gradient and calls the Function's backward. So the engine
checks each gradient's count, shape and dtype and names the Function when one is wrong, the
drawings and `tg.trace` show it as one box, and `tg.gradcheck(MyFunction.apply, x)` checks it.

Several outputs are recorded as one op whose output is every differentiable output flattened and
joined; each returned tensor is a slice of it reshaped, so their gradients meet in one backward call.
"""
from __future__ import annotations

import functools
import inspect
import threading
from typing import Any, Callable

import numpy as np

from tinygraph.grad_mode import no_grad
from tinygraph.op import Op, apply
from tinygraph.tensor import Tensor, from_numpy


class FunctionCtx:
    """The `ctx` a Function's forward and backward share: saved tensors, flags, and any attribute you set."""

    def __init__(self, needs_input_grad: tuple[bool, ...]):
        # One flag per forward argument: False for non-tensors and for tensors that need no gradient.
        self.needs_input_grad = needs_input_grad
        self.materialize_grads = True
        self._to_save: tuple = ()
        self._saved: tuple | None = None
        self._non_differentiable: list[Tensor] = []

    def save_for_backward(self, *tensors: Tensor | None) -> None:
        """Keep tensors (or None) for backward; read them back as `ctx.saved_tensors`."""
        for i, t in enumerate(tensors):
            if t is not None and not isinstance(t, Tensor):
                raise TypeError(f"save_for_backward: argument {i} is a {type(t).__name__}, not a Tensor or "
                                "None; keep other values as attributes of ctx (ctx.k = k)")
        self._to_save = tensors

    @property
    def saved_tensors(self) -> tuple:
        if self._saved is None:
            raise RuntimeError("saved_tensors is only available inside backward(), and only until the "
                               "graph is released (backward(retain_graph=True) keeps it)")
        return self._saved

    def mark_non_differentiable(self, *tensors: Tensor) -> None:
        """Outputs that get no gradient (indices, masks): returned with requires_grad=False."""
        self._non_differentiable.extend(tensors)

    def set_materialize_grads(self, value: bool) -> None:
        """False: backward receives None, not zeros, for an output no gradient reached."""
        self.materialize_grads = bool(value)

    def mark_dirty(self, *tensors: Tensor) -> None:
        raise NotImplementedError("mark_dirty: tinygraph Functions cannot modify their inputs in place; "
                                  "return a new tensor instead")


def once_differentiable(backward: Callable) -> Callable:
    """Mark a backward as first-order only (it runs with grad recording off).

    tinygraph differentiates once today, so every Function's backward already runs this way; the
    decorator keeps PyTorch code unchanged and records the intent (`backward.once_differentiable`).
    """
    @functools.wraps(backward)
    def wrapper(ctx, *grad_outputs):
        with no_grad():
            return backward(ctx, *grad_outputs)

    wrapper.once_differentiable = True
    return wrapper


class _Call(threading.local):
    """The Function calls running in this thread, innermost last: how an op's forward reports its outputs."""

    def __init__(self) -> None:
        self.stack: list[dict] = []


_CALLS = _Call()


class Function:
    """Base class of functions written with PyTorch's `torch.autograd.Function` contract; see the module."""

    @staticmethod
    def forward(ctx: FunctionCtx, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("a Function subclass must define a static forward(ctx, ...)")

    @staticmethod
    def backward(ctx: FunctionCtx, *grad_outputs: Tensor) -> Any:
        raise NotImplementedError("a Function subclass must define a static backward(ctx, *grad_outputs)")

    # PyTorch's newer style: forward(*args) without ctx, and setup_context fills ctx afterwards.
    setup_context = None

    def __init__(self, *args: Any, **kwargs: Any):
        raise TypeError(f"{type(self).__name__}: call the Function as {type(self).__name__}.apply(...), "
                        "not by making an instance (forward and backward are static methods)")

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Any:
        """Run forward on `args` and record it, so backward() reaches the tensors among them."""
        names, values, extra = _bind(cls, args, kwargs)
        tensor_at = [i for i, v in enumerate(values) if isinstance(v, Tensor)]
        op = _op_for(cls, tuple(names[i] for i in tensor_at),
                     tuple(names[i] for i in range(len(values)) if i not in tensor_at) + tuple(extra))
        attrs = {names[i]: v for i, v in enumerate(values) if i not in tensor_at}
        attrs.update(extra)
        # As in PyTorch, needs_input_grad follows requires_grad even under no_grad().
        call = {"function": cls, "names": names, "tensor_at": tensor_at, "extra": tuple(extra),
                "needs": tuple(isinstance(v, Tensor) and v.requires_grad for v in values)}
        _CALLS.stack.append(call)
        try:
            packed = apply(op, *(values[i] for i in tensor_at), **attrs)
        finally:
            _CALLS.stack.pop()
        return _unpack(packed, call)


def _bind(cls: type[Function], args: tuple, kwargs: dict) -> tuple[list[str], list, dict]:
    """forward's arguments in order with their names (`args_0`, ... for *args), and any **kwargs."""
    forward = cls.forward
    try:
        signature = inspect.signature(forward)
    except (TypeError, ValueError):
        return [f"args_{i}" for i in range(len(args))], list(args), dict(kwargs)
    parameters = list(signature.parameters.values())
    if cls.setup_context is None:
        parameters = parameters[1:]          # ctx
    signature = signature.replace(parameters=parameters)
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError as error:
        raise TypeError(f"{cls.__name__}.apply: {error}") from None
    bound.apply_defaults()
    names, values, extra = [], [], {}
    for p in parameters:
        value = bound.arguments.get(p.name, () if p.kind == p.VAR_POSITIONAL else {})
        if p.kind == p.VAR_POSITIONAL:
            names += [f"{p.name}_{i}" for i in range(len(value))]
            values += list(value)
        elif p.kind == p.VAR_KEYWORD:
            for key, v in value.items():
                if isinstance(v, Tensor):
                    raise TypeError(f"{cls.__name__}.apply: tensor {key}= reaches forward's **{p.name}; "
                                    "pass tensors as named or positional parameters so they can get gradients")
            extra.update(value)
        elif p.kind == p.KEYWORD_ONLY:
            extra[p.name] = value
        else:
            names.append(p.name)
            values.append(value)
    return names, values, extra


def _op_for(cls: type[Function], inputs: tuple[str, ...], options: tuple[str, ...]) -> type[Op]:
    """The Op subclass that runs `cls` on tensors at these parameters (made once per pattern)."""
    cache = cls.__dict__.get("_tinygraph_ops")
    if cache is None:
        cache = {}
        setattr(cls, "_tinygraph_ops", cache)
    key = (inputs, options)
    op = cache.get(key)
    if op is None:
        name = cls.__name__
        op = type(name, (Op,), {
            "__module__": cls.__module__, "__qualname__": cls.__qualname__, "__doc__": cls.__doc__,
            "name": name, "arg_names": inputs, "attr_names": options, "function": cls,
            "forward_formula": "{out} = " + name + "(" + ", ".join("{" + a + "}" for a in inputs) + ")",
            "backward_formulas": tuple(f"δ{{{a}}} = {name}.backward(δ{{out}})" for a in inputs),
            "forward": staticmethod(_run_forward), "backward": staticmethod(_run_backward),
            "none_is_zero": True,        # PyTorch's contract: a Function may return None for any input
        })
        cache[key] = op
    return op


def _run_forward(ctx, *arrays: np.ndarray, **attrs: Any) -> np.ndarray:
    """The op's forward rule: the Function's forward on Tensors, with grad recording off."""
    call = _CALLS.stack[-1]
    cls, names, tensor_at = call["function"], call["names"], call["tensor_at"]
    inputs = iter(arrays)
    values = [from_numpy(next(inputs)) if i in tensor_at else attrs[name] for i, name in enumerate(names)]
    extra = {key: attrs[key] for key in call["extra"]}
    fctx = FunctionCtx(call["needs"])
    with no_grad():
        if cls.setup_context is None:
            result = cls.forward(fctx, *values, **extra)
        else:
            result = cls.forward(*values, **extra)
            cls.setup_context(fctx, tuple(values), result)
    outputs = list(result) if isinstance(result, (tuple, list)) else [result]
    for i, out in enumerate(outputs):
        if not isinstance(out, Tensor):
            raise TypeError(f"{cls.__name__}.forward must return Tensors (or a tuple of them); output {i} is "
                            f"a {type(out).__name__}")
    marked = {id(t) for t in fctx._non_differentiable}
    differentiable = [out.dtype.kind == "f" and id(out) not in marked for out in outputs]
    packed = _pack(cls, outputs, differentiable, arrays)
    fctx._outputs = [(out.shape, out.dtype, wanted) for out, wanted in zip(outputs, differentiable)]
    # Everything backward needs goes through the op's saved values (the Context's documented seam):
    # the Function's own ctx first, then the arrays of the saved tensors, which the engine
    # version-checks and frees after backward.
    ctx.save_for_backward(fctx, *(None if t is None else t.data for t in fctx._to_save))
    fctx._to_save = ()
    fctx._function = cls
    fctx._tensor_at = tensor_at
    fctx._argument_types = [type(v).__name__ for v in values]
    call["is_tuple"] = isinstance(result, (tuple, list))
    call["outputs"] = [None if wanted else out.detach() for out, wanted in zip(outputs, differentiable)]
    call["shapes"] = [out.shape for out in outputs]
    return packed


def _pack(cls, outputs: list[Tensor], differentiable: list[bool], inputs: tuple) -> np.ndarray:
    """The op's one output: the single output itself, or the differentiable ones flattened and joined."""
    if len(outputs) == 1 and differentiable[0]:
        data = outputs[0].data
        # A returned input becomes a new tensor (PyTorch returns a view); sharing the array would let
        # an in-place change of one escape the other's version count.
        return data.copy() if any(data is a for a in inputs) else data
    kept = [out.data for out, wanted in zip(outputs, differentiable) if wanted]
    if not kept:
        return np.zeros(0)
    dtypes = {a.dtype for a in kept}
    if len(dtypes) > 1:
        raise TypeError(f"{cls.__name__}.forward returned differentiable outputs of several dtypes "
                        f"{sorted(str(d) for d in dtypes)}; tinygraph records them as one op, so they must share one")
    return np.concatenate([a.reshape(-1) for a in kept])


def _unpack(packed: Tensor, call: dict) -> Any:
    """The tensors forward returned: slices of the op's output, or constants for the non-differentiable ones."""
    outputs, shapes = call["outputs"], call["shapes"]
    if not call["is_tuple"] and outputs[0] is None:
        return packed
    start = 0
    results = []
    for out, shape in zip(outputs, shapes):
        if out is not None:
            results.append(out)
            continue
        size = int(np.prod(shape, dtype=np.int64))
        results.append(packed[start:start + size].reshape(shape))
        start += size
    return tuple(results) if call["is_tuple"] else results[0]


def _run_backward(ctx, grad_out: np.ndarray) -> tuple:
    """The op's backward rule: the Function's backward on Tensors, one gradient per tensor input back."""
    fctx: FunctionCtx = ctx.saved[0]
    grad_outputs = []
    start = 0
    for shape, dtype, wanted in fctx._outputs:
        if not wanted:
            grad_outputs.append(from_numpy(np.zeros(shape, dtype)) if fctx.materialize_grads else None)
            continue
        size = int(np.prod(shape, dtype=np.int64))
        piece = grad_out.reshape(-1)[start:start + size].reshape(shape) if len(fctx._outputs) > 1 else grad_out
        start += size
        piece = piece.view()
        piece.flags.writeable = False          # the engine may hand this array to other rules too
        grad_outputs.append(from_numpy(piece))
    fctx._saved = tuple(None if a is None else from_numpy(a) for a in ctx.saved[1:])
    function = fctx._function
    try:
        with no_grad():
            grads = function.backward(fctx, *grad_outputs)
    finally:
        fctx._saved = None
    return _input_grads(function, fctx, grads)


def _input_grads(function: type[Function], fctx: FunctionCtx, grads: Any) -> tuple:
    """Check backward's result against the forward arguments; keep the tensor inputs' gradients."""
    name = function.__name__
    grads = tuple(grads) if isinstance(grads, (tuple, list)) else (grads,)
    expected = len(fctx.needs_input_grad)
    if len(grads) > expected and all(g is None for g in grads[expected:]):
        grads = grads[:expected]
    if len(grads) != expected:
        raise TypeError(f"{name}.backward returned {len(grads)} gradients, but forward took {expected} "
                        "arguments; return one per argument, None where there is none")
    tensor_at = fctx._tensor_at
    kept = []
    for i, g in enumerate(grads):
        if i not in tensor_at:
            if g is not None:
                raise TypeError(f"{name}.backward returned a gradient for argument {i}, which was a "
                                f"{fctx._argument_types[i]}, not a Tensor; return None there")
            continue
        if g is None or not fctx.needs_input_grad[i]:
            kept.append(None)
        elif isinstance(g, Tensor):
            kept.append(g.data)
        elif isinstance(g, (np.ndarray, np.generic, int, float)):
            kept.append(np.asarray(g))
        else:
            raise TypeError(f"{name}.backward: the gradient for argument {i} is a {type(g).__name__}, "
                            "not a Tensor or None")
    return tuple(kept)
