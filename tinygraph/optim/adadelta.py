"""Adadelta (Zeiler), with torch.optim.Adadelta's options, update equations and state names."""
from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from tinygraph.optim.optimizer import Optimizer, check_number


class Adadelta(Optimizer):
    """Steps in units of θ: the RMS of past updates over the RMS of gradients, as torch.optim.Adadelta:

    g ← ∇ + λθ;  v ← ρv + (1−ρ)g²;  Δ = √(u + ε) / √(v + ε) · g;  u ← ρu + (1−ρ)Δ²;  θ ← θ − lr·Δ
    """

    def __init__(self, params: Iterable[Any], lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0.0, *, maximize: bool = False):
        super().__init__(params, {"lr": lr, "rho": rho, "eps": eps, "weight_decay": weight_decay,
                                  "maximize": bool(maximize)})

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        check_number(self._name, "rho", group["rho"], 0.0, 1.0, high_open=False)
        check_number(self._name, "eps", group["eps"], 0.0)
        check_number(self._name, "weight_decay", group["weight_decay"], 0.0)

    def _update(self, param, grad, state, group):
        rho, eps = group["rho"], group["eps"]
        if group["maximize"]:
            grad = -grad
        if not state:
            state.update(step=0, square_avg=np.zeros_like(param), acc_delta=np.zeros_like(param))
        state["step"] += 1
        if group["weight_decay"] != 0:
            grad = grad + group["weight_decay"] * param
        square_avg, acc_delta = state["square_avg"], state["acc_delta"]
        square_avg *= rho
        square_avg += (1 - rho) * (grad * grad)
        delta = np.sqrt(acc_delta + eps) / np.sqrt(square_avg + eps) * grad
        acc_delta *= rho
        acc_delta += (1 - rho) * (delta * delta)
        param -= group["lr"] * delta
