"""The smallest element over some dims (or all), ties sharing the gradient."""
import numpy as np

from tinygraph.errors import OpError
from tinygraph.op import Op
from tinygraph.ops._axes import reduction_axes, share_among_extremes
from tinygraph.recorded_backward import broadcast_back
from tinygraph.registry import register_op


@register_op("amin", forward="{out} = min {x}",
             backward="δ{x} = δ{out} ⊙ 1[{x} = {out}] / (how many equal {out})")
class Amin(Op):
    """out = min x over `dim` (all dims when None); δout goes to the smallest element, split evenly among ties."""

    aliases = {"axis": "dim", "keepdims": "keepdim"}     # NumPy's names work too

    @staticmethod
    def forward(ctx, x: np.ndarray, *, dim=None, keepdim: bool = False) -> np.ndarray:
        axes = reduction_axes("amin", dim, x.shape)
        if any(x.shape[a] == 0 for a in (range(x.ndim) if axes is None else axes)):
            raise OpError("amin", "dim", f"cannot take the min over an empty dim "
                          f"(input of shape {x.shape}, dim={dim})")
        out = np.min(x, axis=axes, keepdims=keepdim)
        ctx.axes, ctx.keepdim = axes, keepdim
        ctx.save_for_backward(x, out)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        x, out = ctx.saved
        return (share_among_extremes(grad_out, x, out, ctx.axes, ctx.keepdim),)

    @staticmethod
    def differentiable_backward(ctx, grad_out):
        """δout shared among the elements equal to the extreme: a constant routing."""
        x, out = ctx.saved
        share = share_among_extremes(np.ones_like(out), x, out, ctx.axes, ctx.keepdim)
        return (broadcast_back(grad_out, ctx.axes, ctx.keepdim, x.shape) * share,)
