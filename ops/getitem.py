"""Indexing and slicing, x[index]: basic (ints, slices, None, ...), integer arrays and boolean masks."""
import numpy as np

from tinygraph.errors import OpError
from tinygraph.op import Op, apply
from tinygraph.ops._indexing import added_at, as_pytorch_reads_it, copied
from tinygraph.ops.add_at import AddAt
from tinygraph.registry import register_op
from tinygraph.ops._forward_mode import ByLinearity


class IndexOpError(OpError, IndexError):
    """An index out of range: an OpError naming the op, and an IndexError as Python and PyTorch raise."""


@register_op("getitem", forward="{out} = {x}[i]", backward="δ{x} = 0, then δ{x}[i] += δ{out} (repeats add up)")
class GetItem(Op):
    """out = x[i]; backward scatter-adds: δx[i] += δout, so an element picked twice gets both gradients."""

    @staticmethod
    def forward(ctx, x: np.ndarray, *, index) -> np.ndarray:
        ctx.shape = x.shape
        # The rule keeps its own copy of every index array: the caller may refill its array (or index
        # tensor) before backward, and PyTorch, too, copies a NumPy index.
        ctx.index = index = copied(index)
        ctx.steps = steps = as_pytorch_reads_it(index, x.ndim)
        ctx.step_shapes, out = [], x
        try:
            for step in steps:
                ctx.step_shapes.append(out.shape)
                out = out[step]
            return out
        except IndexError as error:
            raise IndexOpError("getitem", "index", f"{error} (index {index!r}, input of shape {x.shape})") from None

    jvp = ByLinearity()      # forward mode: linear in its floating inputs, so J·t = f(t)

    @staticmethod
    def backward(ctx, grad_out):
        return (added_at(grad_out, ctx.steps, ctx.step_shapes),)      # δx[i] += δout: repeats add up

    @staticmethod
    def differentiable_backward(ctx, grad_out):
        return (apply(AddAt, grad_out, index=ctx.index, shape=ctx.shape),)
