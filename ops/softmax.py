"""Softmax along one dim, computed stably (each slice's max subtracted first)."""
import numpy as np

from tinygraph.op import Op
from tinygraph.ops._axes import accumulating, one_axis
from tinygraph.registry import register_op


@register_op("softmax", forward="{out} = e^{x} / Σ e^{x}", backward="δ{x} = {out} ⊙ (δ{out} − Σ δ{out} ⊙ {out})")
class Softmax(Op):
    """out = e^(x − m) / Σ e^(x − m) along `dim` (m the max, so e^ ≤ 1); δx = out ⊙ (δout − Σ δout ⊙ out).

    float16 is computed in float32 and rounded once, as PyTorch's CPU kernel.
    """

    @staticmethod
    def forward(ctx, x: np.ndarray, *, dim: int) -> np.ndarray:
        axis = one_axis("softmax", dim, x.shape) if x.ndim else ()
        values = x.astype(accumulating(x.dtype), copy=False)
        e = np.exp(values - np.max(values, axis=axis, keepdims=True)) if x.size else values
        out = e / np.sum(e, axis=axis, keepdims=True)
        ctx.axis = axis
        ctx.save_for_backward(out)
        return out.astype(x.dtype, copy=False) if x.dtype.kind == "f" else out   # integers: float64, as NumPy

    @staticmethod
    def jvp(ctx, tangents, inputs, out, attrs):
        """Forward mode: ṫ_out = out ⊙ (ṫ_x − Σ out ⊙ ṫ_x) along dim."""
        t = tangents[0]
        return out * (t - np.sum(out * t, axis=ctx.axis, keepdims=True))

    @staticmethod
    def backward(ctx, grad_out):
        (out,) = ctx.saved
        grad = grad_out.astype(out.dtype, copy=False)
        return ((out * (grad - np.sum(grad * out, axis=ctx.axis, keepdims=True))).astype(grad_out.dtype, copy=False),)

    @staticmethod
    def differentiable_backward(ctx, grad_out):
        (out,) = ctx.saved
        if out.ndim == 0:                     # the softmax of one number is 1: no gradient
            return (grad_out * 0.0,)
        y = ctx.output(out)
        return (y * (grad_out - (grad_out * y).sum(ctx.axis, keepdim=True)),)
