"""conv2d's windows as matrices: three layouts of the same windows, each with its adjoint, and which to use.

conv2d reaches them through the layout objects of ops/_conv_layouts.py (windows, weight order,
output, adjoint); this file holds the copies and their adjoints themselves.

Z = W · X-window (section 2.1) for every window is one matrix product once the windows stand side
by side in a matrix. Building that matrix is a copy, and its adjoint (eq. 3's δ back onto X) a sum
of shifted blocks; NumPy runs both as one inner loop per contiguous run, and a short run (4
elements on a 4×4 map) costs as much as a long one. So conv2d picks, by the shapes, the layout
whose runs are long (`window_layout`):

- "columns", im2col: window (u, v) of sample n is column u·Wo + v of matrix n; runs of Wo.
- "wide", im2col_wide: the same with every row of windows as wide as the padded input W (stride 1);
  runs of Ho·W, for W/Wo more columns to multiply.
- "rows", im2row: window (u, v) of sample n is row (n, u, v), its elements ordered (i, j, c), from
  a channels-last copy of x; runs of KW·C to copy and of C to add back, one product for the batch.
"""
from __future__ import annotations

import numpy as np

from tinygraph import buffers
from tinygraph.ops._windows import add_windows, span, strided_view, windows


def window_layout(x_shape: tuple[int, ...], w_shape: tuple[int, ...], stride: tuple[int, int],
                  dilation: tuple[int, int], groups: int) -> str:
    """"rows", "wide" or "columns" for a padded x (N, C, H, W) and filters w (F, C/groups, KH, KW).

    Rows when C > Wo (small maps with many channels: their runs are the longest). Else wide, for
    stride 1, when the windows' C·KH·KW values per position outnumber the F filters: the wider
    product and the output copies it costs are then smaller than the im2col copies it saves.
    """
    channels, width = x_shape[1], x_shape[3]
    filters, kernel = w_shape[0], w_shape[2:]
    out_w = (width - span(kernel, dilation)[1]) // stride[1] + 1
    if groups == 1 and channels > out_w:
        return "rows"
    if stride == (1, 1) and w_shape[1] * kernel[0] * kernel[1] >= filters:
        return "wide"
    return "columns"


def zero_pad(x: np.ndarray, padding: tuple[int, int], *, channels_last: bool = False,
             spare_row: bool = False) -> np.ndarray:
    """x (N, C, H, W) with `padding` rows and columns of zeros on each side; channels_last: laid out (N, H', W', C).

    spare_row: one more zero row at the bottom, for im2col_wide's last windows to run into. Without
    any of these, x itself. The padded copy comes from the buffer pool, so a training step does not
    fault a fresh array in (np.pad also costs more in Python than the copy).
    """
    (ph, pw), (n, channels, height, width) = padding, x.shape
    if not (ph or pw or channels_last or spare_row):
        return x
    if channels_last:
        padded = buffers.zeros((n, height + 2 * ph, width + 2 * pw, channels), x.dtype)
        padded[:, ph:ph + height, pw:pw + width, :] = x.transpose(0, 2, 3, 1)
    else:
        padded = buffers.zeros((n, channels, height + 2 * ph + spare_row, width + 2 * pw), x.dtype)
        padded[:, :, ph:ph + height, pw:pw + width] = x
    return padded


# ----------------------------------------------------------------- "columns"

def im2col(x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int],
           dilation: tuple[int, int] = (1, 1)) -> np.ndarray:
    """(N, C·KH·KW, Ho·Wo): column (u, v) of sample n is the window x[n, :, u·sh + i·dh, v·sw + j·dw] over (i, j).

    Ordered so that W (F, C·KH·KW) @ im2col(x)[n] is the convolution of sample n, already in
    (F, Ho·Wo) order. A copy: the windows overlap, and the product needs them side by side.
    """
    n, channels = x.shape[:2]
    kh, kw = kernel
    view = windows(x, kernel, stride, dilation)             # (N, C, Ho, Wo, KH, KW), no copy
    out_h, out_w = view.shape[2:4]
    cols = buffers.empty((n, channels, kh, kw, out_h, out_w), x.dtype)
    np.copyto(cols, view.transpose(0, 1, 4, 5, 2, 3))
    return cols.reshape(n, channels * kh * kw, out_h * out_w)


def col2im(grad_cols: np.ndarray, shape: tuple[int, ...], kernel: tuple[int, int],
           stride: tuple[int, int], dilation: tuple[int, int] = (1, 1)) -> np.ndarray:
    """The adjoint of `im2col`: add each column's gradient back onto the window it was read from."""
    n, channels = shape[:2]
    kh, kw = kernel
    span_h, span_w = span(kernel, dilation)
    out_h, out_w = (shape[2] - span_h) // stride[0] + 1, (shape[3] - span_w) // stride[1] + 1
    grad_windows = grad_cols.reshape(n, channels, kh, kw, out_h, out_w).transpose(0, 1, 4, 5, 2, 3)
    return add_windows(grad_windows, shape, stride, dilation)


# ----------------------------------------------------------------- "wide"

def im2col_wide(x: np.ndarray, kernel: tuple[int, int], dilation: tuple[int, int], out_h: int) -> np.ndarray:
    """(N, C·KH·KW, Ho·W): im2col for stride 1, each row of windows as wide as x (N, C, H + 1, W) (last row spare).

    Column u·W + v is the window at (u, v) for v < Wo; for v ≥ Wo it is a window that wraps onto
    the next row, whose product the caller drops (and whose δ it sets to zero). Row (c, i, j) of
    sample n is then one contiguous run of x[n, c], from offset i·dh·W + j·dw; the last run ends
    inside the spare row.
    """
    n, channels, _, width = x.shape
    (kh, kw), (dh, dw) = kernel, dilation
    step_n, step_c, step_h, step_w = x.strides
    view = strided_view(x, (n, channels, kh, kw, out_h * width), (step_n, step_c, step_h * dh, step_w * dw, step_w))
    cols = buffers.empty(view.shape, x.dtype)
    np.copyto(cols, view)
    return cols.reshape(n, channels * kh * kw, out_h * width)


def col2im_wide(grad_cols: np.ndarray, shape: tuple[int, ...], kernel: tuple[int, int],
                dilation: tuple[int, int]) -> np.ndarray:
    """The adjoint of `im2col_wide`: δ of x (N, C, H + 1, W) from wide columns whose wrapped windows carry 0."""
    n, channels, height, width = shape
    (kh, kw), (dh, dw) = kernel, dilation
    grad = buffers.zeros(shape, grad_cols.dtype)
    planes = grad.reshape(n, channels, height * width)           # each (H + 1)·W plane as one row
    length = grad_cols.shape[-1]
    grad_runs = grad_cols.reshape(n, channels, kh, kw, length)
    for i in range(kh):
        for j in range(kw):
            start = i * dh * width + j * dw
            planes[:, :, start:start + length] += grad_runs[:, :, i, j]
    return grad


# ----------------------------------------------------------------- "rows"

def im2row(x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int],
           dilation: tuple[int, int] = (1, 1)) -> np.ndarray:
    """(N·Ho·Wo, KH·KW·C) from a channels-last x (N, H, W, C): row (n, u, v) is window (u, v) of sample n, as (i, j, c).

    A window's KW neighbouring columns of C channels are one contiguous run of x (dilation 1).
    """
    n, height, width, channels = x.shape
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    span_h, span_w = span(kernel, dilation)
    out_h, out_w = (height - span_h) // sh + 1, (width - span_w) // sw + 1
    shape = (n, out_h, out_w, kh, kw, channels)
    step_n, step_h, step_w, step_c = x.strides
    view = strided_view(x, shape, (step_n, step_h * sh, step_w * sw, step_h * dh, step_w * dw, step_c))
    rows = buffers.empty(shape, x.dtype)
    np.copyto(rows, view)
    return rows.reshape(n * out_h * out_w, kh * kw * channels)


def row2im(grad_rows: np.ndarray, shape: tuple[int, ...], out_shape: tuple[int, int], kernel: tuple[int, int],
           stride: tuple[int, int], dilation: tuple[int, int] = (1, 1)) -> np.ndarray:
    """The adjoint of `im2row`: δ of x as an (N, C, H, W) view of channels-last memory, from rows (N·Ho·Wo, KH·KW·C)."""
    n, channels = shape[:2]
    grad_windows = grad_rows.reshape(n, *out_shape, *kernel, channels).transpose(0, 5, 1, 2, 3, 4)
    return add_windows(grad_windows, shape, stride, dilation)    # channels innermost: see add_windows
