"""Two tensors joined along one dim; tg.cat(tensors, dim) joins any number by halves."""
from __future__ import annotations

import numpy as np

from tinygraph.errors import OpError
from tinygraph.op import Op, apply
from tinygraph.ops._axes import one_axis
from tinygraph.ops.reshape import Reshape
from tinygraph.registry import FUNCTIONS, register_op
from tinygraph.tensor import Tensor
from tinygraph.ops._forward_mode import ByLinearity


@register_op("cat", forward="{out} = [{a}, {b}] along dim",
             backward=("δ{a} = δ{out} up to where {b} starts", "δ{b} = δ{out} from where {b} starts"))
class Cat(Op):
    """out = [a, b] along `dim`: each side's gradient is its own part of δout."""

    @staticmethod
    def forward(ctx, a: np.ndarray, b: np.ndarray, *, dim: int = 0) -> np.ndarray:
        if a.ndim == 0 or a.ndim != b.ndim:
            raise OpError("cat", None, f"cannot join a of shape {a.shape} and b of shape {b.shape}: "
                          "they need the same number of dims, at least 1")
        axis = one_axis("cat", dim, a.shape)
        if a.shape[:axis] + a.shape[axis + 1:] != b.shape[:axis] + b.shape[axis + 1:]:
            raise OpError("cat", None, f"cannot join a of shape {a.shape} and b of shape {b.shape} along "
                          f"dim {dim}: every other dim must match")
        ctx.axis, ctx.split = axis, a.shape[axis]
        return np.concatenate([a, b], axis=axis)

    jvp = ByLinearity()      # forward mode: linear in its floating inputs, so J·t = f(t)

    @staticmethod
    def backward(ctx, grad_out):
        grad_a, grad_b = np.split(grad_out, [ctx.split], axis=ctx.axis)
        return grad_a, grad_b

    @staticmethod
    def differentiable_backward(ctx, grad_out):
        before = (slice(None),) * ctx.axis
        return grad_out[before + (slice(0, ctx.split),)], grad_out[before + (slice(ctx.split, None),)]


def cat(tensors, dim: int = 0) -> Tensor:
    """torch.cat: join a sequence of tensors along `dim`, as a balanced tree of two-input joins."""
    tensors = list(tensors)
    if not tensors:
        raise OpError("cat", "tensors", "expected a non-empty sequence of tensors")
    if len(tensors) == 1:                     # nothing to join: a new tensor with the same values
        (only,) = tensors
        only = only if isinstance(only, Tensor) else Tensor(only)
        if only.ndim == 0:
            raise OpError("cat", "tensors", "a 0-d tensor cannot be joined; unsqueeze it first")
        one_axis("cat", dim, only.shape)
        return apply(Reshape, only, shape=only.shape)
    half = len(tensors) // 2
    left = tensors[0] if half == 1 else cat(tensors[:half], dim)
    right = tensors[-1] if len(tensors) - half == 1 else cat(tensors[half:], dim)
    return apply(Cat, left, right, dim=dim)


cat.op = Cat
FUNCTIONS["cat"] = cat           # tg.cat takes a sequence, as torch.cat does


def stack(tensors, dim: int = 0) -> Tensor:
    """torch.stack: tensors of one shape joined along a new dim `dim` (each unsqueezed, then cat)."""
    tensors = [t if isinstance(t, Tensor) else Tensor(t) for t in tensors]
    if not tensors:
        raise OpError("stack", "tensors", "expected a non-empty sequence of tensors")
    shapes = {t.shape for t in tensors}
    if len(shapes) > 1:
        raise OpError("stack", "tensors", f"every tensor must have the same shape, got {sorted(shapes)}")
    shape = tensors[0].shape
    position = one_axis("stack", dim, shape, extra=1)
    return cat([apply(Reshape, t, shape=shape[:position] + (1,) + shape[position:]) for t in tensors], position)


stack.op = Cat
FUNCTIONS["stack"] = stack       # tg.stack(tensors, dim), as torch.stack
