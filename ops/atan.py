"""Elementwise arctangent (also tg.arctan)."""
import numpy as np

from tinygraph.op import Op
from tinygraph.ops._floating import floating
from tinygraph.registry import register_op


@register_op("atan", forward="{out} = arctan {x}", backward="δ{x} = δ{out} / (1 + {x}²)")
class Atan(Op):
    """out = arctan x;  δx = δout / (1 + x²)."""

    @staticmethod
    def forward(ctx, x: np.ndarray) -> np.ndarray:
        x = floating(x)
        ctx.save_for_backward(x)
        return np.arctan(x)

    @staticmethod
    def jvp(ctx, tangents, inputs, out, attrs):
        """Forward mode: ṫ_out = ṫ_x / (1 + x²)."""
        t, x = tangents[0], inputs[0]
        return t / (1 + x * x)

    @staticmethod
    def backward(ctx, grad_out):
        (x,) = ctx.saved
        return (grad_out / (1 + x * x),)

    @staticmethod
    def differentiable_backward(ctx, grad_out):
        (x,) = ctx.saved
        x = ctx.input(0, x)
        return (grad_out / (1 + x * x),)
