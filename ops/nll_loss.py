"""Negative log-likelihood: L = −w_y x[y] per row of log-probabilities x, the loss after log_softmax."""
import numpy as np

from tinygraph.errors import OpError
from tinygraph.op import Op
from tinygraph.ops._inputs import refuse_gradient
from tinygraph.recorded_backward import by_composition
from tinygraph.registry import register_op

REDUCTIONS = ("mean", "sum", "none")


@register_op("nll_loss", forward="{out} = −Σ_n {weight}[y_n] {input}[n, y_n] / Σ_n {weight}[y_n],  y = {target}",
             backward=("δ{input}[n, y_n] = −{weight}[y_n] δ{out} / Σ_n {weight}[y_n], 0 elsewhere",
                       "δ{target}: none (labels are constants)", "δ{weight}: none (class weights are constants)"))
class NLLLoss(Op):
    """L_n = −w[y_n] · x[n, y_n] for log-probabilities x (N, C) and labels y (N,); w = 1 without `weight`.

    Rows labelled `ignore_index` count for nothing; "mean" divides by Σ w[y_n] over the other rows.
    """

    @staticmethod
    def forward(ctx, input: np.ndarray, target: np.ndarray, weight: np.ndarray = None, *,
                ignore_index: int = -100, reduction: str = "mean") -> np.ndarray:
        ctx.unbatched = input.ndim == 1 and target.ndim == 0
        if ctx.unbatched:                  # one sample (C,) with a 0-d label, as PyTorch takes it: a batch of one
            input, target = input[np.newaxis], target[np.newaxis]
        labels, row_weights = read_labels("nll_loss", input, target, weight, ignore_index, reduction)
        refuse_gradient(ctx, "nll_loss", NLLLoss.arg_names, ("weight",), "class weights of class-index targets")
        rows = np.arange(len(labels))
        losses = -row_weights * input[rows, labels]          # ignored rows have weight 0 (and label 0)
        divisor = row_weights.sum() if reduction == "mean" else None
        ctx.save_for_backward(labels, row_weights)
        ctx.shape, ctx.reduction, ctx.divisor = input.shape, reduction, divisor
        if reduction == "none":
            return losses[0] if ctx.unbatched else losses
        with np.errstate(invalid="ignore", divide="ignore"):    # every row ignored: NaN, as in PyTorch
            return losses.sum() / divisor if reduction == "mean" else losses.sum()

    @staticmethod
    def backward(ctx, grad_out):
        labels, row_weights = ctx.saved
        if ctx.unbatched and ctx.reduction == "none":
            grad_out = grad_out.reshape(1)                    # the one row's upstream gradient
        grad_rows = -row_weights * grad_out                   # "none": one upstream gradient per row
        if ctx.reduction == "mean":          # every row ignored (divisor 0): no row passes anything back
            grad_rows = grad_rows / ctx.divisor if ctx.divisor else grad_rows * 0
        grad_input = np.zeros(ctx.shape, dtype=grad_out.dtype)
        grad_input[np.arange(len(labels)), labels] = grad_rows
        return (grad_input[0] if ctx.unbatched else grad_input), None, None

    differentiable_backward = by_composition(lambda ctx, x, target, weight: _composed(ctx, x))


def _composed(ctx, x):
    """−w[y_n] · x[n, y_n] per row, reduced as forward did (the labels and row weights are constants)."""
    labels, row_weights = ctx.saved
    losses = -(x[np.arange(len(labels)), labels] * row_weights)
    if ctx.reduction == "none":
        return losses
    total = losses.sum()
    return total / ctx.divisor if ctx.reduction == "mean" else total


def read_labels(op: str, input: np.ndarray, target: np.ndarray, weight, ignore_index: int, reduction: str):
    """(labels with ignored ones set to 0, each row's weight w[y_n] or 0 if ignored), both (N,); checks everything."""
    shape = input.shape
    if reduction not in REDUCTIONS:
        raise OpError(op, "reduction", f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    if len(shape) != 2 or shape[1] == 0:
        raise OpError(op, "input", f"input must be 2-D (N, C) with C >= 1, got shape {shape}")
    n, classes = shape
    if target.dtype.kind not in "iu" or target.shape != (n,):
        raise OpError(op, "target", f"target must be integer class indices of shape ({n},) for input of "
                      f"shape {shape}, got {target.dtype} of shape {target.shape}")
    if weight is not None and weight.shape != (classes,):
        raise OpError(op, "weight", f"weight must have shape ({classes},), one per class of input {shape}, "
                      f"got shape {weight.shape}")
    labels = target.astype(np.intp)
    ignored = labels == ignore_index
    bad = ~ignored & ((labels < 0) | (labels >= classes))
    if bad.any():
        raise OpError(op, "target", f"target labels must lie in [0, {classes}) (or be ignore_index="
                      f"{ignore_index}) for input of shape {shape}, got {labels[bad][:3].tolist()}")
    labels[ignored] = 0
    dtype = input.dtype if input.dtype.kind == "f" else np.dtype(np.float64)
    row_weights = np.ones(n, dtype=dtype) if weight is None else weight[labels].astype(dtype, copy=False)
    row_weights[ignored] = 0
    return labels, row_weights
