"""Adagrad (Duchi, Hazan & Singer), with torch.optim.Adagrad's options, update equations and state names."""
from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from tinygraph.optim.optimizer import Optimizer, check_number


class Adagrad(Optimizer):
    """Divide each step by the root of every squared gradient so far, as torch.optim.Adagrad:

    g ← ∇ + λθ;  s ← s + g²;  θ ← θ − lr / (1 + (t − 1)·lr_decay) · g / (√s + ε)

    s starts at initial_accumulator_value. As in PyTorch, every parameter gets its state (step 0,
    s) when the optimizer is made, not at its first step.
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, lr_decay: float = 0.0, weight_decay: float = 0.0,
                 initial_accumulator_value: float = 0.0, eps: float = 1e-10, *, maximize: bool = False):
        super().__init__(params, {"lr": lr, "lr_decay": lr_decay, "weight_decay": weight_decay,
                                  "initial_accumulator_value": initial_accumulator_value, "eps": eps,
                                  "maximize": bool(maximize)})
        for group in self.param_groups:
            for p in group["params"]:
                self.state[p].update(step=0, sum=np.full_like(p.data, group["initial_accumulator_value"]))

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        for key in ("lr_decay", "weight_decay", "initial_accumulator_value", "eps"):
            check_number(self._name, key, group[key], 0.0)

    def _update(self, param, grad, state, group):
        if group["maximize"]:
            grad = -grad
        if not state:                   # a group added after construction
            state.update(step=0, sum=np.full_like(param, group["initial_accumulator_value"]))
        state["step"] += 1
        if group["weight_decay"] != 0:
            grad = grad + group["weight_decay"] * param
        decayed_lr = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
        squares = state["sum"]
        squares += grad * grad
        param -= decayed_lr * (grad / (np.sqrt(squares) + group["eps"]))
