"""a % b with the sign of b (Python's and torch.remainder's rule), with broadcasting."""
import numpy as np

from tinygraph.op import Op
from tinygraph.registry import register_op


@register_op("remainder", forward="{out} = {a} − {b} ⌊{a} / {b}⌋",
             backward=("δ{a} = δ{out}", "δ{b} = −δ{out} ⊙ ⌊{a} / {b}⌋"), broadcasting=True)
class Remainder(Op):
    """out = a − b·⌊a / b⌋;  δa = δout, δb = −δout ⊙ ⌊a / b⌋ (the quotient is flat between jumps)."""

    @staticmethod
    def forward(ctx, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        # (every element of b is used when the result has any element)
        if np.result_type(a, b).kind in "biu" and np.broadcast(a, b).size and not np.all(b):
            raise ZeroDivisionError(f"remainder: integer division by zero (a {a.shape}, b {b.shape})")
        if ctx.needs_input_grad[1]:
            ctx.save_for_backward(a, b)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.remainder(a, b)

    @staticmethod
    def backward(ctx, grad_out):
        need_a, need_b = ctx.needs_input_grad
        grad_b = None
        if need_b:
            a, b = ctx.saved
            with np.errstate(divide="ignore", invalid="ignore"):
                grad_b = -grad_out * np.floor_divide(a, b)
        return (grad_out if need_a else None, grad_b)

    # On Tensors the rule above is the same code: the quotient ⌊a / b⌋ is flat between jumps, so it
    # enters as a constant array, and −δout ⊙ ⌊a / b⌋ is recorded as a mul.
    differentiable_backward = backward
