"""Standard deviation over some dims, with Bessel's correction by default (as PyTorch)."""
import numpy as np

from tinygraph.op import Op
from tinygraph.ops._axes import reduction_axes, restore_axes
from tinygraph.ops.var import centre, composed_var
from tinygraph.recorded_backward import by_composition
from tinygraph.registry import register_op


@register_op("std", forward="{out} = √(Σ ({x} − x̄)² / (n − c))",
             backward="δ{x} = δ{out} ⊙ ({x} − x̄) / ((n − c) {out}), 0 where {out} = 0")
class Std(Op):
    """out = √var(x); δx = δout · (x − x̄) / ((n − correction) · out), and 0 where out = 0 (as PyTorch).

    Its own op rather than sqrt(var): at out = 0 the composition would give 0 · ∞ = NaN.
    float16 is computed in float32 and float32 in float64, rounded once, as PyTorch's CPU kernels do.
    """

    aliases = {"axis": "dim", "keepdims": "keepdim"}     # NumPy's names work too

    @staticmethod
    def forward(ctx, x: np.ndarray, *, dim=None, correction: float = 1, keepdim: bool = False) -> np.ndarray:
        axes = reduction_axes("std", dim, x.shape)
        centred, denominator, dtype = centre(x, axes, correction)
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.sqrt(np.sum(centred * centred, axis=axes, keepdims=True) / denominator)
        ctx.axes, ctx.keepdim, ctx.dtype = axes, keepdim, dtype
        ctx.save_for_backward(centred, denominator, out)
        with np.errstate(over="ignore"):                # past float32: inf, as PyTorch
            out = out.astype(dtype, copy=False)
        return out if keepdim else np.squeeze(out, axis=axes)

    @staticmethod
    def backward(ctx, grad_out):
        centred, denominator, out = ctx.saved
        with np.errstate(invalid="ignore", divide="ignore"):
            grad_var = np.where(out == 0, 0, restore_axes(grad_out, ctx.axes, ctx.keepdim, centred.shape) / (2 * out))
            return ((grad_var * 2 * centred / denominator).astype(ctx.dtype, copy=False),)

    differentiable_backward = by_composition(
        lambda ctx, x: composed_var(x, ctx.axes, ctx.keepdim, ctx.saved[1]).sqrt())
