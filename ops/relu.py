"""ReLU, section 2.2 of the derivation: A = max(0, Z); its gradient, section 3.4."""
import numpy as np

from tinygraph.op import Op, apply
from tinygraph.ops.where import Where
from tinygraph.parallel import Split, gradient_array, output_array
from tinygraph.registry import register_op


@register_op("relu", forward="{out} = max(0, {x})", backward="δ{x} = δ{out} ⊙ 1[{x} > 0]")
class ReLU(Op):
    """A = max(0, Z);  δZ = δA where Z > 0 and exactly 0 where Z ≤ 0 (§3.4), selected, so a NaN or inf
    arriving at a dead unit stays out (PyTorch's threshold_backward; a NaN input passes δA, as there)."""

    @staticmethod
    def forward(ctx, x):
        alive = np.asarray(x <= 0)     # 1[Z > 0], NaN counted alive (it passes δA, as in PyTorch):
        np.logical_not(alive, out=alive)   # a quarter of Z's bytes in float32
        ctx.save_for_backward(alive)
        A = output_array(x.shape, x.dtype if x.dtype.kind != "b" else np.dtype(int))   # bools count as ints
        return np.maximum(x, 0, out=A)        # NaN stays NaN, as in PyTorch

    @staticmethod
    def jvp(ctx, tangents, inputs, out, attrs):
        """Forward mode: ṫ_out = ṫ_x where x > 0, exactly 0 elsewhere (selected, so NaN stays out)."""
        return np.where(inputs[0] > 0, tangents[0], tangents[0].dtype.type(0))

    @staticmethod
    def backward(ctx, grad_out):
        (alive,) = ctx.saved
        grad_Z = gradient_array(0, grad_out.shape, grad_out.dtype)
        if np.isfinite(grad_out.sum()):         # every δA finite: δA ⊙ 1[Z > 0] is exact, 0 · δA = 0
            return (np.multiply(grad_out, alive, out=grad_Z),)
        np.copyto(grad_Z, grad_out)             # an inf or NaN arrived: select, so it stays out of dead
        np.copyto(grad_Z, 0, where=~alive)      # units (a masked copy, ~10× slower than the product)
        return (grad_Z,)

    @staticmethod
    def differentiable_backward(ctx, grad_out):
        """δZ = δA where Z > 0, exactly 0 elsewhere: the mask is a constant, so it adds no curvature."""
        return (apply(Where, ctx.saved_whole(0), grad_out, 0.0),)

    @staticmethod
    def backward_note(x):
        dead = float(np.mean(x <= 0)) if x.size else 0.0
        return f"dead units: {dead:.0%} of {{x}} ≤ 0 pass no gradient"

    # Elementwise: the machinery may run slices of the batch in parallel (tinygraph/parallel.py).
    split = Split(over="x")
