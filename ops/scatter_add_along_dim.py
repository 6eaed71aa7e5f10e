"""Add values into a tensor at indices along one dim: torch.scatter_add(x, dim, index, src)."""
import numpy as np

from tinygraph.errors import OpError
from tinygraph.op import Op, apply
from tinygraph.ops._axes import one_axis
from tinygraph.ops.setitem import SetItem
from tinygraph.ops.take_along_dim import TakeAlongDim, full_index
from tinygraph.registry import register_op
from tinygraph.ops._forward_mode import ByLinearity


@register_op("scatter_add_along_dim", forward="{out} = {x};  {out}[…{index}[…k…]…] += {src}[…k…] along dim",
             backward=("δ{x} = δ{out}", "δ{index}: none (indices are constants)", "δ{src}[…k…] = δ{out}[…{index}[…k…]…]"))
class ScatterAddAlongDim(Op):
    """out = x with src[..., k, ...] added at [..., index[..., k, ...], ...] along `dim`, for every
    position of index (src may be larger: only its index-shaped corner is used, as PyTorch);
    δx = δout, δsrc = δout read back at the same places (0 outside index's corner).
    """

    @staticmethod
    def forward(ctx, x: np.ndarray, index: np.ndarray, src: np.ndarray, *, dim) -> np.ndarray:
        axis = one_axis("scatter_add_along_dim", dim, x.shape)
        if index.dtype.kind not in "iu":
            raise OpError("scatter_add_along_dim", "index", f"index must be an integer tensor, got dtype {index.dtype}")
        if not (index.ndim == x.ndim == src.ndim) and index.size:
            raise OpError("scatter_add_along_dim", "index", f"x {x.shape}, index {index.shape} and src {src.shape} "
                          "must have the same number of dims")
        too_large = [d for d in range(index.ndim) if index.shape[d] > src.shape[d]
                     or (d != axis and index.shape[d] > x.shape[d])]
        if too_large:
            raise OpError("scatter_add_along_dim", "index", f"index of shape {index.shape} is larger than src {src.shape} "
                          f"or (outside dim {axis}) than x {x.shape} in dim {too_large[0]}")
        if index.size and (index.min() < 0 or index.max() >= x.shape[axis]):
            raise OpError("scatter_add_along_dim", "index", f"index values must lie in [0, {x.shape[axis]}) for dim {axis} "
                          f"of x of shape {x.shape}; got [{index.min()}, {index.max()}]")
        corner = tuple(slice(0, n) for n in index.shape)
        # A copy of index: the caller may reuse its array before backward().
        ctx.axis, ctx.index, ctx.corner, ctx.src_shape = axis, index.copy(), corner, src.shape
        out = x.astype(np.result_type(x, src), copy=True)
        np.add.at(out, full_index(index, axis), src[corner])          # repeated indices accumulate
        return out

    jvp = ByLinearity()      # forward mode: linear in its floating inputs, so J·t = f(t)

    @staticmethod
    def backward(ctx, grad_out):
        need_x, _, need_src = ctx.needs_input_grad
        grad_src = None
        if need_src:
            grad_src = np.zeros(ctx.src_shape, dtype=grad_out.dtype)
            grad_src[ctx.corner] = grad_out[full_index(ctx.index, ctx.axis)]
        return (grad_out if need_x else None, None, grad_src)

    @staticmethod
    def differentiable_backward(ctx, grad_out):
        """δsrc's corner = δout gathered at the same places (take_along_dim, this op's adjoint), 0 elsewhere."""
        need_x, _, need_src = ctx.needs_input_grad
        grad_src = None
        if need_src:
            grad_src = np.zeros(ctx.src_shape, dtype=grad_out.dtype)
            if ctx.index.size:
                # δout's part beside index's corner (all of dim), read at the indices.
                beside = tuple(slice(None) if d == ctx.axis else slice(0, n) for d, n in enumerate(ctx.index.shape))
                picked = apply(TakeAlongDim, grad_out[beside], ctx.index, dim=ctx.axis)
                grad_src = apply(SetItem, grad_src, picked, index=ctx.corner)
        return (grad_out if need_x else None, None, grad_src)
