"""Elementwise exp(x) − 1, exact for small x."""
import numpy as np

from tinygraph.op import Op
from tinygraph.ops._floating import floating
from tinygraph.registry import register_op


@register_op("expm1", forward="{out} = exp({x}) − 1", backward="δ{x} = δ{out} ⊙ ({out} + 1)")
class Expm1(Op):
    """out = eˣ − 1;  δx = δout ⊙ eˣ = δout ⊙ (out + 1)."""

    @staticmethod
    def forward(ctx, x: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
            out = np.expm1(floating(x))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def jvp(ctx, tangents, inputs, out, attrs):
        """Forward mode: ṫ_out = (out + 1) ⊙ ṫ_x."""
        t = tangents[0]
        return t * (out + 1)

    @staticmethod
    def backward(ctx, grad_out):
        (out,) = ctx.saved
        return (grad_out * (out + 1),)

    @staticmethod
    def differentiable_backward(ctx, grad_out):
        (out,) = ctx.saved
        return (grad_out * (ctx.output(out) + 1),)
