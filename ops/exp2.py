"""Elementwise 2 to the power x."""
import math

import numpy as np

from tinygraph.op import Op
from tinygraph.ops._floating import floating
from tinygraph.registry import register_op


@register_op("exp2", forward="{out} = 2^{x}", backward="δ{x} = δ{out} ⊙ {out} ln 2")
class Exp2(Op):
    """out = 2ˣ;  δx = δout ⊙ 2ˣ ln 2 = δout ⊙ out ln 2."""

    @staticmethod
    def forward(ctx, x: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
            out = np.exp2(floating(x))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def jvp(ctx, tangents, inputs, out, attrs):
        """Forward mode: ṫ_out = ln 2 · out ⊙ ṫ_x."""
        t = tangents[0]
        return t * out * np.log(2.0)

    @staticmethod
    def backward(ctx, grad_out):
        (out,) = ctx.saved
        return (grad_out * out * math.log(2),)

    @staticmethod
    def differentiable_backward(ctx, grad_out):
        (out,) = ctx.saved
        return (grad_out * ctx.output(out) * math.log(2),)
