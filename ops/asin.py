"""Elementwise arcsine (also tg.arcsin)."""
import numpy as np

from tinygraph.op import Op
from tinygraph.ops._floating import floating
from tinygraph.registry import register_op


@register_op("asin", forward="{out} = arcsin {x}", backward="δ{x} = δ{out} / √(1 − {x}²)")
class Asin(Op):
    """out = arcsin x;  δx = δout / √(1 − x²): inf at |x| = 1, NaN beyond (as PyTorch)."""

    @staticmethod
    def forward(ctx, x: np.ndarray) -> np.ndarray:
        x = floating(x)
        ctx.save_for_backward(x)
        with np.errstate(invalid="ignore"):
            return np.arcsin(x)

    @staticmethod
    def jvp(ctx, tangents, inputs, out, attrs):
        """Forward mode: ṫ_out = ṫ_x / √(1 − x²)."""
        t, x = tangents[0], inputs[0]
        return t / np.sqrt(1 - x * x)

    @staticmethod
    def backward(ctx, grad_out):
        (x,) = ctx.saved
        with np.errstate(divide="ignore", invalid="ignore"):
            return (grad_out / np.sqrt(1 - x * x),)

    @staticmethod
    def differentiable_backward(ctx, grad_out):
        (x,) = ctx.saved
        x = ctx.input(0, x)
        with np.errstate(divide="ignore", invalid="ignore"):
            return (grad_out * (1 - x * x).rsqrt(),)
