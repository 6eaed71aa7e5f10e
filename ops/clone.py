"""x.clone(): a copy with its own memory that stays in the graph."""
import numpy as np

from tinygraph.op import Op
from tinygraph.registry import register_op
from tinygraph.ops._forward_mode import ByLinearity


@register_op("clone", forward="{out} = copy of {x}", backward="δ{x} = δ{out}")
class Clone(Op):
    """out = x, in new memory;  δx = δout."""

    @staticmethod
    def forward(ctx, x: np.ndarray) -> np.ndarray:
        return x.copy()

    jvp = ByLinearity()      # forward mode: linear in its floating inputs, so J·t = f(t)

    @staticmethod
    def backward(ctx, grad_out):
        return (grad_out,)

    @staticmethod
    def differentiable_backward(ctx, grad_out):
        return (grad_out,)
