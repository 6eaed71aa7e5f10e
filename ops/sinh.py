"""Elementwise hyperbolic sine."""
import numpy as np

from tinygraph.op import Op
from tinygraph.ops._floating import floating
from tinygraph.registry import register_op


@register_op("sinh", forward="{out} = sinh {x}", backward="δ{x} = δ{out} ⊙ cosh {x}")
class Sinh(Op):
    """out = sinh x;  δx = δout ⊙ cosh x."""

    @staticmethod
    def forward(ctx, x: np.ndarray) -> np.ndarray:
        x = floating(x)
        ctx.save_for_backward(x)
        with np.errstate(over="ignore"):
            return np.sinh(x)

    @staticmethod
    def jvp(ctx, tangents, inputs, out, attrs):
        """Forward mode: ṫ_out = cosh x ⊙ ṫ_x."""
        t, x = tangents[0], inputs[0]
        return t * np.cosh(x)

    @staticmethod
    def backward(ctx, grad_out):
        (x,) = ctx.saved
        with np.errstate(over="ignore"):
            return (grad_out * np.cosh(x),)

    @staticmethod
    def differentiable_backward(ctx, grad_out):
        (x,) = ctx.saved
        with np.errstate(over="ignore"):
            return (grad_out * ctx.input(0, x).cosh(),)
