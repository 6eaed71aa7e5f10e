"""torch.nn.functional's names, arguments, defaults and meanings, over tinygraph's ops.

    import tinygraph.functional as F
    Z = F.conv2d(X, W, b, padding=1)
    L = F.cross_entropy(s, y, label_smoothing=0.1)

Each function is the PyTorch-shaped door to one op's rule — F.cross_entropy is the fused
softmax_xent rule δs = ŷ − y, F.linear the one-node s = U p + c — plus the shape plumbing PyTorch
allows around it (unbatched images, class axis 1 of N-d logits, legacy size_average/reduce).
Options left at their defaults are not passed to the op, so drawings show only what was chosen.
"""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from tinygraph.errors import OpError
from tinygraph.op import apply
from tinygraph.ops.avg_pool2d import AvgPool2d
from tinygraph.ops.batch_norm import BatchNorm
from tinygraph.ops.conv2d import Conv2d
from tinygraph.ops.dropout import Dropout
from tinygraph.ops.linear import Linear
from tinygraph.ops.maxpool import MaxPool
from tinygraph.ops._windows import pad_to, pool_options, pooled_size, windows
from tinygraph.ops.mse_loss import MSELoss
from tinygraph.ops.nll_loss import NLLLoss
from tinygraph.ops.pad import Pad
from tinygraph.ops.softmax_xent import SoftmaxCrossEntropy
from tinygraph.registry import REGISTRY
from tinygraph.tensor import Tensor, tensor

__all__ = ["conv2d", "max_pool2d", "avg_pool2d", "linear", "relu", "sigmoid", "tanh", "softmax", "log_softmax",
           "cross_entropy", "nll_loss", "mse_loss", "dropout", "batch_norm", "pad",
           "conv_transpose2d", "max_unpool2d", "l1_loss", "smooth_l1_loss", "huber_loss", "binary_cross_entropy",
           "binary_cross_entropy_with_logits", "kl_div"]


# ----------------------------------------------------------------------------- layers
def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0, dilation=1,
           groups: int = 1) -> Tensor:
    """Z = W ⋆ X + b (section 2.1): input (N, C, H, W) or (C, H, W), weight (F, C/groups, KH, KW).

    padding: an int, an (h, w) pair, "valid" (none) or "same" (output as large as the input, stride 1;
    an odd total puts the extra row/column at the bottom/right, as PyTorch).
    """
    x, unbatched = _batched(input, "conv2d")
    if isinstance(padding, str):
        x, padding = _string_padding(x, weight, padding, stride, dilation)
    options = _non_default(stride=(stride, 1), padding=(padding, 0), dilation=(dilation, 1), groups=(groups, 1))
    return _unbatched(apply(Conv2d, x, weight, bias, **options), unbatched)


def max_pool2d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
               return_indices: bool = False) -> Tensor:
    """P = max over each kernel_size window (section 2.3), padding with −∞; stride defaults to kernel_size."""
    x, unbatched = _batched(input, "maxpool")
    options = _non_default(stride=(_stride(stride), None), padding=(padding, 0), dilation=(dilation, 1),
                           ceil_mode=(bool(ceil_mode), False))
    pooled = _unbatched(apply(MaxPool, x, size=kernel_size, **options), unbatched)
    if not return_indices:
        return pooled
    # (values, indices): where each window's first maximum lies, h·W + w in its plane (for max_unpool2d).
    indices = _max_pool_indices(x.data, kernel_size, _stride(stride), padding, dilation, bool(ceil_mode))
    return pooled, tensor(indices.reshape(pooled.shape))


def avg_pool2d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
    """P = mean over each kernel_size window, zero padding counted when count_include_pad (PyTorch's default)."""
    if divisor_override is not None:
        raise NotImplementedError("F.avg_pool2d: divisor_override is not supported; the divisor is the window's size")
    x, unbatched = _batched(input, "avg_pool2d")
    options = _non_default(stride=(_stride(stride), None), padding=(padding, 0), ceil_mode=(bool(ceil_mode), False),
                           count_include_pad=(bool(count_include_pad), True))
    return _unbatched(apply(AvgPool2d, x, size=kernel_size, **options), unbatched)


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """s = U p + c (section 2.4) for every row p of input (…, in_features); weight U (out, in). One node."""
    return apply(Linear, input, weight, bias)


def batch_norm(input: Tensor, running_mean, running_var, weight: Tensor | None = None, bias: Tensor | None = None,
               training: bool = False, momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """y = γ (x − μ) / √(σ² + ε) + β per channel (axis 1). training: batch statistics, and running_mean /
    running_var (if given) updated in place by `momentum`, as PyTorch; otherwise the running ones."""
    out = apply(BatchNorm, input, weight, bias, running_mean, running_var,
                **_non_default(training=(bool(training), False), momentum=(momentum, 0.1), eps=(eps, 1e-5)))
    if training:
        for running in (running_mean, running_var):
            if isinstance(running, Tensor):
                running._bump_version()          # changed in place: a rule that saved it must notice
    return out


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False, *,
            generator: np.random.Generator | None = None) -> Tensor:
    """Zero each element with probability p and scale the rest by 1/(1 − p); the identity when not training.

    The mask comes from `generator` (a numpy.random.Generator; default: one shared by the process).
    """
    if inplace:
        raise NotImplementedError("F.dropout: inplace=True is not supported; tinygraph never overwrites an input")
    return apply(Dropout, input, **_non_default(p=(p, 0.5), training=(bool(training), True),
                                                generator=(generator, None)))


def pad(input: Tensor, pad: tuple[int, ...], mode: str = "constant", value: float | None = None) -> Tensor:
    """Constant padding: pad = (left, right, top, bottom, …) amounts for the last axes, last axis first."""
    if mode != "constant":
        raise NotImplementedError(f"F.pad: only mode='constant' is supported, got {mode!r}")
    return apply(Pad, input, pad=tuple(pad) if isinstance(pad, (tuple, list)) else pad,
                 **_non_default(value=(0 if value is None else value, 0)))


# ----------------------------------------------------------------------------- activations
def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """A = max(0, Z) (section 2.2)."""
    if inplace:
        raise NotImplementedError("F.relu: inplace=True is not supported; tinygraph never overwrites an input")
    return _registered("relu", input)


def sigmoid(input: Tensor) -> Tensor:
    """σ(x) = 1 / (1 + e^−x)."""
    return _registered("sigmoid", input)


def tanh(input: Tensor) -> Tensor:
    """tanh(x)."""
    return _registered("tanh", input)


def softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype=None) -> Tensor:
    """ŷ = e^x / Σ e^x along dim (PyTorch's implicit dim, with its warning, when dim is None)."""
    return _registered("softmax", _cast(input, dtype), dim=_softmax_dim("softmax", input, dim, _stacklevel))


def log_softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype=None) -> Tensor:
    """log ŷ = x − log Σ e^x along dim."""
    return _registered("log_softmax", _cast(input, dtype), dim=_softmax_dim("log_softmax", input, dim, _stacklevel))


# ----------------------------------------------------------------------------- losses
def cross_entropy(input: Tensor, target, weight=None, size_average=None, ignore_index: int = -100, reduce=None,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """L = −Σ_i y_i log softmax(s)_i, the fused rule δs = ŷ − y (§3.1); target class indices or probabilities.

    input (N, C), (C,) or (N, C, d1, …) with target (N,), () or (N, d1, …) of indices, or of input's shape.
    """
    reduction = _legacy_reduction(size_average, reduce, reduction)
    logits, labels, restore = _rows_of_classes(input, target, "cross_entropy")
    options = _non_default(reduction=(reduction, "mean"), ignore_index=(ignore_index, -100),
                           label_smoothing=(label_smoothing, 0.0))
    return restore(apply(SoftmaxCrossEntropy, logits, labels, weight, **options), reduction)


def nll_loss(input: Tensor, target, weight=None, size_average=None, ignore_index: int = -100, reduce=None,
             reduction: str = "mean") -> Tensor:
    """L = −w[y] input[y] per row of log-probabilities (after log_softmax); mean over the weights of kept rows."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    log_probs, labels, restore = _rows_of_classes(input, target, "nll_loss")
    options = _non_default(reduction=(reduction, "mean"), ignore_index=(ignore_index, -100))
    return restore(apply(NLLLoss, log_probs, labels, weight, **options), reduction)


def mse_loss(input: Tensor, target, size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """L = mean((input − target)²); both get a gradient."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if isinstance(target, Tensor) and isinstance(input, Tensor) and target.shape != input.shape:
        warnings.warn(f"Using a target size ({target.shape}) that is different to the input size ({input.shape}). "
                      "This will likely lead to incorrect results due to broadcasting.", UserWarning, stacklevel=2)
    return apply(MSELoss, input, target, **_non_default(reduction=(reduction, "mean")))


# ----------------------------------------------------------------------------- plumbing
def _registered(name: str, *args: Any, **options: Any) -> Tensor:
    """Apply the op registered as `name`, looked up when called (ops may register after this module loads)."""
    op = REGISTRY.get(name)
    if op is None:
        raise NotImplementedError(f"tinygraph.functional.{name}: no op named {name!r} is registered")
    return apply(op, *args, **options)


def _as_tensor(value) -> Tensor:
    return value if isinstance(value, Tensor) else tensor(value)


def _non_default(**options: tuple[Any, Any]) -> dict[str, Any]:
    """The options whose value differs from the op's default (value, default) pairs."""
    return {name: value for name, (value, default) in options.items()
            if value is not default and (type(value) is not type(default) or value != default)}


def _stride(stride):
    """PyTorch's stride=None or [] both mean "the kernel size"."""
    return None if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0) else stride


def _batched(input, op: str) -> tuple[Tensor, bool]:
    """A (C, H, W) image as a batch of one, as PyTorch accepts it; (tensor, whether it was unbatched)."""
    x = _as_tensor(input)
    if x.ndim == 3:
        return x.reshape(1, *x.shape), True
    if x.ndim != 4:
        raise OpError(op, "x", f"input must be 3-D (C, H, W) or 4-D (N, C, H, W), got shape {x.shape}")
    return x, False


def _unbatched(out: Tensor, unbatched: bool) -> Tensor:
    return out.reshape(*out.shape[1:]) if unbatched else out


def _string_padding(x: Tensor, weight, padding: str, stride, dilation) -> tuple[Tensor, int]:
    """"valid" is no padding; "same" pads d·(k − 1) in total per axis, the odd one at the end (F.pad)."""
    if padding == "valid":
        return x, 0
    if padding != "same":
        raise OpError("conv2d", "padding", f"padding must be an int, a pair, 'valid' or 'same', got {padding!r}")
    if stride not in (1, (1, 1), [1, 1]):
        raise OpError("conv2d", "padding", f"padding='same' needs stride 1, got stride {stride!r}")
    dilations = (dilation, dilation) if np.ndim(dilation) == 0 else tuple(dilation)
    kernel = np.shape(weight.data if isinstance(weight, Tensor) else weight)[2:]
    totals = [d * (k - 1) for d, k in zip(dilations, kernel)]
    even = tuple(t // 2 for t in totals)
    if all(t % 2 == 0 for t in totals):
        return x, even
    # (left, right, top, bottom): the odd row/column goes to the end, as PyTorch's conv does.
    extra = (even[1], totals[1] - even[1], even[0], totals[0] - even[0])
    return pad(x, extra), 0


def _softmax_dim(name: str, input, dim, stacklevel: int) -> int:
    if dim is not None:
        return dim
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call to include dim=X "
                  "as an argument.", UserWarning, stacklevel=stacklevel)
    return 0 if np.ndim(input.data if isinstance(input, Tensor) else input) in (0, 1, 3) else 1


def _cast(input, dtype):
    if dtype is None:
        return input
    raise NotImplementedError("tinygraph.functional: dtype= is not supported; the result keeps the input's dtype")


def _legacy_reduction(size_average, reduce, reduction: str) -> str:
    """PyTorch's deprecated size_average / reduce pair, turned into a reduction as PyTorch does."""
    if size_average is None and reduce is None:
        return reduction
    warnings.warn("size_average and reduce args will be deprecated, please use reduction instead.",
                  UserWarning, stacklevel=3)
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    return ("mean" if size_average else "sum") if reduce else "none"


def _rows_of_classes(input, target, op: str):
    """(logits as rows (M, C), target as (M,) labels or (M, C) rows, a function giving "none" its shape back).

    PyTorch puts the classes on axis 1 of (N, C, d1, …) and on axis 0 of a single (C,) sample.
    """
    x = _as_tensor(input)
    y = target.data if isinstance(target, Tensor) else np.asarray(target)
    # Probability rows are reshaped as a tensor when they are one, so a target that requires grad gets it.
    probabilities = target if isinstance(target, Tensor) and y.dtype.kind == "f" else y
    if x.ndim == 2 or x.ndim == 0:
        return x, target, lambda out, reduction: out
    if x.ndim == 1:                                     # one sample: classes on axis 0
        rows = x.reshape(1, x.shape[0])
        y_rows = probabilities.reshape(1, -1) if y.ndim == 1 and y.dtype.kind == "f" else y.reshape(1)
        return rows, y_rows, lambda out, reduction: out.reshape() if reduction == "none" else out
    n, classes, *rest = x.shape
    order = (0, *range(2, x.ndim), 1)                   # classes last, then one row per (n, d1, …)
    rows = x.permute(*order).reshape(-1, classes)
    if y.dtype.kind == "f" and y.shape == x.shape:
        y_rows = (probabilities.permute(*order) if isinstance(probabilities, Tensor)
                  else y.transpose(order)).reshape(-1, classes)
    else:
        if y.shape != (n, *rest):
            raise OpError("softmax_xent" if op == "cross_entropy" else op, "target",
                          f"target of shape {y.shape} does not match input of shape {x.shape}: "
                          f"labels need shape {(n, *rest)}, probabilities {x.shape}")
        y_rows = y.reshape(-1)

    def restore(out: Tensor, reduction: str) -> Tensor:
        return out.reshape(n, *rest) if reduction == "none" else out
    return rows, y_rows, restore


# ----------------------------------------------------------------------------- issue 20: transposed conv, unpooling
def conv_transpose2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
                     output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    """Y = Wᵀ ⋆ X + b, the adjoint of conv2d's input map: input (N, Cin, H, W) or (Cin, H, W), weight (Cin, Cout/groups, KH, KW)."""
    x, unbatched = _batched(input, "conv_transpose2d")
    options = _non_default(stride=(stride, 1), padding=(padding, 0), output_padding=(output_padding, 0),
                           groups=(groups, 1), dilation=(dilation, 1))
    return _unbatched(_registered("conv_transpose2d", x, weight, bias, **options), unbatched)


def max_unpool2d(input: Tensor, indices, kernel_size, stride=None, padding=0, output_size=None) -> Tensor:
    """Put each pooled value back where max_pool2d(return_indices=True) found it; zeros elsewhere.

    The output is (H − 1)·stride − 2·padding + kernel_size per side unless output_size gives it.
    """
    x, unbatched = _batched(input, "max_unpool2d")
    index = indices.data if isinstance(indices, Tensor) else np.asarray(indices)
    index = index.reshape(x.shape) if unbatched else index
    kernel = _two("max_unpool2d", "kernel_size", kernel_size)
    steps = kernel if _stride(stride) is None else _two("max_unpool2d", "stride", stride)
    pads = _two("max_unpool2d", "padding", padding)
    size = tuple((n - 1) * s - 2 * p + k for n, s, p, k in zip(x.shape[2:], steps, pads, kernel))
    if output_size is not None:
        size = tuple(int(n) for n in tuple(output_size)[-2:])
    return _unbatched(_registered("max_unpool2d", x, index, output_size=size), unbatched)


def _two(op: str, name: str, value) -> tuple[int, int]:
    pair = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(pair) != 2:
        raise OpError(op, name, f"{name} must be an int or a pair, got {value!r}")
    return int(pair[0]), int(pair[1])


def _max_pool_indices(x: np.ndarray, kernel_size, stride, padding, dilation, ceil_mode: bool) -> np.ndarray:
    """Where each window's (first) maximum lies, as h·W + w in its (n, c) plane: PyTorch's return_indices."""
    kernel, steps, pads, dilations = pool_options("maxpool", x, kernel_size, stride, padding, dilation)
    (out_h, out_w), padded = pooled_size("maxpool", x.shape, kernel, steps, pads, dilations, ceil_mode)
    A = pad_to(x, pads, padded, -np.inf)
    flat = windows(A, kernel, steps, dilations).reshape(*x.shape[:2], out_h, out_w, kernel[0] * kernel[1])
    best = flat.argmax(axis=-1)                                # the first maximum, or the first NaN ...
    nan = np.isnan(flat) if flat.dtype.kind == "f" else np.zeros(flat.shape, bool)
    last_nan = flat.shape[-1] - 1 - np.flip(nan, axis=-1).argmax(axis=-1)
    best = np.where(nan.any(axis=-1), last_nan, best)          # ... but the last NaN, as PyTorch's CPU kernel
    i, j = np.divmod(best, kernel[1])                          # the window offset of the maximum
    h = np.arange(out_h)[:, np.newaxis] * steps[0] - pads[0] + i * dilations[0]
    w = np.arange(out_w)[np.newaxis, :] * steps[1] - pads[1] + j * dilations[1]
    return (h * x.shape[3] + w).astype(np.int64)


# ----------------------------------------------------------------------------- issue 20: more losses
def l1_loss(input: Tensor, target, size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """L = |input − target| per element, then reduced."""
    return _reduced((_as_tensor(input) - target).abs(), _legacy_reduction(size_average, reduce, reduction), "l1_loss")


def smooth_l1_loss(input: Tensor, target, size_average=None, reduce=None, reduction: str = "mean",
                   beta: float = 1.0) -> Tensor:
    """L = ½ d² / β where |d| < β, else |d| − ½ β (d = input − target); β = 0 is the L1 loss."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if beta < 0:
        raise OpError("smooth_l1_loss", "beta", f"beta must be non-negative, got {beta}")
    d = _as_tensor(input) - target
    if beta == 0:
        return _reduced(d.abs(), reduction, "smooth_l1_loss")
    size = d.abs()
    return _reduced(_registered("where", size.data < beta, d * d * (0.5 / beta), size - 0.5 * beta),
                    reduction, "smooth_l1_loss")


def huber_loss(input: Tensor, target, reduction: str = "mean", delta: float = 1.0) -> Tensor:
    """L = ½ d² where |d| < δ, else δ (|d| − ½ δ) (d = input − target)."""
    if delta <= 0:
        raise OpError("huber_loss", "delta", f"delta must be positive, got {delta}")
    d = _as_tensor(input) - target
    size = d.abs()
    return _reduced(_registered("where", size.data < delta, d * d * 0.5, (size - 0.5 * delta) * delta),
                    reduction, "huber_loss")


def binary_cross_entropy(input: Tensor, target, weight=None, size_average=None, reduce=None,
                         reduction: str = "mean") -> Tensor:
    """L = −w (y log x + (1 − y) log(1 − x)), each log clamped at −100 as PyTorch; input in [0, 1]."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    x = _as_tensor(input)
    y = target if isinstance(target, Tensor) else tensor(np.asarray(target, dtype=x.dtype))
    if y.shape != x.shape:
        raise OpError("binary_cross_entropy", "target", f"target of shape {y.shape} must have input's shape {x.shape}")
    if x.data.size and not ((x.data >= 0) & (x.data <= 1)).all():
        raise OpError("binary_cross_entropy", "input", "all elements of input should be between 0 and 1")
    with np.errstate(divide="ignore"):
        log_x, log_rest = x.log().clamp(min=-100), (1 - x).log().clamp(min=-100)
    loss = -(y * log_x + (1 - y) * log_rest)
    return _reduced(loss if weight is None else loss * weight, reduction, "binary_cross_entropy")


def binary_cross_entropy_with_logits(input: Tensor, target, weight=None, size_average=None, reduce=None,
                                     reduction: str = "mean", pos_weight=None) -> Tensor:
    """L = −w (p y log σ(s) + (1 − y) log(1 − σ(s))), p = pos_weight, as (1 − y) s + (1 + (p − 1) y) softplus(−s).

    softplus(−s) = log(1 + e^(−|s|)) + max(−s, 0): no overflow for any s.
    """
    reduction = _legacy_reduction(size_average, reduce, reduction)
    s = _as_tensor(input)
    y = target if isinstance(target, Tensor) else tensor(np.asarray(target, dtype=s.dtype))
    if y.shape != s.shape:
        raise OpError("binary_cross_entropy_with_logits", "target",
                      f"target of shape {y.shape} must have input's shape {s.shape}")
    softplus_minus = (-s.abs()).exp().log1p() + (-s).relu()
    scale = 1 if pos_weight is None else 1 + (pos_weight - 1) * y
    loss = (1 - y) * s + scale * softplus_minus
    return _reduced(loss if weight is None else loss * weight, reduction, "binary_cross_entropy_with_logits")


def kl_div(input: Tensor, target, size_average=None, reduce=None, reduction: str = "mean",
           log_target: bool = False) -> Tensor:
    """L = y (log y − x) per element, x log-probabilities, y probabilities (log-probabilities if log_target).

    reduction "batchmean" divides the sum by the batch size (the mathematically right KL); "mean" by
    the element count, as PyTorch (which warns about it).
    """
    reduction = _legacy_reduction(size_average, reduce, reduction)
    x = _as_tensor(input)
    y = target if isinstance(target, Tensor) else tensor(np.asarray(target, dtype=x.dtype))
    if log_target:
        loss = y.exp() * (y - x)
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            y_log_y = _registered("where", y.data > 0, y * y.log(), 0.0)   # 0 log 0 = 0
        loss = y_log_y - y * x
    if reduction == "batchmean":
        return loss.sum() / (x.shape[0] if x.ndim else 1)
    if reduction == "mean":
        warnings.warn("reduction: 'mean' divides the total loss by both the batch size and the support size."
                      "'batchmean' divides only by the batch size, and aligns with the KL div math definition."
                      "'mean' will be changed to behave the same as 'batchmean' in the next major release.",
                      UserWarning, stacklevel=2)
    return _reduced(loss, reduction, "kl_div")


def _reduced(loss: Tensor, reduction: str, op: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"{op}: {reduction!r} is not a valid value for reduction (mean, sum, none)")
