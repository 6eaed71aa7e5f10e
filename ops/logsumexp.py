"""log Σ exp(x) over some dims, computed stably (the largest element factored out)."""
import numpy as np

from tinygraph.op import Op
from tinygraph.ops._axes import reduction_axes, restore_axes
from tinygraph.registry import register_op


@register_op("logsumexp", forward="{out} = log Σ e^{x}", backward="δ{x} = δ{out} ⊙ e^({x} − {out})  (= softmax)")
class LogSumExp(Op):
    """out = m + log Σ e^(x − m) with m = max x, so e^ never overflows; δx = δout ⊙ softmax(x)."""

    aliases = {"axis": "dim", "keepdims": "keepdim"}     # NumPy's names work too

    @staticmethod
    def forward(ctx, x: np.ndarray, *, dim=None, keepdim: bool = False) -> np.ndarray:
        axes = reduction_axes("logsumexp", dim, x.shape)
        if x.size == 0:                     # log of an empty sum: −inf, as in PyTorch
            return np.full(np.sum(x, axis=axes, keepdims=keepdim).shape, -np.inf, dtype=x.dtype)
        m = np.max(x, axis=axes, keepdims=True)
        m = np.where(np.isfinite(m), m, 0)  # all −inf (or an inf) along a row: nothing to factor out
        out = m + np.log(np.sum(np.exp(x - m), axis=axes, keepdims=True))
        ctx.axes, ctx.keepdim = axes, keepdim
        ctx.save_for_backward(x, out)
        return out if keepdim else np.squeeze(out, axis=axes)

    @staticmethod
    def backward(ctx, grad_out):
        x, out = ctx.saved
        return (restore_axes(grad_out, ctx.axes, ctx.keepdim, x.shape) * np.exp(x - out),)
