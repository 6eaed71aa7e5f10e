"""Elementwise −x."""
import numpy as np

from tinygraph.op import Op
from tinygraph.registry import register_op
from tinygraph.ops._forward_mode import ByLinearity


@register_op("neg", forward="{out} = −{x}", backward="δ{x} = −δ{out}")
class Neg(Op):
    """out = −x."""

    @staticmethod
    def forward(ctx, x: np.ndarray) -> np.ndarray:
        return -x

    jvp = ByLinearity()      # forward mode: linear in its floating inputs, so J·t = f(t)

    @staticmethod
    def backward(ctx, grad_out):
        return (-grad_out,)

    @staticmethod
    def differentiable_backward(ctx, grad_out):
        return (-grad_out,)
