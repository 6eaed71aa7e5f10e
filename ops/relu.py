"""ReLU, section 2.2 of the derivation: A = max(0, Z); its gradient, section 3.4."""
import numpy as np

from tinygraph.op import Op
from tinygraph.registry import register_op


@register_op("relu", forward="{out} = max(0, {x})", backward="δ{x} = δ{out} ⊙ 1[{x} > 0]")
class ReLU(Op):
    """A = max(0, Z);  δZ = δA ⊙ 1[Z > 0], so exactly 0 at Z = 0 (§3.4)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x > 0)  # 1[Z > 0]: a quarter of Z's bytes in float32
        return np.maximum(x, 0)       # NaN stays NaN, as in PyTorch, so detect_anomaly can see it

    @staticmethod
    def backward(ctx, grad_out):
        (positive,) = ctx.saved
        return (grad_out * positive,)

    @staticmethod
    def backward_note(x):
        dead = float(np.mean(x <= 0)) if x.size else 0.0
        return f"dead units: {dead:.0%} of {{x}} ≤ 0 pass no gradient"
