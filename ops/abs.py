"""Elementwise |x|."""
import numpy as np

from tinygraph.op import Op
from tinygraph.registry import register_op


@register_op("abs", forward="{out} = |{x}|", backward="δ{x} = δ{out} ⊙ sign({x})")
class Abs(Op):
    """out = |x|; δx = δout · sign(x), which is 0 at x = 0 (as PyTorch)."""

    @staticmethod
    def forward(ctx, x: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(x)
        return np.abs(x)

    @staticmethod
    def backward(ctx, grad_out):
        (x,) = ctx.saved
        return (grad_out * np.sign(x),)
