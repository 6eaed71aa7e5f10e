"""Max-pooling, section 2.3, with the argmax kept so backward routes each gradient to one element."""
import numpy as np

from tinygraph import buffers
from tinygraph.op import Op, apply
from tinygraph.ops._windows import (add_windows, crop, pad_to, pool_options, pooled_size, rows_apart,
                                     rows_together, windows)
from tinygraph.ops.add_at import AddAt
from tinygraph.parallel import Split, gradient_array, output_array
from tinygraph.registry import register_op


@register_op("maxpool", forward="{out} = max over each window of {x}",
             backward="δ{x} = δ{out} at each window's (i*, j*), 0 elsewhere (§3.3)")
class MaxPool(Op):
    """P[n,c,u,v] = max_ij A[n,c,u·s+i·d,v·s+j·d] on NCHW input padded with −∞; `stride` defaults to `size`.

    Trailing rows and columns that do not fill a window are dropped (as 2×2 blocks on an odd side);
    ceil_mode=True keeps a last, partial window instead when it starts inside the input or its padding.
    """

    @staticmethod
    def forward(ctx, x: np.ndarray, *, size=2, stride=None, padding=0, dilation=1, ceil_mode=False) -> np.ndarray:
        kernel, stride, padding, dilation = pool_options("maxpool", x, size, stride, padding, dilation)
        (out_h, out_w), padded = pooled_size("maxpool", x.shape, kernel, stride, padding, dilation, ceil_mode)
        ctx.x_shape, ctx.kernel, ctx.stride, ctx.dilation = x.shape, kernel, stride, dilation
        ctx.padding, ctx.padded_shape = padding, padded
        # The derivation's 2×2 blocks by pairwise maxima, any other window by an argmax over its elements.
        ctx.path = "2x2" if kernel == stride == (2, 2) and dilation == (1, 1) and padded == x.shape else "windows"
        if ctx.path == "2x2":
            return _pool_2x2(ctx, x, out_h, out_w)
        A = pad_to(x, padding, padded, -np.inf)       # −∞ never wins a window: padding is never the max
        n, channels = x.shape[:2]
        flat = windows(A, kernel, stride, dilation).reshape(n, channels, out_h, out_w, kernel[0] * kernel[1])
        # argmax returns the FIRST maximum in row-major window order: the document's (i*, j*), even on ties.
        best = flat.argmax(axis=-1)[..., np.newaxis]
        P = np.take_along_axis(flat, best, axis=-1)[..., 0]
        if P.dtype.kind == "f" and np.isnan(P.sum()):
            # A window holding NaN pools to NaN, and PyTorch's CPU kernel routes its gradient to the
            # window's LAST NaN (argmax would pick the first).
            last_nan = flat.shape[-1] - 1 - np.isnan(flat[..., ::-1]).argmax(axis=-1)
            best[..., 0] = np.where(np.isnan(P), last_nan, best[..., 0])
        ctx.save_for_backward(best)
        return P

    @staticmethod
    def jvp(ctx, tangents, inputs, out, attrs):
        """Forward mode: each window passes on the tangent of its (i*, j*), the element it picked."""
        winners = _winners(ctx, inputs[0], *out.shape[2:])
        return tangents[0].reshape(-1)[winners]

    @staticmethod
    def backward(ctx, grad_out):
        """§3.3: δA = δP at (i*, j*) of each window and 0 elsewhere; overlapping windows accumulate."""
        if ctx.path == "2x2":
            return (_unpool_2x2(ctx, grad_out),)
        (kh, kw), (sh, sw) = ctx.kernel, ctx.stride
        (best,) = ctx.saved
        n, channels, out_h, out_w = grad_out.shape
        grad_windows = np.zeros((n, channels, out_h, out_w, kh * kw), dtype=grad_out.dtype)
        np.put_along_axis(grad_windows, best, grad_out[..., np.newaxis], axis=-1)
        grad_windows = grad_windows.reshape(n, channels, out_h, out_w, kh, kw)
        if (sh, sw) != (kh, kw) or ctx.dilation != (1, 1) or ctx.padded_shape != ctx.x_shape:
            grad_A = add_windows(grad_windows, ctx.padded_shape, ctx.stride, ctx.dilation)
            return (crop(grad_A, ctx.padding, ctx.x_shape),)
        # Non-overlapping windows tile the input: lay the blocks side by side, no accumulation needed.
        grad_x = np.zeros(ctx.x_shape, dtype=grad_out.dtype)
        grad_x[:, :, :out_h * kh, :out_w * kw] = grad_windows.transpose(0, 1, 2, 4, 3, 5).reshape(
            n, channels, out_h * kh, out_w * kw)
        return (grad_x,)

    @staticmethod
    def differentiable_backward(ctx, grad_out):
        """§3.3 as a constant routing: δP added at each window's (i*, j*), so max-pooling adds no curvature."""
        x = ctx.input(0)
        winners = _winners(ctx, x.data, *grad_out.shape[2:])
        return (apply(AddAt, grad_out.reshape(-1), index=winners.reshape(-1),
                      shape=(x.data.size,)).reshape(*x.shape),)

    split = Split(over="x")   # each sample pools on its own: the batch may be split (tinygraph/parallel.py)


def _winners(ctx, x: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """The flat index into x of each window's (i*, j*): the first maximum in row-major order, a NaN winning."""
    (kh, kw), (sh, sw), (dh, dw), (ph, pw) = ctx.kernel, ctx.stride, ctx.dilation, ctx.padding
    A = pad_to(x, ctx.padding, x.shape[:2] + ctx.padded_shape[2:], -np.inf)   # x: the whole batch
    n, channels, height, width = x.shape
    best = windows(A, ctx.kernel, ctx.stride, ctx.dilation).reshape(n, channels, out_h, out_w, kh * kw).argmax(-1)
    rows = np.arange(out_h)[:, None] * sh + (best // kw) * dh - ph
    columns = np.arange(out_w)[None, :] * sw + (best % kw) * dw - pw
    planes = np.arange(n * channels).reshape(n, channels, 1, 1) * (height * width)
    return planes + rows * width + columns


# The derivation's pool, non-overlapping 2×2 blocks, as two pairwise maxima: each row of a block
# keeps the larger of its two columns, then the block keeps the larger of its two rows. Ties go
# to the left column, then to the top row: the first maximum in row-major order, the same (i*, j*)
# as the argmax above; a NaN wins its window, as in PyTorch. No window copy, no argmax.
def _pool_2x2(ctx, A: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    A = A[:, :, :2 * out_h, :2 * out_w]                      # a trailing odd row or column is dropped
    left, right = A[..., 0::2], A[..., 1::2]
    right_wins = right > left                                # j* = 1, per row of each block
    row_max = np.maximum(left, right, out=buffers.empty(right_wins.shape, A.dtype))
    top, bottom = rows_apart(row_max, 2)                     # contiguous copies of each block's rows
    bottom_wins = bottom > top                               # i* = 1, per block
    P = np.maximum(top, bottom, out=output_array(top.shape, A.dtype))
    if np.isnan(P.sum()):                 # NaN reaches P (or ±inf both do): route to the NaN
        right_wins |= np.isnan(right)
        bottom_wins |= np.isnan(bottom)
    ctx.save_for_backward(right_wins, bottom_wins)
    return P


def _unpool_2x2(ctx, grad_P: np.ndarray) -> np.ndarray:
    """§3.3 for 2×2 blocks: δP goes to row i* of its block, then to column j* of that row, exactly 0 elsewhere."""
    right_wins, bottom_wins = ctx.saved
    out_h, out_w = grad_P.shape[2:]
    # Multiplying by a mask and subtracting routes a finite δP exactly; an inf or NaN would spread over
    # its whole block (∞ · 0), so a δP that is not all finite is routed by selecting instead.
    finite = np.isfinite(grad_P.sum())
    if finite:
        grad_bottom = grad_P * bottom_wins                                  # the bottom row, where it won
        grad_rows = rows_together([grad_P - grad_bottom, grad_bottom])      # the top row: the rest
    else:
        zero = grad_P.dtype.type(0)
        grad_rows = rows_together([np.where(bottom_wins, zero, grad_P), np.where(bottom_wins, grad_P, zero)])
    grad_A = gradient_array(0, ctx.x_shape, grad_P.dtype)
    if ctx.x_shape[2] % 2 or ctx.x_shape[3] % 2:                        # an odd side's last row/column
        grad_A[...] = 0
    blocks = grad_A[:, :, :2 * out_h, :2 * out_w]
    if finite:
        np.multiply(grad_rows, right_wins, out=blocks[..., 1::2])       # the right column, where it won
        np.subtract(grad_rows, blocks[..., 1::2], out=blocks[..., 0::2])  # the left column: the rest
    else:
        blocks[..., 1::2] = np.where(right_wins, grad_rows, 0)
        blocks[..., 0::2] = np.where(right_wins, 0, grad_rows)
    return grad_A
