"""Stochastic gradient descent with momentum, dampening, Nesterov and L2 weight decay, as torch.optim.SGD."""
from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from tinygraph.optim.optimizer import Optimizer, check_number


class SGD(Optimizer):
    """g ← ∇ + λθ;  b ← μb + (1−τ)g (b = g at the first step);  g ← g + μb (Nesterov) or b;  θ ← θ − lr·g.

    μ = momentum, τ = dampening, λ = weight_decay; with μ = 0 it is θ ← θ − lr·(∇ + λθ).
    `maximize=True` ascends (∇ is negated first).
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False, *, maximize: bool = False):
        super().__init__(params, {"lr": lr, "momentum": momentum, "dampening": dampening,
                                  "weight_decay": weight_decay, "nesterov": bool(nesterov),
                                  "maximize": bool(maximize)})

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        for key in ("momentum", "dampening", "weight_decay"):
            check_number(self._name, key, group[key], 0.0)
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(f"{self._name}: nesterov needs momentum > 0 and dampening = 0, got momentum="
                             f"{group['momentum']!r}, dampening={group['dampening']!r}")

    def _update(self, param, grad, state, group):
        momentum, weight_decay = group["momentum"], group["weight_decay"]
        if group["maximize"]:
            grad = -grad
        if weight_decay != 0:
            grad = grad + weight_decay * param
        if momentum != 0:
            buffer = state.get("momentum_buffer")
            if buffer is None:
                # np.array, not .copy(): arithmetic on a 0-d array gives a NumPy scalar, which += cannot update
                buffer = state["momentum_buffer"] = np.array(grad, dtype=param.dtype)
            else:
                buffer *= momentum
                buffer += (1 - group["dampening"]) * grad
            grad = grad + momentum * buffer if group["nesterov"] else buffer
        param -= group["lr"] * grad
