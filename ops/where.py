"""Elementwise choice: a where the condition holds, b elsewhere."""
import numpy as np

from tinygraph.errors import OpError
from tinygraph.op import Op, apply
from tinygraph.registry import register_op
from tinygraph.ops._forward_mode import ByLinearity


@register_op("where", forward="{out} = {a} if {condition} else {b}",
             backward=("δ{condition}: none (a mask)", "δ{a} = δ{out} ⊙ 1[{condition}]",
                       "δ{b} = δ{out} ⊙ 1[not {condition}]"), broadcasting=True)
class Where(Op):
    """out = a where condition, else b (all three broadcast); each side gets δout where it was chosen."""

    @staticmethod
    def forward(ctx, condition: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if condition.dtype != np.bool_:
            raise OpError("where", "condition", f"condition must be a bool tensor, got dtype {condition.dtype} "
                          f"(shape {condition.shape}); compare first, e.g. x > 0")
        ctx.save_for_backward(condition)
        return np.where(condition, a, b)

    jvp = ByLinearity()      # forward mode: linear in its floating inputs, so J·t = f(t)

    @staticmethod
    def backward(ctx, grad_out):
        (condition,) = ctx.saved
        _, need_a, need_b = ctx.needs_input_grad
        grad_a = np.where(condition, grad_out, 0) if need_a else None
        grad_b = np.where(condition, 0, grad_out) if need_b else None
        return None, grad_a, grad_b

    @staticmethod
    def differentiable_backward(ctx, grad_out):
        (condition,) = ctx.saved
        _, need_a, need_b = ctx.needs_input_grad
        return (None, apply(Where, condition, grad_out, 0.0) if need_a else None,
                apply(Where, condition, 0.0, grad_out) if need_b else None)
