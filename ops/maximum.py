"""Elementwise max(a, b) with broadcasting."""
import numpy as np

from tinygraph.op import Op, apply
from tinygraph.ops.where import Where
from tinygraph.registry import register_op


@register_op("maximum", forward="{out} = max({a}, {b})",
             backward=("δ{a} = δ{out} ⊙ (1[{a} > {b}] + ½·1[{a} = {b}])",
                       "δ{b} = δ{out} ⊙ (1[{b} > {a}] + ½·1[{a} = {b}])"), broadcasting=True)
class Maximum(Op):
    """out = max(a, b); the larger side gets δout, a tie gives each half (as PyTorch does)."""

    @staticmethod
    def forward(ctx, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(a, b)
        return np.maximum(a, b)

    @staticmethod
    def jvp(ctx, tangents, inputs, out, attrs):
        """Forward mode, with backward's convention: the winner's tangent, the mean of both on a tie."""
        (ta, tb), (a, b) = tangents, inputs
        ta = np.zeros_like(out) if ta is None else ta
        tb = np.zeros_like(out) if tb is None else tb
        return np.where(a > b, ta, np.where(a < b, tb, (ta + tb) / 2))

    @staticmethod
    def backward(ctx, grad_out):
        """Selected as PyTorch does: a side that lost gets exactly 0 whatever arrives; a tie halves δout;
        where a NaN makes every comparison false, both sides get δout."""
        a, b = ctx.saved
        need_a, need_b = ctx.needs_input_grad
        zero = grad_out.dtype.type(0)
        shared = np.where(a == b, grad_out / 2, grad_out)
        grad_a = np.where(a < b, zero, shared) if need_a else None
        grad_b = np.where(a > b, zero, shared) if need_b else None
        return grad_a, grad_b

    @staticmethod
    def differentiable_backward(ctx, grad_out):
        a, b = ctx.saved
        need_a, need_b = ctx.needs_input_grad
        shared = apply(Where, a == b, grad_out * 0.5, grad_out)
        return (apply(Where, a < b, 0.0, shared) if need_a else None,
                apply(Where, a > b, 0.0, shared) if need_b else None)
