"""2-D convolution (cross-correlation, as section 2.1 writes it) by im2col and one matrix product."""
import numpy as np

from tinygraph import Op, register_op
from tinygraph.ops._windows import col2im, output_size, pair, windows


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
        shapes = f"input x {x.shape}, weight w {w.shape}"
        stride = pair(stride, "conv2d", "stride", minimum=1, shapes=shapes)
        padding = pair(padding, "conv2d", "padding", minimum=0, shapes=shapes)
        (ph, pw), (filters, _, kh, kw) = padding, w.shape
        padded = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw))) if ph or pw else x
        out_h, out_w = output_size("conv2d", padded.shape, (kh, kw), stride,
                                   f"input x of shape {x.shape} padded by {padding} to {padded.shape[2:]} "
                                   f"(weight w has shape {w.shape})")
        n, channels = x.shape[:2]
        # im2col: one row per output position (n, u, v), holding its window X[c, u·s+i, v·s+j] over (c, i, j).
        cols = windows(padded, (kh, kw), stride).transpose(0, 2, 3, 1, 4, 5).reshape(
            n * out_h * out_w, channels * kh * kw)
        out = cols @ w.reshape(filters, -1).T                  # (N·Ho·Wo, F): the one matrix product
        if b is not None:
            out += b
        need_x, need_w, _ = ctx.needs_input_grad
        ctx.save_for_backward(cols if need_w else None, w if need_x else None)
        ctx.x_shape, ctx.w_shape, ctx.padded_shape = x.shape, w.shape, padded.shape
        ctx.stride, ctx.padding = stride, padding
        # Gradients take each input's own dtype (float32 stays float32 even beside a float64 operand).
        ctx.dtypes = (x.dtype, w.dtype, None if b is None else b.dtype)
        return out.reshape(n, out_h, out_w, filters).transpose(0, 3, 1, 2)

    @staticmethod
    def backward(ctx, grad_out):
        """Eqs. (1)-(3) with stride and padding; weight sharing sums dW and db over positions and batch."""
        cols, w = ctx.saved
        need_x, need_w, need_b = ctx.needs_input_grad
        n, filters, out_h, out_w = grad_out.shape
        grad_z = grad_out.transpose(0, 2, 3, 1).reshape(-1, filters)     # δZ, one row per (n, u, v)
        grad_x = grad_w = grad_b = None
        if need_b:
            grad_b = grad_out.sum(axis=(0, 2, 3)).astype(ctx.dtypes[2], copy=False)          # eq. (1)
        if need_w:
            grad_w = (grad_z.T @ cols).reshape(ctx.w_shape).astype(ctx.dtypes[1], copy=False)  # eq. (2)
        if need_x:
            _, channels, kh, kw = ctx.w_shape
            grad_cols = (grad_z @ w.reshape(filters, -1)).reshape(n, out_h, out_w, channels, kh, kw)
            grad_padded = col2im(grad_cols.transpose(0, 3, 1, 2, 4, 5), ctx.padded_shape, ctx.stride)  # eq. (3)
            (ph, pw), (height, width) = ctx.padding, ctx.x_shape[2:]
            grad_x = grad_padded[:, :, ph:ph + height, pw:pw + width].astype(ctx.dtypes[0], copy=False)
        return grad_x, grad_w, grad_b


def _check_shapes(x: np.ndarray, w: np.ndarray, b) -> None:
    if x.ndim != 4:
        raise ValueError(f"conv2d: input x must be 4-D (N, C, H, W), got shape {x.shape}")
    if w.ndim != 4:
        raise ValueError(f"conv2d: weight w must be 4-D (F, C, KH, KW), got shape {w.shape}")
    if min(w.shape[2:]) < 1:
        raise ValueError(f"conv2d: weight w needs a kernel of at least 1×1, got shape {w.shape}")
    if x.shape[1] != w.shape[1]:
        raise ValueError(f"conv2d: input x has C={x.shape[1]} channels (shape {x.shape}) but weight w "
                         f"expects C={w.shape[1]} (shape {w.shape})")
    if b is not None and b.shape != (w.shape[0],):
        raise ValueError(f"conv2d: bias b must have shape ({w.shape[0]},), one per filter of w {w.shape}, "
                         f"got shape {b.shape}")
