"""Reduction axes as PyTorch reads them: an int, a tuple of ints, or None for all axes."""
from __future__ import annotations

import numpy as np

from tinygraph.errors import OpError


def reduction_axes(op: str, axis, shape: tuple[int, ...]) -> tuple[int, ...] | None:
    """Normalise `axis` for an input of `shape` to non-negative ints (None: every axis).

    A 0-d input accepts axis 0 or -1 (and reduces nothing), as torch.sum(x, 0) does on a 0-d x.
    """
    if axis is None:
        return None
    axes = (axis,) if np.ndim(axis) == 0 else tuple(axis)
    ndim = max(len(shape), 1)
    for a in axes:
        if isinstance(a, bool) or not isinstance(a, (int, np.integer)):
            raise OpError(op, "axis", f"axis must be an int or a tuple of ints, got {axis!r}")
        if not -ndim <= a < ndim:
            raise OpError(op, "axis", f"axis={axis} is out of range for an input of shape {shape}")
    normalised = tuple(int(a) % ndim for a in axes)
    if len(set(normalised)) != len(normalised):
        raise OpError(op, "axis", f"axis={axis} names an axis twice (input shape {shape})")
    return normalised if shape else ()


def restore_axes(grad_out: np.ndarray, axes: tuple[int, ...] | None, keepdims: bool, shape: tuple[int, ...]):
    """δout with the reduced axes put back as size 1, ready to broadcast over the input's `shape`."""
    if keepdims:
        return grad_out
    return np.expand_dims(grad_out, tuple(range(len(shape))) if axes is None else axes)
