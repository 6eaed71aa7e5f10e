"""Mean squared error: L = mean((x − y)²), the regression loss; both sides get a gradient."""
import numpy as np

from tinygraph.errors import OpError
from tinygraph.op import Op
from tinygraph.registry import register_op

REDUCTIONS = ("mean", "sum", "none")


@register_op("mse_loss", forward="{out} = mean(({input} − {target})²)",
             backward=("δ{input} = 2 ({input} − {target}) δ{out} / n", "δ{target} = −2 ({input} − {target}) δ{out} / n"),
             broadcasting=True)
class MSELoss(Op):
    """L = Σ (x − y)² / n over the n elements ("mean"), or Σ ("sum"), or elementwise ("none").

    δx = 2 (x − y) δL / n and δy = −δx; shapes broadcast as in PyTorch.
    """

    @staticmethod
    def forward(ctx, input: np.ndarray, target: np.ndarray, *, reduction: str = "mean") -> np.ndarray:
        if reduction not in REDUCTIONS:
            raise OpError("mse_loss", "reduction", f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
        difference = input - target
        ctx.save_for_backward(difference)
        ctx.reduction = reduction
        squares = difference * difference
        if reduction == "mean":
            return squares.sum() / squares.size if squares.size else np.full((), np.nan, squares.dtype)
        return squares.sum() if reduction == "sum" else squares

    @staticmethod
    def backward(ctx, grad_out):
        (difference,) = ctx.saved
        grad = 2 * difference * grad_out                  # "none": one upstream gradient per element
        if ctx.reduction == "mean":
            grad = grad / max(difference.size, 1)
        grad = grad.astype(difference.dtype, copy=False)
        return grad, -grad
