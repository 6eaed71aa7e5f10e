"""Optimizers: SGD (with momentum) and Adam, with PyTorch's update equations.

Updates change each parameter's `.data` in place, so a float32 model stays float32 and the graph
never sees them. Parameters whose `.grad` is None (unused in the last backward) are left alone.
"""
from __future__ import annotations

import math
from typing import Any, Iterable

import numpy as np

from tinygraph.tensor import Tensor


class Optimizer:
    """Holds the parameters and their per-parameter state; subclasses write `_update`."""

    def __init__(self, params: Iterable[Tensor], lr: float):
        self.params = list(params)
        name = type(self).__name__
        if not self.params:
            raise ValueError(f"optim.{name}: got no parameters to optimize")
        for i, p in enumerate(self.params):
            if not isinstance(p, Tensor) or not p.requires_grad or p.data.dtype.kind != "f":
                raise TypeError(f"optim.{name}: parameter {i} must be a floating tensor with requires_grad=True, "
                                f"got {p!r}")
        if len({id(p) for p in self.params}) != len(self.params):
            raise ValueError(f"optim.{name}: the same parameter appears twice in the list")
        if not lr > 0:
            raise ValueError(f"optim.{name}: lr must be positive, got {lr!r}")
        self.lr = float(lr)
        self.state: list[dict[str, Any]] = [{} for _ in self.params]

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        for p, state in zip(self.params, self.state):
            if p.grad is not None:
                self._update(p.data, p.grad, state)
                p._bump_version()       # a backward() that saved the old values now raises

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any]) -> None:
        raise NotImplementedError

    # ----------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict[str, Any]:
        """{"type", "hyper": {...}, "state": {"<index>": {"<buffer>": array or int}}} (copies)."""
        return {"type": type(self).__name__, "hyper": self.hyperparameters(),
                "state": {str(i): {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in s.items()}
                          for i, s in enumerate(self.state) if s}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore buffers (and hyperparameters) saved by `state_dict`; checked before anything changes."""
        name = type(self).__name__
        if not isinstance(state, dict) or state.get("type") != name:
            found = state.get("type") if isinstance(state, dict) else type(state).__name__
            raise ValueError(f"optim.{name}.load_state_dict: the state is for a {found} optimizer")
        hyper = state.get("hyper", {})
        unknown = set(hyper) - set(self.hyperparameters())
        if unknown:
            raise ValueError(f"optim.{name}.load_state_dict: unknown hyperparameters {sorted(unknown)}")
        buffers: list[dict[str, Any]] = [{} for _ in self.params]
        for key, entry in state.get("state", {}).items():
            if not str(key).isdigit() or int(key) >= len(self.params):
                raise ValueError(f"optim.{name}.load_state_dict: state for parameter {key!r}, but the "
                                 f"optimizer has {len(self.params)} parameters")
            p = self.params[int(key)]
            for buffer, value in entry.items():
                if buffer == "step":
                    buffers[int(key)][buffer] = int(value)
                    continue
                value = np.asarray(value)
                if value.shape != p.data.shape or value.dtype != p.data.dtype:
                    raise ValueError(f"optim.{name}.load_state_dict: buffer {buffer!r} of parameter {key} has "
                                     f"shape {value.shape} dtype {value.dtype}, the parameter has shape "
                                     f"{p.data.shape} dtype {p.data.dtype}")
                buffers[int(key)][buffer] = value.copy()
        for attr, value in hyper.items():
            setattr(self, attr, tuple(value) if isinstance(value, (list, tuple)) else value)
        self.state = buffers

    def hyperparameters(self) -> dict[str, Any]:
        return {"lr": self.lr}


class SGD(Optimizer):
    """g ← ∇ + λθ;  b ← μb + g (b = g at the first step);  θ ← θ − lr·b  (μ = 0: θ ← θ − lr·g)."""

    def __init__(self, params: Iterable[Tensor], lr: float = 0.01, momentum: float = 0.0,
                 weight_decay: float = 0.0):
        super().__init__(params, lr)
        if not 0 <= momentum < 1:
            raise ValueError(f"optim.SGD: momentum must be in [0, 1), got {momentum!r}")
        if not weight_decay >= 0:
            raise ValueError(f"optim.SGD: weight_decay must be >= 0, got {weight_decay!r}")
        self.momentum = float(momentum)
        self.weight_decay = float(weight_decay)

    def hyperparameters(self) -> dict[str, Any]:
        return {"lr": self.lr, "momentum": self.momentum, "weight_decay": self.weight_decay}

    def _update(self, param, grad, state):
        if self.weight_decay:
            grad = grad + self.weight_decay * param
        if self.momentum:
            buffer = state.get("momentum")
            if buffer is None:
                buffer = state["momentum"] = grad.copy()
            else:
                buffer *= self.momentum
                buffer += grad
            grad = buffer
        param -= self.lr * grad


class Adam(Optimizer):
    """Kingma & Ba with bias correction, as torch.optim.Adam computes it:

    g ← ∇ + λθ;  m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;
    θ ← θ − lr · (m / (1−β₁ᵗ)) / (√(v / (1−β₂ᵗ)) + ε)
    """

    def __init__(self, params: Iterable[Tensor], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0):
        super().__init__(params, lr)
        if len(betas) != 2 or not all(0 <= b < 1 for b in betas):
            raise ValueError(f"optim.Adam: betas must be two numbers in [0, 1), got {betas!r}")
        if not eps > 0 or not weight_decay >= 0:
            raise ValueError(f"optim.Adam: need eps > 0 and weight_decay >= 0, got eps={eps!r}, "
                             f"weight_decay={weight_decay!r}")
        self.betas = (float(betas[0]), float(betas[1]))
        self.eps = float(eps)
        self.weight_decay = float(weight_decay)

    def hyperparameters(self) -> dict[str, Any]:
        return {"lr": self.lr, "betas": self.betas, "eps": self.eps, "weight_decay": self.weight_decay}

    def _update(self, param, grad, state):
        beta1, beta2 = self.betas
        if self.weight_decay:
            grad = grad + self.weight_decay * param
        if not state:
            state.update(step=0, m=np.zeros_like(param), v=np.zeros_like(param))
        state["step"] += 1
        t, m, v = state["step"], state["m"], state["v"]
        m *= beta1
        m += (1 - beta1) * grad
        v *= beta2
        v += (1 - beta2) * (grad * grad)
        correction1 = 1 - beta1 ** t
        correction2 = 1 - beta2 ** t
        denominator = np.sqrt(v) / math.sqrt(correction2) + self.eps   # Python floats keep float32 float32
        param -= (self.lr / correction1) * (m / denominator)
