"""The op registry: `register_op` turns an `Op` subclass into `tg.<name>(...)` and a Tensor method.

Registering reads the op's inputs and hyperparameters from its forward signature once, stores the
formulas the drawing tools show, and records the op by name in REGISTRY (`tg.registry()`) and its
function in FUNCTIONS. The package finds `tg.<name>` there (`tinygraph.__getattr__`); nothing here
writes into the package. The Tensor method is installed on Tensor, which knows nothing of ops.
"""
from __future__ import annotations

import inspect
from typing import Callable, Iterable

from tinygraph.op import Op, apply
from tinygraph.tensor import Tensor

REGISTRY: dict[str, type[Op]] = {}
# The function `tg.<name>(...)` of each registered op.
FUNCTIONS: dict[str, Callable] = {}
# Names the package already uses for something else (tg.tensor, tg.nn, ...): an op may not take one.
_RESERVED: set[str] = set()


def registry() -> dict[str, type[Op]]:
    """The registered ops by name (a copy)."""
    return dict(REGISTRY)


def register_op(name: str, *, forward: str | None = None,
                backward: str | tuple[str, ...] | dict[str, str] | None = None,
                broadcasting: bool | None = None) -> Callable[[type[Op]], type[Op]]:
    """Class decorator: register an op as `tg.<name>(...)` and as the Tensor method `.<name>(...)`.

    `forward` and `backward` are Unicode formulas for the drawing tools, with `{out}` and the
    forward parameter names as placeholders; `backward` is one formula per array input (a tuple,
    a dict by input name, or one string for a one-input op).
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"register_op: op name must be a Python identifier, got {name!r}")

    def decorate(cls: type[Op]) -> type[Op]:
        if not (isinstance(cls, type) and issubclass(cls, Op)):
            raise TypeError(f"register_op({name!r}) decorates a subclass of tg.Op, got {cls!r}")
        for method in ("forward", "backward"):
            if getattr(cls, method) is getattr(Op, method):
                raise TypeError(f"register_op({name!r}): {cls.__name__} must define a static {method}()")
        existing = REGISTRY.get(name)
        if existing is not None and (existing.__module__, existing.__qualname__) != (cls.__module__, cls.__qualname__):
            raise ValueError(f"register_op: an op named {name!r} is already registered "
                             f"({existing.__module__}.{existing.__qualname__}); pick another name")
        _read_signature(cls, name)
        cls.name = name
        if broadcasting is not None:
            cls.broadcasting = broadcasting
        cls.forward_formula = forward or cls.forward_formula or (
            "{out} = " + name + "(" + ", ".join("{" + a + "}" for a in cls.arg_names) + ")")
        cls.backward_formulas = _backward_formulas(cls, backward)
        _install_function(cls)        # checks the name first, so a refused op leaves no trace
        REGISTRY[name] = cls
        return cls

    return decorate


def unregister_op(name: str) -> None:
    """Remove an op registered with `register_op` (its tg.<name> function and Tensor method too)."""
    cls = REGISTRY.pop(name)
    FUNCTIONS.pop(name, None)
    if getattr(getattr(Tensor, name, None), "op", None) is cls:
        delattr(Tensor, name)


def op_function(name: str) -> Callable | None:
    """The function `tg.<name>` of the op registered as `name`, or None."""
    return FUNCTIONS.get(name)


def reserve_names(names: Iterable[str]) -> None:
    """Keep ops from taking these names (the package's own attributes, which would hide them)."""
    names = set(names)
    taken = sorted(names & set(REGISTRY))
    if taken:
        raise ValueError(f"register_op: ops named {taken} are hidden by tinygraph's own attributes of that name")
    _RESERVED.update(names)


def _read_signature(cls: type[Op], name: str) -> None:
    params = list(inspect.signature(cls.forward).parameters.values())[1:]   # drop ctx
    args, defaults, attrs = [], [], []
    for p in params:
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            args.append(p.name)
            if p.default is not p.empty:
                defaults.append(p.default)
            elif defaults:
                raise TypeError(f"register_op({name!r}): input {p.name!r} without default follows one with a default")
        elif p.kind == p.KEYWORD_ONLY:
            attrs.append(p.name)
        elif p.kind == p.VAR_POSITIONAL:
            raise TypeError(f"register_op({name!r}): forward(ctx, *{p.name}) is not supported; "
                            "name each array input")
    cls.arg_names, cls.arg_defaults, cls.attr_names = tuple(args), tuple(defaults), tuple(attrs)


def _backward_formulas(cls: type[Op], backward) -> tuple[str, ...]:
    names = cls.arg_names
    if backward is None:
        backward = cls.backward_formulas or tuple(
            f"δ{{{a}}} = δ{{out}} · ∂{{out}}/∂{{{a}}}" for a in names)
    if isinstance(backward, str):
        backward = (backward,)
    if isinstance(backward, dict):
        unknown = set(backward) - set(names)
        if unknown:
            raise ValueError(f"register_op({cls.name!r}): backward formulas for unknown inputs {sorted(unknown)}; "
                             f"inputs are {names}")
        backward = tuple(backward.get(a, f"δ{{{a}}} = δ{{out}} · ∂{{out}}/∂{{{a}}}") for a in names)
    backward = tuple(backward)
    if len(backward) != len(names):
        raise ValueError(f"register_op({cls.name!r}): {len(backward)} backward formulas for "
                         f"{len(names)} inputs {names}")
    return backward


def _install_function(cls: type[Op]) -> None:
    def op_function(*args, **kwargs):
        return apply(cls, *args, **kwargs)

    op_function.__name__ = op_function.__qualname__ = cls.name
    op_function.__doc__ = (cls.__doc__ or "").strip() + f"\n\nForward: {cls.forward_formula}\n" + \
        "Backward: " + "; ".join(cls.backward_formulas)
    op_function.op = cls
    if cls.name in _RESERVED:
        raise ValueError(f"register_op: {cls.name!r} would hide tinygraph.{cls.name}; pick another name")
    method = getattr(Tensor, cls.name, None)
    if method is not None and getattr(method, "op", None) is None:
        raise ValueError(f"register_op: {cls.name!r} would hide Tensor.{cls.name}; pick another name")
    # A method some layer wrote by hand for this op (x.sum(axis), x.reshape(2, 3): friendlier than
    # the generated signature) stays; one this registry made is replaced.
    if method is None or method is FUNCTIONS.get(cls.name):
        setattr(Tensor, cls.name, op_function)
    FUNCTIONS[cls.name] = op_function
