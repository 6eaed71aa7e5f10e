"""Softmax along one dim, computed stably (each slice's max subtracted first)."""
import numpy as np

from tinygraph.op import Op
from tinygraph.ops._axes import one_axis
from tinygraph.registry import register_op


@register_op("softmax", forward="{out} = e^{x} / Σ e^{x}", backward="δ{x} = {out} ⊙ (δ{out} − Σ δ{out} ⊙ {out})")
class Softmax(Op):
    """out = e^(x − m) / Σ e^(x − m) along `dim` (m the max, so e^ ≤ 1); δx = out ⊙ (δout − Σ δout ⊙ out)."""

    @staticmethod
    def forward(ctx, x: np.ndarray, *, dim: int) -> np.ndarray:
        axis = one_axis("softmax", dim, x.shape) if x.ndim else ()
        e = np.exp(x - np.max(x, axis=axis, keepdims=True)) if x.size else x
        out = e / np.sum(e, axis=axis, keepdims=True)
        ctx.axis = axis
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        (out,) = ctx.saved
        return (out * (grad_out - np.sum(grad_out * out, axis=ctx.axis, keepdims=True)),)
