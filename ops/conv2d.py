"""2-D convolution (cross-correlation, as section 2.1 writes it): the filters times the windows of the input."""
import numpy as np

from tinygraph import buffers
from tinygraph.errors import OpError
from tinygraph.op import Op, apply
from tinygraph.ops._im2col import col2im, col2im_wide, im2col, im2col_wide, im2row, row2im, window_layout, zero_pad
from tinygraph.ops._windows import output_size, pair
from tinygraph.ops.cat import cat
from tinygraph.ops.conv_transpose2d import ConvTranspose2d
from tinygraph.parallel import Split, gradient_array, output_array
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

    The windows stand side by side as im2col's columns, as wide columns, or as rows of channels-last
    windows (ops/_im2col.py picks by the shapes); each is the same sum, with W's entries in the
    windows' order.
    """

    @staticmethod
    def forward(ctx, x: np.ndarray, w: np.ndarray, b: np.ndarray = None, *, stride=1, padding=0,
                dilation=1, groups=1) -> np.ndarray:
        stride, padding, dilation = _check(x, w, b, stride, padding, dilation, groups)
        N, (F, C_group, KH, KW), G = len(x), w.shape, int(groups)
        padded = (N, x.shape[1], x.shape[2] + 2 * padding[0], x.shape[3] + 2 * padding[1])
        Ho, Wo = output_size("conv2d", padded, (KH, KW), stride,
                             lambda: f"input x of shape {x.shape} padded by {padding} to {padded[2:]} "
                                     f"(weight w has shape {w.shape})", dilation)
        layout = window_layout(padded, w.shape, stride, dilation, G)
        if layout == "rows":      # window (u, v) of sample n as row (n, u, v), channels innermost
            X = zero_pad(x, padding, channels_last=True)                  # (N, H', W', C)
            windows = im2row(X, (KH, KW), stride, dilation)               # (N·Ho·Wo, KH·KW·C)
            W = w.transpose(0, 2, 3, 1).reshape(F, -1)                    # filter f as row f, in the windows' order
            Z = (W @ windows.T).reshape(F, N, Ho, Wo).swapaxes(0, 1)      # §2.1's Σ_c Σ_ij W · X-window
            Z = _output(Z, b)                                             # + b, copied into NCHW order
        elif layout == "wide":    # window (u, v) of sample n as column u·W' + v of matrix n, per group
            X = zero_pad(x, padding, spare_row=True)                      # (N, C, H' + 1, W'): see im2col_wide
            windows = im2col_wide(X, (KH, KW), dilation, Ho).reshape(N, G, C_group * KH * KW, Ho * X.shape[3])
            W = w.reshape(G, F // G, -1)                                  # group g's filters, one per row
            Z = np.matmul(W, windows).reshape(N, F, Ho, X.shape[3])       # §2.1's Σ_c Σ_ij W · X-window ...
            Z = _output(Z[..., :Wo], b)                                   # ... where no window wrapped, + b
        else:                     # window (u, v) of sample n as column u·Wo + v of matrix n, per group
            X = zero_pad(x, padding)
            windows = im2col(X, (KH, KW), stride, dilation).reshape(N, G, C_group * KH * KW, Ho * Wo)
            W = w.reshape(G, F // G, -1)                                  # group g's filters, one per row
            Z = output_array((N, F, Ho, Wo), np.result_type(W, windows))  # the product is Z in NCHW order
            np.matmul(W, windows, out=Z.reshape(N, G, F // G, Ho * Wo))   # §2.1's Σ_c Σ_ij W · X-window
            if b is not None:                         # + b_f, in place unless b's dtype promotes Z's
                Z = np.add(Z, b[:, np.newaxis, np.newaxis], out=Z if np.result_type(Z, b) == Z.dtype else None)
        need_x, need_w, _ = ctx.needs_input_grad
        # X rather than its windows: backward rebuilds them, which costs a copy, not KH·KW times X's memory.
        ctx.save_for_backward(X if need_w else None, W if need_x else None)
        ctx.x_shape, ctx.w_shape, ctx.padded_shape = x.shape, w.shape, X.shape if layout == "wide" else padded
        ctx.stride, ctx.padding, ctx.dilation, ctx.groups, ctx.layout = stride, padding, dilation, G, layout
        return Z

    @staticmethod
    def backward(ctx, grad_out):
        """Eqs. (1)-(3) per group, with stride, padding and dilation; weight sharing sums dW and db over positions and batch."""
        X, W = ctx.saved
        need_x, need_w, need_b = ctx.needs_input_grad
        N, F, Ho, Wo = grad_out.shape
        G, (_, C_group, KH, KW), kernel = ctx.groups, ctx.w_shape, ctx.w_shape[2:]
        grad_b = grad_w = grad_X = None
        if ctx.layout == "rows":
            grad_Z = buffers.empty((F, N, Ho * Wo), grad_out.dtype)      # δZ, one row per filter, as Z was made
            np.copyto(grad_Z, grad_out.reshape(N, F, Ho * Wo).swapaxes(0, 1))
            grad_Z = grad_Z.reshape(F, N * Ho * Wo)
            if need_b:                                                    # eq. (1): Σ_n Σ_uv δZ
                grad_b = grad_Z.sum(axis=1)
            if need_w:                                                    # eq. (2): Σ_n Σ_uv δZ · X-window
                grad_w = grad_Z @ im2row(X, kernel, ctx.stride, ctx.dilation)
                grad_w = np.ascontiguousarray(grad_w.reshape(F, KH, KW, C_group).transpose(0, 3, 1, 2))
            if need_x:                                                    # eq. (3): Σ_f Σ_ij δZ · W, onto X
                grad_X = row2im(grad_Z.T @ W, ctx.padded_shape, (Ho, Wo), kernel, ctx.stride, ctx.dilation)
        else:
            columns = Ho * Wo
            if ctx.layout == "wide":  # δZ at the wide columns, 0 where a window wrapped (see im2col_wide)
                columns = Ho * ctx.padded_shape[3]
                grad_wide = buffers.zeros((N, F, Ho, ctx.padded_shape[3]), grad_out.dtype)
                grad_wide[..., :Wo] = grad_out
                grad_out = grad_wide
            grad_Z = grad_out.reshape(N, G, F // G, columns)              # δZ, one row per filter of each group
            if need_b:                                                    # eq. (1): Σ_n Σ_uv δZ
                grad_b = grad_Z.sum(axis=3).sum(axis=0).reshape(F)        # contiguous sums first: faster
            if need_w:                                                    # eq. (2): Σ_n Σ_uv δZ · X-window
                windows = (im2col_wide(X, kernel, ctx.dilation, Ho) if ctx.layout == "wide"
                           else im2col(X, kernel, ctx.stride, ctx.dilation)).reshape(N, G, C_group * KH * KW, columns)
                # Σ_n windows[n] δZ[n]ᵀ, transposed at the end: BLAS runs this operand order faster.
                grad_w = (windows @ grad_Z.swapaxes(-1, -2)).sum(axis=0).swapaxes(-1, -2).reshape(ctx.w_shape)
            if need_x:                                                    # eq. (3): Σ_f Σ_ij δZ · W, onto X
                grad_windows = (W.swapaxes(-1, -2) @ grad_Z).reshape(N, G * C_group * KH * KW, columns)
                grad_X = (col2im_wide(grad_windows, ctx.padded_shape, kernel, ctx.dilation) if ctx.layout == "wide"
                          else col2im(grad_windows, ctx.padded_shape, kernel, ctx.stride, ctx.dilation))
        grad_x = None
        if need_x:                                    # X's rows and columns inside the padding, in NCHW order
            (ph, pw), (height, width) = ctx.padding, ctx.x_shape[2:]
            grad_x = grad_X[:, :, ph:ph + height, pw:pw + width]
            if not grad_x.flags.c_contiguous:         # copied, so the ops before run on contiguous arrays
                into = gradient_array(0, grad_x.shape, grad_x.dtype)
                np.copyto(into, grad_x)
                grad_x = into
        return grad_x, grad_w, grad_b

    @staticmethod
    def differentiable_backward(ctx, grad_out):
        """Eqs. (1)-(3) as ops, so they can be differentiated again: δx is a transposed convolution of δZ
        with W (conv_transpose2d, conv2d's adjoint), ∂L/∂W a convolution of X with δZ, ∂L/∂b = Σ δZ."""
        need_x, need_w, need_b = ctx.needs_input_grad
        x, w = ctx.input(0), ctx.input(1)
        (KH, KW), (sh, sw), (ph, pw), (dh, dw) = ctx.w_shape[2:], ctx.stride, ctx.padding, ctx.dilation
        grad_x = grad_w = grad_b = None
        if need_x:                                    # eq. (3), with stride, padding and dilation
            Ho, Wo = grad_out.shape[2:]
            spare = (ctx.x_shape[2] + 2 * ph - ((Ho - 1) * sh + dh * (KH - 1) + 1),
                     ctx.x_shape[3] + 2 * pw - ((Wo - 1) * sw + dw * (KW - 1) + 1))
            grad_x = apply(ConvTranspose2d, grad_out, w, stride=ctx.stride, padding=ctx.padding,
                           output_padding=spare, groups=ctx.groups, dilation=ctx.dilation)
        if need_w:                                    # eq. (2): a convolution of X (batch as channels) with δZ
            filters, channels = ctx.w_shape[0] // ctx.groups, ctx.w_shape[1]
            per_group = []
            for g in range(ctx.groups):
                xg = x if ctx.groups == 1 else x[:, g * channels:(g + 1) * channels]
                dg = grad_out if ctx.groups == 1 else grad_out[:, g * filters:(g + 1) * filters]
                windows_by_delta = apply(Conv2d, xg.transpose(0, 1), dg.transpose(0, 1), stride=ctx.dilation,
                                         padding=ctx.padding, dilation=ctx.stride)
                per_group.append(windows_by_delta.transpose(0, 1)[:, :, :KH, :KW])
            grad_w = per_group[0] if ctx.groups == 1 else cat(per_group, dim=0)
        if need_b:                                    # eq. (1)
            grad_b = grad_out.sum((0, 2, 3))
        return grad_x, grad_w, grad_b


    # Sample n's Z depends on its own X only: the batch may be split (tinygraph/parallel.py). The work is
    # about im2col's size; parts of at most ~2 MB of float32 windows, as backward rebuilds them from X
    # instead of keeping them all (KH·KW times the input's size) from forward to backward (docs/performance.md).
    split = Split(over="x", part_work_limit=1 << 19,
                  work=lambda x, w, b=None: x.size * w.shape[-2] * w.shape[-1] if x.ndim == w.ndim == 4 else x.size)


def _output(Z: np.ndarray, b) -> np.ndarray:
    """Z (N, F, Ho, Wo), a view of the product, copied into the op's output array with + b_f."""
    out = output_array(Z.shape, Z.dtype if b is None else np.result_type(Z, b))
    np.copyto(out, Z)
    if b is not None:                 # in place after the copy: a 3-operand strided add runs slower
        np.add(out, b[:, np.newaxis, np.newaxis], out=out)
    return out


def _check(x, w, b, stride, padding, dilation, groups) -> tuple[tuple[int, int], ...]:
    def shapes():
        return f"input x {x.shape}, weight w {w.shape}"
    if not isinstance(groups, (int, np.integer)) or isinstance(groups, bool) or groups < 1:
        raise OpError("conv2d", "groups", f"groups must be a positive int, got {groups!r} ({shapes()})")
    _check_shapes(x, w, b, int(groups))
    return (pair(stride, "conv2d", "stride", minimum=1, shapes=shapes),
            pair(padding, "conv2d", "padding", minimum=0, shapes=shapes),
            pair(dilation, "conv2d", "dilation", minimum=1, shapes=shapes))


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
