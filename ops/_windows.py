"""Sliding windows, shared by conv2d and maxpool: `windows` (a strided view), `im2col`, and their adjoints.

A window op reads, for every output position (u, v) and kernel offset (i, j), the input element
X[u·stride + i, v·stride + j]. `windows` exposes all of them at once without copying; `col2im` is
its adjoint: it adds each window's gradient back onto the elements that window was read from.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from tinygraph.errors import OpError


def pair(value, op: str, arg: str, *, minimum: int, shapes: Callable[[], str]) -> tuple[int, int]:
    """An int or a pair of ints, checked to be >= minimum, as (rows, cols).

    `shapes()` describes the inputs for the error message; it is only called when raising.
    """
    if type(value) is int and value >= minimum:      # the common case, without building a message
        return value, value
    values = (value, value) if np.ndim(value) == 0 else tuple(value)
    if len(values) != 2 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
        raise OpError(op, arg, f"{arg} must be an int or a pair of ints, got {value!r} ({shapes()})")
    if min(values) < minimum:
        raise OpError(op, arg, f"{arg} must be >= {minimum}, got {value!r} ({shapes()})")
    return int(values[0]), int(values[1])


def output_size(op: str, shape: tuple[int, ...], kernel: tuple[int, int], stride: tuple[int, int],
                what: Callable[[], str]) -> tuple[int, int]:
    """(Ho, Wo) = ((H − KH) // stride + 1, ...) for an input whose last two axes are (H, W).

    `what()` describes the input for the OpError raised when the window does not fit.
    """
    (height, width), (kh, kw) = shape[-2:], kernel
    if kh > height or kw > width:
        raise OpError(op, None, f"the {kh}×{kw} window is larger than {what()}")
    return (height - kh) // stride[0] + 1, (width - kw) // stride[1] + 1


def windows(x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int]) -> np.ndarray:
    """View (N, C, H, W) as (N, C, Ho, Wo, KH, KW): element [n, c, u, v, i, j] is x[n, c, u·sh + i, v·sw + j].

    A read-only strided view, no copy, built directly from x's strides (sliding_window_view's
    argument checks cost more than a whole small convolution; see docs/performance.md).
    """
    n, channels, height, width = x.shape
    (kh, kw), (sh, sw) = kernel, stride
    shape = (n, channels, (height - kh) // sh + 1, (width - kw) // sw + 1, kh, kw)
    step_n, step_c, step_h, step_w = x.strides
    strides = (step_n, step_c, step_h * sh, step_w * sw, step_h, step_w)
    if x.flags.c_contiguous:
        view = np.ndarray(shape, x.dtype, buffer=x, strides=strides)
        view.flags.writeable = False
        return view
    return np.lib.stride_tricks.as_strided(x, shape, strides, writeable=False)


def im2col(x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int]) -> np.ndarray:
    """(N, C·KH·KW, Ho·Wo): column (u, v) of sample n is the window x[n, :, u·sh:u·sh+KH, v·sw:v·sw+KW].

    Ordered so that W (F, C·KH·KW) @ im2col(x)[n] is the convolution of sample n, already in
    (F, Ho·Wo) order. A copy: the windows overlap, and the product needs them side by side.
    """
    n, channels = x.shape[:2]
    kh, kw = kernel
    view = windows(x, kernel, stride)                       # (N, C, Ho, Wo, KH, KW), no copy
    out_h, out_w = view.shape[2:4]
    cols = np.empty((n, channels, kh, kw, out_h, out_w), dtype=x.dtype)
    np.copyto(cols, view.transpose(0, 1, 4, 5, 2, 3))
    return cols.reshape(n, channels * kh * kw, out_h * out_w)


def col2im(grad_cols: np.ndarray, shape: tuple[int, ...], kernel: tuple[int, int],
           stride: tuple[int, int]) -> np.ndarray:
    """The adjoint of `im2col`: add each column's gradient back onto the window it was read from."""
    n, channels = shape[:2]
    kh, kw = kernel
    out_h, out_w = (shape[2] - kh) // stride[0] + 1, (shape[3] - kw) // stride[1] + 1
    grad_windows = grad_cols.reshape(n, channels, kh, kw, out_h, out_w).transpose(0, 1, 4, 5, 2, 3)
    return add_windows(grad_windows, shape, stride)


def add_windows(grad_windows: np.ndarray, shape: tuple[int, ...], stride: tuple[int, int]) -> np.ndarray:
    """The adjoint of `windows`: sum grad_windows (N, C, Ho, Wo, KH, KW) back onto an input of `shape`.

    Loops over the KH·KW kernel offsets only; each step adds a whole (N, C, Ho, Wo) block, so
    overlapping windows accumulate and rows no window reached stay zero.
    """
    _, _, out_h, out_w, kh, kw = grad_windows.shape
    sh, sw = stride
    grad = np.zeros(shape, dtype=grad_windows.dtype)
    for i in range(kh):
        for j in range(kw):
            grad[:, :, i:i + sh * (out_h - 1) + 1:sh, j:j + sw * (out_w - 1) + 1:sw] += grad_windows[:, :, :, :, i, j]
    return grad
