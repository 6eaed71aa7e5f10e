"""Elementwise clamp of x into [min, max] (either bound may be left out)."""
import numpy as np

from tinygraph.errors import OpError
from tinygraph.op import Op, apply
from tinygraph.ops.where import Where
from tinygraph.registry import register_op


@register_op("clamp", forward="{out} = min(max({x}, lo), hi)", backward="δ{x} = δ{out} ⊙ 1[lo ≤ {x} ≤ hi]")
class Clamp(Op):
    """out = x clamped to [min, max]; δx = δout where x was inside (bounds included, as PyTorch), else exactly 0."""

    @staticmethod
    def forward(ctx, x: np.ndarray, *, min: float | None = None, max: float | None = None) -> np.ndarray:
        if min is None and max is None:
            raise OpError("clamp", None, f"give min, max or both (input of shape {x.shape})")
        for name, bound in (("min", min), ("max", max)):
            if bound is not None and np.ndim(bound) != 0:
                raise OpError("clamp", name, f"{name} must be a number, got shape {np.shape(bound)} "
                              f"(input of shape {x.shape}); use tg.maximum / tg.minimum for tensors")
        # NumPy scalars are weak, as the README promises: float32 clamped at np.float64(1e-8) stays float32
        min, max = (None if bound is None else np.asarray(bound).item() for bound in (min, max))
        inside = np.ones(x.shape, dtype=bool)
        out = x
        if min is not None:
            inside &= x >= min
            out = np.maximum(out, min)
        if max is not None:
            inside &= x <= max
            out = np.minimum(out, max)
        ctx.save_for_backward(inside)
        return out

    @staticmethod
    def jvp(ctx, tangents, inputs, out, attrs):
        """Forward mode: ṫ_x where x is inside the bounds (as backward selects), exactly 0 outside."""
        (inside,) = ctx.saved
        return np.where(inside, tangents[0], tangents[0].dtype.type(0))

    @staticmethod
    def backward(ctx, grad_out):
        (inside,) = ctx.saved
        return (np.where(inside, grad_out, grad_out.dtype.type(0)),)      # selected: inf/NaN outside stays out

    @staticmethod
    def differentiable_backward(ctx, grad_out):
        (inside,) = ctx.saved
        return (apply(Where, inside, grad_out, 0.0),)
