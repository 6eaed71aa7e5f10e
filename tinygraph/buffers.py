"""Large arrays reused from one training step to the next, inside tinygraph.

Every training step allocates the same large arrays again: im2col columns, activations, masks,
gradients. By default glibc gives the freed memory at the top of its heap back to the operating
system, and the next step faults every page back in, each one zero-filled by the kernel: on the
benchmark's config C that was ~6,000 page faults and about a third of a step (docs/performance.md).

`empty(shape, dtype)` is `np.empty` for small arrays. A large one is a view of a buffer this
module keeps, and a buffer is handed out again only when no array uses it any more: every NumPy
view holds a reference to the array that owns its memory, so the buffer's reference count says
whether anything still looks at it. At the end of each backward() (`end_step`), the free buffers
that nobody took since the previous backward() are let go, so the pool holds about one step's
large arrays and follows a change of shapes within a step. Nothing outside tinygraph changes: the
C allocator's settings stay as they are (compare `tg.keep_freed_memory()`, opt-in, process-wide).
"""
from __future__ import annotations

import math
import os
import sys
import threading

import numpy as np

# Arrays from this size on come from the pool; smaller ones are cheap for malloc to recycle.
MIN_BYTES = 1 << 18
# Sizes are rounded up to this, so the parts of a split op (one row more or less) share buffers.
_GRAIN = 1 << 16
# At most this much may lie free in the pool when a new buffer is needed; past it every free buffer
# is let go first. Training steps reuse what they free, so this only bounds loops that never call
# backward() and keep changing shapes (inference on batches of many sizes).
MAX_FREE_BYTES = 1 << 28

_lock = threading.Lock()
_buffers: dict[int, list[list]] = {}     # rounded size -> [[buffer, step last handed out], ...]
_step = 0
_enabled = True


def _references_when_free() -> int:
    """sys.getrefcount(entry[0]) for a pooled buffer that no array uses: the entry's, and the call's."""
    entry = [np.empty(0, np.uint8), 0]
    return sys.getrefcount(entry[0])


_FREE = _references_when_free()


def empty(shape, dtype) -> np.ndarray:
    """An uninitialised C-ordered array, like np.empty; large ones reuse a buffer no array uses."""
    dtype = np.dtype(dtype)
    nbytes = (shape if isinstance(shape, (int, np.integer)) else math.prod(shape)) * dtype.itemsize
    if nbytes < MIN_BYTES or not _enabled:
        return np.empty(shape, dtype)
    size = -(-nbytes // _GRAIN) * _GRAIN
    with _lock:
        entries = _buffers.setdefault(size, [])
        for entry in entries:
            if _is_free(entry):
                entry[1] = _step
                buffer = entry[0]
                break
        else:
            if _pooled_bytes()[1] > MAX_FREE_BYTES:
                _let_go()
                entries = _buffers.setdefault(size, [])
            buffer = np.empty(size, np.uint8)
            entries.append([buffer, _step])
    return buffer[:nbytes].view(dtype).reshape(shape)


def _is_free(entry: list) -> bool:
    """No array uses the entry's buffer: it holds only the pool's reference (and this call's)."""
    return sys.getrefcount(entry[0]) == _FREE


def _let_go(unless_handed_out_in: int | None = None) -> None:
    """Drop every free buffer, except those handed out in step `unless_handed_out_in`. Call under _lock."""
    for size in list(_buffers):
        kept = [entry for entry in _buffers[size] if not _is_free(entry) or entry[1] == unless_handed_out_in]
        if kept:
            _buffers[size] = kept
        else:
            del _buffers[size]


def _pooled_bytes() -> tuple[int, int]:
    """(bytes in use, bytes free); call under _lock."""
    used = free = 0
    for size, entries in _buffers.items():
        for entry in entries:
            if _is_free(entry):
                free += size
            else:
                used += size
    return used, free


def zeros(shape, dtype) -> np.ndarray:
    """Like np.zeros; large ones reuse a buffer (cleared here, not page by page by the kernel)."""
    array = empty(shape, dtype)
    array.fill(0)
    return array


def end_step() -> None:
    """Called after each backward(): let go of free buffers nobody took during this step."""
    global _step
    with _lock:
        _let_go(unless_handed_out_in=_step)
        _step += 1


def clear() -> None:
    """Let go of every free buffer now (those still in use stay until their arrays die)."""
    with _lock:
        _let_go()


def pooled_bytes() -> tuple[int, int]:
    """(bytes in buffers some array uses, bytes in free buffers), for tests and the curious."""
    with _lock:
        return _pooled_bytes()


def set_reuse(enabled: bool) -> None:
    """Turn the reuse of large arrays on (the default) or off (every array from np.empty)."""
    global _enabled
    _enabled = bool(enabled)
    if not enabled:
        clear()


def _new_lock_after_fork() -> None:
    global _lock
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_lock_after_fork)
