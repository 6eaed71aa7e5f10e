"""Softmax and cross-entropy fused (section 2.4), so the loss is stable and backward is ŷ − y (§3.1)."""
import numpy as np

from tinygraph.errors import OpError
from tinygraph.op import Op
from tinygraph.registry import register_op

REDUCTIONS = ("mean", "sum", "none")


@register_op("softmax_xent", forward="{out} = −Σ_i {target}_i log softmax({logits})_i",
             backward=("δ{logits} = softmax({logits}) − {target}  (÷N for the mean, §3.1)",
                       "δ{target}: none (labels are constants)",
                       "δ{weight}: none (class weights are constants)"))
class SoftmaxCrossEntropy(Op):
    """L = −Σ_i y_i log ŷ_i with ŷ = softmax(s), per row of logits s (N, M); δs = ŷ − y (§3.1).

    target: integer class labels (N,) or probability rows (N, M) such as one-hot y. PyTorch's options
    make y a weighted, smoothed distribution q (below), and δs = ŷ·Σq − q, which is ŷ − y when Σq = 1.
    reduction: "mean" over the batch (default), "sum", or "none" (one loss per row).
    """

    @staticmethod
    def forward(ctx, logits: np.ndarray, target: np.ndarray, weight: np.ndarray = None, *,
                reduction: str = "mean", ignore_index: int = -100, label_smoothing: float = 0.0) -> np.ndarray:
        _check(logits, weight, reduction, label_smoothing)
        labels, y = _read_target(target, logits.shape, logits.dtype, ignore_index)
        # log-sum-exp: subtracting each row's max keeps exp() in (0, 1], so logits of ±1e4 stay finite.
        shifted = logits - logits.max(axis=1, keepdims=True)
        exp_shifted = np.exp(shifted)
        total = exp_shifted.sum(axis=1, keepdims=True)
        log_probs = shifted - np.log(total)                                      # log ŷ
        plain = labels is not None and weight is None and label_smoothing == 0 and ignore_index not in labels
        if plain:                                                                # the derivation's case
            losses = -log_probs[np.arange(len(labels)), labels]
            divisor = len(losses)
        else:
            y, divisor = _target_distribution(labels, y, weight, ignore_index, label_smoothing, logits.shape,
                                              logits.dtype)
            losses = -(y * log_probs).sum(axis=1)
            labels = None
        ctx.save_for_backward(exp_shifted / total, labels, y)                    # ŷ and the target
        ctx.reduction, ctx.divisor = reduction, divisor
        if reduction == "mean":
            if divisor:
                return losses.sum() / divisor      # what .mean() computes when the divisor is N
            with np.errstate(invalid="ignore", divide="ignore"):    # every row ignored: NaN, as in PyTorch
                return losses.sum() / divisor
        return losses.sum() if reduction == "sum" else losses

    @staticmethod
    def backward(ctx, grad_out):
        """§3.1: δs = ŷ − y, divided by N for the mean; the target gets no gradient."""
        probs, labels, y = ctx.saved
        if labels is not None:
            grad_s = probs.copy()
            grad_s[np.arange(len(labels)), labels] -= 1
        else:
            # ŷ·Σy − y: exactly ŷ − y for rows summing to 1, and still the derivative of the loss
            # reported for rows that do not (weighted, smoothed or ignored rows; round-off).
            grad_s = probs * y.sum(axis=1, keepdims=True) - y
        if ctx.reduction == "mean":          # every row ignored (divisor 0): no row passes anything back
            grad_s *= grad_out / ctx.divisor if ctx.divisor else 0
        elif ctx.reduction == "sum":
            grad_s *= grad_out
        else:
            grad_s *= grad_out[:, np.newaxis]          # "none": one upstream gradient per row
        return grad_s, None, None


def _target_distribution(labels, y, weight, ignore_index, smoothing, shape, dtype) -> tuple[np.ndarray, float]:
    """(q, divisor of the mean) for PyTorch's options, as its cross_entropy defines the loss −Σ_i q_i log ŷ_i.

    Labels: q = (1 − ε)·w[y_n]·onehot(y_n) + ε·w/M, 0 for ignored rows; the mean divides by Σ_n w[y_n].
    Probabilities: q = w ⊙ ((1 − ε)·y + ε/M); the mean divides by N.
    """
    n, classes = shape
    w = np.ones(classes, dtype=dtype) if weight is None else weight.astype(dtype, copy=False)
    if labels is None:
        return w * ((1 - smoothing) * y + smoothing / classes), n
    kept = labels != ignore_index
    rows, kept_labels = np.arange(n)[kept], labels[kept]
    q = np.zeros(shape, dtype=dtype)
    q[kept] = smoothing / classes * w
    q[rows, kept_labels] += (1 - smoothing) * w[kept_labels]
    return q, w[kept_labels].sum()


def _check(logits, weight, reduction, label_smoothing) -> None:
    if reduction not in REDUCTIONS:
        raise OpError("softmax_xent", "reduction",
                      f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    if logits.ndim != 2 or logits.shape[0] == 0 or logits.shape[1] == 0:
        raise OpError("softmax_xent", "logits",
                      f"logits must be 2-D (N, M) with N, M >= 1, got shape {logits.shape}")
    if weight is not None and weight.shape != (logits.shape[1],):
        raise OpError("softmax_xent", "weight", f"weight must have shape ({logits.shape[1]},), one per class "
                      f"of logits {logits.shape}, got shape {weight.shape}")
    if not 0 <= label_smoothing <= 1:
        raise OpError("softmax_xent", "label_smoothing",
                      f"label_smoothing must lie in [0, 1], got {label_smoothing!r} (logits {logits.shape})")


def _read_target(target: np.ndarray, shape: tuple[int, int], dtype, ignore_index: int) -> tuple:
    """(labels, None) for class labels, (None, y) for probability rows; OpError for anything else."""
    n, classes = shape
    if target.ndim == 1:
        if target.dtype.kind not in "iu":
            raise OpError("softmax_xent", "target", f"target labels must be integer class indices, got dtype "
                          f"{target.dtype} (shape {target.shape}); give probabilities as float rows of "
                          f"shape {shape} instead")
        if target.shape != (n,):
            raise OpError("softmax_xent", "target",
                          f"target labels have shape {target.shape} but logits have shape "
                          f"{shape}: need one label per row, shape ({n},)")
        labels = target.astype(np.intp)
        if n and (labels.min() < 0 or labels.max() >= classes):    # the slower exact test only then
            bad = ((labels < 0) | (labels >= classes)) & (labels != ignore_index)
        else:
            bad = None
        if bad is not None and bad.any():
            raise OpError("softmax_xent", "target",
                          f"target labels must lie in [0, {classes}) (or be ignore_index={ignore_index}) "
                          f"for logits of shape {shape}, got {labels[bad][:3].tolist()} (target shape {target.shape})")
        return labels, None
    if target.ndim == 2:
        if target.dtype.kind != "f":
            raise OpError("softmax_xent", "target", f"target probabilities must be floating point, got dtype "
                          f"{target.dtype} (shape {target.shape}); for class indices give shape ({n},)")
        if target.shape != shape:
            raise OpError("softmax_xent", "target",
                          f"target probabilities have shape {target.shape} but logits have "
                          f"shape {shape}: they must match")
        y = target.astype(dtype, copy=False)
        sums = y.sum(axis=1)
        tolerance = 1e-4 if np.dtype(dtype).itemsize < 8 else 1e-6
        if not np.isfinite(y).all() or (y < 0).any() or (np.abs(sums - 1) > tolerance).any():
            worst = int(np.argmax(np.abs(sums - 1)))
            raise OpError("softmax_xent", "target", f"target rows (shape {target.shape}) must be probabilities: "
                          f"non-negative and summing to 1; row {worst} sums to {sums[worst]:.6g}, "
                          f"smallest entry {y.min():.6g}")
        return None, y
    raise OpError("softmax_xent", "target", f"target must be labels ({n},) or probabilities {shape}, "
                  f"got shape {target.shape} for logits of shape {shape}")
