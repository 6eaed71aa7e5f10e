"""Mean squared error: L = mean((x − y)²), the regression loss; both sides get a gradient."""
import numpy as np

from tinygraph.errors import OpError
from tinygraph.op import Op
from tinygraph.ops._axes import accumulating
from tinygraph.recorded_backward import by_composition
from tinygraph.registry import register_op

REDUCTIONS = ("mean", "sum", "none")


@register_op("mse_loss", forward="{out} = mean(({input} − {target})²)",
             backward=("δ{input} = 2 ({input} − {target}) δ{out} / n", "δ{target} = −2 ({input} − {target}) δ{out} / n"),
             broadcasting=True)
class MSELoss(Op):
    """L = Σ (x − y)² / n over the n elements ("mean"), or Σ ("sum"), or elementwise ("none").

    δx = 2 (x − y) δL / n and δy = −δx; shapes broadcast as in PyTorch. float16 squares and sums in
    float32 and is rounded once, as PyTorch's CPU kernel.
    """

    @staticmethod
    def forward(ctx, input: np.ndarray, target: np.ndarray, *, reduction: str = "mean") -> np.ndarray:
        if reduction not in REDUCTIONS:
            raise OpError("mse_loss", "reduction", f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
        difference = input - target
        ctx.save_for_backward(difference)
        ctx.reduction = reduction
        d = difference.astype(accumulating(difference.dtype), copy=False)    # float16: squares and sums in float32
        squares = d * d
        if reduction == "mean":
            loss = squares.sum() / squares.size if squares.size else np.nan
        else:
            loss = squares.sum() if reduction == "sum" else squares
        loss = np.asarray(loss)
        return loss.astype(difference.dtype, copy=False) if difference.dtype.kind == "f" else loss

    @staticmethod
    def backward(ctx, grad_out):
        (difference,) = ctx.saved
        accumulate = accumulating(difference.dtype)      # float16's 1/n is 0 once n > 65,504
        grad = 2 * difference.astype(accumulate, copy=False) * grad_out   # "none": one upstream gradient per element
        if ctx.reduction == "mean":
            grad = grad / accumulate.type(max(difference.size, 1))
        grad = grad.astype(difference.dtype, copy=False)
        return grad, -grad

    differentiable_backward = by_composition(lambda ctx, x, y: _composed(x - y, ctx.reduction))


def _composed(difference, reduction: str):
    squares = difference * difference
    if reduction == "none":
        return squares
    total = squares.sum()
    return total / max(squares.data.size, 1) if reduction == "mean" else total
