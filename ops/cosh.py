"""Elementwise hyperbolic cosine."""
import numpy as np

from tinygraph.op import Op
from tinygraph.ops._floating import floating
from tinygraph.registry import register_op


@register_op("cosh", forward="{out} = cosh {x}", backward="δ{x} = δ{out} ⊙ sinh {x}")
class Cosh(Op):
    """out = cosh x;  δx = δout ⊙ sinh x."""

    @staticmethod
    def forward(ctx, x: np.ndarray) -> np.ndarray:
        x = floating(x)
        ctx.save_for_backward(x)
        with np.errstate(over="ignore"):
            return np.cosh(x)

    @staticmethod
    def jvp(ctx, tangents, inputs, out, attrs):
        """Forward mode: ṫ_out = sinh x ⊙ ṫ_x."""
        t, x = tangents[0], inputs[0]
        return t * np.sinh(x)

    @staticmethod
    def backward(ctx, grad_out):
        (x,) = ctx.saved
        with np.errstate(over="ignore"):
            return (grad_out * np.sinh(x),)

    @staticmethod
    def differentiable_backward(ctx, grad_out):
        (x,) = ctx.saved
        with np.errstate(over="ignore"):
            return (grad_out * ctx.input(0, x).sinh(),)
