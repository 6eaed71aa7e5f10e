"""Sum over some axes (or all)."""
import numpy as np

from tinygraph.op import Op
from tinygraph.ops._axes import reduction_axes, restore_axes
from tinygraph.registry import register_op


@register_op("sum", forward="{out} = Σ {x}", backward="δ{x} = δ{out} copied over the summed axes")
class Sum(Op):
    """out = Σ x over `axis` (all axes when None); every summed element gets the same gradient."""

    @staticmethod
    def forward(ctx, x: np.ndarray, *, axis=None, keepdims: bool = False) -> np.ndarray:
        axes = reduction_axes("sum", axis, x.shape)
        ctx.shape, ctx.axes, ctx.keepdims = x.shape, axes, keepdims
        return np.sum(x, axis=axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx, grad_out):
        return (np.broadcast_to(restore_axes(grad_out, ctx.axes, ctx.keepdims, ctx.shape), ctx.shape),)
