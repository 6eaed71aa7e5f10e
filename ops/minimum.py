"""Elementwise min(a, b) with broadcasting."""
import numpy as np

from tinygraph.op import Op
from tinygraph.registry import register_op


@register_op("minimum", forward="{out} = min({a}, {b})",
             backward=("δ{a} = δ{out} ⊙ (1[{a} < {b}] + ½·1[{a} = {b}])",
                       "δ{b} = δ{out} ⊙ (1[{b} < {a}] + ½·1[{a} = {b}])"), broadcasting=True)
class Minimum(Op):
    """out = min(a, b); the smaller side gets δout, a tie gives each half (as PyTorch does)."""

    @staticmethod
    def forward(ctx, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(a, b)
        return np.minimum(a, b)

    @staticmethod
    def backward(ctx, grad_out):
        a, b = ctx.saved
        share_a = ((a < b) + 0.5 * (a == b)).astype(grad_out.dtype, copy=False)
        return grad_out * share_a, grad_out * (1 - share_a)
