"""Elementwise √x."""
import numpy as np

from tinygraph.op import Op
from tinygraph.registry import register_op


@register_op("sqrt", forward="{out} = √{x}", backward="δ{x} = δ{out} / (2 {out})")
class Sqrt(Op):
    """out = √x; δx = δout / (2√x), inf at x = 0 and NaN below it (as PyTorch)."""

    @staticmethod
    def forward(ctx, x: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore"):             # √ of a negative is NaN, not a warning
            out = np.sqrt(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def jvp(ctx, tangents, inputs, out, attrs):
        """Forward mode: ṫ_out = ṫ_x / (2√x)."""
        return tangents[0] / (2 * out)

    @staticmethod
    def backward(ctx, grad_out):
        (out,) = ctx.saved
        with np.errstate(divide="ignore", invalid="ignore"):
            return (grad_out / (2 * out),)

    @staticmethod
    def differentiable_backward(ctx, grad_out):
        (out,) = ctx.saved
        return (grad_out / (2 * ctx.output(out)),)
