"""Indexing and slicing, x[index]: basic (ints, slices, None, ...), integer arrays and boolean masks."""
import numpy as np

from tinygraph.errors import OpError
from tinygraph.op import Op, apply
from tinygraph.registry import register_op


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
        ctx.index = index = _copied(index)
        ctx.steps = steps = _as_pytorch_reads_it(index, x.ndim)
        ctx.step_shapes, out = [], x
        try:
            for step in steps:
                ctx.step_shapes.append(out.shape)
                out = out[step]
            return out
        except IndexError as error:
            raise IndexOpError("getitem", "index", f"{error} (index {index!r}, input of shape {x.shape})") from None

    @staticmethod
    def backward(ctx, grad_out):
        grad = grad_out
        for step, shape in zip(reversed(ctx.steps), reversed(ctx.step_shapes)):
            grad_in = np.zeros(shape, dtype=grad_out.dtype)
            np.add.at(grad_in, step, grad)          # δx[i] += δout[...]: repeated indices add up
            grad = grad_in
        return (grad,)

    @staticmethod
    def differentiable_backward(ctx, grad_out):
        from tinygraph.ops.add_at import AddAt        # add_at imports this module
        return (apply(AddAt, grad_out, index=ctx.index, shape=ctx.shape),)


def _copied(index):
    """The index with each array in it copied (ints, slices, None and Ellipsis are immutable).

    A 0-d integer array (a 0-d index tensor, labels[0]) becomes an int: PyTorch reads it as one, a
    basic index, where NumPy would make it an array that moves the other arrays' axes to the front.
    """
    if isinstance(index, tuple):
        return tuple(_copied_part(p) for p in index)
    return _copied_part(index)


def _copied_part(part):
    if not isinstance(part, np.ndarray):
        return part
    if part.ndim == 0 and part.dtype.kind in "iu":
        return int(part)
    return np.array(part)


def _as_pytorch_reads_it(index, ndim: int) -> tuple:
    """The index as one or two NumPy indexing steps that give PyTorch's result.

    NumPy and PyTorch agree except when integers and index arrays meet: PyTorch selects with the
    integers first (they are basic indexing there) and only then applies the arrays, while NumPy
    treats the integers as arrays too, which can move the arrays' axes to the front.
    """
    parts = index if isinstance(index, tuple) else (index,)
    arrays = [p for p in parts if isinstance(p, np.ndarray) and p.ndim > 0]
    integers = [p for p in parts if isinstance(p, (int, np.integer)) and not isinstance(p, bool)]
    if not arrays or not integers:
        return (index,)
    consumed = sum(1 if isinstance(p, (slice, int, np.integer)) or (isinstance(p, np.ndarray) and p.ndim == 0)
                   else p.ndim if isinstance(p, np.ndarray) and p.dtype == bool
                   else 1 if isinstance(p, np.ndarray) else 0 for p in parts)
    first, second = [], []                        # integers and slices, then the arrays on what is left
    for p in parts:
        if p is None or isinstance(p, slice):
            first.append(p)
            second.append(slice(None))
        elif p is Ellipsis:
            first.append(p)
            second.extend([slice(None)] * (ndim - consumed))
        elif isinstance(p, np.ndarray) and p.ndim > 0:
            first.extend([slice(None)] * (p.ndim if p.dtype == bool else 1))
            second.append(p)
        else:                                     # an integer: PyTorch selects it away now
            first.append(p)
    return tuple(first), tuple(second)
