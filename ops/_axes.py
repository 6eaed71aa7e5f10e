"""Dimensions as PyTorch reads them: `dim` an int, a tuple of ints, or None for all; `axis` an alias."""
from __future__ import annotations

import numpy as np

from tinygraph.errors import OpError


def reduction_axes(op: str, dim, shape: tuple[int, ...]) -> tuple[int, ...] | None:
    """Normalise `dim` for an input of `shape` to non-negative ints (None: every axis).

    A 0-d input accepts dim 0 or -1 (and reduces nothing), as torch.sum(x, 0) does on a 0-d x.
    """
    if dim is None:
        return None
    axes = (dim,) if np.ndim(dim) == 0 else tuple(dim)
    ndim = max(len(shape), 1)
    for a in axes:
        if isinstance(a, bool) or not isinstance(a, (int, np.integer)):
            raise OpError(op, "dim", f"dim must be an int or a tuple of ints, got {dim!r}")
        if not -ndim <= a < ndim:
            raise OpError(op, "dim", f"dim={dim} is out of range for an input of shape {shape}")
    normalised = tuple(int(a) % ndim for a in axes)
    if len(set(normalised)) != len(normalised):
        raise OpError(op, "dim", f"dim={dim} names an axis twice (input shape {shape})")
    return normalised if shape else ()


def one_axis(op: str, dim, shape: tuple[int, ...], extra: int = 0) -> int:
    """One dim as a non-negative int, for an input of `shape` (`extra` more slots: unsqueeze, stack)."""
    ndim = max(len(shape) + extra, 1)
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        raise OpError(op, "dim", f"dim must be an int, got {dim!r} (input shape {shape})")
    if not -ndim <= dim < ndim:
        raise OpError(op, "dim", f"dim={dim} is out of range for an input of shape {shape}")
    return int(dim) % ndim


def restore_axes(grad_out: np.ndarray, axes: tuple[int, ...] | None, keepdim: bool, shape: tuple[int, ...]):
    """δout with the reduced axes put back as size 1, ready to broadcast over the input's `shape`."""
    if keepdim:
        return grad_out
    return np.expand_dims(grad_out, tuple(range(len(shape))) if axes is None else axes)


def dim_alias(op: str, dim, keepdim, axis, keepdims) -> tuple:
    """PyTorch's (dim, keepdim), also given as NumPy's (axis, keepdims); naming both is an error."""
    if axis is not None:
        if dim is not None:
            raise TypeError(f"{op}(): got both dim={dim!r} and its alias axis={axis!r}")
        dim = axis
    if keepdims is not None:
        if keepdim is not None:
            raise TypeError(f"{op}(): got both keepdim={keepdim!r} and its alias keepdims={keepdims!r}")
        keepdim = keepdims
    return dim, bool(keepdim)


def share_among_extremes(grad_out: np.ndarray, x: np.ndarray, extreme: np.ndarray, axes, keepdim: bool,
                         ) -> np.ndarray:
    """δx for a max or min over `axes`: δout goes to the elements equal to the extreme, split evenly among ties."""
    winners = x == restore_axes(extreme, axes, keepdim, x.shape)
    ties = winners.sum(axis=axes, keepdims=True)
    return restore_axes(grad_out, axes, keepdim, x.shape) * winners / ties.astype(grad_out.dtype)


def accumulating(dtype) -> np.dtype:
    """The dtype a reduction of `dtype` values accumulates in: float32 for float16, as PyTorch's CPU
    kernels do (a float16 sum of 65,505 ones is inf), the dtype itself otherwise."""
    dtype = np.dtype(dtype)
    return np.dtype(np.float32) if dtype == np.float16 else dtype
