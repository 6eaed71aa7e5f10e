"""Record what backward() does, step by step, as norms and shapes (never whole arrays).

After a plain `backward()` only leaves keep `.grad`. To show δ on every tensor and edge, run
backward inside `record_backward()`: a backward hook notes, at each step of the engine's real
order, the gradient the tensor received and what its rule added into each input (`+=`).

    with tg.record_backward() as recording:
        loss.backward()
    tg.draw(loss, recording=recording)
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

from tinygraph.grad_mode import STATE, backward_hook
from tinygraph.tensor import Tensor

VANISHING = 1e-8     # a gradient norm below this is flagged as vanishing
EXPLODING = 1e4      # above this (or NaN/Inf) as exploding
SMALL = 16           # a gradient of at most this many entries is kept entry by entry, signed
KEEP_ARRAYS = 1 << 16   # a recording keeps each gradient of at most this many entries, for images


@dataclass(frozen=True)
class GradStat:
    """Shape, L2 norm, finiteness, min and max of one gradient array, and its entries when few.

    `values` keeps the signed entries (flattened, row-major) of a gradient with at most SMALL of
    them: micrograd's dL/db = −4 is shown as −4, not as its norm 4.
    """

    shape: tuple[int, ...]
    norm: float
    finite: bool
    lo: float = float("nan")
    hi: float = float("nan")
    values: tuple[float, ...] | None = None

    @classmethod
    def of(cls, array: np.ndarray) -> "GradStat":
        array = np.asarray(array)
        finite = bool(np.isfinite(array).all())
        norm = float(np.sqrt(np.sum(np.square(array, dtype=np.float64)))) if finite else float("nan")
        lo = float(np.min(array)) if array.size and finite else float("nan")
        hi = float(np.max(array)) if array.size and finite else float("nan")
        values = tuple(float(v) for v in array.ravel()) if array.size <= SMALL else None
        return cls(tuple(array.shape), norm, finite, lo, hi, values)

    @property
    def health(self) -> str | None:
        """'vanishing', 'exploding', 'NaN/Inf', or None when the norm looks ordinary."""
        if not self.finite:
            return "NaN/Inf"
        if self.norm > EXPLODING:
            return "exploding"
        if self.norm < VANISHING:
            return "vanishing"
        return None


@dataclass(frozen=True)
class Contribution:
    """What one rule added into one input: `parent.grad += added` (running total after it)."""

    index: int                  # which input of the op
    parent: Tensor
    added: GradStat
    running: GradStat           # the input's gradient so far, this contribution included
    summed_axes: tuple[int, ...] | None   # axes the engine summed to undo broadcasting


@dataclass(frozen=True)
class Step:
    """One step of backward(): `tensor` received `grad_out`; its node's rule (if any) ran."""

    index: int
    tensor: Tensor
    node: object | None         # None for a leaf: it only accumulates into .grad
    grad_out: GradStat
    contributions: tuple[Contribution, ...]


class BackwardRecording:
    """The steps of the backward passes run inside `record_backward()`, in the engine's order."""

    def __init__(self) -> None:
        self.steps: list[Step] = []
        self._received: dict[int, GradStat] = {}         # id(tensor) -> the δ it received
        self._added: dict[tuple[int, int], Contribution] = {}   # (id(node), input index) -> contribution
        self._running: dict[int, np.ndarray] = {}         # partial sums of tensors not yet reached
        self._keep: list[Tensor] = []   # holds every recorded tensor, so no id() is reused meanwhile
        self._saved: dict[int, list] = {}  # id(node) -> what its rule had saved, seen before release
        self._arrays: dict[int, np.ndarray] = {}   # id(tensor) -> a copy of its gradient, when not huge

    def _hook(self, step) -> None:
        tensor, node, grad_out, input_grads = step.tensor, step.node, step.grad_out, step.input_grads
        self._running.pop(id(tensor), None)
        stat = GradStat.of(grad_out)
        self._received[id(tensor)] = stat
        self._keep.append(tensor)
        if np.size(grad_out) <= KEEP_ARRAYS:
            self._arrays[id(tensor)] = np.array(grad_out, copy=True)
        contributions = []
        if node is not None:
            self._saved[id(node)] = saved_arrays(node)       # before backward releases them
            node.keep_value()                                # the drawing shows it after backward
            for index, (parent, grad) in enumerate(zip(node.inputs, input_grads)):
                if grad is None:
                    continue
                earlier = self._running.get(id(parent))
                running = grad if earlier is None else earlier + grad
                self._running[id(parent)] = running
                c = Contribution(index, parent, GradStat.of(grad), GradStat.of(running), step.summed_axes(index))
                self._added[(id(node), index)] = c
                contributions.append(c)
        self.steps.append(Step(len(self.steps), tensor, node, stat, tuple(contributions)))

    def grad_of(self, tensor: Tensor) -> GradStat | None:
        """The total gradient `tensor` received in the last recorded backward, or None."""
        return self._received.get(id(tensor))

    def grad_array(self, tensor: Tensor) -> np.ndarray | None:
        """The gradient array `tensor` received (kept when it has at most KEEP_ARRAYS entries), or None."""
        return self._arrays.get(id(tensor))

    def saved_of(self, node) -> list | None:
        """What `node`'s rule had saved when its backward ran (see `saved_arrays`), or None."""
        return self._saved.get(id(node))

    def contribution(self, node, index: int) -> Contribution | None:
        """What `node`'s rule added into its input number `index`, or None if it added nothing."""
        return self._added.get((id(node), index))

    @property
    def rule_steps(self) -> list[Step]:
        """The steps where an op's backward rule ran (leaves excluded): one frame each in draw_steps."""
        return [s for s in self.steps if s.node is not None]


def saved_arrays(node) -> list[tuple[tuple[int, ...], str, int]]:
    """Shape, dtype and bytes of each array `node`'s rule saved (empty once backward released them)."""
    return [(v.shape, str(v.dtype), v.nbytes) for v in node.ctx.saved or () if isinstance(v, np.ndarray)]


@dataclass
class Frame:
    """Step-through state: which rule runs now and how far every tensor's gradient has got."""

    current: str                                        # op item id whose rule runs
    ran: set[str]                                       # op item ids whose rule has run (current included)
    state: dict[str, tuple[str, GradStat | None, int]]  # tensor id -> ("done"|"partial", stat, contributions)
    added: dict[tuple[str, int], GradStat] = field(default_factory=dict)   # (op id, input) -> what it added


@contextlib.contextmanager
def record_backward() -> Iterator[BackwardRecording]:
    """Record every backward() run inside, for `draw(..., recording=)` and `draw_steps`.

    A forward pass run inside keeps every intermediate value for the drawing, even the large ones
    the graph otherwise lets go of as soon as nothing needs them (tinygraph.tensor.LET_GO_BYTES).
    """
    recording = BackwardRecording()
    kept_before, STATE.keep_values = STATE.keep_values, True
    try:
        with backward_hook(recording._hook):
            yield recording
    finally:
        STATE.keep_values = kept_before
    recording._running.clear()
