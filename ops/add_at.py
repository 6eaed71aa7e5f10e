"""Scatter-add into zeros, out = 0, then out[i] += g: what indexing's backward does, as an op of its own."""
import numpy as np

from tinygraph.op import Op
from tinygraph.ops._indexing import added_at, as_pytorch_reads_it, copied
from tinygraph.registry import register_op
from tinygraph.ops._forward_mode import ByLinearity


@register_op("add_at", forward="{out} = 0, then {out}[i] += {g} (repeats add up)", backward="δ{g} = δ{out}[i]")
class AddAt(Op):
    """out = zeros(shape), then out[i] += g (np.add.at: an element picked twice gets both).

    The adjoint of x[i] (getitem), so each is the other's gradient: getitem's backward written as
    an op, which makes indexing (and max-pooling's routing) differentiable twice and more.
    """

    @staticmethod
    def forward(ctx, g: np.ndarray, *, index, shape: tuple) -> np.ndarray:
        ctx.index = index = copied(index)
        steps = as_pytorch_reads_it(index, len(shape))
        # For two indexing steps (integers, then arrays), each step's input shape, outermost first.
        shapes, probe = [], np.empty(tuple(shape), dtype=np.bool_)
        for step in steps:
            shapes.append(probe.shape)
            probe = probe[step]
        return added_at(g, steps, shapes)

    jvp = ByLinearity()      # forward mode: linear in its floating inputs, so J·t = f(t)

    @staticmethod
    def backward(ctx, grad_out):
        grad = grad_out
        for step in as_pytorch_reads_it(ctx.index, grad_out.ndim):      # δg = δout[i]
            grad = grad[step]
        return (grad,)

    @staticmethod
    def differentiable_backward(ctx, grad_out):
        return (grad_out[ctx.index],)                 # getitem, recorded
