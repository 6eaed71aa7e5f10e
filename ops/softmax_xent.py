"""Softmax and cross-entropy fused (section 2.4), so the loss is stable and backward is ŷ − y (§3.1)."""
import numpy as np

from tinygraph.errors import OpError
from tinygraph.op import Op, apply
from tinygraph.ops._axes import accumulating
from tinygraph.ops._inputs import refuse_gradient
from tinygraph.ops.log_softmax import LogSoftmax
from tinygraph.recorded_backward import by_composition
from tinygraph.registry import register_op

REDUCTIONS = ("mean", "sum", "none")


@register_op("softmax_xent", forward="{out} = −Σ_i {target}_i log softmax({logits})_i",
             backward=("δ{logits} = softmax({logits}) − {target}  (÷N for the mean, §3.1)",
                       "δ{target} = −log softmax({logits})  (probabilities; labels are constants)",
                       "δ{weight}_i = −Σ_n {target}_ni log softmax({logits})_ni  (probabilities only)"))
class SoftmaxCrossEntropy(Op):
    """L = −Σ_i y_i log ŷ_i with ŷ = softmax(s), per row of logits s (N, M); δs = ŷ − y (§3.1).

    target: integer class labels (N,) or probability rows (N, M) such as one-hot y. PyTorch's options
    make y a weighted, smoothed distribution q (below), and δs = ŷ·Σq − q, which is ŷ − y when Σq = 1.
    reduction: "mean" over the batch (default), "sum", or "none" (one loss per row).
    Probability rows and their class weights are differentiated too, as in PyTorch: δy = −(1 − ε)·w ⊙ log ŷ,
    δw = −Σ_n ((1 − ε)·y + ε/M) ⊙ log ŷ; with labels, a weight that requires grad is refused, as there.
    float16 is computed in float32 and rounded once, as PyTorch's CPU kernels.
    """

    @staticmethod
    def forward(ctx, logits: np.ndarray, target: np.ndarray, weight: np.ndarray = None, *,
                reduction: str = "mean", ignore_index: int = -100, label_smoothing: float = 0.0) -> np.ndarray:
        ctx.unbatched = logits.ndim == 1 and target.ndim == logits.ndim - 1 + (target.dtype.kind == "f")
        if ctx.unbatched:       # one sample (C,) with a 0-d label or (C,) probabilities, as PyTorch takes it
            logits, target = logits[np.newaxis], target[np.newaxis]
        _check(logits, weight, reduction, label_smoothing)
        ctx.out_dtype = logits.dtype
        logits = logits.astype(accumulating(logits.dtype), copy=False)
        labels, y = _read_target(target, logits.shape, logits.dtype, ignore_index)
        if labels is not None:
            refuse_gradient(ctx, "softmax_xent", SoftmaxCrossEntropy.arg_names, ("weight",),
                            "class weights of class-index targets")
        # log-sum-exp: subtracting each row's max keeps exp() in (0, 1], so logits of ±1e4 stay finite.
        shifted = logits - logits.max(axis=1, keepdims=True)
        exp_shifted = np.exp(shifted)
        total = exp_shifted.sum(axis=1, keepdims=True)
        log_probs = shifted - np.log(total)                                      # log ŷ
        plain = labels is not None and weight is None and label_smoothing == 0 and ignore_index not in labels
        of_target = ()                     # what δy and δw need, for probability rows that require grad
        if plain:                                                                # the derivation's case
            losses = -log_probs[np.arange(len(labels)), labels]
            divisor = len(losses)
        else:
            if labels is None and (ctx.needs_input_grad[1] or ctx.needs_input_grad[2]):
                of_target = (log_probs, y, weight)          # log ŷ, y, w
                ctx.smoothing = label_smoothing
            y, divisor = _target_distribution(labels, y, weight, ignore_index, label_smoothing, logits.shape,
                                              logits.dtype)
            losses = -(y * log_probs).sum(axis=1)
            labels = None
        ctx.save_for_backward(exp_shifted / total, labels, y, *of_target)        # ŷ and the target
        ctx.reduction, ctx.divisor = reduction, divisor
        if reduction == "mean":
            if divisor:
                loss = losses.sum() / divisor      # what .mean() computes when the divisor is N
            else:
                with np.errstate(invalid="ignore", divide="ignore"):   # no rows, or every row ignored: NaN, as in PyTorch
                    loss = losses.sum() / divisor
        else:
            loss = losses.sum() if reduction == "sum" else losses[0] if ctx.unbatched else losses
        return np.asarray(loss).astype(ctx.out_dtype, copy=False)

    @staticmethod
    def jvp(ctx, tangents, inputs, out, attrs):
        """Forward mode along the logits: each row's ṫ_L = Σ_k (ŷ_k − y_k) ṫ_s,k, reduced as the loss is."""
        if any(t is not None for t in tangents[1:]):
            raise NotImplementedError("forward_ad: softmax_xent has a forward-mode rule along the logits only, "
                                      "not along probability targets or class weights")
        probs, labels, y = ctx.saved[:3]
        t = tangents[0][np.newaxis] if ctx.unbatched else tangents[0]
        t = t.astype(probs.dtype, copy=False)
        if labels is not None:
            rows = (probs * t).sum(axis=1) - t[np.arange(len(labels)), labels]
        else:
            rows = ((probs * y.sum(axis=1, keepdims=True) - y) * t).sum(axis=1)
        if ctx.reduction == "mean":
            return rows.sum() / ctx.divisor
        return rows.sum() if ctx.reduction == "sum" else rows[0] if ctx.unbatched else rows

    @staticmethod
    def backward(ctx, grad_out):
        """§3.1: δs = ŷ − y, divided by N for the mean; probability rows and their weights as in the class doc."""
        probs, labels, y, *of_target = ctx.saved
        if ctx.unbatched and ctx.reduction == "none":
            grad_out = grad_out.reshape(1)                    # the one row's upstream gradient
        # δL_n of each row: every row ignored (divisor 0) passes nothing back
        grad_rows = grad_out.astype(probs.dtype, copy=False)
        if ctx.reduction == "mean":
            grad_rows = grad_rows / ctx.divisor if ctx.divisor else grad_rows * 0
        if ctx.reduction == "none":
            grad_rows = grad_rows[:, np.newaxis]          # one upstream gradient per row
        # ŷ·δL − y·δL, each term scaled before they meet, as PyTorch's log_softmax and nll rules do:
        # an infinite δL then gives inf − inf = NaN where PyTorch has NaN, not (ŷ − y)·∞.
        grad_s = probs * grad_rows
        if labels is not None:
            grad_s[np.arange(len(labels)), labels] -= grad_rows.reshape(-1)
        else:
            # ŷ·Σy − y: exactly ŷ − y for rows summing to 1, and still the derivative of the loss
            # reported for rows that do not (weighted, smoothed or ignored rows; round-off).
            grad_s = grad_s * y.sum(axis=1, keepdims=True) - y * grad_rows
        grad_y = grad_w = None
        if of_target:
            log_probs, y, w = of_target
            smoothing = ctx.smoothing
            weighted_log_probs = log_probs * grad_rows                            # δL_n log ŷ_ni
            if ctx.needs_input_grad[1]:
                grad_y = -(1 - smoothing) * (weighted_log_probs if w is None else weighted_log_probs * w)
            if ctx.needs_input_grad[2]:
                grad_w = -(((1 - smoothing) * y + smoothing / y.shape[1]) * weighted_log_probs).sum(axis=0)
        if ctx.unbatched:
            grad_s, grad_y = grad_s[0], None if grad_y is None else grad_y[0]
        return (grad_s.astype(ctx.out_dtype, copy=False), grad_y, grad_w)

    differentiable_backward = by_composition(lambda ctx, logits, target, weight: _composed(ctx, logits, target, weight))


def _composed(ctx, logits, target, weight):
    """−Σ_i q_i log softmax(s)_i per row, reduced as forward did: the loss in ops, for every derivative
    above the first (the labels' distribution q is a constant; probability rows and weights are not)."""
    probs, labels, y, *of_target = ctx.saved
    log_probs = apply(LogSoftmax, logits, dim=1)
    classes = probs.shape[1]
    if labels is not None:                               # the derivation's case: q is one-hot
        q = np.eye(classes, dtype=probs.dtype)[labels]
    elif of_target:                                      # probability rows (or weights) that require grad
        q = (1 - ctx.smoothing) * target + ctx.smoothing / classes
        q = q if weight is None else q * weight
    else:
        q = y
    losses = -(log_probs * q).sum(1)
    if ctx.reduction == "none":
        return losses
    total = losses.sum()
    return total / ctx.divisor if ctx.reduction == "mean" else total


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
    if logits.ndim != 2 or logits.shape[1] == 0:
        raise OpError("softmax_xent", "logits",
                      f"logits must be 2-D (N, M) with M >= 1, got shape {logits.shape}")
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
        # Rows rounded to the target's dtype are off by up to half its resolution per entry, so a float16
        # softmax may sum to 0.9995; the floor keeps what float32 and float64 rows always passed.
        tolerance = max(1e-4 if np.dtype(dtype).itemsize < 8 else 1e-6, classes * np.finfo(target.dtype).eps)
        if not np.isfinite(y).all() or (y < 0).any() or (np.abs(sums - 1) > tolerance).any():
            worst = int(np.argmax(np.abs(sums - 1)))
            raise OpError("softmax_xent", "target", f"target rows (shape {target.shape}) must be probabilities: "
                          f"non-negative and summing to 1; row {worst} sums to {sums[worst]:.6g}, "
                          f"smallest entry {y.min():.6g}")
        return None, y
    raise OpError("softmax_xent", "target", f"target must be labels ({n},) or probabilities {shape}, "
                  f"got shape {target.shape} for logits of shape {shape}")
