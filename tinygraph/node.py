"""The recorded graph: Nodes whose edges lead to Nodes, and what each Node keeps of the tensor it made.

`graph_order` walks it (for the engine, the recorded backward and the drawing tools alike).

A Node is one application of an op. Its `parents` hold, per array input, the Node that made that
input (an edge, as PyTorch's `next_functions`), the leaf tensor itself, or a constant tensor; so
the graph never holds an intermediate tensor, and an in-place update that gives a tensor a new
Node leaves every earlier edge pointing at the Node that made the old value.

This module also decides, in one place, which values the graph keeps and for how long:

- a Node holds its output's array while it is smaller than `LET_GO_BYTES` (a drawing of a small
  graph shows every value); a larger one lives only as long as something else holds the tensor,
  as PyTorch frees an activation no rule saved; inside `tg.record_backward()` every value is kept;
- after a plain `backward()` a Node lets go of what its rule saved, and of its output's array
  unless that is at most `KEEP_BYTES` or kept for a recording.
"""
from __future__ import annotations

import math
import weakref

import numpy as np

# A Node holds its output's array while it is smaller than this (and always inside record_backward()).
LET_GO_BYTES = 1 << 18
# ...and still holds it after backward() when it is at most this, so a kept micrograd-sized graph
# still shows its values while a kept loss costs bytes per node, not per activation.
KEEP_BYTES = 1024


class Node:
    """The record of one op application: which op, on which inputs, with what context.

    Reach it as `tensor.grad_fn` (None for a leaf). `op`, `attrs` and `ctx` are public; `parents`
    are the edges (Node, leaf or constant tensor, or None per input); `inputs` shows each input as
    a tensor (`output` of its Node); `released` is True once backward() freed what the rule saved.
    `name`, `shape` and `dtype` describe the tensor the Node made, whether or not it is still alive.
    """

    __slots__ = ("op", "ctx", "parents", "attrs", "released", "saved_versions", "name", "shape", "dtype",
                 "_tensor", "_value", "_keeps_value", "_retained", "_record", "grad_hooks", "__weakref__")

    def __init__(self, op, ctx, parents: tuple, attrs: dict, out, keep_values: bool):
        self.op = op
        self.ctx = ctx
        self.parents = parents
        self.attrs = attrs              # the hyperparameters it was called with
        self.released = False           # True once backward freed ctx.saved
        # Version counter, its value at forward, input index (-1 for the output), one such three after
        # another in one flat tuple, for every tensor whose array the rule saved: backward checks that
        # nothing changed them in place since.
        self.saved_versions: tuple = ()
        data = out.data
        self.name = out.name
        self.shape = data.shape
        self.dtype = data.dtype
        self._tensor = weakref.ref(out)
        self._keeps_value = keep_values
        self._value = data if keep_values or data.nbytes < LET_GO_BYTES else None
        self._retained = None           # weak reference to the tensor that asked retain_grad()
        self._record = None             # the OutputRecord shown once the tensor is gone
        self.grad_hooks = None          # hook(grad) for the gradient of this Node's output (Tensor.register_hook)

    @property
    def output(self):
        """The tensor this Node made, while it lives and still has this Node; else its record."""
        t = self._tensor()
        if t is not None and t._node is self:
            return t
        record = self._record
        if record is None:
            record = self._record = OutputRecord(self)
        return record

    @property
    def inputs(self) -> tuple:
        """One tensor (or record, or None) per array input, as the op received them."""
        return tuple(p.output if type(p) is Node else p for p in self.parents)

    @property
    def next_functions(self) -> tuple:
        """PyTorch's name for the edges: per input, the Node that made it (None for a leaf or constant)."""
        return tuple(p if type(p) is Node else None for p in self.parents)

    def value(self) -> np.ndarray | None:
        """The output's array, if the graph kept it or the tensor is alive; None once freed."""
        if self._value is not None:
            return self._value
        t = self._tensor()
        return t.data if t is not None and t._node is self else None

    def retained_by(self):
        """The tensor that asked for its .grad to be kept (retain_grad()), while it lives."""
        return None if self._retained is None else self._retained()

    def check_saved_versions(self) -> None:
        """Raise if a tensor whose array the rule saved was changed in place since the forward pass."""
        watched = self.saved_versions              # flat: counter, version at forward, input index (−1: output)
        for counter, version, index in zip(watched[0::3], watched[1::3], watched[2::3]):
            if counter[0] != version:
                op = self.op
                what = (f"its output ({self.output._label()})" if index < 0
                        else f"its input {op.arg_names[index]!r} ({self.inputs[index]._label()})")
                raise RuntimeError(
                    f"backward(): op '{op.name}' saved {what} for backward, and it was modified in place "
                    f"since (version {counter[0]}, saved at version {version}) — for example by "
                    "optimizer.step() or load_state_dict() before backward(), or by an in-place `+=`. "
                    "Call backward() before changing the tensor, or run the forward pass again.")

    def keep_value(self) -> None:
        """Keep the output's array after backward() too (a recording that will draw it asks this)."""
        self._keeps_value = True
        if self._value is None:
            self._value = self.value()

    def release(self) -> None:
        """After a plain backward(): let go of what the rule saved, and of a large output array."""
        self.ctx.release()
        self.released = True
        value = self._value
        if value is not None and value.nbytes > KEEP_BYTES and not self._keeps_value:
            self._value = None

    def __repr__(self) -> str:
        return f"<{self.op.name} node{' (released)' if self.released else ''}>"


def graph_order(root, stop: set | None = None) -> list:
    """Every Node and leaf that `root` (a tensor, or a list of them) depends on through inputs that
    require grad, each after its parents; the parents of an item whose id is in `stop` are left out.

    Iterative depth-first search (an explicit stack, no recursion), so a chain of any depth works.
    An item is pushed once to be expanded (its parents pushed above it) and stays on the stack under
    them; popped again once they are all placed, it is placed itself. No tuples per entry: on a
    100,000-op chain that matters (fewer allocations, fewer GC passes; docs/performance.md).
    """
    order: list = []
    placed: dict[int, bool] = {}        # id -> False while its parents are being placed, True once placed
    roots = root if isinstance(root, (list, tuple)) else [root]
    stack = [t if t._node is None else t._node for t in reversed(roots)]
    while stack:
        item = stack.pop()
        key = id(item)
        state = placed.get(key)
        if state is None:               # first visit: come back after the parents
            placed[key] = False
            stack.append(item)
            if type(item) is Node and (stop is None or key not in stop):
                parents = item.parents
                # Leaves first, so they are popped last: placed after the rest of the graph below this
                # Node, a leaf comes right after its last consumer in the reverse sweep, and its .grad
                # is final as early as it can be (what a data-parallel trainer overlaps with).
                for parent in parents:
                    if parent is not None and type(parent) is not Node and parent.requires_grad \
                            and id(parent) not in placed:
                        stack.append(parent)
                for parent in parents:
                    if type(parent) is Node and id(parent) not in placed:
                        stack.append(parent)
        elif state is False:            # its parents are all placed
            placed[key] = True
            order.append(item)
        # state True: a duplicate entry from a second consumer, pushed before the first expansion
    return order


class OutputRecord:
    """What a Node keeps of the tensor it made once that tensor is gone (or has moved on in place).

    It reads like a tensor for drawings and messages (name, shape, dtype, grad_fn, and the values
    while the Node keeps them), but it is not one: it is never an input to an op.
    """

    __slots__ = ("_node",)
    requires_grad = True
    grad = None
    _retain_grad = False

    def __init__(self, node: Node):
        self._node = node

    @property
    def name(self):
        return self._node.name

    @property
    def grad_fn(self) -> Node:
        return self._node

    @property
    def op(self):
        return self._node.op

    @property
    def is_leaf(self) -> bool:
        return False

    @property
    def shape(self) -> tuple[int, ...]:
        return self._node.shape

    @property
    def dtype(self) -> np.dtype:
        return self._node.dtype

    @property
    def ndim(self) -> int:
        return len(self._node.shape)

    @property
    def size(self) -> int:
        return math.prod(self._node.shape)

    @property
    def values_available(self) -> bool:
        return self._node.value() is not None

    @property
    def data(self) -> np.ndarray:
        value = self._node.value()
        if value is None:
            if self._node.released:
                raise RuntimeError(f"the values of {self._label()} were freed after backward(); keep a reference "
                                   "to the tensor, call backward(retain_graph=True), or draw before backward()")
            raise RuntimeError(f"the values of {self._label()} were freed once nothing held the tensor: the graph "
                               f"keeps no intermediate array of {LET_GO_BYTES // 1024} kB or more for its own sake; "
                               "keep a reference to the tensor, or run the forward pass inside tg.record_backward()")
        return value

    def _label(self) -> str:
        name = f"'{self.name}' " if self.name else ""
        return f"tensor {name}of shape {self.shape}"

    def __repr__(self) -> str:
        name = f", name={self.name!r}" if self.name else ""
        values = "<values freed>" if not self.values_available else "<values kept by the graph>"
        return f"Tensor({values}, shape={self.shape}, dtype={self.dtype}{name}, op={self.op.name})"
