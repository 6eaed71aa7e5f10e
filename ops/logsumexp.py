"""log Σ exp(x) over some dims, computed stably (the largest element factored out)."""
import numpy as np

from tinygraph.op import Op
from tinygraph.ops._axes import accumulating, reduction_axes, restore_axes
from tinygraph.recorded_backward import by_composition
from tinygraph.registry import register_op


@register_op("logsumexp", forward="{out} = log Σ e^{x}", backward="δ{x} = δ{out} ⊙ e^({x} − {out})  (= softmax)")
class LogSumExp(Op):
    """out = m + log Σ e^(x − m) with m = max x, so e^ never overflows; δx = δout ⊙ softmax(x).

    An empty sum is −inf and an empty input gets an empty gradient, as in PyTorch; float16 is
    computed in float32 and rounded once, as PyTorch's CPU kernel.
    """

    aliases = {"axis": "dim", "keepdims": "keepdim"}     # NumPy's names work too

    @staticmethod
    def forward(ctx, x: np.ndarray, *, dim=None, keepdim: bool = False) -> np.ndarray:
        axes = reduction_axes("logsumexp", dim, x.shape)
        ctx.axes, ctx.keepdim, ctx.shape = axes, keepdim, x.shape
        dtype = x.dtype if x.dtype.kind == "f" else np.dtype(np.float64)     # integers: float64, as NumPy
        if x.size == 0:                     # log of an empty sum: −inf, as in PyTorch
            return np.full(np.sum(x, axis=axes, keepdims=keepdim).shape, -np.inf, dtype=dtype)
        values = x.astype(accumulating(x.dtype), copy=False)
        m = np.max(values, axis=axes, keepdims=True)
        m = np.where(np.isfinite(m), m, 0)  # all −inf (or an inf) along a row: nothing to factor out
        out = m + np.log(np.sum(np.exp(values - m), axis=axes, keepdims=True))
        ctx.save_for_backward(values, out)
        out = out.astype(dtype, copy=False)
        return out if keepdim else np.squeeze(out, axis=axes)

    @staticmethod
    def backward(ctx, grad_out):
        if not ctx.saved:                   # an empty input: nothing to route the gradient to
            return (np.zeros(ctx.shape, dtype=grad_out.dtype),)
        values, out = ctx.saved
        grad = restore_axes(grad_out, ctx.axes, ctx.keepdim, values.shape) * np.exp(values - out)
        return (grad.astype(grad_out.dtype, copy=False),)

    differentiable_backward = by_composition(lambda ctx, x: _composed(x, ctx.axes, ctx.keepdim))


def _composed(x, axes, keepdim: bool):
    """m + ln Σ e^(x − m), m the max as a constant (it cancels in every derivative)."""
    if x.data.size == 0:
        return (x * 0.0).sum(axes, keepdim=keepdim) - np.inf
    m = np.max(x.data, axis=axes, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)
    total = (x - m).exp().sum(axes, keepdim=True).log() + m
    return total if keepdim else total.reshape(*np.squeeze(total.data, axis=axes).shape)
