"""2-D transposed convolution: the adjoint of conv2d's map from input to output, as torch's conv_transpose2d."""
import numpy as np

from tinygraph.errors import OpError
from tinygraph.op import Op
from tinygraph.ops._windows import add_windows, pair, windows
from tinygraph.ops.cat import cat
from tinygraph.registry import register_op


@register_op("conv_transpose2d", forward="{out} = {w}ᵀ ⋆ {x} + {b}",
             backward=("δ{x} = {w} ⋆ δ{out} (a conv2d)",
                       "∂L/∂{w} = Σ_nuv {x} · δ{out}-window",
                       "∂L/∂{b} = Σ_nhw δ{out}"))
class ConvTranspose2d(Op):
    """Y = Wᵀ ⋆ X + b: each input pixel X[n,f,u,v] spreads W[f,c,i,j]·X onto Y at (u·s + i·d − p, v·s + j·d − p).

    x (N, Cin, H, W), w (Cin, Cout/groups, KH, KW), b (Cout,) or None. With Yp the output before
    its `padding` rows/columns are cut off (and `output_padding` extra at the bottom/right):

        Yp[n, c, u·s + i·d, v·s + j·d] += Σ_f W[f, c, i, j] X[n, f, u, v]        (f, c in one group)
        Y = Yp[p : p + Ho] + b,  Ho = (H − 1)·s − 2p + d·(KH − 1) + output_padding + 1

    This is conv2d's δX = Σ_f Σ_ij δZ · W (eq. 3) read as a forward map, so its rules are conv2d's
    other two: δX = W ⋆ δYp (a conv2d of the zero-padded δY), δW = Σ_nuv X · δYp-window, δb = Σ δY.
    """

    @staticmethod
    def forward(ctx, x: np.ndarray, w: np.ndarray, b: np.ndarray = None, *, stride=1, padding=0,
                output_padding=0, groups=1, dilation=1) -> np.ndarray:
        stride, padding, output_padding, dilation, G = _check(x, w, b, stride, padding, output_padding, groups,
                                                              dilation)
        N, C_in, H, W_ = x.shape
        _, C_group, KH, KW = w.shape
        C_out = C_group * G
        Hp = (H - 1) * stride[0] + dilation[0] * (KH - 1) + 1 + output_padding[0]
        Wp = (W_ - 1) * stride[1] + dilation[1] * (KW - 1) + 1 + output_padding[1]
        Ho, Wo = Hp - 2 * padding[0], Wp - 2 * padding[1]
        if Ho < 1 or Wo < 1:
            raise OpError("conv_transpose2d", "padding", f"padding {padding} leaves an output of {Ho}×{Wo} "
                          f"(input x {x.shape}, weight w {w.shape}, stride {stride}, dilation {dilation})")
        W_groups = w.reshape(G, C_in // G, C_group, KH, KW)                  # W[g, f, c, i, j]
        X_groups = x.reshape(N, G, C_in // G, H, W_)                         # X[n, g, f, u, v]
        # Σ_f W[f, c, i, j] X[n, f, u, v]: what pixel (u, v) adds at offset (i, j) of its window.
        spread = np.einsum("gfcij,ngfuv->ngcuvij", W_groups, X_groups, optimize=True)
        Yp = add_windows(spread.reshape(N, C_out, H, W_, KH, KW), (N, C_out, Hp, Wp), stride, dilation)
        Y = Yp[:, :, padding[0]:padding[0] + Ho, padding[1]:padding[1] + Wo]
        if b is not None:
            Y = Y + b[:, np.newaxis, np.newaxis]
        need_x, need_w, _ = ctx.needs_input_grad
        ctx.save_for_backward(x if need_w else None, W_groups if need_x else None)
        ctx.shapes = (x.shape, w.shape, (N, C_out, Hp, Wp))
        ctx.stride, ctx.padding, ctx.dilation, ctx.groups = stride, padding, dilation, G
        return np.ascontiguousarray(Y)

    @staticmethod
    def backward(ctx, grad_out):
        X, W_groups = ctx.saved
        need_x, need_w, need_b = ctx.needs_input_grad
        (N, C_in, H, W_), w_shape, padded = ctx.shapes
        (ph, pw), G = ctx.padding, ctx.groups
        _, C_group, KH, KW = w_shape
        grad_Yp = np.zeros(padded, dtype=grad_out.dtype)                       # δYp: δY inside, 0 in the cut rows
        grad_Yp[:, :, ph:ph + grad_out.shape[2], pw:pw + grad_out.shape[3]] = grad_out
        # δYp's window at (u, v): the places pixel (u, v) spread to. [:H, :W]: output_padding ≥ stride adds none.
        grad_windows = windows(grad_Yp, (KH, KW), ctx.stride, ctx.dilation)[:, :, :H, :W_]
        grad_windows = grad_windows.reshape(N, G, C_group, H, W_, KH, KW)     # δYp-window[n, g, c, u, v, i, j]
        grad_x = grad_w = grad_b = None
        if need_x:                       # δX[n, f, u, v] = Σ_cij W[f, c, i, j] δYp-window[n, c, u, v, i, j]
            grad_x = np.einsum("gfcij,ngcuvij->ngfuv", W_groups, grad_windows, optimize=True).reshape(N, C_in, H, W_)
        if need_w:                       # δW[f, c, i, j] = Σ_nuv X[n, f, u, v] δYp-window[n, c, u, v, i, j]
            X_groups = X.reshape(N, G, C_in // G, H, W_)
            grad_w = np.einsum("ngfuv,ngcuvij->gfcij", X_groups, grad_windows, optimize=True).reshape(w_shape)
        if need_b:                       # δb[c] = Σ_nhw δY[n, c, h, w]
            grad_b = grad_out.sum(axis=(0, 2, 3))
        return grad_x, grad_w, grad_b

    @staticmethod
    def differentiable_backward(ctx, grad_out):
        """The rules above as ops: δX = W ⋆ δY (a conv2d padded as Y was cut), δW a conv2d of δY (batch as
        channels) with X as the filters, as conv2d's own eq. (2), and δb = Σ δY."""
        X, W_groups = ctx.saved
        need_x, need_w, need_b = ctx.needs_input_grad
        (N, C_in, H, W_), w_shape, _ = ctx.shapes
        G, (C_group, KH, KW) = ctx.groups, w_shape[1:]
        grad_x = grad_w = grad_b = None
        if need_x:
            w = ctx.input(1, W_groups.reshape(w_shape))
            # Tensor.conv2d, not Conv2d: ops/conv2d.py imports this module, not the other way round.
            grad_x = grad_out.conv2d(w, stride=ctx.stride, padding=ctx.padding, dilation=ctx.dilation, groups=G)
            if grad_x.shape[2:] != (H, W_):           # output_padding ≥ stride: rows no pixel spread to
                grad_x = grad_x[:, :, :H, :W_]
        if need_w:
            x, C_in_group = ctx.input(0, X), C_in // G
            per_group = []
            for g in range(G):
                xg = x if G == 1 else x[:, g * C_in_group:(g + 1) * C_in_group]
                dg = grad_out if G == 1 else grad_out[:, g * C_group:(g + 1) * C_group]
                windows_by_x = dg.transpose(0, 1).conv2d(xg.transpose(0, 1), stride=ctx.dilation,
                                                         padding=ctx.padding, dilation=ctx.stride)
                per_group.append(windows_by_x.transpose(0, 1)[:, :, :KH, :KW])
            grad_w = per_group[0] if G == 1 else cat(per_group, dim=0)
        if need_b:
            grad_b = grad_out.sum((0, 2, 3))
        return grad_x, grad_w, grad_b


def _check(x, w, b, stride, padding, output_padding, groups, dilation):
    def shapes():
        return f"input x {x.shape}, weight w {w.shape}"
    if x.ndim != 4:
        raise OpError("conv_transpose2d", "x", f"input x must be 4-D (N, Cin, H, W), got shape {x.shape}")
    if w.ndim != 4 or min(w.shape[2:]) < 1:
        raise OpError("conv_transpose2d", "w", f"weight w must be 4-D (Cin, Cout/groups, KH, KW) with a kernel of "
                      f"at least 1×1, got shape {w.shape}")
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1 or x.shape[1] % groups:
        raise OpError("conv_transpose2d", "groups", f"groups must be a positive int dividing Cin, got {groups!r} "
                      f"({shapes()})")
    if x.shape[1] != w.shape[0]:
        raise OpError("conv_transpose2d", None, f"input x has Cin={x.shape[1]} channels but weight w has "
                      f"{w.shape[0]} input channels on its axis 0 ({shapes()})")
    if b is not None and b.shape != (w.shape[1] * groups,):
        raise OpError("conv_transpose2d", "b", f"bias b must have shape ({w.shape[1] * groups},), one per output "
                      f"channel, got shape {b.shape} ({shapes()})")
    stride = pair(stride, "conv_transpose2d", "stride", minimum=1, shapes=shapes)
    padding = pair(padding, "conv_transpose2d", "padding", minimum=0, shapes=shapes)
    output_padding = pair(output_padding, "conv_transpose2d", "output_padding", minimum=0, shapes=shapes)
    dilation = pair(dilation, "conv_transpose2d", "dilation", minimum=1, shapes=shapes)
    for axis in range(2):
        if output_padding[axis] >= max(stride[axis], dilation[axis]):
            raise OpError("conv_transpose2d", "output_padding", f"output_padding {output_padding} must be smaller "
                          f"than stride {stride} or dilation {dilation} ({shapes()})")
    return stride, padding, output_padding, dilation, int(groups)
