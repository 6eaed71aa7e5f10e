"""Layers: the building blocks of tinygraph.nn models (re-exported there as nn.Linear, nn.Conv2d, ...).

Each layer takes torch.nn's arguments and defaults, initialises like PyTorch's (uniform in
±1/√fan_in from the `numpy.random.Generator` you pass, else from tinygraph's default generator,
which `tg.manual_seed` seeds), and its forward is one tinygraph op or a
`tinygraph.functional` call. Normalisation and dropout live in nn/normalization.py, losses in nn/loss.py.
"""
from __future__ import annotations

from typing import Any, Iterable, Iterator

import numpy as np

from tinygraph import functional as F
from tinygraph.nn.module import Module, Parameter
from tinygraph.op import apply
from tinygraph.ops.conv2d import Conv2d as Conv2dOp
from tinygraph.random import numpy_generator
from tinygraph.tensor import Tensor


def as_tensor(x: Any) -> Tensor:
    """Layers accept NumPy arrays too: wrap them as constant tensors."""
    return x if isinstance(x, Tensor) else Tensor(x)


def _uniform(rng: np.random.Generator | None, bound: float, shape: tuple[int, ...], dtype) -> np.ndarray:
    """Uniform in ±bound from `rng`, or from tinygraph's default generator (tg.manual_seed) when None."""
    return numpy_generator(rng, "nn: rng").uniform(-bound, bound, size=shape).astype(dtype)


def _pair(layer: str, name: str, value: Any, minimum: int) -> tuple[int, int]:
    """An int or an (h, w) pair of ints >= minimum, as the pair (h, w)."""
    pair = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(pair) != 2 or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < minimum for v in pair):
        kind = "positive" if minimum == 1 else "non-negative"
        raise ValueError(f"{layer}: {name} must be a {kind} integer or a pair of them, got {value!r}")
    return (int(pair[0]), int(pair[1]))


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
        return F.linear(x, self.weight, self.bias)      # s = U p + c as one node (§2.4, §3.2)

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}, bias={self.bias is not None}"


class Conv2d(Module):
    """Z = W ⋆ X + b (eq. of section 2.1), W of shape (out_channels, in_channels / groups, kh, kw).

    PyTorch's constructor: kernel_size, stride, padding and dilation an int or an (h, w) pair;
    padding also "valid" (none) or "same" (output as large as the input; stride 1 only). dilation
    and groups other than 1 need a conv2d op that takes them, else the constructor says so.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int],
                 stride: int | tuple[int, int] = 1, padding: int | tuple[int, int] | str = 0,
                 dilation: int | tuple[int, int] = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", *, rng: np.random.Generator | None = None, dtype=np.float32):
        super().__init__()
        name = "nn.Conv2d"
        self.in_channels = _positive_int(name, "in_channels", in_channels)
        self.out_channels = _positive_int(name, "out_channels", out_channels)
        self.kernel_size = _pair(name, "kernel_size", kernel_size, minimum=1)
        self.stride = _pair(name, "stride", stride, minimum=1)
        self.dilation = _pair(name, "dilation", dilation, minimum=1)
        self.groups = _positive_int(name, "groups", groups)
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: in_channels ({in_channels}) and out_channels ({out_channels}) must both be "
                             f"divisible by groups ({groups})")
        if padding_mode != "zeros":
            raise ValueError(f"{name}: padding_mode {padding_mode!r} is not supported, only 'zeros'")
        self.padding_mode = padding_mode
        self.padding = self._padding(name, padding)
        for option, default in (("dilation", (1, 1)), ("groups", 1)):
            if getattr(self, option) != default and option not in Conv2dOp.attr_names:
                raise ValueError(f"{name}: {option}={getattr(self, option)} needs a conv2d op that supports "
                                 f"{option}; this one takes only {list(Conv2dOp.attr_names)}")
        kh, kw = self.kernel_size
        bound = 1.0 / np.sqrt(in_channels // groups * kh * kw)
        self.weight = Parameter(_uniform(rng, bound, (out_channels, in_channels // groups, kh, kw), dtype))
        self.bias = Parameter(_uniform(rng, bound, (out_channels,), dtype)) if bias else None

    def _padding(self, name: str, padding: Any) -> tuple[int, int]:
        if padding == "valid":
            return (0, 0)
        if padding == "same":
            if self.stride != (1, 1):
                raise ValueError(f"{name}: padding='same' needs stride 1, got stride={self.stride}")
            total = [d * (k - 1) for d, k in zip(self.dilation, self.kernel_size)]
            if any(t % 2 for t in total):
                return "same"      # uneven: forward pads the extra row/column at the end, as PyTorch
            return (total[0] // 2, total[1] // 2)
        if isinstance(padding, str):
            raise ValueError(f"{name}: padding must be an int, a pair, 'valid' or 'same', got {padding!r}")
        return _pair(name, "padding", padding, minimum=0)

    def forward(self, x: Tensor) -> Tensor:
        if self.padding == "same":
            return F.conv2d(as_tensor(x), self.weight, self.bias, 1, "same", self.dilation, self.groups)
        options = {"stride": self.stride, "padding": self.padding}
        if self.dilation != (1, 1):
            options["dilation"] = self.dilation
        if self.groups != 1:
            options["groups"] = self.groups
        return apply(Conv2dOp, x, self.weight, self.bias, **options)

    def extra_repr(self) -> str:
        text = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}")
        if self.padding != (0, 0):
            text += f", padding={self.padding}"
        if self.dilation != (1, 1):
            text += f", dilation={self.dilation}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        return text + ("" if self.bias is not None else ", bias=False")


class ReLU(Module):
    """A = max(0, Z)."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        _refuse("nn.ReLU", "inplace", inplace, False, "tinygraph never overwrites an input")

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(as_tensor(x))


class Sigmoid(Module):
    """σ(z) = 1 / (1 + e^−z)."""

    def forward(self, x: Tensor) -> Tensor:
        return F.sigmoid(as_tensor(x))


class Tanh(Module):
    """tanh(z) = (e^z − e^−z) / (e^z + e^−z), LeNet-5's squashing function."""

    def forward(self, x: Tensor) -> Tensor:
        return F.tanh(as_tensor(x))


class Softmax(Module):
    """ŷ_i = e^{z_i} / Σ_j e^{z_j} along `dim` (which, unlike PyTorch's deprecated default, must be given)."""

    def __init__(self, dim: int | None = None):
        super().__init__()
        self.dim = _dim(type(self).__name__, dim)

    def forward(self, x: Tensor) -> Tensor:
        return F.softmax(as_tensor(x), self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    """log ŷ_i = z_i − log Σ_j e^{z_j} along `dim`."""

    def forward(self, x: Tensor) -> Tensor:
        return F.log_softmax(as_tensor(x), self.dim)


class MaxPool2d(Module):
    """P = max over kernel_size windows (stride defaults to kernel_size), as torch.nn.MaxPool2d.

    padding pads with −∞ (never the max); dilation spaces a window's taps; ceil_mode keeps a last,
    partial window. kernel_size, stride, padding and dilation are an int or an (h, w) pair.
    """

    def __init__(self, kernel_size: int | tuple[int, int], stride: int | tuple[int, int] | None = None,
                 padding: int | tuple[int, int] = 0, dilation: int | tuple[int, int] = 1,
                 return_indices: bool = False, ceil_mode: bool = False):
        super().__init__()
        name = f"nn.{type(self).__name__}"
        self.kernel_size = _pair(name, "kernel_size", kernel_size, minimum=1)
        self.stride = self.kernel_size if stride is None else _pair(name, "stride", stride, minimum=1)
        self.padding = _pair(name, "padding", padding, minimum=0)
        self.dilation = _pair(name, "dilation", dilation, minimum=1)
        self.return_indices = bool(return_indices)     # forward returns (values, indices), for MaxUnpool2d
        self.ceil_mode = bool(ceil_mode)
        _check_pool_padding(name, self.kernel_size, self.padding)

    def forward(self, x: Tensor) -> Tensor:
        return F.max_pool2d(as_tensor(x), self.kernel_size, self.stride, self.padding, self.dilation,
                            ceil_mode=self.ceil_mode, return_indices=self.return_indices)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class MaxPool(MaxPool2d):
    """tinygraph's first name for max-pooling, kept: MaxPool(size, stride) is MaxPool2d(size, stride)."""

    def __init__(self, size: int = 2, stride: int | None = None):
        super().__init__(size, stride)


class AvgPool2d(Module):
    """P = mean over kernel_size windows (LeNet-5's subsampling), as torch.nn.AvgPool2d.

    Zero padding counts in the mean when count_include_pad (PyTorch's default); ceil_mode keeps a
    last, partial window.
    """

    def __init__(self, kernel_size: int | tuple[int, int], stride: int | tuple[int, int] | None = None,
                 padding: int | tuple[int, int] = 0, ceil_mode: bool = False, count_include_pad: bool = True,
                 divisor_override: int | None = None):
        super().__init__()
        name = "nn.AvgPool2d"
        self.kernel_size = _pair(name, "kernel_size", kernel_size, minimum=1)
        self.stride = self.kernel_size if stride is None else _pair(name, "stride", stride, minimum=1)
        self.padding = _pair(name, "padding", padding, minimum=0)
        self.ceil_mode = bool(ceil_mode)
        self.count_include_pad = bool(count_include_pad)
        _refuse(name, "divisor_override", divisor_override, None, "the divisor is the window's size")
        _check_pool_padding(name, self.kernel_size, self.padding)

    def forward(self, x: Tensor) -> Tensor:
        return F.avg_pool2d(as_tensor(x), self.kernel_size, self.stride, self.padding, ceil_mode=self.ceil_mode,
                            count_include_pad=self.count_include_pad)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class Flatten(Module):
    """p = P with dims start_dim..end_dim merged into one: (N, everything else) by default."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim = _dim("Flatten", start_dim)
        self.end_dim = _dim("Flatten", end_dim)

    def forward(self, x: Tensor) -> Tensor:
        return as_tensor(x).flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


def _dim(layer: str, dim: Any) -> int:
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        raise ValueError(f"nn.{layer}: dim must be an integer (the axis), got {dim!r}")
    return int(dim)


def _refuse(layer: str, option: str, value: Any, supported: Any, why: str) -> None:
    """PyTorch options tinygraph does not have: accepted at their default, else a ValueError saying why."""
    if value != supported:
        raise ValueError(f"{layer}: {option}={value!r} is not supported ({why}); leave it at {supported!r}")


def _check_pool_padding(layer: str, kernel: tuple[int, int], padding: tuple[int, int]) -> None:
    if any(2 * p > k for p, k in zip(padding, kernel)):
        raise ValueError(f"{layer}: padding {padding} must be at most half of kernel_size {kernel}")


class Identity(Module):
    """Returns its input unchanged (a placeholder, e.g. for a removed layer); ignores any arguments."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__()

    def forward(self, x: Any) -> Any:
        return x


class Sequential(Module):
    """Modules applied one after the other; named "0", "1", ... or by the keys of one dict argument."""

    def __init__(self, *modules: Module | dict[str, Module]):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], dict):
            named = list(modules[0].items())
        else:
            named = [(str(i), module) for i, module in enumerate(modules)]
        for i, (name, module) in enumerate(named):
            if not isinstance(module, Module):
                raise TypeError(f"nn.Sequential: argument {i} is a {type(module).__name__}, not a Module")
            self.add_module(name, module)

    def forward(self, x: Any) -> Any:
        for module in self._modules.values():
            x = module(x)
        return x

    def __getitem__(self, index: int | slice) -> Module:
        """seq[i] is a module; seq[a:b] a Sequential of those modules, keeping their names (as PyTorch)."""
        items = list(self._modules.items())
        if isinstance(index, slice):
            return Sequential(dict(items[index]))
        return items[_index(type(self).__name__, index, len(items))][1]

    def __setitem__(self, index: int, module: Module) -> None:
        name = list(self._modules)[_index(type(self).__name__, index, len(self))]
        self.add_module(name, module)

    def __delitem__(self, index: int | slice) -> None:
        names = list(self._modules)
        doomed = names[index] if isinstance(index, slice) else [names[_index(type(self).__name__, index, len(names))]]
        for name in doomed:
            delattr(self, name)
        kept = list(self._modules.items())          # renumbered 0, 1, ... as PyTorch does
        for name, _ in kept:
            delattr(self, name)
        for i, (_, module) in enumerate(kept):
            self.add_module(str(i), module)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def append(self, module: Module) -> "Sequential":
        if not isinstance(module, Module):
            raise TypeError(f"nn.Sequential.append: expected a Module, got {type(module).__name__}")
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules: Iterable[Module]) -> "Sequential":
        for module in modules:
            self.append(module)
        return self

    def insert(self, index: int, module: Module) -> "Sequential":
        modules = list(self._modules.values())
        modules.insert(index, module)
        for name in list(self._modules):
            delattr(self, name)
        for module in modules:
            self.append(module)
        return self


class ModuleList(Module):
    """A list of modules, registered as children "0", "1", ... so their parameters are the model's.

    Indexing, len, iteration, append, extend, insert as a list; a slice is a new ModuleList
    (renumbered, as PyTorch). It has no forward: the model's forward decides how to use them.
    """

    def __init__(self, modules: Iterable[Module] | None = None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def _modules_list(self) -> list[Module]:
        return list(self._modules.values())

    def _renumber(self, modules: list[Module]) -> None:
        for name in list(self._modules):
            delattr(self, name)
        for i, module in enumerate(modules):
            self.add_module(str(i), module)

    def __getitem__(self, index: int | slice) -> "Module | ModuleList":
        modules = self._modules_list()
        if isinstance(index, slice):
            return ModuleList(modules[index])
        return modules[_index(type(self).__name__, index, len(modules))]

    def __setitem__(self, index: int, module: Module) -> None:
        _check_module("nn.ModuleList", module)
        self.add_module(str(_index(type(self).__name__, index, len(self))), module)

    def __delitem__(self, index: int | slice) -> None:
        modules = self._modules_list()
        if isinstance(index, slice):
            del modules[index]
        else:
            del modules[_index(type(self).__name__, index, len(modules))]
        self._renumber(modules)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules_list())

    def __iadd__(self, modules: Iterable[Module]) -> "ModuleList":
        return self.extend(modules)

    def append(self, module: Module) -> "ModuleList":
        _check_module("nn.ModuleList.append", module)
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules: Iterable[Module]) -> "ModuleList":
        if isinstance(modules, Module) and not isinstance(modules, (ModuleList, Sequential)):
            raise TypeError("nn.ModuleList.extend: expected an iterable of Modules, got a single "
                            f"{type(modules).__name__}; use append")
        for module in list(modules):
            self.append(module)
        return self

    def insert(self, index: int, module: Module) -> None:
        _check_module("nn.ModuleList.insert", module)
        modules = self._modules_list()
        modules.insert(index, module)
        self._renumber(modules)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("nn.ModuleList has no forward(): iterate over it in your model's forward")


def _check_module(where: str, module: Any) -> None:
    if not isinstance(module, Module):
        raise TypeError(f"{where}: expected a Module, got {type(module).__name__}")


def _index(container: str, index: Any, length: int) -> int:
    """A list index into `length` items, negative counting from the end, else IndexError naming the container."""
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
        raise TypeError(f"nn.{container}: indices must be integers or slices, got {type(index).__name__}")
    if not -length <= index < length:
        raise IndexError(f"nn.{container}: index {index} is out of range for {length} modules")
    return int(index) % length
