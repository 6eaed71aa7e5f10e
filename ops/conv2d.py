"""2-D convolution (cross-correlation, as section 2.1 writes it): the filters times the windows of the input."""
import numpy as np

from tinygraph.errors import OpError
from tinygraph.op import Context, Op, apply
from tinygraph.ops._conv_layouts import LAYOUTS
from tinygraph.ops._im2col import window_layout
from tinygraph.ops._windows import output_size, pair
from tinygraph.ops.cat import cat
from tinygraph.ops.conv_transpose2d import ConvTranspose2d
from tinygraph.parallel import Split, gradient_array
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

    The windows stand side by side as matrices in one of several layouts (ops/_conv_layouts.py:
    im2col's columns, wide columns, or rows of channels-last windows; ops/_im2col.py picks by the
    shapes); the equations below are written once, in the chosen layout's terms.
    """

    @staticmethod
    def forward(ctx, x: np.ndarray, w: np.ndarray, b: np.ndarray = None, *, stride=1, padding=0,
                dilation=1, groups=1) -> np.ndarray:
        stride, padding, dilation = _check(x, w, b, stride, padding, dilation, groups)
        N, (KH, KW), G = len(x), w.shape[2:], int(groups)
        padded = (N, x.shape[1], x.shape[2] + 2 * padding[0], x.shape[3] + 2 * padding[1])
        Ho, Wo = output_size("conv2d", padded, (KH, KW), stride,
                             lambda: f"input x of shape {x.shape} padded by {padding} to {padded[2:]} "
                                     f"(weight w has shape {w.shape})", dilation)
        layout = LAYOUTS[window_layout(padded, w.shape, stride, dilation, G)](
            x.shape, w.shape, stride, padding, dilation, G, (Ho, Wo))
        X = layout.pad(x)
        windows, W = layout.windows(X), layout.weight(w)
        product = np.matmul(W, windows, out=layout.product_array(np.result_type(W, windows)))
        Z = layout.output(product, b)                 # §2.1: Z = W · windows + b, in NCHW order
        need_x, need_w, _ = ctx.needs_input_grad
        # X rather than its windows: backward rebuilds them, which costs a copy, not KH·KW times X's memory.
        ctx.save_for_backward(X if need_w else None, W if need_x else None)
        ctx.x_shape, ctx.w_shape, ctx.layout = x.shape, w.shape, layout
        ctx.stride, ctx.padding, ctx.dilation, ctx.groups = stride, padding, dilation, G
        return Z

    @staticmethod
    def jvp(ctx, tangents, inputs, out, attrs):
        """Forward mode: conv2d is linear in x and in W apart: ṫ_Z = ṫ_X ⋆ W + X ⋆ ṫ_W + ṫ_b."""
        (tx, tw, tb), (x, w, _) = tangents, inputs
        total = 0
        for a, b in ((tx, w), (x, tw)):
            if a is not None and b is not None:
                total = total + Conv2d.forward(Context((False, False, False)), a, b, None, **attrs)
        if tb is not None:
            total = total + tb.reshape(1, -1, 1, 1)
        return total

    @staticmethod
    def backward(ctx, grad_out):
        """Eqs. (1)-(3) per group, with stride, padding and dilation; weight sharing sums dW and db over positions and batch."""
        X, W = ctx.saved
        need_x, need_w, need_b = ctx.needs_input_grad
        layout = ctx.layout
        grad_Z = layout.grad_product(grad_out)        # δZ laid out as the product W · windows was
        grad_b = grad_w = grad_x = None
        if need_b:                                    # eq. (1): Σ_n Σ_uv δZ (contiguous sums first: faster)
            grad_b = _sum_over_batch(grad_Z.sum(axis=3)).reshape(ctx.w_shape[0])
        if need_w:                                    # eq. (2): Σ_n Σ_uv δZ · X-window
            windows = layout.windows(X)
            # Each product reads the windows as they lie in memory (BLAS runs those operand orders faster).
            if layout.transposed:
                grad_W = _sum_over_batch(grad_Z @ windows.swapaxes(-1, -2))
            else:
                grad_W = _sum_over_batch(windows @ grad_Z.swapaxes(-1, -2)).swapaxes(-1, -2)
            grad_w = layout.weight_grad(grad_W)
        if need_x:                                    # eq. (3): Σ_f Σ_ij δZ · W, onto X
            # δ of the windows, Wᵀ · δZ, laid out in memory as the windows are
            if layout.transposed:
                grad_windows = (grad_Z.swapaxes(-1, -2) @ W).swapaxes(-1, -2)
            else:
                grad_windows = W.swapaxes(-1, -2) @ grad_Z
            grad_X = layout.adjoint(grad_windows)
            (ph, pw), (height, width) = ctx.padding, ctx.x_shape[2:]
            grad_x = grad_X[:, :, ph:ph + height, pw:pw + width]      # X's rows and columns inside the padding
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


def _sum_over_batch(a: np.ndarray) -> np.ndarray:
    """Σ over axis 0, the stack of window matrices (one per sample; one for the whole batch in rows)."""
    return a[0] if len(a) == 1 else a.sum(axis=0)


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
