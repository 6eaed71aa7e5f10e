"""Modules and layers: models built from tinygraph ops, organised the way PyTorch users expect.

    class Net(nn.Module):
        def __init__(self, rng):
            super().__init__()
            self.fc = nn.Linear(64, 10, rng=rng)   # registered because it is a Module
        def forward(self, x):
            return self.fc(x)

A `Module` finds its parameters and submodules from attribute assignment, in assignment order;
`named_parameters()` gives dotted names ("fc.weight"). While a module's `__call__` runs,
`STATE.module_path` holds its dotted path ("conv", "layers.1"; None for the outermost module) and
every node recorded meanwhile keeps it as `node.module`, so the drawing tools can group a graph
by module. Layers initialise like PyTorch: uniform in ±1/√fan_in, drawn from the
`numpy.random.Generator` you pass.
"""
from __future__ import annotations

from typing import Any, Iterator

import numpy as np

import tinygraph as tg
from tinygraph.grad_mode import STATE
from tinygraph.tensor import Tensor


class Parameter(Tensor):
    """A tensor a Module trains: always `requires_grad=True`, floating point."""

    __slots__ = ()

    def __init__(self, data: Any, name: str | None = None):
        array = np.asarray(data.data if isinstance(data, Tensor) else data)
        if array.dtype.kind != "f":
            raise TypeError(f"nn.Parameter: data must be floating point, got dtype {array.dtype}")
        super().__init__(array, requires_grad=True, name=name)


# The modules whose __call__ is running, outermost first, as (module, dotted path) pairs.
_CALL_STACK: list[tuple["Module", str]] = []


class Module:
    """Base class of layers and models: subclass it, assign parameters/modules, write `forward`."""

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "training", True)

    # ----------------------------------------------------------------- registration
    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}: call super().__init__() in __init__ before "
                                 f"assigning attribute {name!r}")
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        object.__delattr__(self, name)

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, "Module"]]:
        """(dotted path, module) for this module ("") and every submodule, depth first, each once."""
        seen: set[int] = set()
        stack = [(prefix, self)]
        while stack:
            path, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield path, module
            children = [(f"{path}.{n}" if path else n, m) for n, m in module._modules.items()]
            stack.extend(reversed(children))

    def named_parameters(self) -> Iterator[tuple[str, Parameter]]:
        """(dotted name, parameter) in assignment order; a parameter shared by two modules comes once."""
        seen: set[int] = set()
        for path, module in self.named_modules():
            for name, param in module._parameters.items():
                if id(param) not in seen:
                    seen.add(id(param))
                    yield (f"{path}.{name}" if path else name), param

    def parameters(self) -> list[Parameter]:
        return [p for _, p in self.named_parameters()]

    def num_parameters(self) -> int:
        """How many numbers the model trains."""
        return sum(p.data.size for p in self.parameters())

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad = None

    def train(self, mode: bool = True) -> "Module":
        for _, module in self.named_modules():
            object.__setattr__(module, "training", bool(mode))
        return self

    def eval(self) -> "Module":
        return self.train(False)

    # ----------------------------------------------------------------- state
    def state_dict(self) -> dict[str, np.ndarray]:
        """{dotted name: copy of the parameter's array}."""
        return {name: p.data.copy() for name, p in self.named_parameters()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Copy arrays into the parameters; every key, shape and dtype is checked before anything changes."""
        own = dict(self.named_parameters())
        model = type(self).__name__
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        if missing or unexpected:
            raise KeyError(f"{model}.load_state_dict: keys do not match; missing {missing}, "
                           f"unexpected {unexpected} (the model has {list(own)})")
        problems = []
        arrays = {}
        for name, p in own.items():
            value = state[name]
            array = np.asarray(value.data if isinstance(value, Tensor) else value)
            if array.shape != p.data.shape:
                problems.append(f"'{name}' has shape {array.shape} in the state but {p.data.shape} in the model")
            elif array.dtype != p.data.dtype:
                problems.append(f"'{name}' has dtype {array.dtype} in the state but {p.data.dtype} in the model")
            arrays[name] = array
        if problems:
            raise ValueError(f"{model}.load_state_dict: " + "; ".join(problems))
        for name, p in own.items():
            np.copyto(p.data, arrays[name])

    # ----------------------------------------------------------------- calling
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        path = _child_path(self)
        previous = STATE.module_path
        _CALL_STACK.append((self, path))
        STATE.module_path = path or None       # every node recorded meanwhile takes this path
        try:
            return self.forward(*args, **kwargs)
        finally:
            STATE.module_path = previous
            _CALL_STACK.pop()

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        if self._modules:
            for name, module in self._modules.items():
                child = repr(module).replace("\n", "\n  ")
                lines.append(f"  ({name}): {child}")
            lines.append(")")
            return "\n".join(lines)
        return lines[0] + ")"


def _child_path(module: Module) -> str:
    """Dotted path of `module` inside the module that is calling it ("" at the outermost call)."""
    if not _CALL_STACK:
        return ""
    parent, parent_path = _CALL_STACK[-1]
    for name, child in parent._modules.items():
        if child is module:
            return f"{parent_path}.{name}" if parent_path else name
    return parent_path  # a module called from inside another but not registered in it


def module_path(tensor: Tensor) -> str | None:
    """The dotted path of the module whose call produced `tensor` (None outside any submodule)."""
    return None if tensor._node is None else tensor._node.module


# --------------------------------------------------------------------------- layers
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
        return tg.conv2d(x, self.weight, self.bias, stride=self.stride, padding=self.padding)

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
        return tg.maxpool(x, size=self.size, stride=self.stride)

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
