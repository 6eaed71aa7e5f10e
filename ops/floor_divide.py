"""a // b: the quotient rounded down (Python's and torch.floor_divide's rule), with broadcasting."""
import numpy as np

from tinygraph.op import Op
from tinygraph.registry import register_op
from tinygraph.tensor import Tensor


@register_op("floor_divide", forward="{out} = ⌊{a} / {b}⌋", backward=("δ{a} = 0", "δ{b} = 0"), broadcasting=True)
class FloorDivide(Op):
    """out = ⌊a / b⌋ (for floats as Python's //, from fmod, so 1.0 // 0.1 = 9);  δa = δb = 0: flat between jumps."""

    @staticmethod
    def forward(ctx, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        # (every element of b is used when the result has any element)
        if np.result_type(a, b).kind in "biu" and np.broadcast(a, b).size and not np.all(b):
            raise ZeroDivisionError(f"floor_divide: integer division by zero (a {a.shape}, b {b.shape})")
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.floor_divide(a, b)

    @staticmethod
    def jvp(ctx, tangents, inputs, out, attrs):
        """Forward mode: a step function, flat wherever it has a slope: a zero tangent."""
        return np.zeros_like(out)

    @staticmethod
    def backward(ctx, grad_out):
        need_a, need_b = ctx.needs_input_grad
        return (np.zeros_like(grad_out) if need_a else None, np.zeros_like(grad_out) if need_b else None)

    @staticmethod
    def differentiable_backward(ctx, grad_out):
        """δa = δb = 0 as constant Tensors (PyTorch's zeros_like(grad)): no curvature either."""
        need_a, need_b = ctx.needs_input_grad
        return (Tensor(np.zeros(grad_out.shape, grad_out.dtype)) if need_a else None,
                Tensor(np.zeros(grad_out.shape, grad_out.dtype)) if need_b else None)
