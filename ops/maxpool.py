"""Max-pooling, section 2.3, with the argmax kept so backward routes each gradient to one element."""
import numpy as np

from tinygraph.errors import OpError
from tinygraph.op import Op
from tinygraph.ops._parallel import over_rows
from tinygraph.ops._windows import col2im, output_size, pair, windows
from tinygraph.registry import register_op


@register_op("maxpool", forward="{out} = max over each window of {x}",
             backward="δ{x} = δ{out} at each window's (i*, j*), 0 elsewhere (§3.3)")
class MaxPool(Op):
    """P[n,c,u,v] = max_ij A[n,c,u·s+i,v·s+j] on NCHW input; `stride` defaults to `size`.

    Trailing rows and columns that do not fill a window are dropped (as 2×2 blocks on an odd side).
    """

    @staticmethod
    def forward(ctx, x: np.ndarray, *, size=2, stride=None) -> np.ndarray:
        if x.ndim != 4:
            raise OpError("maxpool", "x", f"input x must be 4-D (N, C, H, W), got shape {x.shape}")
        kernel = pair(size, "maxpool", "size", minimum=1, shapes=lambda: f"input x {x.shape}")
        stride = kernel if stride is None else pair(stride, "maxpool", "stride", minimum=1,
                                                    shapes=lambda: f"input x {x.shape}")
        out_h, out_w = output_size("maxpool", x.shape, kernel, stride, lambda: f"input x of shape {x.shape}")
        ctx.x_shape, ctx.kernel, ctx.stride = x.shape, kernel, stride
        if kernel == stride == (2, 2):
            return _pool_2x2(ctx, x, out_h, out_w)
        n, channels = x.shape[:2]
        flat = windows(x, kernel, stride).reshape(n, channels, out_h, out_w, kernel[0] * kernel[1])
        # argmax returns the FIRST maximum in row-major window order: the document's (i*, j*), even on ties.
        best = flat.argmax(axis=-1)[..., np.newaxis]
        ctx.save_for_backward(best)
        return np.take_along_axis(flat, best, axis=-1)[..., 0]

    @staticmethod
    def backward(ctx, grad_out):
        """§3.3: δA = δP at (i*, j*) of each window and 0 elsewhere; overlapping windows accumulate."""
        (kh, kw), (sh, sw) = ctx.kernel, ctx.stride
        if (kh, kw) == (sh, sw) == (2, 2):
            return (_unpool_2x2(ctx, grad_out),)
        (best,) = ctx.saved
        n, channels, out_h, out_w = grad_out.shape
        grad_windows = np.zeros((n, channels, out_h, out_w, kh * kw), dtype=grad_out.dtype)
        np.put_along_axis(grad_windows, best, grad_out[..., np.newaxis], axis=-1)
        grad_windows = grad_windows.reshape(n, channels, out_h, out_w, kh, kw)
        if (sh, sw) != (kh, kw):
            return (col2im(grad_windows, ctx.x_shape, ctx.stride),)
        # Non-overlapping windows tile the input: lay the blocks side by side, no accumulation needed.
        grad_x = np.zeros(ctx.x_shape, dtype=grad_out.dtype)
        grad_x[:, :, :out_h * kh, :out_w * kw] = grad_windows.transpose(0, 1, 2, 4, 3, 5).reshape(
            n, channels, out_h * kh, out_w * kw)
        return (grad_x,)


# The derivation's pool, non-overlapping 2×2 blocks, in two pairwise steps: each row of a block
# keeps the larger of its two columns, then the block keeps the larger of its two rows. Ties go
# to the left column, then to the top row: the first maximum in row-major order, the same (i*, j*)
# as the argmax above. It needs no window copy and no argmax, and saves two boolean arrays.
def _pool_2x2(ctx, x: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    x = x[:, :, :2 * out_h, :2 * out_w]                     # trailing row and column dropped
    n, channels = x.shape[:2]
    out = np.empty((n, channels, out_h, out_w), dtype=x.dtype)
    right_wins = np.empty((n, channels, 2 * out_h, out_w), dtype=bool)     # j* = 1, per row of a block
    bottom_wins = np.empty((n, channels, out_h, out_w), dtype=bool)        # i* = 1, per block
    # Scratch allocated here, not in the parts: glibc gives each thread its own heap and returns a
    # worker's freed memory to the OS at once, so its next step would page-fault it back in.
    row_max = np.empty((n, channels, 2 * out_h, out_w), dtype=x.dtype)

    def part(rows):
        left, right = x[rows, :, :, 0::2], x[rows, :, :, 1::2]
        np.greater(right, left, out=right_wins[rows])
        right_wins[rows] |= np.isnan(right)          # a NaN wins its window, as in PyTorch
        np.maximum(left, right, out=row_max[rows])
        top, bottom = row_max[rows, :, 0::2], row_max[rows, :, 1::2]
        np.greater(bottom, top, out=bottom_wins[rows])
        bottom_wins[rows] |= np.isnan(bottom)
        np.maximum(top, bottom, out=out[rows])

    over_rows(part, x)
    ctx.save_for_backward(right_wins, bottom_wins)
    return out


def _unpool_2x2(ctx, grad_out: np.ndarray) -> np.ndarray:
    """§3.3 for 2×2 blocks: δP goes to row i* of its block, then to column j* of that row."""
    right_wins, bottom_wins = ctx.saved
    n, channels, out_h, out_w = grad_out.shape
    height, width = ctx.x_shape[2:]
    odd = height % 2 or width % 2                             # a dropped row or column gets zeros
    grad_x = (np.zeros if odd else np.empty)(ctx.x_shape, dtype=grad_out.dtype)

    grad_rows = np.empty(right_wins.shape, dtype=grad_out.dtype)   # scratch, allocated here (see above)

    def part(rows):
        # The winner gets δP·1, the loser δP − δP·1 = 0 (no negated mask to build).
        g, rows_g, blocks = grad_out[rows], grad_rows[rows], grad_x[rows, :, :2 * out_h, :2 * out_w]
        np.multiply(g, bottom_wins[rows], out=rows_g[:, :, 1::2])
        np.subtract(g, rows_g[:, :, 1::2], out=rows_g[:, :, 0::2])
        np.multiply(rows_g, right_wins[rows], out=blocks[..., 1::2])
        np.subtract(rows_g, blocks[..., 1::2], out=blocks[..., 0::2])

    over_rows(part, grad_x)
    return grad_x
