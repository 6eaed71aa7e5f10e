"""Reshape without copying data."""
import numpy as np

from tinygraph import Op, register_op


@register_op("reshape", forward="{out} = reshape({x})", backward="δ{x} = reshape(δ{out}) to {x}'s shape")
class Reshape(Op):
    """out = x viewed with another shape (flatten is reshape to (N, -1))."""

    @staticmethod
    def forward(ctx, x: np.ndarray, *, shape: tuple) -> np.ndarray:
        ctx.shape = x.shape
        try:
            return x.reshape(shape)
        except ValueError:
            raise ValueError(f"reshape: cannot reshape an input of shape {x.shape} ({x.size} elements) "
                             f"to shape {tuple(shape)}") from None

    @staticmethod
    def backward(ctx, grad_out):
        return (grad_out.reshape(ctx.shape),)
