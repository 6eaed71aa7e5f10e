"""Module machinery: `Module` (parameters and submodules found by attribute assignment), `Parameter`.

While a module's `__call__` runs, `STATE.module_path` holds its dotted path ("conv", "layers.1";
None for the outermost module) and every node recorded meanwhile keeps it as `node.module`, so
the drawing tools can group a graph by module (`module_path(tensor)`).
"""
from __future__ import annotations

from typing import Any, Iterator

import numpy as np

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
            p._bump_version()

    # ----------------------------------------------------------------- calling
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        path = _child_path(self)
        previous = STATE.module_path
        STATE.module_stack.append((self, path))
        STATE.module_path = path or None       # every node recorded meanwhile takes this path
        try:
            return self.forward(*args, **kwargs)
        finally:
            STATE.module_path = previous
            STATE.module_stack.pop()

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
    stack = STATE.module_stack
    if not stack:
        return ""
    parent, parent_path = stack[-1]
    for name, child in parent._modules.items():
        if child is module:
            return f"{parent_path}.{name}" if parent_path else name
    return parent_path  # a module called from inside another but not registered in it


def module_path(tensor: Tensor) -> str | None:
    """The dotted path of the module whose call produced `tensor` (None outside any submodule)."""
    return None if tensor._node is None else tensor._node.module

