"""Elementwise sine."""
import numpy as np

from tinygraph.op import Op
from tinygraph.ops._floating import floating
from tinygraph.registry import register_op


@register_op("sin", forward="{out} = sin {x}", backward="δ{x} = δ{out} ⊙ cos {x}")
class Sin(Op):
    """out = sin x;  δx = δout ⊙ cos x."""

    @staticmethod
    def forward(ctx, x: np.ndarray) -> np.ndarray:
        x = floating(x)
        ctx.save_for_backward(x)
        return np.sin(x)

    @staticmethod
    def jvp(ctx, tangents, inputs, out, attrs):
        """Forward mode: ṫ_out = cos x ⊙ ṫ_x."""
        return tangents[0] * np.cos(inputs[0])

    @staticmethod
    def backward(ctx, grad_out):
        (x,) = ctx.saved
        return (grad_out * np.cos(x),)

    @staticmethod
    def differentiable_backward(ctx, grad_out):
        (x,) = ctx.saved
        return (grad_out * ctx.input(0, x).cos(),)
