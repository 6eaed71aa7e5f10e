"""RMSprop (Hinton's lecture 6e), with torch.optim.RMSprop's options, update equations and state names."""
from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from tinygraph.optim.optimizer import Optimizer, check_number


class RMSprop(Optimizer):
    """Divide each step by a running root mean square of the gradient, as torch.optim.RMSprop:

    g ← ∇ + λθ;  v ← αv + (1−α)g²;  (centered: ḡ ← ḡ + (1−α)(g − ḡ), v̂ = v − ḡ², else v̂ = v)
    b ← μb + g / (√v̂ + ε) and θ ← θ − lr·b   (momentum μ > 0),   else θ ← θ − lr·g / (√v̂ + ε)
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False, *, maximize: bool = False):
        super().__init__(params, {"lr": lr, "alpha": alpha, "eps": eps, "weight_decay": weight_decay,
                                  "momentum": momentum, "centered": bool(centered), "maximize": bool(maximize)})

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        for key in ("alpha", "eps", "weight_decay", "momentum"):
            check_number(self._name, key, group[key], 0.0)

    def _update(self, param, grad, state, group):
        alpha, eps, momentum = group["alpha"], group["eps"], group["momentum"]
        if group["maximize"]:
            grad = -grad
        if not state:
            state.update(step=0, square_avg=np.zeros_like(param))
            if momentum > 0:
                state["momentum_buffer"] = np.zeros_like(param)
            if group["centered"]:
                state["grad_avg"] = np.zeros_like(param)
        state["step"] += 1
        if group["weight_decay"] != 0:
            grad = grad + group["weight_decay"] * param
        square_avg = state["square_avg"]
        square_avg *= alpha
        square_avg += (1 - alpha) * (grad * grad)
        if group["centered"]:
            grad_avg = state["grad_avg"]
            grad_avg += (1 - alpha) * (grad - grad_avg)        # torch's lerp
            root_mean_square = np.sqrt(square_avg - grad_avg * grad_avg)
        else:
            root_mean_square = np.sqrt(square_avg)
        root_mean_square += eps
        if momentum > 0:
            buffer = state["momentum_buffer"]
            buffer *= momentum
            buffer += grad / root_mean_square
            param -= group["lr"] * buffer
        else:
            param -= group["lr"] * (grad / root_mean_square)
