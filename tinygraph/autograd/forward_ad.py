"""Forward mode, with PyTorch's names (torch.autograd.forward_ad): a tangent rides along with a tensor.

    with tg.autograd.forward_ad.dual_level():
        x = fwad.make_dual(x, v)                # x, carrying the direction v
        y = f(x)
        jvp = fwad.unpack_dual(y).tangent       # J·v, in the same pass as y

Inside `dual_level()`, apply() hands every op whose inputs carry tangents to the op's `jvp` rule,
which maps the inputs' tangents to the output's (None stands for a zero tangent). One forward pass
gives J·v for one direction v, where reverse mode would need a pass per output. An op without a
`jvp` rule refuses, naming itself; `tg.func.jvp` (the double-vjp trick) works for every op and can
be differentiated again, where these tangents are plain values.
"""
from __future__ import annotations

from collections import namedtuple
from typing import Any

import numpy as np

from tinygraph.grad_mode import STATE
from tinygraph.tensor import Tensor

UnpackedDual = namedtuple("UnpackedDual", ["primal", "tangent"])


class _Level:
    """The tangents of one dual_level: id(tensor) -> (tensor, tangent array); the tensor kept alive."""

    def __init__(self):
        self.tangents: dict[int, tuple[Tensor, np.ndarray]] = {}

    def tangent(self, t: Tensor) -> np.ndarray | None:
        entry = self.tangents.get(id(t))
        return None if entry is None or entry[0] is not t else entry[1]

    def follow(self, source: Tensor, target: Tensor) -> None:
        """`target` took `source`'s values in place: it carries `source`'s tangent now (or none)."""
        tangent = self.tangent(source)
        if tangent is None:
            self.tangents.pop(id(target), None)
        else:
            self.tangents[id(target)] = (target, tangent)

    def forward(self, op, ctx, inputs, arrays: list, attrs: dict, out: Tensor) -> None:
        """apply() ran `op`: give `out` the tangent J·t of its inputs' tangents t."""
        tangents = [self.tangent(t) if isinstance(t, Tensor) else None for t in inputs]
        if all(t is None for t in tangents):
            return
        if op.jvp is None:
            raise NotImplementedError(
                f"forward_ad: {op.name} has no forward-mode rule (jvp) yet; tg.func.jvp differentiates it "
                "by reverse mode twice instead")
        tangent = op.jvp(ctx, tangents, arrays, out.data, attrs)
        if tangent is None:
            return
        tangent = np.asarray(tangent)
        if tangent.shape != out.data.shape:
            tangent = np.broadcast_to(tangent, out.data.shape)
        if out.data.dtype.kind == "f" and tangent.dtype != out.data.dtype:
            tangent = tangent.astype(out.data.dtype)
        self.tangents[id(out)] = (out, tangent)


class dual_level:
    """A scope in which tensors may carry tangents (make_dual) and ops propagate them."""

    def __enter__(self):
        self.previous = STATE.dual
        STATE.dual = _Level()
        return self

    def __exit__(self, *exc) -> None:
        STATE.dual = self.previous


def _level(where: str) -> _Level:
    if STATE.dual is None:
        raise RuntimeError(f"forward_ad.{where}: only inside `with tg.autograd.forward_ad.dual_level():`")
    return STATE.dual


def make_dual(tensor: Any, tangent: Any) -> Tensor:
    """A tensor with `tensor`'s values (and graph) carrying the direction `tangent` (same shape)."""
    level = _level("make_dual")
    tensor = tensor if isinstance(tensor, Tensor) else Tensor(tensor)
    direction = np.asarray(tangent.data if isinstance(tangent, Tensor) else tangent)
    if tensor.dtype.kind != "f":
        raise TypeError(f"forward_ad.make_dual: {tensor._label()} has dtype {tensor.dtype}; only floating "
                        "tensors carry tangents")
    if direction.shape != tensor.shape:
        raise ValueError(f"forward_ad.make_dual: a tangent of shape {direction.shape} for {tensor._label()}")
    dual = tensor.view_as(tensor) if tensor.requires_grad else Tensor._wrap(tensor.data, tensor._version_counter)
    level.tangents[id(dual)] = (dual, np.array(direction, dtype=tensor.dtype))
    return dual


def unpack_dual(tensor: Tensor) -> UnpackedDual:
    """(primal, tangent): the tensor itself and its tangent as a Tensor (None where it carries none)."""
    tangent = _level("unpack_dual").tangent(tensor)
    return UnpackedDual(tensor, None if tangent is None else Tensor._wrap(tangent))
