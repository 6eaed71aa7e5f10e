"""Elementwise |x|."""
import numpy as np

from tinygraph.op import Op
from tinygraph.registry import register_op


@register_op("abs", forward="{out} = |{x}|", backward="δ{x} = δ{out} ⊙ sign({x})")
class Abs(Op):
    """out = |x|; δx = δout · sign(x), where sign is 0 at x = 0 and at x = NaN (as PyTorch's sgn)."""

    @staticmethod
    def forward(ctx, x: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(x)
        return np.abs(x)

    @staticmethod
    def jvp(ctx, tangents, inputs, out, attrs):
        """Forward mode: ṫ_out = sign(x) ⊙ ṫ_x (0 at x = 0, as backward)."""
        return tangents[0] * np.sign(inputs[0])

    @staticmethod
    def backward(ctx, grad_out):
        (x,) = ctx.saved
        sign_x = (x > 0).astype(x.dtype) - (x < 0)      # not np.sign: NumPy's sign(NaN) is NaN, PyTorch's 0
        return (grad_out * sign_x,)

    @staticmethod
    def differentiable_backward(ctx, grad_out):
        (x,) = ctx.saved
        return (grad_out * ((x > 0).astype(x.dtype) - (x < 0)),)
