"""Elementwise log(1 + x), exact for small x."""
import numpy as np

from tinygraph.op import Op
from tinygraph.ops._floating import floating
from tinygraph.registry import register_op


@register_op("log1p", forward="{out} = log(1 + {x})", backward="δ{x} = δ{out} / (1 + {x})")
class Log1p(Op):
    """out = log(1 + x);  δx = δout / (1 + x)."""

    @staticmethod
    def forward(ctx, x: np.ndarray) -> np.ndarray:
        x = floating(x)
        ctx.save_for_backward(x)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log1p(x)

    @staticmethod
    def jvp(ctx, tangents, inputs, out, attrs):
        """Forward mode: ṫ_out = ṫ_x / (1 + x)."""
        t, x = tangents[0], inputs[0]
        return t / (1 + x)

    @staticmethod
    def backward(ctx, grad_out):
        (x,) = ctx.saved
        with np.errstate(divide="ignore"):
            return (grad_out / (1 + x),)

    @staticmethod
    def differentiable_backward(ctx, grad_out):
        (x,) = ctx.saved
        with np.errstate(divide="ignore"):
            return (grad_out / (1 + ctx.input(0, x)),)
