"""log softmax along one dim, computed stably (each slice's max subtracted first)."""
import numpy as np

from tinygraph.op import Op
from tinygraph.ops._axes import accumulating, one_axis
from tinygraph.registry import register_op


@register_op("log_softmax", forward="{out} = {x} − log Σ e^{x}",
             backward="δ{x} = δ{out} − e^{out} ⊙ Σ δ{out}")
class LogSoftmax(Op):
    """out = x − m − log Σ e^(x − m) along `dim` (m the max); δx = δout − softmax(x) ⊙ Σ δout.

    float16 is computed in float32 and rounded once, as PyTorch's CPU kernel.
    """

    @staticmethod
    def forward(ctx, x: np.ndarray, *, dim: int) -> np.ndarray:
        axis = one_axis("log_softmax", dim, x.shape) if x.ndim else ()
        values = x.astype(accumulating(x.dtype), copy=False)
        shifted = values - np.max(values, axis=axis, keepdims=True) if x.size else values
        out = shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))
        ctx.axis = axis
        ctx.save_for_backward(out)
        return out.astype(x.dtype, copy=False) if x.dtype.kind == "f" else out   # integers: float64, as NumPy

    @staticmethod
    def jvp(ctx, tangents, inputs, out, attrs):
        """Forward mode: ṫ_out = ṫ_x − Σ softmax ⊙ ṫ_x along dim."""
        t = tangents[0]
        return t - np.sum(np.exp(out) * t, axis=ctx.axis, keepdims=True)

    @staticmethod
    def backward(ctx, grad_out):
        (out,) = ctx.saved
        grad = grad_out.astype(out.dtype, copy=False)
        return ((grad - np.exp(out) * np.sum(grad, axis=ctx.axis, keepdims=True)).astype(grad_out.dtype, copy=False),)

    @staticmethod
    def differentiable_backward(ctx, grad_out):
        (out,) = ctx.saved
        if out.ndim == 0:
            return (grad_out * 0.0,)
        return (grad_out - ctx.output(out).exp() * grad_out.sum(ctx.axis, keepdim=True),)
