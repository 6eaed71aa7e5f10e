"""Switches of the engine: is the graph being recorded, are NaN/Inf checked, who listens.

They belong to the thread that sets them, as PyTorch's grad mode does: a `no_grad()` in one
thread never stops another thread's graph from being recorded. They live in one small
thread-local object so the hot paths (`apply`, `backward`) read a single attribute.
"""
from __future__ import annotations

import contextlib
import functools
import inspect
import threading
from typing import Any, Callable, Iterator, NamedTuple

import numpy as np

from tinygraph.broadcast import unbroadcast_axes
from tinygraph.tensor import Tensor


class _State(threading.local):
    """One instance per thread; `__init__` runs the first time a thread touches it."""

    def __init__(self) -> None:
        self.grad_enabled = True
        self.detect_anomaly = False
        # True inside tg.record_backward(): the graph keeps every intermediate tensor's values, even
        # the large ones it otherwise lets go as soon as nothing needs them (tensor.LET_GO_BYTES).
        self.keep_values = False
        # Called as hook(step) with a BackwardStep (below) at every step of backward(); used by the
        # drawing tools. Empty in normal runs, so it costs one truth test.
        self.backward_hooks: list[Callable] = []
        # Called as hook(out) with every tensor an op records into the graph (its node is
        # out.grad_fn); used by nn to tag nodes with the module that ran them.
        self.forward_hooks: list[Callable] = []
        # Called as timer(op, seconds) after every forward rule in apply() and every backward rule in
        # backward(); None when unused (tg.profile() sets them), so each costs one `is None` test.
        self.forward_timer: Callable | None = None
        self.backward_timer: Callable | None = None
        # The tg.compile Recorder while a step is being recorded (tinygraph/compile/recorder.py), else None:
        # apply, the engine, in-place updates and optimizers tell it what they run.
        self.recorder = None
        # The tangents of tg.autograd.forward_ad.dual_level() while one is open, else None.
        self.dual = None


STATE = _State()


def is_grad_enabled() -> bool:
    """True unless inside `no_grad()` (in this thread)."""
    return STATE.grad_enabled


class _Switch:
    """A context manager and decorator that sets one of this thread's switches, as PyTorch's do.

    The same object may be entered again, also nested (each entry restores what it found); it
    decorates a function with or without parentheses (`@tg.no_grad` and `@tg.no_grad()`), and a
    generator function runs every step of its body under the switch, not just its creation.
    """

    attribute = ""
    value = False

    def __new__(cls, func: Callable | None = None):
        if func is not None:             # bare @tg.no_grad: the class itself was called on the function
            if not callable(func):
                raise TypeError(f"{cls.__name__}() takes no argument but a function to decorate, got {func!r}")
            return cls()(func)
        return super().__new__(cls)

    def __init__(self) -> None:
        self._previous: list = []

    def __enter__(self) -> None:
        self._previous.append(getattr(STATE, self.attribute))
        setattr(STATE, self.attribute, self.value)

    def __exit__(self, *exc_info) -> bool:
        setattr(STATE, self.attribute, self._previous.pop())
        return False

    def __call__(self, func: Callable) -> Callable:
        switch = type(self)
        if inspect.isgeneratorfunction(func):
            @functools.wraps(func)
            def generator(*args, **kwargs):
                steps = func(*args, **kwargs)
                try:
                    with switch():
                        value = steps.send(None)
                    while True:
                        try:
                            sent = yield value
                        except GeneratorExit:
                            steps.close()
                            raise
                        except BaseException as error:
                            with switch():
                                value = steps.throw(error)
                        else:
                            with switch():
                                value = steps.send(sent)
                except StopIteration as stop:      # the body returned: so does this generator
                    return stop.value
            return generator

        @functools.wraps(func)
        def decorated(*args, **kwargs):
            with switch():
                return func(*args, **kwargs)
        return decorated


class no_grad(_Switch):
    """Run ops without recording the graph (evaluation, optimizer updates), in this thread."""

    attribute, value = "grad_enabled", False


class enable_grad(_Switch):
    """Record the graph again inside a `no_grad()` block (in this thread)."""

    attribute, value = "grad_enabled", True


class detect_anomaly(_Switch):
    """Raise `FloatingPointError` naming the op where a NaN or Inf first appears, forward or backward."""

    attribute, value = "detect_anomaly", True


class set_grad_enabled:
    """`tg.set_grad_enabled(False)` switches recording off in this thread now; as a context manager
    (`with tg.set_grad_enabled(training):`) it puts back what it found on exit, as in PyTorch."""

    def __init__(self, mode: bool) -> None:
        self._previous = STATE.grad_enabled
        STATE.grad_enabled = bool(mode)

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc_info) -> bool:
        STATE.grad_enabled = self._previous
        return False


class BackwardStep(NamedTuple):
    """What a backward hook is shown at one step of backward(), in the engine's order.

    `tensor` received `grad_out`; for a leaf `node` is None. Otherwise `rule_grads` is exactly what
    the op's backward rule returned (one per input, None where none), and `input_grads` what the
    engine passed on after the contract check: None for inputs that need no gradient, broadcasting
    undone (`summed_axes(i)` says which axes were summed), dtype cast to the input's.
    """

    tensor: Tensor
    node: Any
    grad_out: np.ndarray
    input_grads: tuple
    rule_grads: tuple

    def summed_axes(self, index: int) -> tuple[int, ...]:
        """Axes of the rule's gradient for input `index` that the engine summed to undo broadcasting."""
        raw, given = self.rule_grads[index], self.input_grads[index]
        if raw is None or given is None or np.shape(raw) == given.shape:
            return ()
        return unbroadcast_axes(np.shape(raw), given.shape)


def run_grad_hooks(hooks: list, grad: Any, tensor) -> Any:
    """Run register_hook hooks on a gradient (an array here, a Tensor in the recorded sweep); a hook
    may return a replacement of the same shape."""
    recorded = isinstance(grad, Tensor)
    for hook in list(hooks):
        result = hook(grad if recorded else Tensor._wrap(grad))
        if result is None:
            continue
        if not recorded:
            result = np.asarray(result.data if isinstance(result, Tensor) else result, dtype=grad.dtype)
        if result.shape != grad.shape:
            raise ValueError(f"a gradient hook on {tensor._label()} returned shape {result.shape}; the gradient "
                             f"has shape {grad.shape}")
        grad = result
    return grad


@contextlib.contextmanager
def backward_hook(hook: Callable) -> Iterator[Callable]:
    """Call `hook(step)` at each step of every backward() this thread runs inside.

    `step` is a `tg.BackwardStep`: the tensor, its node, the gradient it received, what the rule
    returned and what the engine passed on to each input.
    """
    STATE.backward_hooks.append(hook)
    try:
        yield hook
    finally:
        STATE.backward_hooks.remove(hook)


@contextlib.contextmanager
def forward_hook(hook: Callable) -> Iterator[Callable]:
    """Call `hook(out)` for every tensor an op records into the graph in this thread, inside."""
    STATE.forward_hooks.append(hook)
    try:
        yield hook
    finally:
        STATE.forward_hooks.remove(hook)
