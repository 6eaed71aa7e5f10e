"""Permute axes."""
import numpy as np

from tinygraph.errors import OpError
from tinygraph.op import Op, apply
from tinygraph.registry import register_op
from tinygraph.ops._forward_mode import ByLinearity


@register_op("transpose", forward="{out} = {x}ᵀ", backward="δ{x} = (δ{out})ᵀ, axes permuted back")
class Transpose(Op):
    """out = x with its axes permuted (reversed when axes is None), as np.transpose."""

    @staticmethod
    def forward(ctx, x: np.ndarray, *, axes=None) -> np.ndarray:
        if axes is not None and sorted(a % max(x.ndim, 1) for a in axes) != list(range(x.ndim)):
            raise OpError("transpose", "axes", f"axes={tuple(axes)} is not a permutation of the {x.ndim} axes "
                          f"of an input of shape {x.shape}")
        ctx.axes = axes
        return np.transpose(x, axes)

    jvp = ByLinearity()      # forward mode: linear in its floating inputs, so J·t = f(t)

    @staticmethod
    def backward(ctx, grad_out):
        inverse = None if ctx.axes is None else np.argsort([a % grad_out.ndim for a in ctx.axes])
        return (np.transpose(grad_out, inverse),)

    @staticmethod
    def differentiable_backward(ctx, grad_out):
        inverse = None if ctx.axes is None else tuple(int(i) for i in np.argsort([a % grad_out.ndim for a in ctx.axes]))
        return (apply(Transpose, grad_out, axes=inverse),)
