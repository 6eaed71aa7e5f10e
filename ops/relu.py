"""ReLU, section 2.2 of the derivation: A = max(0, Z)."""
import numpy as np

from tinygraph import Op, register_op


@register_op("relu", forward="{out} = max(0, {x})", backward="δ{x} = δ{out} ⊙ 1[{x} > 0]")
class ReLU(Op):
    """A = max(0, Z); section 3.4: δZ = δA ⊙ 1[Z > 0] (so exactly 0 at Z = 0)."""

    @staticmethod
    def forward(ctx, x: np.ndarray) -> np.ndarray:
        positive = x > 0
        ctx.save_for_backward(positive)
        return np.where(positive, x, x.dtype.type(0))

    @staticmethod
    def backward(ctx, grad_out):
        (positive,) = ctx.saved
        return (np.where(positive, grad_out, grad_out.dtype.type(0)),)
