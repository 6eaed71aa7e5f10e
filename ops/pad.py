"""Constant padding, PyTorch's F.pad: widen (or, with negative amounts, crop) the last axes of x."""
import numpy as np

from tinygraph.errors import OpError
from tinygraph.op import Context, Op, apply
from tinygraph.registry import register_op


@register_op("pad", forward="{out} = {x} surrounded by the constant value", backward="δ{x} = δ{out} inside the padding")
class Pad(Op):
    """y = x with pad = (left, right, top, bottom, …) elements of `value` around its last axes (last axis first).

    δx is δy without the padding: the padding is a constant. A negative amount crops instead.
    """

    @staticmethod
    def forward(ctx, x: np.ndarray, *, pad=(), value: float = 0) -> np.ndarray:
        inside_x, inside_out, shape = _regions(x.shape, pad)
        out = np.full(shape, value, dtype=x.dtype)
        out[inside_out] = x[inside_x]
        ctx.x_shape, ctx.inside_x, ctx.inside_out, ctx.pad = x.shape, inside_x, inside_out, tuple(pad)
        return out

    @staticmethod
    def jvp(ctx, tangents, inputs, out, attrs):
        """Forward mode: the tangent padded with zeros (the fill value is a constant, with no tangent)."""
        return Pad.forward(Context(ctx.needs_input_grad), tangents[0], **{**attrs, "value": 0})

    @staticmethod
    def backward(ctx, grad_out):
        grad_x = np.zeros(ctx.x_shape, dtype=grad_out.dtype)     # cropped elements had no effect
        grad_x[ctx.inside_x] = grad_out[ctx.inside_out]
        return (grad_x,)

    @staticmethod
    def differentiable_backward(ctx, grad_out):
        """δx = δy padded by the negated amounts: the padding cut off, zeros where x was cropped."""
        return (apply(Pad, grad_out, pad=tuple(-int(a) for a in ctx.pad)),)


def _regions(shape: tuple[int, ...], pad) -> tuple[tuple, tuple, tuple]:
    """(slices of x that are kept, where they land in the output, the output's shape)."""
    amounts = tuple(pad) if isinstance(pad, (tuple, list)) else None
    if amounts is None or not all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in amounts):
        raise OpError("pad", "pad", f"pad must be a tuple of ints (left, right, top, bottom, ...), got {pad!r} "
                      f"(input x {shape})")
    if len(amounts) % 2 or len(amounts) > 2 * len(shape):
        raise OpError("pad", "pad", f"pad needs an even number of amounts, at most 2 per axis of x, got "
                      f"{len(amounts)} for input x of shape {shape}")
    inside_x, inside_out, out_shape = [slice(None)] * len(shape), [slice(None)] * len(shape), list(shape)
    for k in range(len(amounts) // 2):
        axis, before, after = len(shape) - 1 - k, int(amounts[2 * k]), int(amounts[2 * k + 1])
        size = shape[axis] + before + after
        if size < 0:
            raise OpError("pad", "pad", f"pad {tuple(amounts)} would leave axis {axis} of input x {shape} "
                          f"with {size} elements")
        out_shape[axis] = size
        # x[j] lands at out[j + before]; keep the j for which both exist.
        first, last = max(0, -before), min(shape[axis], size - before)
        inside_x[axis] = slice(first, max(first, last))
        inside_out[axis] = slice(first + before, max(first, last) + before)
    return tuple(inside_x), tuple(inside_out), tuple(out_shape)
