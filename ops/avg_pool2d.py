"""Average pooling (LeNet-5's subsampling): each output is the mean of its window, so backward shares δ evenly."""
import numpy as np

from tinygraph import buffers
from tinygraph.op import Op, apply
from tinygraph.ops._windows import (add_windows, crop, pad_to, pool_options, pooled_size, rows_apart,
                                     rows_together, windows)
from tinygraph.ops.conv_transpose2d import ConvTranspose2d
from tinygraph.ops.pad import Pad
from tinygraph.parallel import Split, gradient_array
from tinygraph.registry import register_op
from tinygraph.ops._forward_mode import ByLinearity


@register_op("avg_pool2d", forward="{out} = Σ over each window of {x} / window size",
             backward="δ{x} = Σ over the windows holding it of δ{out} / window size")
class AvgPool2d(Op):
    """P[n,c,u,v] = Σ_ij X[n,c,u·s+i,v·s+j] / D[u,v] on NCHW input zero-padded by `padding`.

    D counts the window's elements inside the padded input (count_include_pad=True, PyTorch's
    default) or inside x alone; a ceil_mode window hanging past the padding counts only what it covers.
    """

    @staticmethod
    def forward(ctx, x: np.ndarray, *, size=2, stride=None, padding=0, ceil_mode=False,
                count_include_pad=True) -> np.ndarray:
        kernel, stride, padding, _ = pool_options("avg_pool2d", x, size, stride, padding)
        (out_h, out_w), padded = pooled_size("avg_pool2d", x.shape, kernel, stride, padding, (1, 1), ceil_mode)
        ctx.x_shape, ctx.kernel, ctx.tiles = x.shape, kernel, stride == kernel and padded == x.shape
        if ctx.tiles:                 # windows that tile x, as LeNet-5's subsampling: D is the window size
            return _pool_tiles(x, kernel, out_h, out_w)
        X = pad_to(x, padding, padded, 0)
        sums = windows(X, kernel, stride).sum(axis=(-2, -1))          # Σ_ij X-window, (N, C, Ho, Wo)
        D = _divisors(x.shape, kernel, stride, padding, padded, count_include_pad)
        ctx.padded_shape, ctx.stride, ctx.padding = padded, stride, padding
        ctx.save_for_backward(D)
        return (sums / D).astype(x.dtype, copy=False)

    jvp = ByLinearity()      # forward mode: linear in its floating inputs, so J·t = f(t)

    @staticmethod
    def backward(ctx, grad_out):
        """Each element of window (u, v) gets δP[u, v] / D[u, v]; overlapping windows add up."""
        if ctx.tiles:
            return (_unpool_tiles(ctx, grad_out),)
        (D,) = ctx.saved
        share = (grad_out / D).astype(grad_out.dtype, copy=False)     # (N, C, Ho, Wo)
        kh, kw = ctx.kernel
        grad_windows = np.broadcast_to(share[..., np.newaxis, np.newaxis], (*share.shape, kh, kw))
        grad_X = add_windows(grad_windows, ctx.padded_shape, ctx.stride)
        return (crop(grad_X, ctx.padding, ctx.x_shape),)

    @staticmethod
    def differentiable_backward(ctx, grad_out):
        """The rule above as ops: δP / D spread over each window by a transposed convolution with a kernel
        of ones, then the padding cut off and rows no window reached set to 0 (pad by negative amounts)."""
        (kh, kw), (N, C, H, W) = ctx.kernel, (len(grad_out), *ctx.x_shape[1:])    # N: the whole batch
        if ctx.tiles:
            D, stride, (ph, pw) = kh * kw, ctx.kernel, (0, 0)
        else:                         # D is the same for every sample: the first (or only) part's
            D, stride, (ph, pw) = ctx.saved[0].astype(grad_out.dtype), ctx.stride, ctx.padding
        share = (grad_out / D).reshape(N * C, 1, *grad_out.shape[2:])
        spread = apply(ConvTranspose2d, share, np.ones((1, 1, kh, kw), grad_out.dtype), stride=stride)
        reach_h, reach_w = spread.shape[2:]                     # (Ho − 1)·s + k rows of the padded input
        grad_x = apply(Pad, spread, pad=(-pw, W + pw - reach_w, -ph, H + ph - reach_h))
        return (grad_x.reshape(N, C, H, W),)

    split = Split(over="x")   # each sample pools on its own: the batch may be split (tinygraph/parallel.py)


def _divisors(x_shape, kernel, stride, padding, padded, count_include_pad) -> np.ndarray:
    """D[u, v]: how many elements of window (u, v) count, as the sum of a 0/1 map of what counts."""
    (ph, pw), (height, width) = padding, x_shape[2:]
    counted = np.zeros((1, 1, *padded[2:]))
    if count_include_pad:
        counted[:, :, :height + 2 * ph, :width + 2 * pw] = 1     # the padding counts, the ceil_mode overhang does not
    else:
        counted[:, :, ph:ph + height, pw:pw + width] = 1
    return windows(counted, kernel, stride).sum(axis=(-2, -1))[0, 0]


# Windows that tile the input (stride = size, no padding) are each element's only window, and
# summed separably: the columns of each window's rows first (strided views that NumPy runs as one
# loop), then the rows, set apart as contiguous arrays (rows_apart). A trailing row or column that
# fills no window is dropped, as in the general case.
def _pool_tiles(x: np.ndarray, kernel: tuple[int, int], out_h: int, out_w: int) -> np.ndarray:
    (kh, kw), X = kernel, x[:, :, :kernel[0] * out_h, :kernel[1] * out_w]
    row_sums = buffers.empty((len(x), x.shape[1], kh * out_h, out_w), x.dtype)     # Σ_j X[.., u·kh + i, v·kw + j]
    np.copyto(row_sums, X[..., 0::kw])
    for j in range(1, kw):
        row_sums += X[..., j::kw]
    rows = rows_apart(row_sums, kh)
    sums = rows[0]                                                                 # Σ_i of those
    for part in rows[1:]:
        sums += part
    if sums.dtype.kind != "f":
        return (sums / (kh * kw)).astype(x.dtype)
    sums /= kh * kw
    return sums


def _unpool_tiles(ctx, grad_P: np.ndarray) -> np.ndarray:
    """δX = δP / D at every element of its window, 0 on rows and columns that fill no window."""
    (kh, kw), (out_h, out_w) = ctx.kernel, grad_P.shape[2:]
    share = (grad_P / (kh * kw)).astype(grad_P.dtype, copy=False)
    grad_rows = rows_together([share] * kh)                                        # each window row's share
    grad_x = gradient_array(0, ctx.x_shape, grad_P.dtype)
    if ctx.x_shape[2] != kh * out_h or ctx.x_shape[3] != kw * out_w:
        grad_x[...] = 0
    for j in range(kw):
        np.copyto(grad_x[:, :, :kh * out_h, j:kw * out_w:kw], grad_rows)
    return grad_x
