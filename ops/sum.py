"""Sum over some dims (or all)."""
import numpy as np

from tinygraph.op import Op
from tinygraph.ops._axes import accumulating, reduction_axes, restore_axes
from tinygraph.recorded_backward import broadcast_back
from tinygraph.registry import register_op
from tinygraph.ops._forward_mode import ByLinearity


@register_op("sum", forward="{out} = Σ {x}", backward="δ{x} = δ{out} copied over the summed axes")
class Sum(Op):
    """out = Σ x over `dim` (all dims when None); every summed element gets the same gradient."""

    aliases = {"axis": "dim", "keepdims": "keepdim"}     # NumPy's names work too

    @staticmethod
    def forward(ctx, x: np.ndarray, *, dim=None, keepdim: bool = False) -> np.ndarray:
        axes = reduction_axes("sum", dim, x.shape)
        ctx.shape, ctx.axes, ctx.keepdim = x.shape, axes, keepdim
        if x.dtype == np.float16:          # accumulate in float32 and round once, as PyTorch's CPU kernel
            return np.sum(x, axis=axes, keepdims=keepdim, dtype=accumulating(x.dtype)).astype(x.dtype)
        return np.sum(x, axis=axes, keepdims=keepdim)

    jvp = ByLinearity()      # forward mode: linear in its floating inputs, so J·t = f(t)

    @staticmethod
    def backward(ctx, grad_out):
        return (np.broadcast_to(restore_axes(grad_out, ctx.axes, ctx.keepdim, ctx.shape), ctx.shape),)

    @staticmethod
    def differentiable_backward(ctx, grad_out):
        return (broadcast_back(grad_out, ctx.axes, ctx.keepdim, ctx.shape),)
