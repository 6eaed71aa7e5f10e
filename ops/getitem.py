"""Indexing and slicing, x[index]: basic (ints, slices, None, ...), integer arrays and boolean masks."""
import numpy as np

from tinygraph.errors import OpError
from tinygraph.op import Op
from tinygraph.registry import register_op


class IndexOpError(OpError, IndexError):
    """An index out of range: an OpError naming the op, and an IndexError as Python and PyTorch raise."""


@register_op("getitem", forward="{out} = {x}[i]", backward="δ{x} = 0, then δ{x}[i] += δ{out} (repeats add up)")
class GetItem(Op):
    """out = x[i]; backward scatter-adds: δx[i] += δout, so an element picked twice gets both gradients."""

    @staticmethod
    def forward(ctx, x: np.ndarray, *, index) -> np.ndarray:
        ctx.shape, ctx.index = x.shape, index
        try:
            return x[index]
        except IndexError as error:
            raise IndexOpError("getitem", "index", f"{error} (index {index!r}, input of shape {x.shape})") from None

    @staticmethod
    def backward(ctx, grad_out):
        grad_x = np.zeros(ctx.shape, dtype=grad_out.dtype)
        np.add.at(grad_x, ctx.index, grad_out)
        return (grad_x,)
