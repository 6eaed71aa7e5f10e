"""Elementwise base-10 logarithm."""
import math

import numpy as np

from tinygraph.op import Op
from tinygraph.ops._floating import floating
from tinygraph.registry import register_op


@register_op("log10", forward="{out} = log₁₀ {x}", backward="δ{x} = δ{out} / ({x} ln 10)")
class Log10(Op):
    """out = log₁₀ x;  δx = δout / (x ln 10)."""

    @staticmethod
    def forward(ctx, x: np.ndarray) -> np.ndarray:
        x = floating(x)
        ctx.save_for_backward(x)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log10(x)

    @staticmethod
    def jvp(ctx, tangents, inputs, out, attrs):
        """Forward mode: ṫ_out = ṫ_x / (x ln 10)."""
        t, x = tangents[0], inputs[0]
        return t / (x * np.log(10.0))

    @staticmethod
    def backward(ctx, grad_out):
        (x,) = ctx.saved
        with np.errstate(divide="ignore"):
            return (grad_out / (x * math.log(10)),)

    @staticmethod
    def differentiable_backward(ctx, grad_out):
        (x,) = ctx.saved
        with np.errstate(divide="ignore"):
            return (grad_out / (ctx.input(0, x) * math.log(10)),)
