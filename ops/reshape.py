"""Reshape without copying data."""
import numpy as np

from tinygraph.errors import OpError
from tinygraph.op import Op
from tinygraph.registry import register_op
from tinygraph.ops._forward_mode import ByLinearity


@register_op("reshape", forward="{out} = reshape({x})", backward="δ{x} = reshape(δ{out}) to {x}'s shape")
class Reshape(Op):
    """out = x viewed with another shape (flatten is reshape to (N, -1))."""

    @staticmethod
    def forward(ctx, x: np.ndarray, *, shape: tuple) -> np.ndarray:
        ctx.shape = x.shape
        shape = tuple(shape)
        if any(isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < -1 for d in shape) \
                or shape.count(-1) > 1:
            raise OpError("reshape", "shape", f"shape {shape} must be ints >= 0 with at most one -1 "
                          f"(input of shape {x.shape})")
        try:
            return x.reshape(shape)
        except ValueError:
            raise OpError("reshape", "shape", f"cannot reshape an input of shape {x.shape} ({x.size} elements) "
                          f"to shape {tuple(shape)}") from None

    jvp = ByLinearity()      # forward mode: linear in its floating inputs, so J·t = f(t)

    @staticmethod
    def backward(ctx, grad_out):
        return (grad_out.reshape(ctx.shape),)

    @staticmethod
    def differentiable_backward(ctx, grad_out):
        return (grad_out.reshape(*ctx.shape),)
