"""Module machinery: `Module` (parameters and submodules found by attribute assignment), `Parameter`.

While a module's `__call__` runs, its dotted path ("conv", "layers.1"; "" for the outermost module)
is on this thread's stack of calls, and a forward hook (see `tg.forward_hook`) notes that path and
the module's class for every node recorded meanwhile in the metadata side table
(tinygraph/metadata.py), so the drawing tools can group a graph by module without knowing nn
(`module_path(tensor)`, `node_module_path(node)`). The engine knows nothing of modules.
"""
from __future__ import annotations

import threading
from typing import Any, Callable, Iterator, NamedTuple

import numpy as np

from tinygraph import metadata
from tinygraph.dtypes import as_dtype, check_device, is_device
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


class IncompatibleKeys(NamedTuple):
    """What `Module.load_state_dict` returns, as PyTorch's `_IncompatibleKeys`."""

    missing_keys: list[str]
    unexpected_keys: list[str]


class StateDictError(RuntimeError, ValueError):
    """A state that does not fit the module: a RuntimeError as in PyTorch (and a ValueError, as tinygraph had)."""


class Module:
    """Base class of layers and models: subclass it, assign parameters/modules, write `forward`.

    Assigning a `Parameter` registers a parameter, a `Module` a submodule (in assignment order);
    `register_buffer` adds state that is saved but not trained (BatchNorm's running statistics).
    """

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "_non_persistent_buffers", set())
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "training", True)

    # ----------------------------------------------------------------- registration
    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}: call super().__init__() in __init__ before "
                                 f"assigning attribute {name!r}")
        if name in self._buffers and not isinstance(value, (Parameter, Module)):
            self._buffers[name] = _buffer_value(type(self).__name__, name, value)   # a buffer stays a buffer
            object.__setattr__(self, name, self._buffers[name])
            return
        if name in self._parameters and isinstance(value, Tensor) and not isinstance(value, Parameter):
            raise TypeError(f"{type(self).__name__}: cannot assign a plain tensor to parameter {name!r} "
                            f"(an nn.Parameter or None expected)")
        table = self._parameters if isinstance(value, Parameter) else self._modules if isinstance(value, Module) else None
        for other in (self._parameters, self._modules, self._buffers):
            if other is not table:
                other.pop(name, None)
        self._non_persistent_buffers.discard(name)
        if table is not None:
            table[name] = value            # a name already there keeps its place in the order
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        self._forget(name)
        object.__delattr__(self, name)

    def _forget(self, name: str) -> None:
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        self._buffers.pop(name, None)
        self._non_persistent_buffers.discard(name)

    def register_buffer(self, name: str, tensor: np.ndarray | Tensor | None, persistent: bool = True) -> None:
        """Keep `tensor` (an array or tensor that is not trained, or None) as `self.<name>` and in state_dict().

        Later assignments to `self.<name>` replace the buffer's value. persistent=False keeps it out of
        state_dict(), as PyTorch does.
        """
        model = type(self).__name__
        if "_buffers" not in self.__dict__:
            raise AttributeError(f"{model}: call super().__init__() in __init__ before register_buffer")
        _check_name(model, "buffer", name)
        if name in self.__dict__ and name not in self._buffers:
            raise KeyError(f"{model}.register_buffer: attribute {name!r} already exists")
        if isinstance(tensor, Parameter):
            raise TypeError(f"{model}.register_buffer: {name!r} is a Parameter; buffers are not trained "
                            f"(assign it as an attribute to register a parameter)")
        self._forget(name)
        self._buffers[name] = _buffer_value(model, name, tensor)
        if not persistent:
            self._non_persistent_buffers.add(name)
        object.__setattr__(self, name, self._buffers[name])

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Same as `setattr(self, name, param)` for a Parameter; None records that there is none."""
        _check_name(type(self).__name__, "parameter", name)
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"{type(self).__name__}.register_parameter: {name!r} must be an nn.Parameter or None, "
                            f"got {type(param).__name__}")
        setattr(self, name, param)

    def add_module(self, name: str, module: "Module | None") -> None:
        """Same as `setattr(self, name, module)`, for names that are not identifiers ("0", "1", ...)."""
        _check_name(type(self).__name__, "module", name)
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(self).__name__}.add_module: {name!r} must be a Module or None, "
                            f"got {type(module).__name__}")
        setattr(self, name, module)

    register_module = add_module

    # ----------------------------------------------------------------- walking the tree
    def named_children(self) -> Iterator[tuple[str, "Module"]]:
        """(name, module) for each direct submodule, in registration order, each module once."""
        seen: set[int] = set()
        for name, module in self._modules.items():
            if module is not None and id(module) not in seen:
                seen.add(id(module))
                yield name, module

    def children(self) -> Iterator["Module"]:
        return (module for _, module in self.named_children())

    def named_modules(self, memo: set | None = None, prefix: str = "",
                      remove_duplicate: bool = True) -> Iterator[tuple[str, "Module"]]:
        """(dotted path, module) for this module ("") and every submodule, depth first.

        A module reachable twice comes once (under its first path) unless remove_duplicate=False.
        `memo` is a set of ids of modules to skip (and fills as the walk goes).
        """
        seen: set[int] = set() if memo is None else memo
        stack = [(prefix, self)]
        while stack:
            path, module = stack.pop()
            if remove_duplicate:
                if id(module) in seen:
                    continue
                seen.add(id(module))
            yield path, module
            children = [(f"{path}.{n}" if path else n, m) for n, m in module._modules.items() if m is not None]
            stack.extend(reversed(children))

    def modules(self) -> Iterator["Module"]:
        return (module for _, module in self.named_modules())

    def _named_members(self, table: str, prefix: str, recurse: bool, remove_duplicate: bool):
        seen: set[int] = set()
        modules = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse else [(prefix, self)]
        for path, module in modules:
            for name, value in getattr(module, table).items():
                if value is None or (remove_duplicate and id(value) in seen):
                    continue
                seen.add(id(value))
                yield (f"{path}.{name}" if path else name), value

    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True) -> Iterator[tuple[str, Parameter]]:
        """(dotted name, parameter) in assignment order; a parameter shared by two modules comes once."""
        return self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> list[Parameter]:
        """The parameters of `named_parameters()` (a list, so it can be iterated twice)."""
        return [p for _, p in self.named_parameters(recurse=recurse)]

    def named_buffers(self, prefix: str = "", recurse: bool = True,
                      remove_duplicate: bool = True) -> Iterator[tuple[str, np.ndarray | Tensor]]:
        return self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[np.ndarray | Tensor]:
        return (value for _, value in self.named_buffers(recurse=recurse))

    def apply(self, fn: Callable[["Module"], Any]) -> "Module":
        """Call fn on every submodule (children before their parent), then on this module; returns self."""
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    def num_parameters(self) -> int:
        """How many numbers the model trains."""
        return sum(p.data.size for p in self.parameters())

    def zero_grad(self, set_to_none: bool = True) -> None:
        if STATE.recorder is not None:          # tg.compile is recording: replayed as one call
            return STATE.recorder.around(f"{type(self).__name__}.zero_grad", self._zero_grad, (set_to_none,))
        self._zero_grad(set_to_none)

    def _zero_grad(self, set_to_none: bool) -> None:
        for p in self.parameters():
            if p._grad is not None:
                p._grad = None if set_to_none else np.zeros_like(p._grad_array())

    def requires_grad_(self, requires_grad: bool = True) -> "Module":
        """Freeze (False) or unfreeze every parameter; returns self."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def train(self, mode: bool = True) -> "Module":
        """Set `training` on this module and every submodule (Dropout and BatchNorm read it); returns self."""
        if not isinstance(mode, bool):
            raise ValueError(f"{type(self).__name__}.train: mode must be True or False, got {mode!r}")
        for module in self.modules():
            object.__setattr__(module, "training", mode)
        return self

    def eval(self) -> "Module":
        return self.train(False)

    # ----------------------------------------------------------------- device and dtype, as PyTorch's
    def to(self, *args: Any, **kwargs: Any) -> "Module":
        """`model.to("cpu")`, `.to(tg.float64)`, `.to(device, dtype)`: the CPU is the only device; a dtype
        converts every floating parameter and buffer in place (their tensors stay the same objects)."""
        if len(args) > 2 or set(kwargs) - {"device", "dtype"}:
            raise TypeError(f"{type(self).__name__}.to: takes a device and/or a dtype, got {args!r} {kwargs!r}")
        dtype = kwargs.get("dtype")
        for value in [*args, kwargs.get("device")]:
            if value is None:
                continue
            if is_device(value):
                check_device(value, f"{type(self).__name__}.to")
            else:
                dtype = value
        if dtype is not None:
            self._convert_floating(as_dtype(dtype, f"{type(self).__name__}.to"))
        return self

    def cpu(self) -> "Module":
        return self

    def cuda(self, device: Any = None) -> "Module":
        check_device("cuda" if device is None else f"cuda:{device}" if isinstance(device, int) else device,
                     f"{type(self).__name__}.cuda")
        return self

    def float(self) -> "Module":
        return self.to(np.float32)

    def double(self) -> "Module":
        return self.to(np.float64)

    def half(self) -> "Module":
        return self.to(np.float16)

    def _convert_floating(self, dtype: np.dtype) -> None:
        if dtype.kind != "f":
            raise TypeError(f"{type(self).__name__}.to: parameters must stay floating point, not {dtype}")
        for module in self.modules():
            for table in (module._parameters, module._buffers):
                for name, value in table.items():
                    if isinstance(value, Tensor) and value.data.dtype.kind == "f":
                        value.data = value.data.astype(dtype)
                        grad = value._grad_array()
                        value._grad = None if grad is None else grad.astype(dtype)
                    elif isinstance(value, np.ndarray) and value.dtype.kind == "f":
                        table[name] = value.astype(dtype)

    # ----------------------------------------------------------------- state
    def _state_entries(self) -> dict[str, tuple[Module, str, str]]:
        """{key: (module, "_parameters" or "_buffers", attribute)} in state_dict order, shared entries under every name."""
        entries = {}
        for path, module in self.named_modules(remove_duplicate=False):
            prefix = f"{path}." if path else ""
            for name, p in module._parameters.items():
                if p is not None:
                    entries[prefix + name] = (module, "_parameters", name)
            for name, b in module._buffers.items():
                if b is not None and name not in module._non_persistent_buffers:
                    entries[prefix + name] = (module, "_buffers", name)
        return entries

    def state_dict(self) -> dict[str, np.ndarray]:
        """{dotted name: copy of the array} for every parameter and persistent buffer, as PyTorch orders them.

        A parameter shared by two modules appears under both names (as in PyTorch).
        """
        return {key: np.array(_array_of(getattr(module, table)[name]), copy=True)
                for key, (module, table, name) in self._state_entries().items()}

    def load_state_dict(self, state: dict[str, Any], strict: bool = True) -> IncompatibleKeys:
        """Copy arrays into the parameters and buffers; returns (missing_keys, unexpected_keys).

        Everything is checked before anything changes. strict=True raises on missing or unexpected
        keys; a shape that differs always raises (a StateDictError, which is a RuntimeError as in
        PyTorch). Values are cast to the parameter's dtype, as PyTorch's copy_ does, but only
        within a kind (float to float); every changed tensor's version is bumped.
        """
        model = type(self).__name__
        if not hasattr(state, "items"):
            raise TypeError(f"{model}.load_state_dict: expected a dict of arrays, got {type(state).__name__}")
        entries = self._state_entries()
        missing = [key for key in entries if key not in state]
        unexpected = [key for key in state if key not in entries]
        problems = []
        if strict and unexpected:
            problems.append("unexpected key(s) in state_dict: " + ", ".join(f'"{k}"' for k in unexpected))
        if strict and missing:
            problems.append("missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing))
        arrays = {}
        for key, (module, table, name) in entries.items():
            if key not in state:
                continue
            target = _array_of(getattr(module, table)[name])
            value = state[key]
            array = np.asarray(value.data if isinstance(value, Tensor) else value)
            if array.shape != target.shape:
                problems.append(f"size mismatch for {key}: '{key}' has shape {array.shape} in the state but "
                                f"{target.shape} in the model")
            elif array.dtype != target.dtype and not (array.dtype.kind == target.dtype.kind == "f"):
                problems.append(f"'{key}' has dtype {array.dtype} in the state but {target.dtype} in the model")
            arrays[key] = array
        if problems:
            raise StateDictError(f"{model}.load_state_dict: error(s) loading the state: " + "; ".join(problems))
        for key, array in arrays.items():
            module, table, name = entries[key]
            value = getattr(module, table)[name]
            np.copyto(_array_of(value), array, casting="same_kind")
            if isinstance(value, Tensor):
                value._bump_version()       # a backward() that saved the old values now raises
        return IncompatibleKeys(missing, unexpected)

    # ----------------------------------------------------------------- calling
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if STATE.recorder is not None:          # tg.compile guards on train/eval mode of what ran
            STATE.recorder.module_called(self)
        path = _child_path(self)
        outermost = not _CALLS.stack
        _CALLS.stack.append((self, path))       # every node recorded meanwhile is tagged with its path
        if outermost:
            STATE.forward_hooks.append(_tag_with_module_path)
        try:
            return self.forward(*args, **kwargs)
        finally:
            _CALLS.stack.pop()
            if outermost:
                STATE.forward_hooks.remove(_tag_with_module_path)

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


class _Calls(threading.local):
    """The modules whose __call__ is running in this thread, outermost first, as (module, dotted path)."""

    def __init__(self) -> None:
        self.stack: list = []


_CALLS = _Calls()


def _child_path(module: Module) -> str:
    """Dotted path of `module` inside the module that is calling it ("" at the outermost call)."""
    stack = _CALLS.stack
    if not stack:
        return ""
    parent, parent_path = stack[-1]
    for name, child in parent._modules.items():
        if child is module:
            return f"{parent_path}.{name}" if parent_path else name
    return parent_path  # a module called from inside another but not registered in it


def _tag_with_module_path(out: Tensor) -> None:
    module, path = _CALLS.stack[-1]
    if path:
        metadata.note(out.grad_fn, module_path=path, module_class=type(module).__name__)
    for parent in out.grad_fn.parents:         # a parameter is a leaf: it is its own edge
        if isinstance(parent, Parameter) and parameter_name(parent) is None:
            for attribute, own in module._parameters.items():
                if own is parent:
                    metadata.note_tensor(parent, parameter_name=f"{path}.{attribute}" if path else attribute)


def parameter_name(t: Tensor) -> str | None:
    """The dotted name ("fc.weight") of a parameter that a module's call used, or None."""
    return metadata.tensor_fact(t, "parameter_name")


def node_module_path(node) -> str | None:
    """The dotted path of the module whose call recorded `node` (None outside any submodule)."""
    return metadata.fact(node, "module_path")


def node_module_class(node) -> str | None:
    """The class name ("Linear") of the module whose call recorded `node` (None outside any submodule)."""
    return metadata.fact(node, "module_class")


def module_path(tensor: Tensor) -> str | None:
    """The dotted path of the module whose call produced `tensor` (None outside any submodule)."""
    return node_module_path(tensor.grad_fn)


def current_module_path() -> str | None:
    """The dotted path of the module whose __call__ is running in this thread (None outside any submodule)."""
    return (_CALLS.stack[-1][1] or None) if _CALLS.stack else None


def _check_name(model: str, kind: str, name: Any) -> None:
    if not isinstance(name, str) or not name or "." in name:
        raise KeyError(f"{model}: a {kind} name must be a non-empty string without '.', got {name!r}")


def _buffer_value(model: str, name: str, value: Any) -> np.ndarray | Tensor | None:
    if value is None or isinstance(value, (np.ndarray, Tensor)):
        return value
    raise TypeError(f"{model}: buffer {name!r} must be a numpy array, a tensor or None, got {type(value).__name__}")


def _array_of(value: np.ndarray | Tensor) -> np.ndarray:
    return value.data if isinstance(value, Tensor) else value
