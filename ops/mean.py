"""Mean over some dims (or all)."""
import math

import numpy as np

from tinygraph.op import Op
from tinygraph.ops._axes import accumulating, reduction_axes, restore_axes
from tinygraph.recorded_backward import broadcast_back
from tinygraph.registry import register_op
from tinygraph.tensor import Tensor
from tinygraph.ops._forward_mode import ByLinearity


@register_op("mean", forward="{out} = (1/n) Σ {x}", backward="δ{x} = δ{out} / n copied over the averaged axes")
class Mean(Op):
    """out = Σ x / n over `dim` (all dims when None), n the number of elements averaged.

    float16 sums and divides in float32 (as PyTorch does), so the mean of 100,000 ones is 1, not inf,
    and each of its gradients 1e-5, not 0.
    Averaging over an empty axis gives NaN and an empty gradient, as in PyTorch.
    """

    aliases = {"axis": "dim", "keepdims": "keepdim"}     # NumPy's names work too

    @staticmethod
    def forward(ctx, x: np.ndarray, *, dim=None, keepdim: bool = False) -> np.ndarray:
        axes = reduction_axes("mean", dim, x.shape)
        ctx.shape, ctx.axes, ctx.keepdim = x.shape, axes, keepdim
        dtype = x.dtype if x.dtype.kind == "f" else np.dtype(np.float64)
        count = x.size if axes is None else math.prod([x.shape[a] for a in axes])
        ctx.count, ctx.dtype = count, dtype
        accumulate = accumulating(dtype).type
        with np.errstate(invalid="ignore", divide="ignore"):        # 0 / 0 = NaN for an empty axis
            total = np.sum(x, axis=axes, keepdims=keepdim, dtype=accumulate)
            return np.asarray(total / accumulate(count) if count else total * np.nan).astype(dtype, copy=False)

    jvp = ByLinearity()      # forward mode: linear in its floating inputs, so J·t = f(t)

    @staticmethod
    def backward(ctx, grad_out):
        grad = restore_axes(grad_out, ctx.axes, ctx.keepdim, ctx.shape)
        if ctx.count == 0:
            return (np.zeros(ctx.shape, dtype=ctx.dtype),)
        accumulate = accumulating(ctx.dtype)           # 1/n in float16 is 0 once n > 65,504
        grad = (grad.astype(accumulate, copy=False) / accumulate.type(ctx.count)).astype(ctx.dtype, copy=False)
        return (np.broadcast_to(grad, ctx.shape),)

    @staticmethod
    def differentiable_backward(ctx, grad_out):
        if ctx.count == 0:
            return (Tensor._wrap(np.zeros(ctx.shape, dtype=ctx.dtype)),)
        return (broadcast_back(grad_out / ctx.count, ctx.axes, ctx.keepdim, ctx.shape),)
