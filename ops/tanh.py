"""Elementwise hyperbolic tangent."""
import numpy as np

from tinygraph import buffers
from tinygraph.op import Op
from tinygraph.registry import register_op


@register_op("tanh", forward="{out} = tanh({x})", backward="δ{x} = δ{out} ⊙ (1 − {out}²)")
class Tanh(Op):
    """out = tanh x; δx = δout · (1 − out²), so backward keeps the output."""

    @staticmethod
    def forward(ctx, x: np.ndarray) -> np.ndarray:
        out = np.tanh(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def jvp(ctx, tangents, inputs, out, attrs):
        """Forward mode: ṫ_out = (1 − out²) ⊙ ṫ_x."""
        return tangents[0] * (1 - out * out)

    @staticmethod
    def backward(ctx, grad_out):
        (out,) = ctx.saved
        grad_x = np.multiply(out, out, out=buffers.empty(out.shape, np.result_type(grad_out, out)))   # out²
        np.subtract(1, grad_x, out=grad_x)                               # 1 − out², in place: no temporaries
        return (np.multiply(grad_out, grad_x, out=grad_x),)

    @staticmethod
    def differentiable_backward(ctx, grad_out):
        (out,) = ctx.saved
        out = ctx.output(out)
        return (grad_out * (1 - out * out),)
