"""Dropout: zero each element with probability p and scale the rest by 1/(1 − p), so the mean is kept."""
import numpy as np

from tinygraph.errors import OpError
from tinygraph.op import Op
from tinygraph.random import default_generator   # tg.manual_seed seeds it
from tinygraph.registry import register_op


@register_op("dropout", forward="{out} = {x} ⊙ mask / (1 − p)", backward="δ{x} = δ{out} ⊙ mask / (1 − p)")
class Dropout(Op):
    """y = x ⊙ mask / (1 − p), mask ~ Bernoulli(1 − p) drawn once in forward from `generator`; δx = δy ⊙ mask / (1 − p).

    p = 0 or training=False: the identity (y shares x's memory, as a view).
    """

    @staticmethod
    def forward(ctx, x: np.ndarray, *, p: float = 0.5, training: bool = True,
                generator: np.random.Generator = None) -> np.ndarray:
        if isinstance(p, bool) or not isinstance(p, (int, float, np.floating, np.integer)) or not 0 <= p <= 1:
            raise OpError("dropout", "p", f"p must be a probability in [0, 1], got {p!r} (input x {x.shape})")
        if not training or p == 0:
            ctx.scale = None
            return x.view()
        if x.dtype.kind != "f":
            raise OpError("dropout", "x", f"input x must be floating point, got {x.dtype} (shape {x.shape})")
        keep = (default_generator() if generator is None else generator).random(x.shape) < 1 - p   # the mask
        ctx.scale = np.asarray(0.0 if p == 1 else 1 / (1 - p), dtype=x.dtype)  # p = 1 drops everything
        ctx.save_for_backward(keep)
        return x * keep * ctx.scale

    @staticmethod
    def jvp(ctx, tangents, inputs, out, attrs):
        """Forward mode: the tangent through the same mask: ṫ_out = ṫ_x ⊙ mask / (1 − p)."""
        if ctx.scale is None:
            return tangents[0]
        (keep,) = ctx.saved
        return tangents[0] * keep * ctx.scale

    @staticmethod
    def backward(ctx, grad_out):
        if ctx.scale is None:
            return (grad_out,)
        (keep,) = ctx.saved
        return (grad_out * keep * ctx.scale,)

    @staticmethod
    def differentiable_backward(ctx, grad_out):
        if ctx.scale is None:
            return (grad_out,)
        (keep,) = ctx.saved
        return (grad_out * (keep * ctx.scale),)
