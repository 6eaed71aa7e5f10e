"""Layers: the building blocks of tinygraph.nn models (re-exported there as nn.Linear, nn.Conv2d, ...).

Each layer initialises like PyTorch's, uniform in ±1/√fan_in from the `numpy.random.Generator`
you pass, and its forward is one or two tinygraph ops.
"""
from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from tinygraph.nn.module import Module, Parameter
from tinygraph.op import apply
from tinygraph.ops.conv2d import Conv2d as Conv2dOp
from tinygraph.ops.maxpool import MaxPool as MaxPoolOp
from tinygraph.tensor import Tensor


def as_tensor(x: Any) -> Tensor:
    """Layers accept NumPy arrays too: wrap them as constant tensors."""
    return x if isinstance(x, Tensor) else Tensor(x)


def _uniform(rng: np.random.Generator | None, bound: float, shape: tuple[int, ...], dtype) -> np.ndarray:
    if rng is None:
        rng = np.random.default_rng()
    elif not isinstance(rng, np.random.Generator):
        raise TypeError(f"nn: rng must be a numpy.random.Generator (np.random.default_rng(seed)), "
                        f"got {type(rng).__name__}")
    return rng.uniform(-bound, bound, size=shape).astype(dtype)


def _positive_int(layer: str, name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{layer}: {name} must be a positive integer, got {value!r}")
    return int(value)


class Linear(Module):
    """y = x Wᵀ + b with W of shape (out_features, in_features): the derivation's s = U p + c."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *,
                 rng: np.random.Generator | None = None, dtype=np.float32):
        super().__init__()
        self.in_features = _positive_int("nn.Linear", "in_features", in_features)
        self.out_features = _positive_int("nn.Linear", "out_features", out_features)
        bound = 1.0 / np.sqrt(in_features)
        self.weight = Parameter(_uniform(rng, bound, (out_features, in_features), dtype))
        self.bias = Parameter(_uniform(rng, bound, (out_features,), dtype)) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        x = as_tensor(x)
        if x.ndim == 0 or x.shape[-1] != self.in_features:
            raise ValueError(f"nn.Linear: input has shape {x.shape}, but the layer expects "
                             f"{self.in_features} features on the last axis")
        out = x @ self.weight.T
        return out if self.bias is None else out + self.bias

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}, bias={self.bias is not None}"


class Conv2d(Module):
    """Z = W ⋆ X + b (eq. of section 2.1), W of shape (out_channels, in_channels, k, k)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int = 0, *, rng: np.random.Generator | None = None, dtype=np.float32):
        super().__init__()
        self.in_channels = _positive_int("nn.Conv2d", "in_channels", in_channels)
        self.out_channels = _positive_int("nn.Conv2d", "out_channels", out_channels)
        self.kernel_size = _positive_int("nn.Conv2d", "kernel_size", kernel_size)
        self.stride = _positive_int("nn.Conv2d", "stride", stride)
        if isinstance(padding, bool) or not isinstance(padding, (int, np.integer)) or padding < 0:
            raise ValueError(f"nn.Conv2d: padding must be a non-negative integer, got {padding!r}")
        self.padding = int(padding)
        bound = 1.0 / np.sqrt(in_channels * kernel_size * kernel_size)
        shape = (out_channels, in_channels, kernel_size, kernel_size)
        self.weight = Parameter(_uniform(rng, bound, shape, dtype))
        self.bias = Parameter(_uniform(rng, bound, (out_channels,), dtype))

    def forward(self, x: Tensor) -> Tensor:
        return apply(Conv2dOp, x, self.weight, self.bias, stride=self.stride, padding=self.padding)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}")


class ReLU(Module):
    """A = max(0, Z)."""

    def forward(self, x: Tensor) -> Tensor:
        return as_tensor(x).relu()


class MaxPool(Module):
    """P = max over size×size windows (non-overlapping when stride is None)."""

    def __init__(self, size: int = 2, stride: int | None = None):
        super().__init__()
        self.size = _positive_int("nn.MaxPool", "size", size)
        self.stride = None if stride is None else _positive_int("nn.MaxPool", "stride", stride)

    def forward(self, x: Tensor) -> Tensor:
        return apply(MaxPoolOp, x, size=self.size, stride=self.stride)

    def extra_repr(self) -> str:
        return f"size={self.size}, stride={self.stride or self.size}"


class Flatten(Module):
    """p = P reshaped to (N, everything else)."""

    def __init__(self, start_dim: int = 1):
        super().__init__()
        self.start_dim = start_dim

    def forward(self, x: Tensor) -> Tensor:
        return as_tensor(x).flatten(self.start_dim)


class Sequential(Module):
    """Modules applied one after the other; they are named "0", "1", ..."""

    def __init__(self, *modules: Module):
        super().__init__()
        for i, module in enumerate(modules):
            if not isinstance(module, Module):
                raise TypeError(f"nn.Sequential: argument {i} is a {type(module).__name__}, not a Module")
            setattr(self, str(i), module)

    def forward(self, x: Any) -> Any:
        for module in self._modules.values():
            x = module(x)
        return x

    def __getitem__(self, index: int) -> Module:
        return list(self._modules.values())[index]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())
