"""Backward on Tensors: each rule's work recorded as ops, so a gradient can be differentiated again.

`backward(create_graph=True)` and `tg.autograd.grad(..., create_graph=True)` come here. The sweep is
the engine's (same order, same contract), but gradients are Tensors and each op's rule is its
`differentiable_backward`, written in registered ops on the op's inputs and output as Tensors of
the graph (`ctx.input(i)`, `ctx.output()`). An op that has only a NumPy rule still gives its
gradient, through a Node that raises "X: backward is not differentiable" only if someone
differentiates through it, as PyTorch's once_differentiable does.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from tinygraph import buffers, metadata
from tinygraph.grad_mode import STATE, BackwardStep, enable_grad, forward_hook, run_grad_hooks
from tinygraph.node import Node, graph_order
from tinygraph.op import Context, Op, apply
from tinygraph.parallel import run_backward
from tinygraph.tensor import Tensor


def recorded_sweep(order: list, pending: dict, retain_graph: bool, capture: dict | None,
                   end_step: bool = True, stop_at_capture: bool = False) -> None:
    """The reverse sweep over `order` with Tensor gradients; see engine._sweep_arrays for the plain one.

    `pending` maps id(item) to the gradient its consumers sent (the roots' to start). Leaves
    accumulate into `.grad` unless `capture` is given: then the gradient of every item whose id is
    a key of `capture` is stored there, and no `.grad` changes (tg.autograd.grad).
    """
    hooks = STATE.backward_hooks
    with enable_grad():
        for item in reversed(order):
            grad_out = pending.pop(id(item), None)
            if grad_out is None:
                continue
            if capture is not None and id(item) in capture:
                capture[id(item)] = grad_out
                if stop_at_capture:
                    continue
            if type(item) is not Node:                  # a leaf
                if capture is None:
                    leaf_receives(item, grad_out, _add_tensors, hooks)
                continue
            node = item
            if node.grad_hooks or (capture is None and node._retained is not None):
                grad_out = node_receives(node, grad_out, _add_tensors, capture)
            if node.saved_versions:
                node.check_saved_versions()
            with forward_hook(_made_by(node)):         # the drawing says which rule made each new op
                rule_grads = _differentiable_rule(node, grad_out)
            input_grads = []
            for i, parent in enumerate(node.parents):
                g = rule_grads[i]
                if g is None or parent is None or (type(parent) is not Node and not parent.requires_grad):
                    if g is None and parent is not None and not node.op.none_is_zero \
                            and (type(parent) is Node or parent.requires_grad) and node.ctx.needs_input_grad[i]:
                        raise TypeError(f"{node.op.name}.differentiable_backward returned None for input {i} "
                                        f"({node.op.arg_names[i]!r}), which requires grad")
                    input_grads.append(None)
                    continue
                g = _contract(node, i, g, parent.shape, parent.dtype)
                input_grads.append(g)
                earlier = pending.get(id(parent))
                pending[id(parent)] = g if earlier is None else earlier + g
            if hooks:
                _tell(hooks, BackwardStep(node.output, node, grad_out.data,
                                          tuple(None if g is None else g.data for g in input_grads),
                                          tuple(None if g is None else np.asarray(_data(g)) for g in rule_grads)))
            if not retain_graph:
                node.release()
    if end_step:
        buffers.end_step()


def leaf_receives(leaf: Tensor, grad: Any, add: Callable, step_hooks: list) -> None:
    """A leaf's gradient arrives (both sweeps): its register_hook hooks may replace it, `.grad`
    accumulates it (`add(old or None, new)`), backward hooks see the step, then its
    post-accumulate hooks run (a data-parallel trainer starts reducing here)."""
    leaf_hooks = leaf._hooks
    if leaf_hooks is not None and leaf_hooks[0]:
        grad = run_grad_hooks(leaf_hooks[0], grad, leaf)
    leaf._grad = add(leaf._grad, grad)
    if step_hooks:
        _tell(step_hooks, BackwardStep(leaf, None, _data(grad), (), ()))
    if leaf_hooks is not None and leaf_hooks[1]:
        for hook in list(leaf_hooks[1]):
            hook(leaf)


def node_receives(node: Node, grad: Any, add: Callable, capture: dict | None) -> Any:
    """A Node's output gradient is complete (both sweeps): hooks registered on that tensor may
    replace it, and a tensor that asked retain_grad() keeps it (not in autograd.grad)."""
    if node.grad_hooks:
        grad = run_grad_hooks(node.grad_hooks, grad, node.output)
    if capture is None and node._retained is not None:
        kept = node._retained()
        if kept is not None and kept._node is node:
            kept._grad = add(kept._grad, grad)
    return grad


def _add_tensors(old: Tensor | np.ndarray | None, new: Tensor) -> Tensor:
    if old is None:
        return new
    return new + (Tensor._wrap(old) if type(old) is np.ndarray else old)


def _made_by(node: Node):
    """A forward hook noting, in the metadata side table, that `node`'s backward rule made an op."""
    def note_maker(out: Tensor) -> None:
        metadata.note(out.grad_fn, made_by=node)
    return note_maker


def _tell(hooks, step) -> None:
    for hook in hooks:
        hook(step)


def _data(g):
    return g.data if isinstance(g, Tensor) else g


def _differentiable_rule(node: Node, grad_out: Tensor) -> tuple:
    """The op's rule on Tensors; for an op with only a NumPy rule, its gradients marked once-differentiable."""
    op, ctx = node.op, node.ctx
    rule = op.differentiable_backward
    if rule is not None:
        ctx.node = node
        try:
            grads = rule(ctx, grad_out)
        finally:
            ctx.node = None
    else:
        grads = run_backward(op, ctx, grad_out.data)
        if isinstance(grads, (tuple, list)):
            grads = tuple(None if g is None else _once_differentiable(node, np.asarray(g), grad_out) for g in grads)
    if not isinstance(grads, (tuple, list)) or len(grads) != len(node.parents):
        raise TypeError(f"{op.name}.differentiable_backward must return a tuple with one gradient per input "
                        f"{op.arg_names}, got {grads!r:.80}")
    return tuple(grads)


def _contract(node: Node, i: int, g: Any, shape: tuple, dtype: np.dtype) -> Tensor:
    """The engine's contract on a Tensor gradient: broadcasting undone by a recorded sum, dtype cast."""
    op = node.op
    if not isinstance(g, Tensor):
        g = Tensor._wrap(np.asarray(g, dtype=dtype))
    if g.shape != shape:
        if not op.broadcasting:
            raise ValueError(f"{op.name}.differentiable_backward: gradient for input {i} ({op.arg_names[i]!r}) "
                             f"has shape {g.shape}, but the input has shape {shape}")
        g = sum_to_shape(g, shape)
    if g.dtype != dtype:
        from tinygraph.ops.cast import Cast
        g = apply(Cast, g, dtype=dtype)
    return g


def sum_to_shape(g: Tensor, shape: tuple) -> Tensor:
    """Sum a broadcast gradient down to `shape`, recorded (broadcast.unbroadcast on Tensors)."""
    from tinygraph.broadcast import unbroadcast_axes
    axes = unbroadcast_axes(g.shape, shape)
    if axes:
        g = g.sum(axes, keepdim=True)
    return g.reshape(*shape) if g.shape != shape else g


def broadcast_back(g: Tensor, axes, keepdim: bool, shape: tuple) -> Tensor:
    """A reduction's gradient spread back over the reduced axes (ops/_axes.restore_axes on Tensors)."""
    if not keepdim:
        reduced = range(len(shape)) if axes is None else [a % max(len(shape), 1) for a in axes]
        g = g.reshape(*[1 if i in reduced else n for i, n in enumerate(shape)])
    return g.expand(*shape) if g.shape != tuple(shape) else g


def by_composition(expression: Callable) -> Callable:
    """A differentiable_backward for an op that other ops can express: `expression(ctx, *inputs)`
    recomputes the op's output from its inputs (as Tensors of the graph) with those ops, and the rule
    is the recorded vector-Jacobian product of that expression. For fused ops (softmax cross-entropy,
    batch norm): one fast NumPy rule for first order, and the composition for every order above."""
    def differentiable_backward(ctx, grad_out):
        inputs = [ctx.input(i) for i in range(len(ctx.node.parents))]
        wanted = {id(t if t._node is None else t._node): i for i, t in enumerate(inputs)
                  if t is not None and ctx.needs_input_grad[i]}
        out = expression(ctx, *inputs)
        if not out.requires_grad:
            return (None,) * len(inputs)
        capture = dict.fromkeys(wanted)
        start = out._node if out._node is not None else out
        order = graph_order(out, stop=set(wanted))    # the op's inputs are its own variables: stop there
        recorded_sweep(order, {id(start): grad_out}, True, capture, end_step=False, stop_at_capture=True)
        grads = [None] * len(inputs)
        for key, i in wanted.items():
            grads[i] = capture[key]
        return tuple(grads)
    return differentiable_backward


# ------------------------------------------------------------------------------------ once-differentiable
_ONCE: dict = {}


def _once_differentiable(node: Node, gradient: np.ndarray, grad_out: Tensor) -> Tensor:
    """`gradient` as a Tensor whose Node refuses to be differentiated: it depends on the op's inputs
    and on grad_out in a way only the op's NumPy rule knows."""
    op = node.op
    marker = _ONCE.get(op)
    if marker is None:
        marker = _ONCE[op] = type(f"{type(op).__name__}Backward", (NotDifferentiable,),
                                  {"name": f"{op.name}_backward", "of": op, "arg_names": ("grad_out",) + op.arg_names})
    t = Tensor._wrap(gradient)
    parents = (grad_out._node if grad_out._node is not None else grad_out,) + node.parents
    if any(p is not None and (type(p) is Node or p.requires_grad) for p in parents):
        t.requires_grad = True
        t._node = Node(marker, Context((True,) * len(parents)), parents, {}, t, False)
        metadata.note(t._node, made_by=node)
    return t


class NotDifferentiable(Op):
    """The Node of a gradient made by an op's NumPy rule: differentiating through it raises."""

    of: type[Op] = Op
    forward_formula = "{out} = the NumPy backward rule of the op"

    @staticmethod
    def forward(ctx, *arrays):             # never run: the engine makes these Nodes directly
        raise NotImplementedError

    @classmethod
    def backward(cls, ctx, grad_out):
        raise RuntimeError(
            f"{cls.of.name}: backward is not differentiable: its rule runs on NumPy arrays only, so the "
            f"gradient it made cannot be differentiated again. Give the op a differentiable_backward "
            f"written in tinygraph ops (README: Add your own op) to take higher derivatives through it")
