"""Elementwise fractional part x − trunc(x), with x's sign (as torch.frac)."""
import numpy as np

from tinygraph.errors import OpError
from tinygraph.op import Op
from tinygraph.registry import register_op


@register_op("frac", forward="{out} = {x} − trunc({x})", backward="δ{x} = δ{out}")
class Frac(Op):
    """out = x − trunc(x);  δx = δout (trunc is flat between integers)."""

    @staticmethod
    def forward(ctx, x: np.ndarray) -> np.ndarray:
        if x.dtype.kind != "f":
            raise OpError("frac", "x", f"frac needs a floating tensor, got dtype {x.dtype}")
        return x - np.trunc(x)

    @staticmethod
    def jvp(ctx, tangents, inputs, out, attrs):
        """Forward mode: ṫ_out = ṫ_x (x − trunc x has slope 1)."""
        t = tangents[0]
        return t

    @staticmethod
    def backward(ctx, grad_out):
        return (grad_out,)

    @staticmethod
    def differentiable_backward(ctx, grad_out):
        return (grad_out,)
