"""Max-unpooling: the pooled values put back where max_pool2d(return_indices=True) found them, zeros elsewhere."""
import numpy as np

from tinygraph.errors import OpError
from tinygraph.op import Op, apply
from tinygraph.ops.take_along_dim import TakeAlongDim
from tinygraph.registry import register_op


@register_op("max_unpool2d", forward="{out}[n, c, {indices}[n, c, u, v]] = {x}[n, c, u, v], 0 elsewhere",
             backward=("δ{x}[n, c, u, v] = δ{out}[n, c, {indices}[n, c, u, v]]", "δ{indices}: none (indices are constants)"))
class MaxUnpool2d(Op):
    """out (N, C, Ho, Wo) zero but out.flat[n, c][indices[n, c, u, v]] = x[n, c, u, v] (indices into Ho·Wo);
    δx = δout read at the same places. A place named twice keeps one value, as PyTorch."""

    @staticmethod
    def forward(ctx, x: np.ndarray, indices: np.ndarray, *, output_size) -> np.ndarray:
        if x.ndim != 4 or indices.shape != x.shape:
            raise OpError("max_unpool2d", "indices", f"input x must be 4-D (N, C, H, W) and indices of its shape; "
                          f"got x {x.shape}, indices {indices.shape}")
        if indices.dtype.kind not in "iu":
            raise OpError("max_unpool2d", "indices", f"indices must be integers, got dtype {indices.dtype}")
        N, C = x.shape[:2]
        Ho, Wo = output_size
        places = indices.reshape(N, C, x.shape[2] * x.shape[3])
        if places.size and (places.min() < 0 or places.max() >= Ho * Wo):
            raise OpError("max_unpool2d", "indices", f"indices must lie in [0, {Ho * Wo}) for an output of "
                          f"{Ho}×{Wo}; got [{places.min()}, {places.max()}] (x {x.shape})")
        out = np.zeros((N, C, Ho * Wo), dtype=x.dtype)
        np.put_along_axis(out, places, x.reshape(places.shape), axis=2)
        ctx.places, ctx.x_shape = places.copy(), x.shape           # a copy: the caller may reuse indices
        return out.reshape(N, C, Ho, Wo)

    @staticmethod
    def backward(ctx, grad_out):
        N, C = ctx.x_shape[:2]
        grad_x = np.take_along_axis(grad_out.reshape(N, C, grad_out.shape[2] * grad_out.shape[3]), ctx.places, axis=2)
        return grad_x.reshape(ctx.x_shape), None

    @staticmethod
    def differentiable_backward(ctx, grad_out):
        """δx = δout read at the same places: take_along_dim over the flattened Ho·Wo (whose rule scatters back)."""
        N, C = ctx.x_shape[:2]
        places = grad_out.reshape(N, C, grad_out.shape[2] * grad_out.shape[3])
        return apply(TakeAlongDim, places, ctx.places, dim=2).reshape(*ctx.x_shape), None
