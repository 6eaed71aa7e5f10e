"""Running sums along one dim, as torch.cumsum."""
import numpy as np

from tinygraph.op import Op
from tinygraph.ops._axes import one_axis
from tinygraph.registry import register_op
from tinygraph.ops._forward_mode import ByLinearity


@register_op("cumsum", forward="{out}_k = Σ_(i ≤ k) {x}_i", backward="δ{x}_i = Σ_(k ≥ i) δ{out}_k")
class Cumsum(Op):
    """out_k = Σ_{i ≤ k} x_i along `dim`;  δx_i = Σ_{k ≥ i} δout_k, the running sum taken from the end.

    Integer and bool inputs sum in int64, as PyTorch.
    """

    @staticmethod
    def forward(ctx, x: np.ndarray, *, dim) -> np.ndarray:
        ctx.axis = one_axis("cumsum", dim, x.shape)
        if x.ndim == 0:
            return x.astype(np.int64) if x.dtype.kind in "biu" else x.copy()
        return np.cumsum(x, axis=ctx.axis, dtype=np.int64 if x.dtype.kind in "biu" else x.dtype)

    jvp = ByLinearity()      # forward mode: linear in its floating inputs, so J·t = f(t)

    @staticmethod
    def backward(ctx, grad_out):
        if grad_out.ndim == 0:
            return (grad_out,)
        reverse = np.flip(grad_out, axis=ctx.axis)
        return (np.ascontiguousarray(np.flip(np.cumsum(reverse, axis=ctx.axis), axis=ctx.axis)),)

    @staticmethod
    def differentiable_backward(ctx, grad_out):
        if grad_out.ndim == 0:
            return (grad_out,)
        reverse = (slice(None),) * ctx.axis + (slice(None, None, -1),)
        return (grad_out[reverse].cumsum(ctx.axis)[reverse],)
