"""ReLU, section 2.2 of the derivation: A = max(0, Z)."""
import numpy as np

from tinygraph.op import Op
from tinygraph.ops._parallel import over_rows
from tinygraph.registry import register_op


@register_op("relu", forward="{out} = max(0, {x})", backward="δ{x} = δ{out} ⊙ 1[{x} > 0]")
class ReLU(Op):
    """A = max(0, Z); section 3.4: δZ = δA ⊙ 1[Z > 0] (so exactly 0 at Z = 0)."""

    @staticmethod
    def forward(ctx, x: np.ndarray) -> np.ndarray:
        out = np.empty_like(x)
        # NaN stays NaN, as in PyTorch, so detect_anomaly can see it.
        over_rows(lambda rows: np.maximum(x[rows], 0, out=out[rows]), x, out)
        ctx.save_for_backward(out)    # A > 0 exactly where Z > 0: no mask array to keep
        return out

    @staticmethod
    def backward(ctx, grad_out):
        (out,) = ctx.saved
        grad_x = np.empty_like(grad_out)
        positive = np.empty(out.shape, dtype=bool)    # scratch made here, not in a worker thread's heap

        def part(rows):
            np.greater(out[rows], 0, out=positive[rows])
            # A multiply, not np.where: where() branches per element, ~8× slower on a random mask.
            np.multiply(grad_out[rows], positive[rows], out=grad_x[rows])

        over_rows(part, grad_out, out)
        return (grad_x,)
