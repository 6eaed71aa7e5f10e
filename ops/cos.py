"""Elementwise cosine."""
import numpy as np

from tinygraph.op import Op
from tinygraph.ops._floating import floating
from tinygraph.registry import register_op


@register_op("cos", forward="{out} = cos {x}", backward="δ{x} = −δ{out} ⊙ sin {x}")
class Cos(Op):
    """out = cos x;  δx = −δout ⊙ sin x."""

    @staticmethod
    def forward(ctx, x: np.ndarray) -> np.ndarray:
        x = floating(x)
        ctx.save_for_backward(x)
        return np.cos(x)

    @staticmethod
    def jvp(ctx, tangents, inputs, out, attrs):
        """Forward mode: ṫ_out = −sin x ⊙ ṫ_x."""
        return -tangents[0] * np.sin(inputs[0])

    @staticmethod
    def backward(ctx, grad_out):
        (x,) = ctx.saved
        return (-grad_out * np.sin(x),)

    @staticmethod
    def differentiable_backward(ctx, grad_out):
        (x,) = ctx.saved
        return (-grad_out * ctx.input(0, x).sin(),)
