"""Elementwise 1 / x."""
import numpy as np

from tinygraph.op import Op
from tinygraph.ops._floating import floating
from tinygraph.registry import register_op


@register_op("reciprocal", forward="{out} = 1 / {x}", backward="δ{x} = −δ{out} ⊙ {out}²")
class Reciprocal(Op):
    """out = 1/x;  δx = −δout / x² = −δout ⊙ out²."""

    @staticmethod
    def forward(ctx, x: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):
            out = 1 / floating(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def jvp(ctx, tangents, inputs, out, attrs):
        """Forward mode: ṫ_out = −out² ⊙ ṫ_x."""
        t = tangents[0]
        return -t * out * out

    @staticmethod
    def backward(ctx, grad_out):
        (out,) = ctx.saved
        return (-grad_out * out * out,)

    @staticmethod
    def differentiable_backward(ctx, grad_out):
        (out,) = ctx.saved
        out = ctx.output(out)
        return (-grad_out * out * out,)
