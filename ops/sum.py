"""Sum over some axes (or all)."""
import numpy as np

from tinygraph import Op, register_op


@register_op("sum", forward="{out} = Σ {x}", backward="δ{x} = δ{out} copied over the summed axes")
class Sum(Op):
    """out = Σ x over `axis` (all axes when None); every summed element gets the same gradient."""

    @staticmethod
    def forward(ctx, x: np.ndarray, *, axis=None, keepdims: bool = False) -> np.ndarray:
        if axis is not None:
            axes = (axis,) if np.ndim(axis) == 0 else tuple(axis)
            if any(not -x.ndim <= a < x.ndim for a in axes):
                raise ValueError(f"sum: axis={axis} is out of range for an input of shape {x.shape}")
            axis = tuple(a % x.ndim for a in axes)
        ctx.shape, ctx.axis, ctx.keepdims = x.shape, axis, keepdims
        return np.sum(x, axis=axis, keepdims=keepdims)

    @staticmethod
    def backward(ctx, grad_out):
        if not ctx.keepdims:
            grad_out = np.expand_dims(grad_out, ctx.axis if ctx.axis is not None else tuple(range(len(ctx.shape))))
        return (np.broadcast_to(grad_out, ctx.shape),)
