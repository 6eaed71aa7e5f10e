"""Adam and AdamW (decoupled weight decay), with PyTorch's update equations and option names."""
from __future__ import annotations

import math
from typing import Any, Iterable

import numpy as np

from tinygraph.optim.optimizer import Optimizer, check_number


class Adam(Optimizer):
    """Kingma & Ba with bias correction, as torch.optim.Adam computes it:

    g ← ∇ + λθ;  m ← m + (1−β₁)(g − m);  v ← β₂v + (1−β₂)g²;  (amsgrad: v̂max ← max(v̂max, v))
    θ ← θ − (lr / (1−β₁ᵗ)) · m / (√v / √(1−β₂ᵗ) + ε)
    """

    decoupled_weight_decay = False

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, amsgrad: bool = False, *, maximize: bool = False):
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay,
                                  "amsgrad": bool(amsgrad), "maximize": bool(maximize)})

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        betas = group["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"{self._name}: betas must be two numbers in [0, 1), got {betas!r}")
        for i, beta in enumerate(betas):
            check_number(self._name, f"betas[{i}]", beta, 0.0, 1.0)
        check_number(self._name, "eps", group["eps"], 0.0)
        check_number(self._name, "weight_decay", group["weight_decay"], 0.0)

    def _update(self, param, grad, state, group):
        beta1, beta2 = group["betas"]
        lr, weight_decay = group["lr"], group["weight_decay"]
        if group["maximize"]:
            grad = -grad
        if not state:
            state.update(step=0, exp_avg=np.zeros_like(param), exp_avg_sq=np.zeros_like(param))
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = np.zeros_like(param)
        state["step"] += 1
        if weight_decay != 0:
            if self.decoupled_weight_decay:
                param *= 1 - lr * weight_decay          # AdamW: shrink θ itself, not the gradient
            else:
                grad = grad + weight_decay * param
        step, m, v = state["step"], state["exp_avg"], state["exp_avg_sq"]
        m += (1 - beta1) * (grad - m)                   # torch's lerp: m ← β₁m + (1−β₁)g
        v *= beta2
        v += (1 - beta2) * (grad * grad)
        if group["amsgrad"]:
            v = np.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
        step_size = lr / (1 - beta1 ** step)
        denominator = np.sqrt(v) / math.sqrt(1 - beta2 ** step) + group["eps"]   # Python floats keep float32 float32
        param -= step_size * (m / denominator)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter), as torch.optim.AdamW:

    θ ← θ(1 − lr·λ), then the Adam step with the plain gradient g = ∇.
    """

    decoupled_weight_decay = True

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False, *, maximize: bool = False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize)
