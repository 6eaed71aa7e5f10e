"""Elementwise x ** y, with broadcasting; a number on either side is weak, as in PyTorch and NumPy 2."""
import numpy as np

from tinygraph.errors import OpError
from tinygraph.op import Op, apply
from tinygraph.ops.where import Where
from tinygraph.registry import register_op


@register_op("pow", forward="{out} = {x}^{exponent}",
             backward=("δ{x} = δ{out} ⊙ {exponent}·{x}^({exponent}−1), 0 where {exponent} = 0",
                       "δ{exponent} = δ{out} ⊙ {out}·ln {x}, 0 where {x} = 0 and {exponent} ≥ 0"),
             broadcasting=True)
class Pow(Op):
    """out = x ** exponent; δx = δout · p·x^(p−1) (0 where p = 0, so x⁰ has slope 0 at x = 0 too),
    δp = δout · out·ln x (0 where x = 0 and p ≥ 0): PyTorch's rules and conventions.

    An integer tensor to a float power is a float (tinygraph's default, float64); integers to a
    negative integer power are refused, as in PyTorch.
    """

    @staticmethod
    def forward(ctx, x: np.ndarray, exponent: np.ndarray) -> np.ndarray:
        if x.dtype.kind in "iub" and exponent.dtype.kind in "iub" and exponent.size and (exponent < 0).any():
            raise OpError("pow", "exponent", f"integers to negative integer powers are not allowed "
                          f"(x {x.dtype} {x.shape}, exponent {exponent.dtype} {exponent.shape}); "
                          "make one side floating point")
        # A 0-d exponent as a NumPy scalar: NumPy then takes its fast paths (x ** 2 squares, x ** 0.5 is a sqrt).
        out = x ** exponent[()] if exponent.ndim == 0 else np.power(x, exponent)
        ctx.save_for_backward(x, exponent, out if ctx.needs_input_grad[1] else None)
        return out

    @staticmethod
    def jvp(ctx, tangents, inputs, out, attrs):
        """Forward mode, with backward's conventions: ṫ_out = p·x^(p−1) ṫ_x + out·ln x ṫ_p."""
        (tx, tp), (x, p) = tangents, inputs
        total = 0
        if tx is not None:
            total = total + np.where(p == 0, tx.dtype.type(0), tx * p * x ** (p - 1))
        if tp is not None:
            with np.errstate(divide="ignore", invalid="ignore"):
                total = total + tp * np.where((x == 0) & (p >= 0), 0, out * np.log(x))
        return total

    @staticmethod
    def backward(ctx, grad_out):
        x, p, out = ctx.saved
        need_x, need_p = ctx.needs_input_grad
        grad_x = grad_p = None
        if need_x:
            if p.ndim == 0:                           # the common case: a number for an exponent
                p = p[()]
                grad_x = np.zeros_like(grad_out) if p == 0 else grad_out * p * x ** (p - 1)
            else:
                grad_x = np.where(p == 0, grad_out.dtype.type(0), grad_out * p * x ** (p - 1))
        if need_p:
            with np.errstate(divide="ignore", invalid="ignore"):     # ln of 0 or of a negative base
                grad_p = grad_out * np.where((x == 0) & (p >= 0), 0, out * np.log(x))
        return grad_x, grad_p

    @staticmethod
    def differentiable_backward(ctx, grad_out):
        x, p, out = ctx.saved
        need_x, need_p = ctx.needs_input_grad
        base, exponent = ctx.input(0, x), ctx.input(1, p)
        grad_x = grad_p = None
        if need_x:
            if p.ndim == 0 and not exponent.requires_grad:          # a number for an exponent
                power = p.item()
                grad_x = grad_out * 0.0 if power == 0 else grad_out * power * base ** (power - 1)
            else:
                grad_x = apply(Where, p == 0, 0.0, grad_out * exponent * base ** (exponent - 1))
        if need_p:                                                  # out · ln x, and 0 where x = 0, p ≥ 0
            off = (x == 0) & (p >= 0)
            logarithm = apply(Where, off, 1.0, base).log()          # ln 1 = 0 there: no 0 · ∞ below
            grad_p = grad_out * apply(Where, off, 0.0, ctx.output(out) * logarithm)
        return grad_x, grad_p
