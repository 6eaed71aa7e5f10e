"""The optimizer base class: parameter groups, per-parameter state, checkpoints — as torch.optim has them.

    opt = optim.SGD([{"params": model.fc.parameters(), "lr": 0.1},      # a group with its own lr
                     {"params": model.conv.parameters()}], lr=0.01, momentum=0.9)
    opt.param_groups[1]["lr"]      # 0.01: the optimizer's default fills what a group leaves out
    opt.state[p]["momentum_buffer"]

Updates change each parameter's `.data` in place (so a float32 model stays float32 and the graph
never sees them) and bump its version, so a backward() that saved the old values raises. Parameters
whose `.grad` is None (unused in the last backward) are left alone and get no state.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Iterable, Iterator, Mapping

import numpy as np

from tinygraph.grad_mode import STATE, enable_grad
from tinygraph.tensor import Tensor

# Buffer names of checkpoints written before the optimizers took PyTorch's names.
_OLD_BUFFER_NAMES = {"momentum": "momentum_buffer", "m": "exp_avg", "v": "exp_avg_sq"}


class ParameterState(Mapping):
    """`optimizer.state`: parameter -> its dict of buffers, keyed by identity (like torch's defaultdict).

    Asking for a parameter of the optimizer that has no state yet gives (and keeps) an empty dict.
    """

    def __init__(self) -> None:
        self._entries: dict[int, tuple[Tensor, dict[str, Any]]] = {}

    def __getitem__(self, param: Tensor) -> dict[str, Any]:
        entry = self._entries.get(id(param))
        if entry is None or entry[0] is not param:
            if not isinstance(param, Tensor):
                raise KeyError(param)
            entry = self._entries[id(param)] = (param, {})
        return entry[1]

    def __contains__(self, param: object) -> bool:
        entry = self._entries.get(id(param))
        return entry is not None and entry[0] is param

    def __iter__(self) -> Iterator[Tensor]:
        return (param for param, _ in self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"ParameterState({len(self)} parameters with state)"


class Optimizer:
    """Holds `param_groups` (dicts of "params" and hyperparameters) and `state`; subclasses write `_update`."""

    def __init__(self, params: Iterable[Tensor] | Iterable[dict[str, Any]], defaults: dict[str, Any]):
        self.defaults = dict(defaults)
        self.param_groups: list[dict[str, Any]] = []
        self.state = ParameterState()
        if isinstance(params, (Tensor, dict)):
            raise TypeError(f"{self._name}: params must be an iterable of tensors or of dicts (parameter "
                            f"groups), got a {type(params).__name__}; wrap a single tensor in a list")
        if isinstance(params, (set, frozenset)):
            raise TypeError(f"{self._name}: parameters must be given in an ordered collection (a list), not a set")
        groups = list(params)
        if not groups:
            raise ValueError(f"{self._name}: got no parameters to optimize")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    @property
    def _name(self) -> str:
        return f"optim.{type(self).__name__}"

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group; the optimizer's defaults fill the hyperparameters it does not set."""
        if not isinstance(param_group, dict):
            raise TypeError(f"{self._name}: a parameter group must be a dict, got {type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError(f"{self._name}: a parameter group needs a 'params' entry, got keys {sorted(param_group)}")
        params = param_group["params"]
        if isinstance(params, (set, frozenset)):
            raise TypeError(f"{self._name}: parameters must be given in an ordered collection (a list), not a set")
        params = [params] if isinstance(params, Tensor) else list(params)
        offset = sum(len(group["params"]) for group in self.param_groups)
        for i, p in enumerate(params):
            if not isinstance(p, Tensor) or p.data.dtype.kind != "f":
                raise TypeError(f"{self._name}: parameter {offset + i} must be a floating-point tensor, got {p!r}")
            if not p.is_leaf:
                raise ValueError(f"{self._name}: parameter {offset + i} is not a leaf tensor (it was computed "
                                 f"by an op); optimize the tensors it was computed from")
        ids = [id(p) for p in params]
        if len(set(ids)) != len(ids):
            raise ValueError(f"{self._name}: the same parameter appears twice in the list")
        taken = {id(p) for group in self.param_groups for p in group["params"]}
        if taken.intersection(ids):
            raise ValueError(f"{self._name}: some parameters appear in more than one parameter group")
        group = {"params": params, **{k: v for k, v in param_group.items() if k != "params"}}
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        self._check_group(group)
        self.param_groups.append(group)

    def _check_group(self, group: dict[str, Any]) -> None:
        """Raise ValueError for a hyperparameter PyTorch would refuse (subclasses add theirs)."""
        lr = group["lr"]
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr >= 0:
            raise ValueError(f"{self._name}: lr must be a non-negative number, got {lr!r}")

    @property
    def lr(self) -> float:
        """The first group's learning rate (setting it sets every group's)."""
        return self.param_groups[0]["lr"]

    @lr.setter
    def lr(self, value: float) -> None:
        for group in self.param_groups:
            group["lr"] = value

    def zero_grad(self, set_to_none: bool = True) -> None:
        if STATE.recorder is not None:          # tg.compile is recording: replayed as one call
            return STATE.recorder.around(f"{self._name}.zero_grad", self._zero_grad, (set_to_none,))
        self._zero_grad(set_to_none)

    def _zero_grad(self, set_to_none: bool) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                if p._grad is not None:
                    p._grad = None if set_to_none else np.zeros_like(p._grad_array())

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every parameter that has a gradient; returns what `closure` (if given) returns."""
        if STATE.recorder is not None:          # tg.compile is recording: replayed as one call
            if closure is not None:
                STATE.recorder.refuse(f"{self._name}.step(closure) re-evaluates the model, which a schedule "
                                      "cannot replay; compile the closure's step instead")
            params = [p for group in self.param_groups for p in group["params"]]
            return STATE.recorder.around(f"{self._name}.step", self._step, (None,), writes=params)
        return self._step(closure)

    def _step(self, closure: Callable[[], Any] | None) -> Any:
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        index = 0
        for group in self.param_groups:
            for p in group["params"]:
                grad = p._grad_array()
                if grad is not None:
                    if grad.shape != p.data.shape or grad.dtype != p.data.dtype:
                        self._refuse_gradient(index, p, grad)
                    self._update(p.data, grad, self.state[p], group)
                    p._bump_version()       # a backward() that saved the old values now raises
                index += 1
        return loss

    def _refuse_gradient(self, index: int, param: Tensor, grad: np.ndarray) -> None:
        """A gradient the update would broadcast or cast (w.grad = np.ones(4) on a (3, 4) w) is an error, as in PyTorch."""
        from tinygraph.nn.module import parameter_name     # only here: optim needs nothing else of nn
        name = param.name or parameter_name(param)
        label = f"parameter {index}" + (f" ('{name}')" if name else "")
        raise ValueError(f"{self._name}.step: the gradient of {label} has shape {grad.shape} and dtype {grad.dtype}, "
                         f"but the parameter has shape {param.data.shape} and dtype {param.data.dtype}; a gradient "
                         "must match its parameter exactly (nothing is broadcast or cast)")

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any], group: dict[str, Any]) -> None:
        """Change `param` in place from `grad`, the parameter's `state` and its group's hyperparameters."""
        raise NotImplementedError

    # ----------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict[str, Any]:
        """PyTorch's layout with string keys, so tg.save can write it (arrays are copies):

        {"type": "Adam", "state": {"<index>": {"step": 3, "exp_avg": array, ...}},
         "param_groups": [{"lr": ..., ..., "params": [0, 1, ...]}, ...]}

        Parameters are numbered in group order, as PyTorch numbers them.
        """
        index = {id(p): i for i, p in enumerate(p for group in self.param_groups for p in group["params"])}
        groups = [{**{k: v for k, v in group.items() if k != "params"},
                   "params": [index[id(p)] for p in group["params"]]} for group in self.param_groups]
        state = {str(index[id(p)]): {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in s.items()}
                 for p, s in self.state.items() if s and id(p) in index}
        return {"type": type(self).__name__, "state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore groups' hyperparameters and per-parameter buffers; everything is checked before anything changes.

        Buffers are cast to their parameter's dtype, as PyTorch casts them; a state written by
        tinygraph before parameter groups ({"type", "hyper", "state"}) loads too.
        """
        name = self._name
        if not isinstance(state_dict, dict):
            raise ValueError(f"{name}.load_state_dict: expected a dict, got a {type(state_dict).__name__}")
        kind = state_dict.get("type", type(self).__name__)
        if kind != type(self).__name__:
            raise ValueError(f"{name}.load_state_dict: the state is for a {kind} optimizer")
        saved_groups = self._saved_groups(state_dict)
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"{name}.load_state_dict: the state has {len(saved_groups)} parameter groups, "
                             f"the optimizer {len(self.param_groups)}")
        params_by_index: dict[int, Tensor] = {}
        groups = []
        for g, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            if not isinstance(saved, dict) or not isinstance(saved.get("params"), (list, tuple)):
                raise ValueError(f"{name}.load_state_dict: parameter group {g} is not a dict with a 'params' list")
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(f"{name}.load_state_dict: parameter group {g} has {len(saved['params'])} "
                                 f"parameters in the state, {len(group['params'])} in the optimizer")
            for index, p in zip(saved["params"], group["params"]):
                params_by_index[int(index)] = p
            restored = dict(group)        # what the state leaves out keeps its current value
            for key, value in saved.items():
                if key != "params":
                    restored[key] = tuple(value) if isinstance(value, list) else value
            self._check_group(restored)
            groups.append(restored)
        buffers: list[tuple[Tensor, dict[str, Any]]] = []
        for key, entry in state_dict.get("state", {}).items():
            p = params_by_index.get(int(key)) if str(key).isdigit() else None
            if p is None:
                raise ValueError(f"{name}.load_state_dict: state for parameter {key!r}, but the optimizer has "
                                 f"{len(params_by_index)} parameters")
            restored = {}
            for buffer, value in entry.items():
                buffer = _OLD_BUFFER_NAMES.get(buffer, buffer)
                if buffer == "step":
                    restored[buffer] = int(value)
                    continue
                value = np.asarray(value)
                if value.shape != p.data.shape:
                    raise ValueError(f"{name}.load_state_dict: buffer {buffer!r} of parameter {key} has shape "
                                     f"{value.shape}, the parameter has shape {p.data.shape}")
                restored[buffer] = value.astype(p.data.dtype, copy=True)
            buffers.append((p, restored))
        self.param_groups = groups
        self.state = ParameterState()
        for p, restored in buffers:
            self.state[p].update(restored)

    def _saved_groups(self, state_dict: dict[str, Any]) -> list:
        if "param_groups" in state_dict:
            return list(state_dict["param_groups"])
        if "hyper" in state_dict:        # the layout before parameter groups: one group, numbered in order
            count = sum(len(group["params"]) for group in self.param_groups)
            return [{**state_dict["hyper"], "params": list(range(count))}]
        raise ValueError(f"{self._name}.load_state_dict: the state has no 'param_groups'")

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {key}: {value}" for key, value in sorted(group.items()) if key != "params"]
        return "\n".join(lines + [")"])


def check_number(name: str, key: str, value: Any, low: float, high: float = math.inf,
                 high_open: bool = True) -> None:
    """ValueError unless low <= value < high (<= high when not high_open)."""
    ok = (not isinstance(value, bool) and isinstance(value, (int, float, np.floating)) and low <= value
          and (value < high if high_open else value <= high))
    if not ok:
        bound = f"in [{low}, {high})" if high_open and high != math.inf else (
            f"in [{low}, {high}]" if high != math.inf else f">= {low}")
        raise ValueError(f"{name}: {key} must be {bound}, got {value!r}")
