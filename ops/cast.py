"""A dtype conversion, differentiable between floating dtypes: x.double(), x.half(), x.to(tg.float32)."""
import numpy as np

from tinygraph.op import Op, apply
from tinygraph.registry import register_op
from tinygraph.ops._forward_mode import ByLinearity


@register_op("cast", forward="{out} = {x} as dtype", backward="δ{x} = δ{out} as the dtype of {x}")
class Cast(Op):
    """out = x converted to `dtype`;  δx = δout converted back to x's dtype (as PyTorch's .to(dtype))."""

    @staticmethod
    def forward(ctx, x: np.ndarray, *, dtype) -> np.ndarray:
        ctx.input_dtype = x.dtype
        return x.astype(dtype)

    jvp = ByLinearity()      # forward mode: linear in its floating inputs, so J·t = f(t)

    @staticmethod
    def backward(ctx, grad_out):
        return (grad_out.astype(ctx.input_dtype),)

    @staticmethod
    def differentiable_backward(ctx, grad_out):
        return (apply(Cast, grad_out, dtype=ctx.input_dtype),)
