"""Elementwise x² (integers stay integers, as PyTorch)."""
import numpy as np

from tinygraph.op import Op
from tinygraph.registry import register_op


@register_op("square", forward="{out} = {x}²", backward="δ{x} = 2 δ{out} ⊙ {x}")
class Square(Op):
    """out = x²;  δx = 2 δout ⊙ x."""

    @staticmethod
    def forward(ctx, x: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def jvp(ctx, tangents, inputs, out, attrs):
        """Forward mode: ṫ_out = 2x ⊙ ṫ_x."""
        return 2 * inputs[0] * tangents[0]

    @staticmethod
    def backward(ctx, grad_out):
        (x,) = ctx.saved
        return (2 * grad_out * x,)

    @staticmethod
    def differentiable_backward(ctx, grad_out):
        (x,) = ctx.saved
        return (2 * grad_out * ctx.input(0, x),)
