"""Elementwise a · b with broadcasting."""
import numpy as np

from tinygraph.op import Op
from tinygraph.registry import register_op


@register_op("mul", forward="{out} = {a} ⊙ {b}", backward=("δ{a} = δ{out} ⊙ {b}", "δ{b} = δ{out} ⊙ {a}"),
             broadcasting=True)
class Mul(Op):
    """out = a ⊙ b; each side's gradient is the upstream gradient times the other side."""

    @staticmethod
    def forward(ctx, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        need_a, need_b = ctx.needs_input_grad
        # Only what a gradient needs, as PyTorch: h * 2 keeps no h, so h may change in place afterwards.
        ctx.save_for_backward(a if need_b else None, b if need_a else None)
        return a * b

    @staticmethod
    def jvp(ctx, tangents, inputs, out, attrs):
        """Forward mode: ṫ_out = ṫ_a ⊙ b + a ⊙ ṫ_b."""
        (ta, tb), (a, b) = tangents, inputs
        return (0 if ta is None else ta * b) + (0 if tb is None else a * tb)

    @staticmethod
    def backward(ctx, grad_out):
        a, b = ctx.saved
        need_a, need_b = ctx.needs_input_grad
        return (grad_out * b if need_a else None), (grad_out * a if need_b else None)

    @staticmethod
    def differentiable_backward(ctx, grad_out):
        a, b = ctx.saved
        need_a, need_b = ctx.needs_input_grad
        return (grad_out * ctx.input(1, b) if need_a else None), (grad_out * ctx.input(0, a) if need_b else None)
