"""Piecewise-constant elementwise functions: floor, ceil, round, trunc, sign.

Five ops in one file because their rule is one rule: each is flat between its jumps, so
δx = 0 everywhere (PyTorch's convention at the jumps too). Integer tensors pass through
unchanged (sign gives −1, 0, 1 in the input's dtype).
"""
import numpy as np

from tinygraph.errors import OpError
from tinygraph.op import Op
from tinygraph.registry import register_op
from tinygraph.tensor import Tensor


def _no_gradient(ctx, grad_out):
    """δx = 0: the function is flat wherever it is differentiable."""
    return (np.zeros_like(grad_out),)


def _zero_tangent(ctx, tangents, inputs, out, attrs):
    """Forward mode: ṫ_out = 0, for the same reason."""
    return np.zeros_like(out)


def _no_gradient_recorded(ctx, grad_out):
    """δx = 0 as a constant Tensor (PyTorch's zeros_like(grad)): it depends on nothing, so it has no curvature."""
    return (Tensor(np.zeros(grad_out.shape, grad_out.dtype)),)


@register_op("floor", forward="{out} = ⌊{x}⌋", backward="δ{x} = 0")
class Floor(Op):
    """out = ⌊x⌋, the largest integer ≤ x;  δx = 0."""

    @staticmethod
    def forward(ctx, x: np.ndarray) -> np.ndarray:
        return np.floor(x) if x.dtype.kind == "f" else x.copy()

    backward = staticmethod(_no_gradient)
    differentiable_backward = staticmethod(_no_gradient_recorded)
    jvp = staticmethod(_zero_tangent)


@register_op("ceil", forward="{out} = ⌈{x}⌉", backward="δ{x} = 0")
class Ceil(Op):
    """out = ⌈x⌉, the smallest integer ≥ x;  δx = 0."""

    @staticmethod
    def forward(ctx, x: np.ndarray) -> np.ndarray:
        return np.ceil(x) if x.dtype.kind == "f" else x.copy()

    backward = staticmethod(_no_gradient)
    differentiable_backward = staticmethod(_no_gradient_recorded)
    jvp = staticmethod(_zero_tangent)


@register_op("round", forward="{out} = round({x})", backward="δ{x} = 0")
class Round(Op):
    """out = x rounded to `decimals` places, halves to even (as torch.round);  δx = 0."""

    @staticmethod
    def forward(ctx, x: np.ndarray, *, decimals: int = 0) -> np.ndarray:
        if x.dtype.kind != "f":
            if decimals:
                raise OpError("round", "decimals", f"round(decimals={decimals}) needs a floating tensor, got dtype "
                              f"{x.dtype} (as PyTorch)")
            return x.copy()
        if decimals and x.dtype == np.float16:     # x·10^d would overflow float16: scale in float32
            return np.round(x.astype(np.float32), decimals).astype(np.float16)
        return np.round(x, decimals)

    backward = staticmethod(_no_gradient)
    differentiable_backward = staticmethod(_no_gradient_recorded)
    jvp = staticmethod(_zero_tangent)


@register_op("trunc", forward="{out} = trunc({x})", backward="δ{x} = 0")
class Trunc(Op):
    """out = x with its fractional part dropped (rounded toward 0);  δx = 0."""

    @staticmethod
    def forward(ctx, x: np.ndarray) -> np.ndarray:
        return np.trunc(x) if x.dtype.kind == "f" else x.copy()

    backward = staticmethod(_no_gradient)
    differentiable_backward = staticmethod(_no_gradient_recorded)
    jvp = staticmethod(_zero_tangent)


@register_op("sign", forward="{out} = sign({x})", backward="δ{x} = 0")
class Sign(Op):
    """out = −1, 0 or 1 by the sign of x, and 0 for NaN (as torch.sign);  δx = 0."""

    @staticmethod
    def forward(ctx, x: np.ndarray) -> np.ndarray:
        if x.dtype.kind != "f":
            return x.copy() if x.dtype == np.bool_ else np.sign(x)
        return np.sign(np.nan_to_num(x, nan=0.0, posinf=1.0, neginf=-1.0))

    backward = staticmethod(_no_gradient)
    differentiable_backward = staticmethod(_no_gradient_recorded)
    jvp = staticmethod(_zero_tangent)
