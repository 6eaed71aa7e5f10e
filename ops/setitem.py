"""Writing into a tensor, x[i] = v, recorded as the op it is: out = x with out[i] = v."""
import numpy as np

from tinygraph.errors import OpError
from tinygraph.op import Op, apply
from tinygraph.ops._indexing import as_pytorch_reads_it, copied
from tinygraph.registry import register_op
from tinygraph.ops._forward_mode import ByLinearity


@register_op("setitem", forward="{out} = {x}, then {out}[i] = {value}",
             backward=("δ{x} = δ{out}, then δ{x}[i] = 0", "δ{value} = δ{out}[i], summed over broadcast axes"),
             broadcasting=True)
class SetItem(Op):
    """out = x, then out[i] = value (value broadcast to out[i]);  δx = δout with δx[i] = 0, δvalue = δout[i].

    The overwritten elements of x get exactly 0, whatever arrives (inf, NaN): the rule selects, it
    does not multiply. The index is copied, so changing the caller's index array later is harmless.
    """

    @staticmethod
    def forward(ctx, x: np.ndarray, value: np.ndarray, *, index) -> np.ndarray:
        ctx.index = index = copied(index)
        ctx.steps = steps = as_pytorch_reads_it(index, x.ndim)
        out = x.copy()
        try:
            _region(out, steps)[steps[-1]] = value
        except (IndexError, ValueError) as error:
            raise OpError("setitem", "value", f"cannot write a value of shape {np.shape(value)} into "
                          f"x[{index!r}] of a tensor of shape {x.shape}: {error}") from None
        return out

    jvp = ByLinearity()      # forward mode: linear in its floating inputs, so J·t = f(t)

    @staticmethod
    def backward(ctx, grad_out):
        steps = ctx.steps
        grad_x = None
        if ctx.needs_input_grad[0]:
            grad_x = grad_out.copy()
            _region(grad_x, steps)[steps[-1]] = 0
        grad_value = _region(grad_out, steps)[steps[-1]] if ctx.needs_input_grad[1] else None
        return grad_x, grad_value

    @staticmethod
    def differentiable_backward(ctx, grad_out):
        need_x, need_value = ctx.needs_input_grad
        grad_x = apply(SetItem, grad_out, 0, index=ctx.index) if need_x else None
        grad_value = grad_out[ctx.index] if need_value else None
        return grad_x, grad_value


def _region(array: np.ndarray, steps: tuple) -> np.ndarray:
    """The view of `array` that the last indexing step writes into (basic steps give views)."""
    for step in steps[:-1]:
        array = array[step]
    return array

