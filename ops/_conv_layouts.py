"""conv2d's window layouts as objects, so that ops/conv2d.py states §2.1 and eqs. (1)-(3) once.

A layout stands the windows of the (padded) input side by side as matrices, and gives the four
things conv2d's equations need, in its own memory order:

    windows(X)        every window of X, as a stack of matrices (B, G, C/G·KH·KW, P): P windows each
    weight(w)         W (G, F/G, C/G·KH·KW): each filter as one row, its entries in the windows' order
    output(product)   the product W · windows (B, G, F/G, P) as Z (N, F, Ho, Wo), + b
    adjoint(δwindows) δ of the windows back onto the padded input: each window's δ added where it was read

and the reverse arrangements for backward (`grad_product`: δZ laid out as the product; `weight_grad`:
∂L/∂W back in w's order). Which layout is fastest depends on the shapes (`_im2col.window_layout`);
every one computes the same sums, and the tests force each on every case
(tests/test_conv_layouts_torch.py).

- Columns, the plain reference: im2col, window (u, v) of sample n as column u·Wo + v of matrix n;
  the adjoint is `add_windows`, the plain sum of shifted blocks. The product is Z in NCHW order.
- Wide: the same with every row of windows as wide as the padded input (stride 1): longer copies,
  and δZ is 0 at the windows that wrap onto the next row.
- Rows: window (u, v) of sample n as row (n, u, v) of one matrix for the whole batch, channels
  innermost. That matrix is stored (P, K), so `windows` is its transpose (`transposed = True`), and
  conv2d multiplies in the order that reads it as stored.
"""
from __future__ import annotations

import numpy as np

from tinygraph import buffers
from tinygraph.ops._im2col import col2im, col2im_wide, im2col, im2col_wide, im2row, row2im, zero_pad
from tinygraph.parallel import output_array


class Layout:
    """The windows of one convolution's input as matrices; subclasses lay them out."""

    name = ""
    # The windows matrix is the transpose of a C-ordered array: products read it as stored.
    transposed = False

    def __init__(self, x_shape: tuple[int, ...], w_shape: tuple[int, ...], stride: tuple[int, int],
                 padding: tuple[int, int], dilation: tuple[int, int], groups: int, out_size: tuple[int, int]):
        self.x_shape, self.w_shape, self.kernel = x_shape, w_shape, w_shape[2:]
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, groups
        self.out_size = out_size
        self.padded_shape = (x_shape[0], x_shape[1], x_shape[2] + 2 * padding[0], x_shape[3] + 2 * padding[1])
        self.window_size = w_shape[1] * w_shape[2] * w_shape[3]        # C/G·KH·KW values per window and group

    def pad(self, x: np.ndarray) -> np.ndarray:
        """x zero-padded, in the memory order `windows` reads (kept for backward, which rebuilds the windows)."""
        return zero_pad(x, self.padding)

    def windows(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def weight(self, w: np.ndarray) -> np.ndarray:
        """W (G, F/G, C/G·KH·KW): group g's filters, one per row, entries ordered (c, i, j)."""
        return w.reshape(self.groups, self.w_shape[0] // self.groups, self.window_size)

    def product_array(self, dtype) -> np.ndarray | None:
        """Where W · windows is written (None: a scratch array that `output` rearranges)."""
        return None

    def output(self, product: np.ndarray, b: np.ndarray | None) -> np.ndarray:
        raise NotImplementedError

    def grad_product(self, grad_Z: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def weight_grad(self, grad_W: np.ndarray) -> np.ndarray:
        """∂L/∂W (G, F/G, C/G·KH·KW) in w's shape."""
        return grad_W.reshape(self.w_shape)

    def adjoint(self, grad_windows: np.ndarray) -> np.ndarray:
        raise NotImplementedError


def _output(Z: np.ndarray, b) -> np.ndarray:
    """Z (N, F, Ho, Wo), a view of the product, copied into the op's output array with + b_f."""
    out = output_array(Z.shape, Z.dtype if b is None else np.result_type(Z, b))
    np.copyto(out, Z)
    if b is not None:                 # in place after the copy: a 3-operand strided add runs slower
        np.add(out, b[:, np.newaxis, np.newaxis], out=out)
    return out


class Columns(Layout):
    """im2col: window (u, v) of sample n as column u·Wo + v of matrix n, per group (the reference layout)."""

    name = "columns"

    def windows(self, X):
        N, G, (Ho, Wo) = len(X), self.groups, self.out_size
        return im2col(X, self.kernel, self.stride, self.dilation).reshape(N, G, self.window_size, Ho * Wo)

    def product_array(self, dtype):
        N, F, G, (Ho, Wo) = self.x_shape[0], self.w_shape[0], self.groups, self.out_size
        return output_array((N, F, Ho, Wo), dtype).reshape(N, G, F // G, Ho * Wo)   # the product is Z, NCHW

    def output(self, product, b):
        Z = product.reshape(self.x_shape[0], self.w_shape[0], *self.out_size)
        if b is not None:                         # + b_f, in place unless b's dtype promotes Z's
            Z = np.add(Z, b[:, np.newaxis, np.newaxis], out=Z if np.result_type(Z, b) == Z.dtype else None)
        return Z

    def grad_product(self, grad_Z):
        N, F, Ho, Wo = grad_Z.shape
        return grad_Z.reshape(N, self.groups, F // self.groups, Ho * Wo)

    def adjoint(self, grad_windows):
        N, G, K, P = grad_windows.shape
        return col2im(grad_windows.reshape(N, G * K, P), self.padded_shape, self.kernel,
                      self.stride, self.dilation)


class Wide(Columns):
    """im2col_wide (stride 1): each row of windows as wide as the padded input, W' columns; those past Wo wrap."""

    name = "wide"

    def __init__(self, *args):
        super().__init__(*args)
        n, channels, height, width = self.padded_shape
        self.padded_shape = (n, channels, height + 1, width)        # a spare zero row for the last windows

    def pad(self, x):
        return zero_pad(x, self.padding, spare_row=True)

    def windows(self, X):
        N, G, Ho = len(X), self.groups, self.out_size[0]
        return im2col_wide(X, self.kernel, self.dilation, Ho).reshape(N, G, self.window_size, Ho * X.shape[3])

    def product_array(self, dtype):
        return None

    def output(self, product, b):
        N, F, (Ho, Wo) = len(product), self.w_shape[0], self.out_size
        return _output(product.reshape(N, F, Ho, self.padded_shape[3])[..., :Wo], b)   # where no window wrapped

    def grad_product(self, grad_Z):
        N, F, Ho, Wo = grad_Z.shape
        width = self.padded_shape[3]
        grad_wide = buffers.zeros((N, F, Ho, width), grad_Z.dtype)      # 0 where a window wrapped
        grad_wide[..., :Wo] = grad_Z
        return grad_wide.reshape(N, self.groups, F // self.groups, Ho * width)

    def adjoint(self, grad_windows):
        N, G, K, P = grad_windows.shape
        return col2im_wide(grad_windows.reshape(N, G * K, P), self.padded_shape, self.kernel,
                           self.dilation)


class Rows(Layout):
    """im2row: window (u, v) of sample n as row (n, u, v) of one matrix, entries ordered (i, j, c); one group."""

    name = "rows"
    transposed = True

    def pad(self, x):
        return zero_pad(x, self.padding, channels_last=True)             # (N, H', W', C)

    def windows(self, X):
        rows = im2row(X, self.kernel, self.stride, self.dilation)       # (N·Ho·Wo, KH·KW·C)
        return rows.T[np.newaxis, np.newaxis]                           # (1, 1, KH·KW·C, N·Ho·Wo), a view

    def weight(self, w):
        return w.transpose(0, 2, 3, 1).reshape(1, self.w_shape[0], self.window_size)   # filter f as row f, (i, j, c)

    def output(self, product, b):
        N, F, (Ho, Wo) = self.x_shape[0], self.w_shape[0], self.out_size
        return _output(product.reshape(F, N, Ho, Wo).swapaxes(0, 1), b)    # copied into NCHW order

    def grad_product(self, grad_Z):
        N, F, Ho, Wo = grad_Z.shape
        grad_rows = buffers.empty((F, N, Ho * Wo), grad_Z.dtype)        # one row per filter, as Z was made
        np.copyto(grad_rows, grad_Z.reshape(N, F, Ho * Wo).swapaxes(0, 1))
        return grad_rows.reshape(1, 1, F, N * Ho * Wo)

    def weight_grad(self, grad_W):
        F, C, KH, KW = self.w_shape
        return np.ascontiguousarray(grad_W.reshape(F, KH, KW, C).transpose(0, 3, 1, 2))

    def adjoint(self, grad_windows):
        # δ of the rows (N·Ho·Wo, KH·KW·C), C-ordered as conv2d computes it for a transposed layout
        return row2im(grad_windows[0, 0].T, self.padded_shape, self.out_size, self.kernel, self.stride,
                      self.dilation)


LAYOUTS = {layout.name: layout for layout in (Columns, Wide, Rows)}
