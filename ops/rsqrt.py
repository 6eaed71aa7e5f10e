"""Elementwise 1 / √x."""
import numpy as np

from tinygraph.op import Op
from tinygraph.ops._floating import floating
from tinygraph.registry import register_op


@register_op("rsqrt", forward="{out} = 1 / √{x}", backward="δ{x} = −½ δ{out} ⊙ {out}³")
class Rsqrt(Op):
    """out = x^(−1/2);  δx = −½ δout ⊙ x^(−3/2) = −½ δout ⊙ out³."""

    @staticmethod
    def forward(ctx, x: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            out = 1 / np.sqrt(floating(x))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def jvp(ctx, tangents, inputs, out, attrs):
        """Forward mode: ṫ_out = −½ out³ ⊙ ṫ_x."""
        t = tangents[0]
        return -0.5 * t * out * out * out

    @staticmethod
    def backward(ctx, grad_out):
        (out,) = ctx.saved
        return (-0.5 * grad_out * out * out * out,)

    @staticmethod
    def differentiable_backward(ctx, grad_out):
        (out,) = ctx.saved
        out = ctx.output(out)
        return (-0.5 * grad_out * out * out * out,)
