"""Undo NumPy broadcasting on a gradient — in one place, for every op that broadcasts."""
from __future__ import annotations

import numpy as np


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> tuple[np.ndarray, tuple[int, ...]]:
    """Sum `grad` down to `shape`, the shape of the input that NumPy broadcast.

    Broadcasting copied the input along new leading axes and along axes where it had size 1;
    each copy received its own gradient, so the input's gradient is their sum. Returns the
    summed gradient and the axes of `grad` that were summed (empty when nothing was).
    Raises ValueError when `shape` could not have been broadcast to `grad.shape`.
    """
    if grad.shape == shape:
        return grad, ()
    axes = unbroadcast_axes(grad.shape, shape)
    return grad.sum(axis=axes, keepdims=True).reshape(shape), axes


def unbroadcast_axes(grad_shape: tuple[int, ...], shape: tuple[int, ...]) -> tuple[int, ...]:
    """The axes of a `grad_shape` gradient that summing it down to `shape` adds up (ValueError if none can)."""
    lead = len(grad_shape) - len(shape)
    if lead < 0 or any(n != 1 and n != g for n, g in zip(shape, grad_shape[lead:])):
        raise ValueError(f"a gradient of shape {tuple(grad_shape)} cannot be summed down to shape {tuple(shape)}")
    return tuple(range(lead)) + tuple(lead + i for i, n in enumerate(shape) if n == 1 and grad_shape[lead + i] != 1)
