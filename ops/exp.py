"""Elementwise e^x."""
import numpy as np

from tinygraph.op import Op
from tinygraph.registry import register_op


@register_op("exp", forward="{out} = e^{x}", backward="δ{x} = δ{out} ⊙ {out}")
class Exp(Op):
    """out = exp(x); its derivative is itself, so backward keeps the output."""

    @staticmethod
    def forward(ctx, x: np.ndarray) -> np.ndarray:
        out = np.exp(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def jvp(ctx, tangents, inputs, out, attrs):
        """Forward mode: ṫ_out = e^x ⊙ ṫ_x."""
        return tangents[0] * out

    @staticmethod
    def backward(ctx, grad_out):
        (out,) = ctx.saved
        return (grad_out * out,)

    @staticmethod
    def differentiable_backward(ctx, grad_out):
        (out,) = ctx.saved
        return (grad_out * ctx.output(out),)
