"""The error function erf(x) = 2/√π ∫₀ˣ e^(−t²) dt, elementwise."""
import math

import numpy as np

from tinygraph.op import Op
from tinygraph.ops._floating import floating
from tinygraph.registry import register_op

# math.erf on each element: NumPy has no erf, and tinygraph needs no SciPy.
_ERF = np.vectorize(math.erf, otypes=[np.float64])


@register_op("erf", forward="{out} = erf {x}", backward="δ{x} = δ{out} ⊙ 2/√π e^(−{x}²)")
class Erf(Op):
    """out = erf x;  δx = δout ⊙ 2/√π · exp(−x²)."""

    @staticmethod
    def forward(ctx, x: np.ndarray) -> np.ndarray:
        x = floating(x)
        ctx.save_for_backward(x)
        return _ERF(x.astype(np.float64)).astype(x.dtype)   # math.erf: exact in double

    @staticmethod
    def jvp(ctx, tangents, inputs, out, attrs):
        """Forward mode: ṫ_out = 2/√π e^(−x²) ⊙ ṫ_x."""
        t, x = tangents[0], inputs[0]
        return t * (2 / np.sqrt(np.pi)) * np.exp(-x * x)

    @staticmethod
    def backward(ctx, grad_out):
        (x,) = ctx.saved
        return (grad_out * (2 / math.sqrt(math.pi)) * np.exp(-x * x),)

    @staticmethod
    def differentiable_backward(ctx, grad_out):
        (x,) = ctx.saved
        x = ctx.input(0, x)
        return (grad_out * (2 / math.sqrt(math.pi)) * (-(x * x)).exp(),)
