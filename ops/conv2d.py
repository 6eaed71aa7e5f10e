"""2-D convolution (cross-correlation, as section 2.1 writes it) by im2col and one matrix product per sample."""
import numpy as np

from tinygraph.errors import OpError
from tinygraph.op import Op
from tinygraph.ops._windows import col2im, im2col, output_size, pair
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

    batched = ("x",)          # sample n's Z depends on its own X only: the batch may be split

    @staticmethod
    def forward(ctx, x: np.ndarray, w: np.ndarray, b: np.ndarray = None, *, stride=1, padding=0) -> np.ndarray:
        stride, padding = _check(x, w, b, stride, padding)
        X = _pad(x, padding)
        F, C, KH, KW = w.shape
        Ho, Wo = output_size("conv2d", X.shape, (KH, KW), stride,
                             lambda: f"input x of shape {x.shape} padded by {padding} to {X.shape[2:]} "
                                     f"(weight w has shape {w.shape})")
        windows = im2col(X, (KH, KW), stride)         # (N, C·KH·KW, Ho·Wo): window (u, v) of X as a column
        Z = w.reshape(F, C * KH * KW) @ windows       # (N, F, Ho·Wo): §2.1's Σ_c Σ_ij W · X-window
        if b is not None:
            Z = Z + b[:, np.newaxis]                  # + b_f (NumPy's promotion: a float64 b gives float64 Z)
        need_x, need_w, _ = ctx.needs_input_grad
        ctx.save_for_backward(windows if need_w else None, w if need_x else None)
        ctx.x_shape, ctx.w_shape, ctx.padded_shape = x.shape, w.shape, X.shape
        ctx.stride, ctx.padding = stride, padding
        return Z.reshape(len(x), F, Ho, Wo)

    @staticmethod
    def backward(ctx, grad_out):
        """Eqs. (1)-(3) with stride and padding; weight sharing sums dW and db over positions and batch."""
        windows, w = ctx.saved
        need_x, need_w, need_b = ctx.needs_input_grad
        N, F, Ho, Wo = grad_out.shape
        grad_Z = grad_out.reshape(N, F, Ho * Wo)                         # δZ, one row per filter
        grad_b = grad_Z.sum(axis=(0, 2)) if need_b else None             # eq. (1): Σ_n Σ_uv δZ
        grad_w = None
        if need_w:                                                       # eq. (2): Σ_n Σ_uv δZ · X-window
            # Σ_n windows[n] δZ[n]ᵀ, transposed at the end: BLAS runs this operand order faster.
            grad_w = (windows @ grad_Z.transpose(0, 2, 1)).sum(axis=0).T.reshape(ctx.w_shape)
        grad_x = None
        if need_x:                                                       # eq. (3): Σ_f Σ_ij δZ · W, ...
            _, C, KH, KW = ctx.w_shape
            grad_windows = w.reshape(F, C * KH * KW).T @ grad_Z          # (N, C·KH·KW, Ho·Wo)
            grad_X = col2im(grad_windows, ctx.padded_shape, w.shape[2:], ctx.stride)   # ... onto X
            (ph, pw), (H, W) = ctx.padding, ctx.x_shape[2:]
            grad_x = grad_X[:, :, ph:ph + H, pw:pw + W]
        return grad_x, grad_w, grad_b


def _check(x, w, b, stride, padding) -> tuple[tuple[int, int], tuple[int, int]]:
    _check_shapes(x, w, b)

    def shapes():
        return f"input x {x.shape}, weight w {w.shape}"
    return (pair(stride, "conv2d", "stride", minimum=1, shapes=shapes),
            pair(padding, "conv2d", "padding", minimum=0, shapes=shapes))


def _pad(x: np.ndarray, padding: tuple[int, int]) -> np.ndarray:
    ph, pw = padding
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw))) if ph or pw else x


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
