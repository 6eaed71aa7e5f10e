"""Global switches of the engine: is the graph being recorded, are NaN/Inf checked, who listens.

They live in one small object so the hot paths (`apply`, `backward`) test a single attribute.
"""
from __future__ import annotations

import contextlib
from typing import Callable, Iterator


class _State:
    grad_enabled: bool = True
    detect_anomaly: bool = False
    # Called as hook(tensor, node, grad_out, input_grads) at every step of backward(); used by
    # the drawing tools and the profiler. Empty in normal runs, so it costs one truth test.
    backward_hooks: list[Callable] = []
    # Called as timer(op, seconds) after every forward rule in apply() and every backward rule in
    # backward(); None when unused (tg.profile() sets them), so each costs one `is None` test.
    forward_timer: Callable | None = None
    backward_timer: Callable | None = None
    # Dotted path of the nn.Module whose __call__ is running ("conv", "layers.1"), None outside
    # any submodule; every Node records it as node.module so drawings can group ops by module.
    module_path: str | None = None


STATE = _State()


def is_grad_enabled() -> bool:
    """True unless inside `no_grad()`."""
    return STATE.grad_enabled


@contextlib.contextmanager
def no_grad() -> Iterator[None]:
    """Run ops without recording the graph (evaluation, optimizer updates)."""
    previous = STATE.grad_enabled
    STATE.grad_enabled = False
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
    """Call `hook(tensor, node, grad_out, input_grads)` at each step of every backward() inside."""
    STATE.backward_hooks.append(hook)
    try:
        yield hook
    finally:
        STATE.backward_hooks.remove(hook)
