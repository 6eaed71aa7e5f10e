"""Reverse mode: order the graph, then run each node's backward rule once, accumulating gradients."""
from __future__ import annotations

import time
from typing import Any

import numpy as np

from tinygraph import buffers
from tinygraph.broadcast import unbroadcast
from tinygraph.grad_mode import STATE, BackwardStep
from tinygraph.node import Node, graph_order
from tinygraph.parallel import run_backward
from tinygraph.recorded_backward import leaf_receives, node_receives, recorded_sweep
from tinygraph.tensor import Tensor


def topological_order(root: Tensor) -> list:
    """The tensors of `graph_order(root)`: leaves as they are, each Node as its `output`."""
    return [item.output if type(item) is Node else item for item in graph_order(root)]


def backward(root: Tensor, grad: Any = None, retain_graph: bool | None = None, create_graph: bool = False) -> None:
    """Accumulate d(root)/d(leaf) into `leaf.grad` for every leaf that requires grad.

    Each node's rule runs once, after every consumer of its output has added its contribution;
    a tensor used several times receives the sum. Unless `retain_graph` is true, each Node lets
    go of what its rule saved once the rule has run (see `Node.release`). With `create_graph`,
    the rules' work is itself recorded and `.grad` is a Tensor of that graph, so it can be
    differentiated again (retain_graph then defaults to True, as in PyTorch).
    """
    if not root.requires_grad:
        raise RuntimeError(f"backward(): {root._label()} does not require grad: no input of the "
                           "ops that made it has requires_grad=True (or it was made under no_grad())")
    if retain_graph is None:
        retain_graph = create_graph
    _sweep([root], [grad], retain_graph, create_graph, None)


def grad(outputs, inputs, grad_outputs=None, retain_graph: bool | None = None, create_graph: bool = False,
         allow_unused: bool = False) -> tuple:
    """The gradients of `outputs` with respect to `inputs`, as a tuple of Tensors (PyTorch's autograd.grad).

    No `.grad` changes. `grad_outputs` weights each output (needed for outputs of more than one
    element); with `create_graph` the gradients carry a graph of their own, to be differentiated
    again. An input the outputs do not depend on raises unless `allow_unused` (then None).
    """
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    single = isinstance(inputs, Tensor)
    inputs = [inputs] if single else list(inputs)
    if grad_outputs is None or isinstance(grad_outputs, (Tensor, np.ndarray)):
        grad_outputs = [grad_outputs] * len(outputs) if grad_outputs is None else [grad_outputs]
    grad_outputs = list(grad_outputs)
    if len(grad_outputs) != len(outputs):
        raise ValueError(f"autograd.grad: {len(grad_outputs)} grad_outputs for {len(outputs)} outputs")
    for i, t in enumerate(inputs):
        if not isinstance(t, Tensor) or not t.requires_grad:
            raise RuntimeError(f"autograd.grad: input {i} ({t._label() if isinstance(t, Tensor) else type(t).__name__}) "
                               "does not require grad")
    for i, t in enumerate(outputs):
        if not isinstance(t, Tensor) or not t.requires_grad:
            raise RuntimeError(f"autograd.grad: output {i} does not require grad: nothing it was made from requires grad")
    if retain_graph is None:
        retain_graph = create_graph
    keys = [id(t if t._node is None else t._node) for t in inputs]
    capture = dict.fromkeys(keys)
    _sweep(outputs, grad_outputs, retain_graph, create_graph, capture)
    results = []
    for i, (t, key) in enumerate(zip(inputs, keys)):
        g = capture[key]
        if g is None:
            if not allow_unused:
                raise RuntimeError(f"autograd.grad: input {i} ({t._label()}) was not used to compute the outputs; "
                                   "pass allow_unused=True to get None for it")
            results.append(None)
            continue
        results.append(g if isinstance(g, Tensor) else Tensor._wrap(g))
    return tuple(results)


def _sweep(outputs: list, grad_outputs: list, retain_graph: bool, create_graph: bool, capture: dict | None) -> None:
    """Seed each output's gradient and run the sweep over their joint graph (plain or recorded)."""
    order = graph_order(outputs)
    _check_not_released(order)
    recorder = STATE.recorder
    if recorder is not None:
        _check_recordable(recorder, outputs, create_graph, capture)
    pending: dict[int, Any] = {}
    for t, g in zip(outputs, grad_outputs):
        if create_graph and isinstance(g, Tensor) and g.requires_grad:     # a seed that is itself differentiated
            if g.shape != t.shape:
                raise ValueError(f"backward(): grad has shape {g.shape} but {t._label()} needs the same shape")
        else:
            given = g
            g = _initial_grad(t, g)
            if recorder is not None:
                recorder.seed(t, given, g, _initial_grad)
            if create_graph:
                g = Tensor._wrap(g)
        key = id(t if t._node is None else t._node)
        pending[key] = g if key not in pending else pending[key] + g
    if create_graph:
        recorded_sweep(order, pending, retain_graph, capture)
    else:
        _sweep_arrays(order, pending, retain_graph, capture)
        buffers.end_step()
        if recorder is not None:
            recorder.replays_call("buffers.end_step", buffers.end_step)


def _check_recordable(recorder, outputs: list, create_graph: bool, capture) -> None:
    """What a tg.compile schedule replays of backward: one root, first order, into .grad, no hooks."""
    if create_graph or capture is not None:
        recorder.refuse("the step differentiates a backward pass (create_graph) or calls autograd.grad; "
                        "compile records first-order backward() into .grad")
    if len(outputs) != 1:
        recorder.refuse("the step calls backward on several outputs at once")
    if STATE.backward_hooks or STATE.backward_timer is not None or STATE.detect_anomaly:
        recorder.refuse("backward hooks, profiling or detect_anomaly are on, and a replay would skip them")


# tensor.py imports nothing above it, so the engine gives Tensor its backward method: the same
# function, so `t.backward(grad, retain_graph)` is `backward(t, grad, retain_graph)`.
Tensor.backward = backward


def _check_not_released(order: list) -> None:
    for item in order:
        if type(item) is Node and item.released:
            raise RuntimeError(
                f"backward(): the graph through op '{item.op.name}' (output {item.output._label()}) "
                "was already backpropagated and its saved arrays were released. Call "
                "backward(retain_graph=True) the first time to backpropagate twice.")


def _sweep_arrays(order: list, pending: dict, retain_graph: bool, capture: dict | None) -> None:
    """Run each Node's rule once, last item of `order` first, accumulating array gradients.

    `pending` maps id(item) to the gradient its consumers sent (the roots' to start). Leaves
    accumulate into `.grad`, unless `capture` is given: then the gradient of each item whose id is
    a key of `capture` is stored there instead and no `.grad` changes (tg.autograd.grad).
    """
    hooks = STATE.backward_hooks
    check_finite = STATE.detect_anomaly
    timer = STATE.backward_timer
    recorder = STATE.recorder
    # Items whose pending gradient is a sum this backward() made itself: only those may be added
    # to in place, because a rule's gradient may be shared (add hands one array to both inputs) or
    # a read-only view (sum's broadcast).
    summed: set[int] = set()
    for item in reversed(order):
        grad_out = pending.pop(id(item), None)
        if grad_out is None:
            continue  # no path from root reached it with a gradient (every rule returned None)
        if capture is not None and id(item) in capture:
            capture[id(item)] = grad_out
        if type(item) is not Node:        # a leaf: its gradient accumulates in .grad
            if capture is None:
                if recorder is not None and item._hooks is not None and any(item._hooks):
                    recorder.refuse(f"{item._label()} has gradient hooks, which a replay would skip")
                leaf_receives(item, grad_out, _add_arrays, hooks)
                if recorder is not None:
                    recorder.leaf(item, grad_out, _add_arrays)
            continue
        node = item
        if node.grad_hooks or (capture is None and node._retained is not None):
            if recorder is not None:
                recorder.refuse(f"a tensor made by {node.op.name} has hooks or retain_grad(), which a replay would skip")
            grad_out = node_receives(node, grad_out, _add_arrays, capture)
        if node.saved_versions:
            node.check_saved_versions()
        if timer is None:
            rule_grads = run_backward(node.op, node.ctx, grad_out)
        else:
            start = time.perf_counter()
            rule_grads = run_backward(node.op, node.ctx, grad_out)
            timer(node.op, time.perf_counter() - start)
        parents = node.parents
        if type(rule_grads) is not tuple or len(rule_grads) != len(parents):
            rule_grads = _checked_count(node, rule_grads)
        if recorder is not None:
            recorder.backward(node, grad_out, rule_grads, not retain_graph)
        input_grads = []
        for i, parent in enumerate(parents):
            parent_grad = rule_grads[i]
            if parent_grad is None or parent is None:
                if parent_grad is None and parent is not None and not node.op.none_is_zero \
                        and (type(parent) is Node or parent.requires_grad) and node.ctx.needs_input_grad[i]:
                    _refuse_missing_gradient(node, i)
                input_grads.append(None)
                continue
            # The contract: an array of the input's shape and dtype passes as it is; anything else
            # is converted (scalars, broadcasting undone, dtype cast) or refused, naming the op.
            if type(parent) is Node:
                shape, dtype = parent.shape, parent.dtype
            elif parent.requires_grad:
                data = parent.data
                shape, dtype = data.shape, data.dtype
            else:                         # a constant
                input_grads.append(None)
                continue
            if (type(parent_grad) is not np.ndarray or parent_grad.shape != shape
                    or (parent_grad.dtype is not dtype and parent_grad.dtype != dtype) or check_finite):
                before = parent_grad
                parent_grad = _checked_gradient(node, i, parent_grad, shape, dtype, check_finite)
                if recorder is not None:
                    recorder.convert(node, i, before, parent_grad, shape, dtype, _checked_gradient)
            input_grads.append(parent_grad)
            key = id(parent)
            earlier = pending.get(key)
            if earlier is None:
                pending[key] = parent_grad
            elif key in summed:
                np.add(earlier, parent_grad, out=earlier)
                if recorder is not None:
                    recorder.sum_into(earlier, parent_grad)
            else:
                pending[key] = _sum(earlier, parent_grad)
                summed.add(key)
                if recorder is not None:
                    recorder.sum_new(earlier, parent_grad, pending[key], _sum)
        if hooks:
            step = BackwardStep(node.output, node, grad_out, tuple(input_grads), tuple(rule_grads))
            for hook in hooks:
                hook(step)
        if not retain_graph:
            node.release()


def _refuse_missing_gradient(node, i: int) -> None:
    op = node.op
    raise TypeError(f"{op.name}.backward returned None for input {i} ({op.arg_names[i]!r}, "
                    f"{node.inputs[i]._label()}), which requires grad: every input that requires grad gets "
                    "its gradient (an op that cannot differentiate an input must refuse it in forward)")


def _add_arrays(old: np.ndarray | Tensor | None, new: np.ndarray) -> np.ndarray | Tensor:
    """`.grad` accumulates: a copy the first time (a rule's gradient may be shared or read-only).

    A `.grad` already read as a Tensor is added to in place, as PyTorch does, so `g = p.grad`
    taken before a second backward sees the sum; one with a graph of its own (create_graph) or
    a read-only array gets a new Tensor instead.
    """
    if old is None:
        return new.copy()
    if type(old) is np.ndarray:
        return _sum(old, new)
    data = old.data
    if old._node is None and not old.requires_grad and data.flags.writeable and data.shape == new.shape \
            and data.dtype == new.dtype:
        np.add(data, new, out=data)
        old._bump_version()
        return old
    return Tensor._wrap(_sum(data, new))


def _sum(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a + b as a new array, also for 0-d arrays (where NumPy's + returns a scalar, not an array)."""
    total = a + b
    return total if type(total) is np.ndarray else np.asarray(total)


def _initial_grad(root: Tensor, grad: Any) -> np.ndarray:
    if grad is None:
        if root.data.size != 1:
            raise RuntimeError(f"backward(): {root._label()} has {root.data.size} elements; pass "
                               "grad= (an array of that shape) or reduce it to one element first")
        return np.ones_like(root.data)
    grad = np.asarray(grad.data if isinstance(grad, Tensor) else grad, dtype=root.data.dtype)
    if grad.shape != root.data.shape:
        raise ValueError(f"backward(): grad has shape {grad.shape} but {root._label()} needs the same shape")
    return grad


def _checked_count(node, grads) -> tuple:
    """The first part of the rule's contract: a tuple (or list) with one gradient per input."""
    op = node.op
    if not isinstance(grads, (tuple, list)):
        raise TypeError(f"{op.name}.backward must return a tuple with one gradient per input "
                        f"{op.arg_names}, got {type(grads).__name__}")
    if len(grads) != len(node.inputs):
        raise TypeError(f"{op.name}.backward returned {len(grads)} gradients for "
                        f"{len(node.inputs)} inputs {op.arg_names}; return None for inputs with no gradient")
    return tuple(grads)


def _checked_gradient(node, i: int, g: Any, expected: tuple, dtype: np.dtype, check_finite: bool) -> np.ndarray:
    """The slow path of the contract: convert scalars, undo broadcasting, name the op on any violation."""
    op = node.op
    if type(g) is not np.ndarray:
        if not isinstance(g, (np.ndarray, np.generic, float, int)):
            raise TypeError(f"{op.name}.backward: gradient for input {i} ({op.arg_names[i]!r}) is a "
                            f"{type(g).__name__}, not a NumPy array")
        g = np.asarray(g, dtype=dtype) if np.ndim(g) == 0 else np.asarray(g)
    if g.shape != expected:
        if not op.broadcasting:
            raise ValueError(f"{op.name}.backward: gradient for input {i} ({op.arg_names[i]!r}) has shape "
                             f"{g.shape}, but the input has shape {expected}")
        try:
            g, _ = unbroadcast(g, expected)
        except ValueError:
            raise ValueError(f"{op.name}.backward: gradient for input {i} ({op.arg_names[i]!r}) has shape "
                             f"{g.shape}, which does not broadcast from the input's shape {expected}") from None
    if g.dtype != dtype:
        if g.dtype.kind not in "biuf":
            raise TypeError(f"{op.name}.backward: gradient for input {i} ({op.arg_names[i]!r}) has dtype "
                            f"{g.dtype}, but the input has dtype {dtype} (shape {expected})")
        # Each input's gradient comes back in that input's own dtype, as in PyTorch: a float32
        # weight used with float64 data gets a float32 gradient.
        g = g.astype(dtype)
    if check_finite and not np.isfinite(g).all():
        name = node.inputs[i].name
        label = f" '{name}'" if name else ""
        raise FloatingPointError(f"detect_anomaly: {op.name}.backward produced NaN/Inf in the gradient "
                                 f"for input {i} ({op.arg_names[i]!r}{label}, shape {expected})")
    return g
