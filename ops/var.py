"""Variance over some dims, with Bessel's correction by default (as PyTorch)."""
import math

import numpy as np

from tinygraph.op import Op
from tinygraph.ops._axes import reduction_axes, restore_axes
from tinygraph.registry import register_op


@register_op("var", forward="{out} = Σ ({x} − x̄)² / (n − c)", backward="δ{x} = δ{out} ⊙ 2({x} − x̄) / (n − c)")
class Var(Op):
    """out = Σ (x − x̄)² / (n − correction), x̄ the mean over `dim`; δx = δout · 2(x − x̄) / (n − correction).

    (The path through x̄ adds Σ 2(x − x̄) = 0, so it is left out.) n ≤ correction gives inf or NaN, as in PyTorch.
    """

    aliases = {"axis": "dim", "keepdims": "keepdim"}     # NumPy's names work too

    @staticmethod
    def forward(ctx, x: np.ndarray, *, dim=None, correction: float = 1, keepdim: bool = False) -> np.ndarray:
        axes = reduction_axes("var", dim, x.shape)
        n = x.size if axes is None else math.prod([x.shape[a] for a in axes])
        dtype = x.dtype if x.dtype.kind == "f" else np.dtype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            centred = x - np.mean(x, axis=axes, keepdims=True, dtype=dtype)
            denominator = dtype.type(max(n - correction, 0))
            ctx.axes, ctx.keepdim = axes, keepdim
            ctx.save_for_backward(centred, denominator)
            return (np.sum(centred * centred, axis=axes, keepdims=keepdim) / denominator).astype(dtype, copy=False)

    @staticmethod
    def backward(ctx, grad_out):
        centred, denominator = ctx.saved
        with np.errstate(invalid="ignore", divide="ignore"):
            return (restore_axes(grad_out, ctx.axes, ctx.keepdim, centred.shape) * 2 * centred / denominator,)
