"""Switches of the engine: is the graph being recorded, are NaN/Inf checked, who listens.

They belong to the thread that sets them, as PyTorch's grad mode does: a `no_grad()` in one
thread never stops another thread's graph from being recorded. They live in one small
thread-local object so the hot paths (`apply`, `backward`) read a single attribute.
"""
from __future__ import annotations

import contextlib
import threading
from typing import Callable, Iterator


class _State(threading.local):
    """One instance per thread; `__init__` runs the first time a thread touches it."""

    def __init__(self) -> None:
        self.grad_enabled = True
        self.detect_anomaly = False
        # True inside tg.record_backward(): the graph keeps every intermediate tensor's values, even
        # the large ones it otherwise lets go as soon as nothing needs them (tensor.LET_GO_BYTES).
        self.keep_values = False
        # Called as hook(step) with an engine.BackwardStep at every step of backward(); used by the
        # drawing tools. Empty in normal runs, so it costs one truth test.
        self.backward_hooks: list[Callable] = []
        # Called as hook(out) with every tensor an op records into the graph (its node is
        # out.grad_fn); used by nn to tag nodes with the module that ran them.
        self.forward_hooks: list[Callable] = []
        # Called as timer(op, seconds) after every forward rule in apply() and every backward rule in
        # backward(); None when unused (tg.profile() sets them), so each costs one `is None` test.
        self.forward_timer: Callable | None = None
        self.backward_timer: Callable | None = None
        # Dotted path of the nn.Module whose __call__ is running ("conv", "layers.1"), None outside
        # any submodule; every Node records it as node.module so drawings can group ops by module.
        self.module_path: str | None = None
        # The modules whose __call__ is running, outermost first, as (module, dotted path) pairs.
        self.module_stack: list = []


STATE = _State()


def is_grad_enabled() -> bool:
    """True unless inside `no_grad()` (in this thread)."""
    return STATE.grad_enabled


def no_grad() -> contextlib.AbstractContextManager[None]:
    """Run ops without recording the graph (evaluation, optimizer updates), in this thread."""
    return _grad_mode(False)


def enable_grad() -> contextlib.AbstractContextManager[None]:
    """Record the graph again inside a `no_grad()` block (in this thread)."""
    return _grad_mode(True)


@contextlib.contextmanager
def _grad_mode(enabled: bool) -> Iterator[None]:
    previous = STATE.grad_enabled
    STATE.grad_enabled = enabled
    try:
        yield
    finally:
        STATE.grad_enabled = previous


@contextlib.contextmanager
def detect_anomaly() -> Iterator[None]:
    """Raise `FloatingPointError` naming the op where a NaN or Inf first appears, forward or backward."""
    previous = STATE.detect_anomaly
    STATE.detect_anomaly = True
    try:
        yield
    finally:
        STATE.detect_anomaly = previous


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
