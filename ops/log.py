"""Elementwise natural logarithm."""
import numpy as np

from tinygraph.op import Op
from tinygraph.registry import register_op


@register_op("log", forward="{out} = ln {x}", backward="δ{x} = δ{out} / {x}")
class Log(Op):
    """out = ln(x)."""

    @staticmethod
    def forward(ctx, x: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(x)
        return np.log(x)

    @staticmethod
    def jvp(ctx, tangents, inputs, out, attrs):
        """Forward mode: ṫ_out = ṫ_x / x."""
        return tangents[0] / inputs[0]

    @staticmethod
    def backward(ctx, grad_out):
        (x,) = ctx.saved
        return (grad_out / x,)

    @staticmethod
    def differentiable_backward(ctx, grad_out):
        (x,) = ctx.saved
        return (grad_out / ctx.input(0, x),)
