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
    """Z[n,f,u,v] = Σ_c Σ_ij W[f,c,i,j] · X[n,c,u·s+i·d,v·s+j·d] + b[f] on NCHW input, zero `padding`.

    x (N, C, H, W), w (F, C/groups, KH, KW), b (F,) or None; stride, padding and dilation an int or
    a (rows, cols) pair; `groups` splits C and F into that many independent convolutions (filter f
    sees only its group's channels). Output (N, F, Ho, Wo), Ho = (H + 2·pad − d·(KH − 1) − 1) // s + 1.
    """

    batched = ("x",)          # sample n's Z depends on its own X only: the batch may be split
    # Parts of at most ~2 MB of float32 windows: backward rebuilds them from X instead of keeping
    # them all (KH·KW times the input's size) from forward to backward (docs/performance.md).
    part_work_limit = 1 << 19

    @classmethod
    def batch_work(cls, x, w, b=None):
        return x.size * w.shape[-2] * w.shape[-1] if x.ndim == 4 and w.ndim == 4 else x.size   # ~ im2col's size

    @staticmethod
    def forward(ctx, x: np.ndarray, w: np.ndarray, b: np.ndarray = None, *, stride=1, padding=0,
                dilation=1, groups=1) -> np.ndarray:
        stride, padding, dilation = _check(x, w, b, stride, padding, dilation, groups)
        X = _pad(x, padding)
        F, C_group, KH, KW = w.shape
        Ho, Wo = output_size("conv2d", X.shape, (KH, KW), stride,
                             lambda: f"input x of shape {x.shape} padded by {padding} to {X.shape[2:]} "
                                     f"(weight w has shape {w.shape})", dilation)
        G, K = int(groups), C_group * KH * KW
        # (N, G, K, Ho·Wo): window (u, v) of group g's channels as a column (G = 1: all of X)
        windows = im2col(X, (KH, KW), stride, dilation).reshape(len(x), G, K, Ho * Wo)
        W = w.reshape(G, F // G, K)                   # group g's filters, one per row
        # A part of a split batch may be handed its rows of the joined output (ctx.out): write there.
        out = None if ctx.out is None else ctx.out.reshape(len(x), G, F // G, Ho * Wo)
        Z = np.matmul(W, windows, out=out)            # (N, G, F/G, Ho·Wo): §2.1's Σ_c Σ_ij W · X-window
        Z = Z.reshape(len(x), F, Ho * Wo)
        if b is not None:                             # + b_f, in place unless b's dtype promotes Z's
            Z = np.add(Z, b[:, np.newaxis], out=Z if np.result_type(Z, b) == Z.dtype else None)
        need_x, need_w, _ = ctx.needs_input_grad
        # X rather than its windows: backward rebuilds them, which costs a copy, not KH·KW times X's memory.
        ctx.save_for_backward(X if need_w else None, W if need_x else None)
        ctx.x_shape, ctx.w_shape, ctx.padded_shape = x.shape, w.shape, X.shape
        ctx.stride, ctx.padding, ctx.dilation, ctx.groups = stride, padding, dilation, G
        return Z.reshape(len(x), F, Ho, Wo)

    @staticmethod
    def backward(ctx, grad_out):
        """Eqs. (1)-(3) per group, with stride, padding and dilation; weight sharing sums dW and db over positions and batch."""
        X, W = ctx.saved
        need_x, need_w, need_b = ctx.needs_input_grad
        N, F, Ho, Wo = grad_out.shape
        G, (_, C_group, KH, KW) = ctx.groups, ctx.w_shape
        grad_Z = grad_out.reshape(N, G, F // G, Ho * Wo)                 # δZ, one row per filter of each group
        grad_b = grad_Z.sum(axis=(0, 3)).reshape(F) if need_b else None  # eq. (1): Σ_n Σ_uv δZ
        grad_w = None
        if need_w:                                                       # eq. (2): Σ_n Σ_uv δZ · X-window
            windows = im2col(X, (KH, KW), ctx.stride, ctx.dilation).reshape(N, G, C_group * KH * KW, Ho * Wo)
            # Σ_n windows[n] δZ[n]ᵀ, transposed at the end: BLAS runs this operand order faster.
            grad_w = (windows @ grad_Z.swapaxes(-1, -2)).sum(axis=0).swapaxes(-1, -2).reshape(ctx.w_shape)
        grad_x = None
        if need_x:                                                       # eq. (3): Σ_f Σ_ij δZ · W, ...
            grad_windows = W.swapaxes(-1, -2) @ grad_Z                   # (N, G, C/G·KH·KW, Ho·Wo)
            grad_X = col2im(grad_windows.reshape(N, G * C_group * KH * KW, Ho * Wo), ctx.padded_shape, (KH, KW),
                            ctx.stride, ctx.dilation)                    # ... onto X
            (ph, pw), (height, width) = ctx.padding, ctx.x_shape[2:]
            grad_x = grad_X[:, :, ph:ph + height, pw:pw + width]
        return grad_x, grad_w, grad_b


def _check(x, w, b, stride, padding, dilation, groups) -> tuple[tuple[int, int], ...]:
    def shapes():
        return f"input x {x.shape}, weight w {w.shape}"
    if not isinstance(groups, (int, np.integer)) or isinstance(groups, bool) or groups < 1:
        raise OpError("conv2d", "groups", f"groups must be a positive int, got {groups!r} ({shapes()})")
    _check_shapes(x, w, b, int(groups))
    return (pair(stride, "conv2d", "stride", minimum=1, shapes=shapes),
            pair(padding, "conv2d", "padding", minimum=0, shapes=shapes),
            pair(dilation, "conv2d", "dilation", minimum=1, shapes=shapes))


def _pad(x: np.ndarray, padding: tuple[int, int]) -> np.ndarray:
    ph, pw = padding
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw))) if ph or pw else x


def _check_shapes(x: np.ndarray, w: np.ndarray, b, groups: int) -> None:
    if x.ndim != 4:
        raise OpError("conv2d", "x", f"input x must be 4-D (N, C, H, W), got shape {x.shape}")
    if w.ndim != 4:
        raise OpError("conv2d", "w", f"weight w must be 4-D (F, C, KH, KW), got shape {w.shape}")
    if min(w.shape[2:]) < 1:
        raise OpError("conv2d", "w", f"weight w needs a kernel of at least 1×1, got shape {w.shape}")
    if w.shape[0] % groups:
        raise OpError("conv2d", "groups", f"weight w has F={w.shape[0]} filters (shape {w.shape}), "
                      f"not divisible by groups={groups}")
    if x.shape[1] != w.shape[1] * groups:
        per_group = f" = {groups} groups × {w.shape[1]}" if groups > 1 else ""
        raise OpError("conv2d", None, f"input x has C={x.shape[1]} channels (shape {x.shape}) but weight w "
                      f"expects C={w.shape[1] * groups}{per_group} (shape {w.shape})")
    if b is not None and b.shape != (w.shape[0],):
        raise OpError("conv2d", "b", f"bias b must have shape ({w.shape[0]},), one per filter of w {w.shape}, "
                      f"got shape {b.shape}")
