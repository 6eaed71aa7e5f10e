"""Elementwise a / b with broadcasting."""
import numpy as np

from tinygraph.op import Op
from tinygraph.registry import register_op


@register_op("div", forward="{out} = {a} / {b}",
             backward=("δ{a} = δ{out} / {b}", "δ{b} = −δ{out} ⊙ ({a} / {b}) / {b}"), broadcasting=True)
class Div(Op):
    """out = a / b;  δa = δout / b,  δb = −δout · (a / b) / b (dividing twice: b² underflows to 0 for tiny b)."""

    @staticmethod
    def forward(ctx, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        # a only for b's gradient, as PyTorch: h / 2 keeps no h, so h may change in place afterwards.
        ctx.save_for_backward(a if ctx.needs_input_grad[1] else None, b)
        return a / b

    @staticmethod
    def jvp(ctx, tangents, inputs, out, attrs):
        """Forward mode: ṫ_out = (ṫ_a − out ⊙ ṫ_b) / b."""
        (ta, tb), b = tangents, inputs[1]
        return ((0 if ta is None else ta) - (0 if tb is None else out * tb)) / b

    @staticmethod
    def backward(ctx, grad_out):
        a, b = ctx.saved
        need_a, need_b = ctx.needs_input_grad
        grad_a = grad_out / b if need_a else None
        grad_b = -grad_out * (a / b) / b if need_b else None
        return grad_a, grad_b

    @staticmethod
    def differentiable_backward(ctx, grad_out):
        a, b = ctx.saved
        need_a, need_b = ctx.needs_input_grad
        a, b = (ctx.input(0, a) if need_b else None), ctx.input(1, b)
        return (grad_out / b if need_a else None), (-grad_out * (a / b) / b if need_b else None)
