"""Standard deviation over some dims, with Bessel's correction by default (as PyTorch)."""
import math

import numpy as np

from tinygraph.op import Op
from tinygraph.ops._axes import reduction_axes, restore_axes
from tinygraph.registry import register_op


@register_op("std", forward="{out} = √(Σ ({x} − x̄)² / (n − c))",
             backward="δ{x} = δ{out} ⊙ ({x} − x̄) / ((n − c) {out}), 0 where {out} = 0")
class Std(Op):
    """out = √var(x); δx = δout · (x − x̄) / ((n − correction) · out), and 0 where out = 0 (as PyTorch).

    Its own op rather than sqrt(var): at out = 0 the composition would give 0 · ∞ = NaN.
    """

    aliases = {"axis": "dim", "keepdims": "keepdim"}     # NumPy's names work too

    @staticmethod
    def forward(ctx, x: np.ndarray, *, dim=None, correction: float = 1, keepdim: bool = False) -> np.ndarray:
        axes = reduction_axes("std", dim, x.shape)
        n = x.size if axes is None else math.prod([x.shape[a] for a in axes])
        dtype = x.dtype if x.dtype.kind == "f" else np.dtype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            centred = x - np.mean(x, axis=axes, keepdims=True, dtype=dtype)
            denominator = dtype.type(max(n - correction, 0))
            out = np.sqrt(np.sum(centred * centred, axis=axes, keepdims=True) / denominator).astype(dtype, copy=False)
        ctx.axes, ctx.keepdim = axes, keepdim
        ctx.save_for_backward(centred, denominator, out)
        return out if keepdim else np.squeeze(out, axis=axes)

    @staticmethod
    def backward(ctx, grad_out):
        centred, denominator, out = ctx.saved
        with np.errstate(invalid="ignore", divide="ignore"):
            grad_var = np.where(out == 0, 0, restore_axes(grad_out, ctx.axes, ctx.keepdim, centred.shape) / (2 * out))
            return (grad_var * 2 * centred / denominator,)
