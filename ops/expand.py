"""Broadcast x to a larger shape without copying (size-1 dims repeated, new dims in front)."""
import numpy as np

from tinygraph.broadcast import unbroadcast
from tinygraph.errors import OpError
from tinygraph.op import Op
from tinygraph.recorded_backward import sum_to_shape
from tinygraph.registry import register_op
from tinygraph.ops._forward_mode import ByLinearity


@register_op("expand", forward="{out} = {x} repeated to a larger shape",
             backward="δ{x} = δ{out} summed over the copies")
class Expand(Op):
    """out = x broadcast to `size` (-1 keeps a dim); each copy's gradient adds into the one element it copied."""

    @staticmethod
    def forward(ctx, x: np.ndarray, *, size: tuple) -> np.ndarray:
        size = tuple(size)
        lead = len(size) - x.ndim
        if lead < 0 or any(isinstance(n, bool) or not isinstance(n, (int, np.integer)) for n in size):
            raise OpError("expand", "size", f"size {size} must be ints, at least one per dim of the input "
                          f"(shape {x.shape})")
        target = tuple(n if n != -1 or i < lead else x.shape[i - lead] for i, n in enumerate(size))
        if any(n < 0 for n in target) or any(old != 1 and old != new for old, new in zip(x.shape, target[lead:])):
            raise OpError("expand", "size", f"cannot expand an input of shape {x.shape} to size {size}: "
                          "only size-1 dims can grow, and new dims (in front) cannot be -1")
        ctx.shape = x.shape
        return np.broadcast_to(x, target)

    jvp = ByLinearity()      # forward mode: linear in its floating inputs, so J·t = f(t)

    @staticmethod
    def backward(ctx, grad_out):
        grad_x, _ = unbroadcast(grad_out, ctx.shape)
        return (grad_x,)

    @staticmethod
    def differentiable_backward(ctx, grad_out):
        return (sum_to_shape(grad_out, ctx.shape),)
