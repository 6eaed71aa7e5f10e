"""log softmax along one dim, computed stably (each slice's max subtracted first)."""
import numpy as np

from tinygraph.op import Op
from tinygraph.ops._axes import one_axis
from tinygraph.registry import register_op


@register_op("log_softmax", forward="{out} = {x} − log Σ e^{x}",
             backward="δ{x} = δ{out} − e^{out} ⊙ Σ δ{out}")
class LogSoftmax(Op):
    """out = x − m − log Σ e^(x − m) along `dim` (m the max); δx = δout − softmax(x) ⊙ Σ δout."""

    @staticmethod
    def forward(ctx, x: np.ndarray, *, dim: int) -> np.ndarray:
        axis = one_axis("log_softmax", dim, x.shape) if x.ndim else ()
        shifted = x - np.max(x, axis=axis, keepdims=True) if x.size else x
        out = shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))
        ctx.axis = axis
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        (out,) = ctx.saved
        return (grad_out - np.exp(out) * np.sum(grad_out, axis=ctx.axis, keepdims=True),)
