"""Elementwise base-2 logarithm."""
import math

import numpy as np

from tinygraph.op import Op
from tinygraph.ops._floating import floating
from tinygraph.registry import register_op


@register_op("log2", forward="{out} = log₂ {x}", backward="δ{x} = δ{out} / ({x} ln 2)")
class Log2(Op):
    """out = log₂ x;  δx = δout / (x ln 2)."""

    @staticmethod
    def forward(ctx, x: np.ndarray) -> np.ndarray:
        x = floating(x)
        ctx.save_for_backward(x)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log2(x)

    @staticmethod
    def jvp(ctx, tangents, inputs, out, attrs):
        """Forward mode: ṫ_out = ṫ_x / (x ln 2)."""
        t, x = tangents[0], inputs[0]
        return t / (x * np.log(2.0))

    @staticmethod
    def backward(ctx, grad_out):
        (x,) = ctx.saved
        with np.errstate(divide="ignore"):
            return (grad_out / (x * math.log(2)),)

    @staticmethod
    def differentiable_backward(ctx, grad_out):
        (x,) = ctx.saved
        with np.errstate(divide="ignore"):
            return (grad_out / (ctx.input(0, x) * math.log(2)),)
