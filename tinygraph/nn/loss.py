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
