"""Elementwise x ** p for a scalar exponent p."""
import numpy as np

from tinygraph.op import Op
from tinygraph.registry import register_op


@register_op("pow", forward="{out} = {x}^p", backward="δ{x} = δ{out} ⊙ p·{x}^(p−1)")
class Pow(Op):
    """out = x ** exponent (exponent a Python number, not a tensor)."""

    @staticmethod
    def forward(ctx, x: np.ndarray, *, exponent: float) -> np.ndarray:
        ctx.exponent = exponent
        ctx.save_for_backward(x)
        return x ** x.dtype.type(exponent)

    @staticmethod
    def backward(ctx, grad_out):
        (x,) = ctx.saved
        p = x.dtype.type(ctx.exponent)
        if p == 0:                    # d/dx x⁰ = 0 everywhere, x = 0 included (0 · 0⁻¹ would be NaN)
            return (np.zeros_like(grad_out),)
        return (grad_out * p * x ** (p - 1),)
