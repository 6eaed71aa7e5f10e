"""Elementwise a + b with broadcasting."""
import numpy as np

from tinygraph.op import Op
from tinygraph.registry import register_op
from tinygraph.ops._forward_mode import ByLinearity


@register_op("add", forward="{out} = {a} + {b}", backward=("δ{a} = δ{out}", "δ{b} = δ{out}"), broadcasting=True)
class Add(Op):
    """out = a + b; the gradient passes through unchanged to both sides."""

    @staticmethod
    def forward(ctx, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return a + b

    jvp = ByLinearity()      # forward mode: linear in its floating inputs, so J·t = f(t)

    @staticmethod
    def backward(ctx, grad_out):
        return grad_out, grad_out

    @staticmethod
    def differentiable_backward(ctx, grad_out):
        return grad_out, grad_out
