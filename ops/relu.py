"""ReLU, section 2.2 of the derivation: A = max(0, Z); its gradient, section 3.4."""
import numpy as np

from tinygraph.op import Op
from tinygraph.registry import register_op


@register_op("relu", forward="{out} = max(0, {x})", backward="δ{x} = δ{out} ⊙ 1[{x} > 0]")
class ReLU(Op):
    """A = max(0, Z);  δZ = δA ⊙ 1[Z > 0], so exactly 0 at Z = 0 (§3.4)."""

    batched, output_like = ("x",), "x"     # elementwise: slices of the batch, each written in place

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x > 0)  # 1[Z > 0]: a quarter of Z's bytes in float32
        return np.maximum(x, 0, out=ctx.out)   # NaN stays NaN, as in PyTorch (out: see Op.output_like)

    @staticmethod
    def backward(ctx, grad_out):
        (positive,) = ctx.saved
        return (np.multiply(grad_out, positive, out=ctx.grad_buffer(0)),)

    @staticmethod
    def backward_note(x):
        dead = float(np.mean(x <= 0)) if x.size else 0.0
        return f"dead units: {dead:.0%} of {{x}} ≤ 0 pass no gradient"
