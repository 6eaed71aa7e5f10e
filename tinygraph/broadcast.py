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
    lead = grad.ndim - len(shape)
    if lead < 0 or any(n != 1 and n != g for n, g in zip(shape, grad.shape[lead:])):
        raise ValueError(f"a gradient of shape {grad.shape} cannot be summed down to shape {shape}")
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and grad.shape[lead + i] != 1
    )
    return grad.sum(axis=axes, keepdims=True).reshape(shape), axes
