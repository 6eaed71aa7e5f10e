"""Losses as modules, torch.nn's names and options: CrossEntropyLoss (the fused softmax_xent rule), MSELoss."""
from __future__ import annotations

from typing import Any

import numpy as np

from tinygraph import functional as F
from tinygraph.nn.layers import _refuse, as_tensor
from tinygraph.nn.module import Module
from tinygraph.tensor import Tensor

REDUCTIONS = ("mean", "sum", "none")


def _check_common(loss: str, size_average: Any, reduce: Any, reduction: str) -> str:
    _refuse(loss, "size_average", size_average, None, "deprecated in PyTorch; use reduction=")
    _refuse(loss, "reduce", reduce, None, "deprecated in PyTorch; use reduction=")
    if reduction not in REDUCTIONS:
        raise ValueError(f"{loss}: reduction must be one of {REDUCTIONS}, got {reduction!r}")
    return reduction


class CrossEntropyLoss(Module):
    """L = −Σ_i y_i log softmax(s)_i per sample, then reduced: F.cross_entropy as a module.

    target: class indices (N,) or probabilities (N, C). weight rescales each class, ignore_index
    drops samples with that label (from the mean's denominator too), label_smoothing mixes y with
    the uniform distribution. weight is a buffer, as in PyTorch.
    """

    def __init__(self, weight: Any = None, size_average: Any = None, ignore_index: int = -100, reduce: Any = None,
                 reduction: str = "mean", label_smoothing: float = 0.0):
        super().__init__()
        self.reduction = _check_common("nn.CrossEntropyLoss", size_average, reduce, reduction)
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"nn.CrossEntropyLoss: label_smoothing must be in [0, 1], got {label_smoothing!r}")
        self.ignore_index, self.label_smoothing = int(ignore_index), float(label_smoothing)
        if weight is not None:
            weight = np.array(weight.data if isinstance(weight, Tensor) else weight)
        self.register_buffer("weight", weight)

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return F.cross_entropy(as_tensor(input), target, weight=self.weight, ignore_index=self.ignore_index,
                               reduction=self.reduction, label_smoothing=self.label_smoothing)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


class MSELoss(Module):
    """L = (input − target)² per element, then reduced (mean by default)."""

    def __init__(self, size_average: Any = None, reduce: Any = None, reduction: str = "mean"):
        super().__init__()
        self.reduction = _check_common("nn.MSELoss", size_average, reduce, reduction)

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return F.mse_loss(as_tensor(input), target, reduction=self.reduction)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


# ----------------------------------------------------------------------------- issue 20: the rest of F's losses
class _ElementwiseLoss(Module):
    """A loss of input and target with PyTorch's reduction= ("mean", "sum", "none")."""

    function = None

    def __init__(self, size_average: Any = None, reduce: Any = None, reduction: str = "mean"):
        super().__init__()
        self.reduction = _check_common(f"nn.{type(self).__name__}", size_average, reduce, reduction)

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return type(self).function(as_tensor(input), target, reduction=self.reduction)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


class L1Loss(_ElementwiseLoss):
    """L = |input − target|, then reduced."""

    function = staticmethod(F.l1_loss)


class SmoothL1Loss(_ElementwiseLoss):
    """L = ½ d²/β where |d| < β, else |d| − ½β."""

    def __init__(self, size_average: Any = None, reduce: Any = None, reduction: str = "mean", beta: float = 1.0):
        super().__init__(size_average, reduce, reduction)
        self.beta = float(beta)

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return F.smooth_l1_loss(as_tensor(input), target, reduction=self.reduction, beta=self.beta)


class HuberLoss(_ElementwiseLoss):
    """L = ½ d² where |d| < δ, else δ(|d| − ½δ)."""

    def __init__(self, reduction: str = "mean", delta: float = 1.0):
        super().__init__(reduction=reduction)
        self.delta = float(delta)

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return F.huber_loss(as_tensor(input), target, reduction=self.reduction, delta=self.delta)


class BCELoss(_ElementwiseLoss):
    """L = −w (y log x + (1 − y) log(1 − x)); weight is a buffer."""

    def __init__(self, weight: Any = None, size_average: Any = None, reduce: Any = None, reduction: str = "mean"):
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", None if weight is None else np.array(getattr(weight, "data", weight)))

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return F.binary_cross_entropy(as_tensor(input), target, weight=self.weight, reduction=self.reduction)


class BCEWithLogitsLoss(_ElementwiseLoss):
    """L = −w (p y log σ(s) + (1 − y) log(1 − σ(s))), from logits s; weight and pos_weight p are buffers."""

    def __init__(self, weight: Any = None, size_average: Any = None, reduce: Any = None, reduction: str = "mean",
                 pos_weight: Any = None):
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", None if weight is None else np.array(getattr(weight, "data", weight)))
        self.register_buffer("pos_weight", None if pos_weight is None else np.array(getattr(pos_weight, "data", pos_weight)))

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return F.binary_cross_entropy_with_logits(as_tensor(input), target, weight=self.weight,
                                                  reduction=self.reduction, pos_weight=self.pos_weight)


class KLDivLoss(Module):
    """L = y (log y − x), x log-probabilities; reduction also "batchmean" (sum / batch size)."""

    def __init__(self, size_average: Any = None, reduce: Any = None, reduction: str = "mean", log_target: bool = False):
        super().__init__()
        if reduction != "batchmean":
            reduction = _check_common("nn.KLDivLoss", size_average, reduce, reduction)
        self.reduction, self.log_target = reduction, bool(log_target)

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return F.kl_div(as_tensor(input), target, reduction=self.reduction, log_target=self.log_target)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


class NLLLoss(Module):
    """L = −w[y] input[y] per sample of log-probabilities: F.nll_loss as a module; weight is a buffer."""

    def __init__(self, weight: Any = None, size_average: Any = None, ignore_index: int = -100, reduce: Any = None,
                 reduction: str = "mean"):
        super().__init__()
        self.reduction = _check_common("nn.NLLLoss", size_average, reduce, reduction)
        self.ignore_index = int(ignore_index)
        self.register_buffer("weight", None if weight is None else np.array(getattr(weight, "data", weight)))

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return F.nll_loss(as_tensor(input), target, weight=self.weight, ignore_index=self.ignore_index,
                          reduction=self.reduction)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"
