"""Variance over some dims, with Bessel's correction by default (as PyTorch)."""
import math

import numpy as np

from tinygraph.op import Op
from tinygraph.ops._axes import accumulating, reduction_axes, restore_axes
from tinygraph.recorded_backward import by_composition
from tinygraph.registry import register_op


@register_op("var", forward="{out} = Σ ({x} − x̄)² / (n − c)", backward="δ{x} = δ{out} ⊙ 2({x} − x̄) / (n − c)")
class Var(Op):
    """out = Σ (x − x̄)² / (n − correction), x̄ the mean over `dim`; δx = δout · 2(x − x̄) / (n − correction).

    (The path through x̄ adds Σ 2(x − x̄) = 0, so it is left out.) n ≤ correction gives inf or NaN, as in PyTorch.
    float16 is computed in float32 and float32 in float64, rounded once, as PyTorch's CPU kernels do.
    """

    aliases = {"axis": "dim", "keepdims": "keepdim"}     # NumPy's names work too

    @staticmethod
    def forward(ctx, x: np.ndarray, *, dim=None, correction: float = 1, keepdim: bool = False) -> np.ndarray:
        axes = reduction_axes("var", dim, x.shape)
        centred, denominator, dtype = centre(x, axes, correction)
        ctx.axes, ctx.keepdim, ctx.dtype = axes, keepdim, dtype
        ctx.save_for_backward(centred, denominator)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):     # past float32: inf, as PyTorch
            return (np.sum(centred * centred, axis=axes, keepdims=keepdim) / denominator).astype(dtype, copy=False)

    @staticmethod
    def backward(ctx, grad_out):
        centred, denominator = ctx.saved
        with np.errstate(invalid="ignore", divide="ignore"):
            grad = restore_axes(grad_out, ctx.axes, ctx.keepdim, centred.shape) * 2 * centred / denominator
        return (grad.astype(ctx.dtype, copy=False),)

    differentiable_backward = by_composition(lambda ctx, x: composed_var(x, ctx.axes, ctx.keepdim, ctx.saved[1]))


def composed_var(x, axes, keepdim: bool, denominator):
    """Σ (x − x̄)² / (n − correction) in ops (the denominator, a number, as forward computed it)."""
    centred = x - x.mean(axes, keepdim=True)
    return (centred * centred).sum(axes, keepdim=keepdim) / denominator.item()


def centre(x: np.ndarray, axes, correction: float) -> tuple[np.ndarray, np.generic, np.dtype]:
    """(x − x̄ in the accumulating dtype, n − correction (at least 0) in it, the result's dtype), for var and std."""
    n = x.size if axes is None else math.prod([x.shape[a] for a in axes])
    dtype = x.dtype if x.dtype.kind == "f" else np.dtype(np.float64)
    # PyTorch's CPU var/std accumulate float16 in float32 and float32 in float64 (its acc_type), so
    # float32 values near 1e37 have a finite spread there, not the inf of squares summed in float32.
    accumulate = np.dtype(np.float64) if dtype == np.float32 else accumulating(dtype)
    with np.errstate(invalid="ignore", divide="ignore"):
        values = x.astype(accumulate, copy=False)
        centred = values - np.mean(values, axis=axes, keepdims=True, dtype=accumulate)
    return centred, accumulate.type(max(n - correction, 0)), dtype
