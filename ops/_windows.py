"""Sliding windows, shared by conv2d and the pools: `windows` (a strided view) and its adjoint `add_windows`.

A window op reads, for every output position (u, v) and kernel offset (i, j), the input element
X[u·stride + i·dilation, v·stride + j·dilation] (dilation 1: a dense window). `windows` exposes all
of them at once without copying; `add_windows` is its adjoint: it adds each window's gradient back
onto the elements that window was read from. conv2d's window matrices (im2col and the others) are
in _im2col.py.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from tinygraph import buffers
from tinygraph.errors import OpError


def pair(value, op: str, arg: str, *, minimum: int, shapes: Callable[[], str]) -> tuple[int, int]:
    """An int or a pair of ints, checked to be >= minimum, as (rows, cols).

    `shapes()` describes the inputs for the error message; it is only called when raising.
    """
    if type(value) is int and value >= minimum:      # the common cases, without building a message
        return value, value
    if type(value) is tuple and len(value) == 2 and type(value[0]) is type(value[1]) is int \
            and min(value) >= minimum:                 # as nn.Conv2d passes them
        return value
    values = (value, value) if np.ndim(value) == 0 else tuple(value)
    if len(values) != 2 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
        raise OpError(op, arg, f"{arg} must be an int or a pair of ints, got {value!r} ({shapes()})")
    if min(values) < minimum:
        raise OpError(op, arg, f"{arg} must be >= {minimum}, got {value!r} ({shapes()})")
    return int(values[0]), int(values[1])


def output_size(op: str, shape: tuple[int, ...], kernel: tuple[int, int], stride: tuple[int, int],
                what: Callable[[], str], dilation: tuple[int, int] = (1, 1)) -> tuple[int, int]:
    """(Ho, Wo) = ((H − span) // stride + 1, ...), span = dilation·(KH − 1) + 1, for an input (..., H, W).

    `what()` describes the input for the OpError raised when the window does not fit.
    """
    (height, width), (kh, kw) = shape[-2:], span(kernel, dilation)
    if kh > height or kw > width:
        spanned = "" if dilation == (1, 1) else f" (kernel {kernel[0]}×{kernel[1]}, dilation {dilation})"
        raise OpError(op, None, f"the {kh}×{kw} window{spanned} is larger than {what()}")
    return (height - kh) // stride[0] + 1, (width - kw) // stride[1] + 1


def span(kernel: tuple[int, int], dilation: tuple[int, int]) -> tuple[int, int]:
    """How many rows and columns of the input one dilated window covers: dilation·(K − 1) + 1."""
    return dilation[0] * (kernel[0] - 1) + 1, dilation[1] * (kernel[1] - 1) + 1


def windows(x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int],
            dilation: tuple[int, int] = (1, 1)) -> np.ndarray:
    """View (N, C, H, W) as (N, C, Ho, Wo, KH, KW): element [n, c, u, v, i, j] is x[n, c, u·sh + i·dh, v·sw + j·dw].

    A read-only strided view, no copy, built directly from x's strides (sliding_window_view's
    argument checks cost more than a whole small convolution; see docs/performance.md).
    """
    n, channels, height, width = x.shape
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    span_h, span_w = span(kernel, dilation)
    shape = (n, channels, (height - span_h) // sh + 1, (width - span_w) // sw + 1, kh, kw)
    step_n, step_c, step_h, step_w = x.strides
    return strided_view(x, shape, (step_n, step_c, step_h * sh, step_w * sw, step_h * dh, step_w * dw))


def strided_view(x: np.ndarray, shape: tuple[int, ...], strides: tuple[int, ...]) -> np.ndarray:
    """A read-only view of x's memory with these shape and strides (as_strided, cheaper on a contiguous x)."""
    if x.flags.c_contiguous:
        view = np.ndarray(shape, x.dtype, buffer=x, strides=strides)
        view.flags.writeable = False
        return view
    return np.lib.stride_tricks.as_strided(x, shape, strides, writeable=False)


def add_windows(grad_windows: np.ndarray, shape: tuple[int, ...], stride: tuple[int, int],
                dilation: tuple[int, int] = (1, 1)) -> np.ndarray:
    """The adjoint of `windows`: sum grad_windows (N, C, Ho, Wo, KH, KW) back onto an input of `shape`.

    Loops over the KH·KW kernel offsets only; each step adds a whole (N, C, Ho, Wo) block, so
    overlapping windows accumulate and rows no window reached stay zero. The sums are laid out as
    grad_windows is: where its channels are innermost in memory (conv2d's rows: _im2col.row2im), an
    (N, C, H, W) view of (N, H, W, C) memory, so that each addition runs along C, not along rows of Wo.
    """
    _, channels, out_h, out_w, kh, kw = grad_windows.shape
    (sh, sw), (dh, dw) = stride, dilation
    if channels > 1 and abs(grad_windows.strides[1]) < abs(grad_windows.strides[3]):
        n, _, height, width = shape
        grad = buffers.zeros((n, height, width, channels), grad_windows.dtype).transpose(0, 3, 1, 2)
    else:
        grad = buffers.zeros(shape, grad_windows.dtype)
    for i in range(kh):
        for j in range(kw):
            top, left = i * dh, j * dw                    # where offset (i, j) of window (0, 0) sits
            grad[:, :, top:top + sh * (out_h - 1) + 1:sh, left:left + sw * (out_w - 1) + 1:sw] += \
                grad_windows[:, :, :, :, i, j]
    return grad


# ----------------------------------------------------------------- pooling: padding and ceil_mode

def pool_options(op: str, x: np.ndarray, size, stride, padding, dilation=1) -> tuple[tuple[int, int], ...]:
    """Check a pool's input and options; (kernel, stride, padding, dilation) as pairs. stride None = size."""
    if x.ndim != 4:
        raise OpError(op, "x", f"input x must be 4-D (N, C, H, W), got shape {x.shape}")

    def shapes():
        return f"input x {x.shape}"
    kernel = pair(size, op, "size", minimum=1, shapes=shapes)
    stride = kernel if stride is None else pair(stride, op, "stride", minimum=1, shapes=shapes)
    padding = pair(padding, op, "padding", minimum=0, shapes=shapes)
    dilation = pair(dilation, op, "dilation", minimum=1, shapes=shapes)
    if padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        raise OpError(op, "padding", f"padding {padding} must be at most half the window {kernel} "
                      f"(a window of padding alone has nothing to pool; {shapes()})")
    return kernel, stride, padding, dilation


def pooled_size(op: str, shape: tuple[int, ...], kernel: tuple[int, int], stride: tuple[int, int],
                padding: tuple[int, int], dilation: tuple[int, int], ceil_mode: bool):
    """((Ho, Wo), shape of the padded input the windows read), with PyTorch's rule for ceil_mode.

    Ho = ⌊(H + 2·pad − span) / s⌋ + 1, or ⌈…⌉ + 1 with ceil_mode, less one if that last window would
    start in the bottom padding. The padded shape grows past H + 2·pad when a ceil_mode window overhangs.
    """
    out, padded = [], list(shape[:2])
    for axis, (size, k, s, p) in enumerate(zip(shape[2:], span(kernel, dilation), stride, padding)):
        room = size + 2 * p - k
        if room < 0:
            raise OpError(op, None, f"the {kernel[0]}×{kernel[1]} window (dilation {dilation}) is larger than "
                          f"input x of shape {tuple(shape)} padded by {padding}")
        count = (-(-room // s) if ceil_mode else room // s) + 1
        if ceil_mode and (count - 1) * s >= size + p:
            count -= 1
        out.append(count)
        padded.append(max(size + 2 * p, (count - 1) * s + k))
    return tuple(out), tuple(padded)


def pad_to(x: np.ndarray, padding: tuple[int, int], shape: tuple[int, ...], value: float) -> np.ndarray:
    """x with `padding` rows/columns of `value` before its last two axes' data and enough after to reach `shape`."""
    if shape == x.shape:
        return x
    (ph, pw), (height, width) = padding, x.shape[2:]
    if value == -np.inf and x.dtype.kind != "f":
        value = np.iinfo(x.dtype).min
    return np.pad(x, ((0, 0), (0, 0), (ph, shape[2] - height - ph), (pw, shape[3] - width - pw)),
                  constant_values=value)


def crop(grad: np.ndarray, padding: tuple[int, int], shape: tuple[int, ...]) -> np.ndarray:
    """The adjoint of `pad_to`: the rows and columns of the unpadded input."""
    (ph, pw), (height, width) = padding, shape[2:]
    return grad[:, :, ph:ph + height, pw:pw + width]


# ----------------------------------------------------------------- rows of non-overlapping blocks

# The rows of a block are w values apart in a row-major (N, C, k·h, w) array, and NumPy runs one
# inner loop per row of w values when it pairs rows of different blocks' (w is 2 or 4 on a small
# CNN's maps: many loops of almost no work). Viewing each row as one opaque element of w·itemsize
# bytes, the copies that set a block's rows apart (and back together) are one long loop each, and
# the arithmetic then runs on contiguous arrays.
def rows_apart(a: np.ndarray, size: int) -> list[np.ndarray]:
    """[a[:, :, r::size] for r < size] as contiguous arrays, for a C-contiguous a of shape (N, C, size·h, w)."""
    n, channels, height, width = a.shape
    row = np.dtype((np.void, width * a.itemsize))
    rows = a.view(row)
    parts = []
    for r in range(size):
        part = buffers.empty((n, channels, height // size, width), a.dtype)
        part.view(row)[...] = rows[:, :, r::size]
        parts.append(part)
    return parts


def rows_together(parts: list[np.ndarray]) -> np.ndarray:
    """The adjoint of `rows_apart`: (N, C, size·h, w) with parts[r]'s rows at rows r, r + size, ..."""
    n, channels, height, width = parts[0].shape
    dtype = np.result_type(*parts)
    row = np.dtype((np.void, width * dtype.itemsize))
    a = buffers.empty((n, channels, len(parts) * height, width), dtype)
    rows = a.view(row)
    for r, part in enumerate(parts):
        rows[:, :, r::len(parts)] = np.ascontiguousarray(part, dtype).view(row)
    return a
