"""2-D convolution (cross-correlation, as section 2.1 writes it) by im2col and one batched matrix product."""
import numpy as np

from tinygraph.errors import OpError
from tinygraph.op import Op
from tinygraph.ops._parallel import over_rows
from tinygraph.ops._windows import col2im, output_size, pair, windows
from tinygraph.registry import register_op


@register_op("conv2d", forward="{out} = {w} ⋆ {x} + {b}",
             backward=("δ{x} = Σ_f Σ_ij δ{out} · {w} (eq. 3)",
                       "∂L/∂{w} = Σ_uv δ{out} · {x}-window (eq. 2)",
                       "∂L/∂{b} = Σ_uv δ{out} (eq. 1)"))
class Conv2d(Op):
    """Z[n,f,u,v] = Σ_c Σ_ij W[f,c,i,j] · X[n,c,u·s+i,v·s+j] + b[f] on NCHW input, zero `padding`.

    x (N, C, H, W), w (F, C, KH, KW), b (F,) or None; stride and padding an int or a (rows, cols)
    pair. Output (N, F, Ho, Wo), Ho = (H + 2·pad − KH) // stride + 1.
    """

    @staticmethod
    def forward(ctx, x: np.ndarray, w: np.ndarray, b: np.ndarray = None, *, stride=1, padding=0) -> np.ndarray:
        _check_shapes(x, w, b)
        def shapes():
            return f"input x {x.shape}, weight w {w.shape}"

        stride = pair(stride, "conv2d", "stride", minimum=1, shapes=shapes)
        padding = pair(padding, "conv2d", "padding", minimum=0, shapes=shapes)
        (ph, pw), (filters, _, kh, kw) = padding, w.shape
        padded = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw))) if ph or pw else x
        out_h, out_w = output_size("conv2d", padded.shape, (kh, kw), stride,
                                   lambda: f"input x of shape {x.shape} padded by {padding} to {padded.shape[2:]} "
                                           f"(weight w has shape {w.shape})")
        n, channels = x.shape[:2]
        size = channels * kh * kw
        # im2col, one matrix per sample: column (u, v) of cols[n] holds the window X[n, c, u·s+i, v·s+j]
        # over (c, i, j), so W (F, C·KH·KW) @ cols[n] is Z[n] already in NCHW order — no transpose after.
        # A bias rides along as the last column of W against a row of ones: backward then gets
        # eq. (1) and eq. (2) from one product.
        rows = size + (b is not None)
        grid = np.empty((n, rows, out_h, out_w), dtype=padded.dtype)
        cols = grid.reshape(n, rows, out_h * out_w)
        window_view = windows(padded, (kh, kw), stride).transpose(0, 1, 4, 5, 2, 3)   # (N, C, KH, KW, Ho, Wo)
        weights = w.reshape(filters, size)
        if b is not None:
            cols[:, size] = 1
            weights = np.concatenate((weights, b.reshape(filters, 1)), axis=1)
        out = np.empty((n, filters, out_h * out_w), dtype=np.result_type(weights, cols))

        def part(samples):            # a slice of the batch; the slices run on all cores
            np.copyto(grid[samples, :size].reshape(-1, channels, kh, kw, out_h, out_w), window_view[samples])
            np.matmul(weights, cols[samples], out=out[samples])   # (n, F, Ho·Wo): one batched product

        over_rows(part, cols, out)
        need_x, need_w, need_b = ctx.needs_input_grad
        ctx.save_for_backward(cols if need_w else None, w if need_x else None)
        ctx.x_shape, ctx.w_shape, ctx.padded_shape = x.shape, w.shape, padded.shape
        ctx.stride, ctx.padding = stride, padding
        # Gradients take each input's own dtype (float32 stays float32 even beside a float64 operand).
        ctx.dtypes = (x.dtype, w.dtype, None if b is None else b.dtype)
        return out.reshape(n, filters, out_h, out_w)

    @staticmethod
    def backward(ctx, grad_out):
        """Eqs. (1)-(3) with stride and padding; weight sharing sums dW and db over positions and batch."""
        cols, w = ctx.saved
        need_x, need_w, need_b = ctx.needs_input_grad
        n, filters, out_h, out_w = grad_out.shape
        _, channels, kh, kw = ctx.w_shape
        size = channels * kh * kw
        grad_z = grad_out.reshape(n, filters, out_h * out_w)            # δZ, one row per filter
        grad_x = grad_w = grad_b = None
        if need_w:
            # Σ_n δZ[n] cols[n]ᵀ: eq. (2) in the first C·KH·KW columns, eq. (1) in the ones column.
            # Computed transposed, as Σ_n cols[n] δZ[n]ᵀ: OpenBLAS runs that operand order ~1.5× faster.
            partial_sums = over_rows(
                lambda samples: np.matmul(cols[samples], grad_z[samples].transpose(0, 2, 1)).sum(axis=0), cols)
            grad_wb = sum(partial_sums[1:], partial_sums[0]).T
            grad_w = grad_wb[:, :size].reshape(ctx.w_shape).astype(ctx.dtypes[1], copy=False)
            if need_b:
                grad_b = grad_wb[:, size].astype(ctx.dtypes[2])
        elif need_b:
            grad_b = grad_z.sum(axis=(0, 2)).astype(ctx.dtypes[2], copy=False)                 # eq. (1)
        if need_x:
            grad_cols = np.matmul(w.reshape(filters, size).T, grad_z).reshape(n, channels, kh, kw, out_h, out_w)
            grad_padded = col2im(grad_cols.transpose(0, 1, 4, 5, 2, 3), ctx.padded_shape, ctx.stride)  # eq. (3)
            (ph, pw), (height, width) = ctx.padding, ctx.x_shape[2:]
            grad_x = grad_padded[:, :, ph:ph + height, pw:pw + width].astype(ctx.dtypes[0], copy=False)
        return grad_x, grad_w, grad_b


def _check_shapes(x: np.ndarray, w: np.ndarray, b) -> None:
    if x.ndim != 4:
        raise OpError("conv2d", "x", f"input x must be 4-D (N, C, H, W), got shape {x.shape}")
    if w.ndim != 4:
        raise OpError("conv2d", "w", f"weight w must be 4-D (F, C, KH, KW), got shape {w.shape}")
    if min(w.shape[2:]) < 1:
        raise OpError("conv2d", "w", f"weight w needs a kernel of at least 1×1, got shape {w.shape}")
    if x.shape[1] != w.shape[1]:
        raise OpError("conv2d", None, f"input x has C={x.shape[1]} channels (shape {x.shape}) but weight w "
                      f"expects C={w.shape[1]} (shape {w.shape})")
    if b is not None and b.shape != (w.shape[0],):
        raise OpError("conv2d", "b", f"bias b must have shape ({w.shape[0]},), one per filter of w {w.shape}, "
                      f"got shape {b.shape}")
