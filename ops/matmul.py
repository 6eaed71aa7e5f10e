"""Matrix product with NumPy's rules: 2-D, batched with broadcast batch axes, and 1-D operands."""
import numpy as np

from tinygraph.errors import OpError
from tinygraph.op import Op
from tinygraph.parallel import Split
from tinygraph.recorded_backward import sum_to_shape
from tinygraph.registry import register_op


@register_op("matmul", forward="{out} = {a} {b}", backward=("δ{a} = δ{out} {b}ᵀ", "δ{b} = {a}ᵀ δ{out}"),
             broadcasting=True)
class MatMul(Op):
    """out = a @ b. Section 3.2 for s = U p: dL/dU = δs pᵀ and dL/dp = Uᵀ δs."""

    @staticmethod
    def forward(ctx, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if a.ndim == 0 or b.ndim == 0:
            argument = None if a.ndim == b.ndim == 0 else "a" if a.ndim == 0 else "b"
            raise OpError("matmul", argument,
                          f"operands must have at least 1 dimension, got shapes {a.shape} and {b.shape}")
        if a.shape[-1] != b.shape[-2 if b.ndim > 1 else 0]:
            raise OpError("matmul", None, f"inner dimensions differ: a has shape {a.shape} (last axis {a.shape[-1]}) "
                          f"and b has shape {b.shape} (axis {b.ndim - 2 if b.ndim > 1 else 0} is "
                          f"{b.shape[-2 if b.ndim > 1 else 0]})")
        try:
            out = np.matmul(a, b)
        except ValueError:
            raise OpError("matmul", None,
                          f"batch axes of a {a.shape[:-2]} and b {b.shape[:-2]} do not broadcast") from None
        ctx.save_for_backward(a, b)
        return out

    @staticmethod
    def jvp(ctx, tangents, inputs, out, attrs):
        """Forward mode: ṫ_out = ṫ_a @ b + a @ ṫ_b."""
        (ta, tb), (a, b) = tangents, inputs
        return (0 if ta is None else np.matmul(ta, b)) + (0 if tb is None else np.matmul(a, tb))

    @staticmethod
    def backward(ctx, grad_out):
        a, b = ctx.saved
        need_a, need_b = ctx.needs_input_grad
        if a.ndim == b.ndim == 2:
            return (grad_out @ b.T if need_a else None), (a.T @ grad_out if need_b else None)
        # Treat 1-D operands as a row (a) or a column (b), as np.matmul does, then drop that axis again.
        a2 = a[np.newaxis, :] if a.ndim == 1 else a
        b2 = b[:, np.newaxis] if b.ndim == 1 else b
        # Give δout back the axes matmul dropped: b's column axis first, then a's row axis (1-D @ 1-D is 0-D).
        g = grad_out
        if b.ndim == 1:
            g = g[..., np.newaxis]
        if a.ndim == 1:
            g = g[..., np.newaxis, :]
        grad_a = grad_b = None
        if need_a:
            grad_a = g @ np.swapaxes(b2, -1, -2)
            if a.ndim == 1:
                grad_a = grad_a[..., 0, :]
        if need_b:
            grad_b = np.swapaxes(a2, -1, -2) @ g
            if b.ndim == 1:
                grad_b = grad_b[..., 0]
        return grad_a, grad_b

    @staticmethod
    def differentiable_backward(ctx, grad_out):
        """The rule above on Tensors: δa = δout bᵀ, δb = aᵀ δout (batch axes summed where they broadcast)."""
        a, b = ctx.saved_whole(0), ctx.saved_whole(1)
        need_a, need_b = ctx.needs_input_grad
        a_shape, b_shape = a.shape, b.shape
        a, b = ctx.input(0, a), ctx.input(1, b)
        a2 = a.reshape(1, *a_shape) if len(a_shape) == 1 else a
        b2 = b.reshape(*b_shape, 1) if len(b_shape) == 1 else b
        g = grad_out
        if len(b_shape) == 1:
            g = g.reshape(*g.shape, 1)
        if len(a_shape) == 1:
            g = g.reshape(*g.shape[:-1], 1, g.shape[-1])
        grad_a = grad_b = None
        if need_a:
            grad_a = g @ b2.transpose(-1, -2)
            grad_a = sum_to_shape(grad_a.reshape(*grad_a.shape[:-2], grad_a.shape[-1]) if len(a_shape) == 1
                                  else grad_a, a_shape)
        if need_b:
            grad_b = a2.transpose(-1, -2) @ g
            grad_b = sum_to_shape(grad_b.reshape(*grad_b.shape[:-1]) if len(b_shape) == 1 else grad_b, b_shape)
        return grad_a, grad_b

    # For 2-D operands each row of a makes its own row of out; the work is out's size (or a's).
    split = Split(over="a",
                  work=lambda a, b: max(a.size, a.shape[0] * b.shape[-1]) if a.ndim == b.ndim == 2 else a.size,
                  sliced=lambda a, b: (True, False) if a.ndim == b.ndim == 2 else None)
