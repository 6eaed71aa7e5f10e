"""Pick elements along one dim by an index tensor, as torch.take_along_dim (and, on a slice, torch.gather)."""
import numpy as np

from tinygraph.broadcast import unbroadcast
from tinygraph.errors import OpError
from tinygraph.op import Op
from tinygraph.ops._axes import one_axis
from tinygraph.recorded_backward import sum_to_shape
from tinygraph.registry import register_op
from tinygraph.tensor import Tensor
from tinygraph.ops._forward_mode import ByLinearity


@register_op("take_along_dim", forward="{out}[…k…] = {x}[…{index}[…k…]…] along dim",
             backward=("δ{x}[…{index}[…k…]…] += δ{out}[…k…]", "δ{index}: none (indices are constants)"))
class TakeAlongDim(Op):
    """out[..., k, ...] = x[..., index[..., k, ...], ...] along `dim` (dims other than `dim` broadcast);
    δx = δout scatter-added back to the places it was read from (a place read twice gets both).

    Negative indices count from the end; dim=None reads the flattened x with a flattened index, as PyTorch.
    """

    @staticmethod
    def forward(ctx, x: np.ndarray, index: np.ndarray, *, dim=None) -> np.ndarray:
        if index.dtype.kind not in "iu":
            raise OpError("take_along_dim", "index", f"index must be an integer tensor, got dtype {index.dtype}")
        ctx.x_shape = x.shape
        if dim is None:
            x, index, axis = x.reshape(-1), index.reshape(-1), 0
        else:
            axis = one_axis("take_along_dim", dim, x.shape)
            if x.ndim == 0:
                x, index = x.reshape(1), index.reshape(1)
            if index.ndim != x.ndim:
                raise OpError("take_along_dim", "index", f"index of shape {index.shape} must have as many dims "
                              f"as x of shape {x.shape}")
        try:
            shape = np.broadcast_shapes(x.shape[:axis] + (1,) + x.shape[axis + 1:],
                                        index.shape[:axis] + (1,) + index.shape[axis + 1:])
        except ValueError:
            raise OpError("take_along_dim", None, f"x of shape {x.shape} and index of shape {index.shape} do not "
                          f"broadcast outside dim {axis}") from None
        size = x.shape[axis]
        if index.size and (index.min() < -size or index.max() >= size):
            raise OpError("take_along_dim", "index", f"index values must lie in [{-size}, {size}) for dim {axis} "
                          f"of x of shape {x.shape}; got [{index.min()}, {index.max()}]")
        ctx.read_shape = x.shape                  # x as read: flattened (dim=None) or 1-D (0-d x)
        x = np.broadcast_to(x, shape[:axis] + (size,) + shape[axis + 1:])
        # Negative indices count from the end; `%` also copies, so the caller may reuse its index array.
        index = np.broadcast_to(index, shape[:axis] + (index.shape[axis],) + shape[axis + 1:]) % max(size, 1)
        ctx.axis, ctx.index, ctx.broadcast_shape = axis, index, x.shape
        return np.take_along_axis(x, index, axis=axis)

    jvp = ByLinearity()      # forward mode: linear in its floating inputs, so J·t = f(t)

    @staticmethod
    def backward(ctx, grad_out):
        grad_x = np.zeros(ctx.broadcast_shape, dtype=grad_out.dtype)
        np.add.at(grad_x, full_index(ctx.index, ctx.axis), grad_out)   # repeated indices accumulate
        grad_x, _ = unbroadcast(grad_x, ctx.read_shape)                  # undo broadcasting outside dim
        return grad_x.reshape(ctx.x_shape), None

    @staticmethod
    def differentiable_backward(ctx, grad_out):
        """δx = δout scatter-added back (scatter_add_along_dim, this op's adjoint), summed where x was broadcast."""
        zeros = Tensor(np.zeros(ctx.broadcast_shape, dtype=grad_out.dtype))
        # Through the method: ops/scatter_add_along_dim.py imports this module, not the other way round.
        grad_x = zeros.scatter_add_along_dim(ctx.index, grad_out, dim=ctx.axis)
        return sum_to_shape(grad_x, ctx.read_shape).reshape(*ctx.x_shape), None


def full_index(index: np.ndarray, axis: int) -> tuple:
    """The NumPy index that reads element [..., index[..., k, ...], ...] for every position of `index`."""
    positions = list(np.indices(index.shape, sparse=True))
    positions[axis] = index
    return tuple(positions)
