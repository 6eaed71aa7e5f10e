"""Elementwise tangent."""
import numpy as np

from tinygraph.op import Op
from tinygraph.ops._floating import floating
from tinygraph.registry import register_op


@register_op("tan", forward="{out} = tan {x}", backward="δ{x} = δ{out} ⊙ (1 + {out}²)")
class Tan(Op):
    """out = tan x;  δx = δout ⊙ (1 + tan² x) = δout ⊙ (1 + out²)."""

    @staticmethod
    def forward(ctx, x: np.ndarray) -> np.ndarray:
        out = np.tan(floating(x))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def jvp(ctx, tangents, inputs, out, attrs):
        """Forward mode: ṫ_out = (1 + out²) ⊙ ṫ_x."""
        t = tangents[0]
        return t * (1 + out * out)

    @staticmethod
    def backward(ctx, grad_out):
        (out,) = ctx.saved
        return (grad_out * (1 + out * out),)

    @staticmethod
    def differentiable_backward(ctx, grad_out):
        (out,) = ctx.saved
        out = ctx.output(out)
        return (grad_out * (1 + out * out),)
