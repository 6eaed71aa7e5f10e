"""The fully connected layer of section 2.4 as one node: s = U p + c, and its gradients from section 3.2."""
import numpy as np

from tinygraph.errors import OpError
from tinygraph.op import Op
from tinygraph.parallel import Split
from tinygraph.registry import register_op


@register_op("linear", forward="{out} = {w} {x} + {b}",
             backward=("δ{x} = {w}ᵀ δ{out} (§3.2)", "∂L/∂{w} = δ{out} {x}ᵀ (§3.2)", "∂L/∂{b} = δ{out} (§3.2)"))
class Linear(Op):
    """s = U p + c for every row p of x (…, in): x (…, in), w = U (out, in), b = c (out,) or None.

    §3.2: ∂L/∂U = δs pᵀ and ∂L/∂c = δs, summed over the batch (U and c are shared); δp = Uᵀ δs.
    """

    @staticmethod
    def forward(ctx, x: np.ndarray, w: np.ndarray, b: np.ndarray = None) -> np.ndarray:
        _check(x, w, b)
        s = x @ w.T                                   # row by row: s = U p
        if b is not None:
            s = s + b                                 # + c
        need_x, need_w, _ = ctx.needs_input_grad
        ctx.save_for_backward(x if need_w else None, w if need_x else None)
        return s

    @staticmethod
    def jvp(ctx, tangents, inputs, out, attrs):
        """Forward mode: ṫ_s = ṫ_p Uᵀ + p ṫ_Uᵀ + ṫ_c."""
        (tx, tw, tb), (x, w, _) = tangents, inputs
        return ((0 if tx is None else tx @ w.T) + (0 if tw is None else x @ tw.T)
                + (0 if tb is None else tb))

    @staticmethod
    def backward(ctx, grad_out):
        p, U = ctx.saved
        need_x, need_w, need_b = ctx.needs_input_grad
        grad_s = grad_out.reshape(-1, grad_out.shape[-1])             # δs, one row per sample
        grad_p = grad_out @ U if need_x else None                      # δp = Uᵀ δs, row by row
        grad_U = grad_s.T @ p.reshape(-1, p.shape[-1]) if need_w else None   # Σ_n δs pᵀ
        grad_c = grad_s.sum(axis=0) if need_b else None                # Σ_n δs
        return grad_p, grad_U, grad_c

    @staticmethod
    def differentiable_backward(ctx, grad_out):
        p, U = ctx.saved_whole(0), ctx.saved_whole(1)
        need_x, need_w, need_b = ctx.needs_input_grad
        grad_s = grad_out.reshape(-1, grad_out.shape[-1])
        grad_p = grad_out @ ctx.input(1, U) if need_x else None
        grad_U = grad_s.transpose(0, 1) @ ctx.input(0, p).reshape(-1, p.shape[-1]) if need_w else None
        grad_c = grad_s.sum(0) if need_b else None
        return grad_p, grad_U, grad_c


    # Each row p makes its own s; U and c are shared, so their gradients sum over the parts.
    # A single vector p has no batch axis to split.
    split = Split(over="x", sliced=lambda x, w, b=None: (x.ndim >= 2, False, False))


def _check(x: np.ndarray, w: np.ndarray, b) -> None:
    if w.ndim != 2:
        raise OpError("linear", "w", f"weight w must be 2-D (out_features, in_features), got shape {w.shape}")
    if x.ndim == 0 or x.shape[-1] != w.shape[1]:
        raise OpError("linear", None, f"input x of shape {x.shape} must end in in_features={w.shape[1]}, "
                      f"the second axis of weight w {w.shape}")
    if b is not None and b.shape != (w.shape[0],):
        raise OpError("linear", "b", f"bias b must have shape ({w.shape[0]},), one per row of weight w "
                      f"{w.shape}, got shape {b.shape}")
