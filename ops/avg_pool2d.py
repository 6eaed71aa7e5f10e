"""Average pooling (LeNet-5's subsampling): each output is the mean of its window, so backward shares δ evenly."""
import numpy as np

from tinygraph.op import Op
from tinygraph.ops._windows import add_windows, crop, pad_to, pool_options, pooled_size, windows
from tinygraph.registry import register_op


@register_op("avg_pool2d", forward="{out} = Σ over each window of {x} / window size",
             backward="δ{x} = Σ over the windows holding it of δ{out} / window size")
class AvgPool2d(Op):
    """P[n,c,u,v] = Σ_ij X[n,c,u·s+i,v·s+j] / D[u,v] on NCHW input zero-padded by `padding`.

    D counts the window's elements inside the padded input (count_include_pad=True, PyTorch's
    default) or inside x alone; a ceil_mode window hanging past the padding counts only what it covers.
    """

    batched = ("x",)          # each sample pools on its own: the batch may be split

    @staticmethod
    def forward(ctx, x: np.ndarray, *, size=2, stride=None, padding=0, ceil_mode=False,
                count_include_pad=True) -> np.ndarray:
        kernel, stride, padding, _ = pool_options("avg_pool2d", x, size, stride, padding)
        (out_h, out_w), padded = pooled_size("avg_pool2d", x.shape, kernel, stride, padding, (1, 1), ceil_mode)
        X = pad_to(x, padding, padded, 0)
        sums = windows(X, kernel, stride).sum(axis=(-2, -1))          # Σ_ij X-window, (N, C, Ho, Wo)
        D = _divisors(x.shape, kernel, stride, padding, padded, count_include_pad)
        ctx.x_shape, ctx.padded_shape, ctx.kernel, ctx.stride, ctx.padding = x.shape, padded, kernel, stride, padding
        ctx.save_for_backward(D)
        return (sums / D).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad_out):
        """Each element of window (u, v) gets δP[u, v] / D[u, v]; overlapping windows add up."""
        (D,) = ctx.saved
        share = (grad_out / D).astype(grad_out.dtype, copy=False)     # (N, C, Ho, Wo)
        kh, kw = ctx.kernel
        grad_windows = np.broadcast_to(share[..., np.newaxis, np.newaxis], (*share.shape, kh, kw))
        grad_X = add_windows(grad_windows, ctx.padded_shape, ctx.stride)
        return (crop(grad_X, ctx.padding, ctx.x_shape),)


def _divisors(x_shape, kernel, stride, padding, padded, count_include_pad) -> np.ndarray:
    """D[u, v]: how many elements of window (u, v) count, as the sum of a 0/1 map of what counts."""
    (ph, pw), (height, width) = padding, x_shape[2:]
    counted = np.zeros((1, 1, *padded[2:]))
    if count_include_pad:
        counted[:, :, :height + 2 * ph, :width + 2 * pw] = 1     # the padding counts, the ceil_mode overhang does not
    else:
        counted[:, :, ph:ph + height, pw:pw + width] = 1
    return windows(counted, kernel, stride).sum(axis=(-2, -1))[0, 0]
