"""Elementwise logistic sigmoid."""
import numpy as np

from tinygraph.op import Op
from tinygraph.registry import register_op


@register_op("sigmoid", forward="{out} = σ({x}) = 1 / (1 + e^−{x})", backward="δ{x} = δ{out} ⊙ {out}(1 − {out})")
class Sigmoid(Op):
    """out = 1 / (1 + e^−x); δx = δout · out(1 − out), so backward keeps the output."""

    @staticmethod
    def forward(ctx, x: np.ndarray) -> np.ndarray:
        # The same σ written two ways, so e^ only sees −|x| ≤ 0 and never overflows.
        e = np.exp(-np.abs(x))
        out = np.where(x >= 0, 1 / (1 + e), e / (1 + e))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def jvp(ctx, tangents, inputs, out, attrs):
        """Forward mode: ṫ_out = out ⊙ (1 − out) ⊙ ṫ_x."""
        return tangents[0] * (out * (1 - out))

    @staticmethod
    def backward(ctx, grad_out):
        (out,) = ctx.saved
        return (grad_out * out * (1 - out),)

    @staticmethod
    def differentiable_backward(ctx, grad_out):
        (out,) = ctx.saved
        out = ctx.output(out)
        return (grad_out * out * (1 - out),)
