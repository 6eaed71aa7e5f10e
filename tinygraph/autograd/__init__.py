"""tg.autograd: extend tinygraph the PyTorch way.

    class Square(tg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, grad_out):
            (x,) = ctx.saved_tensors
            return 2 * x * grad_out

    y = Square.apply(x)

A Function works on Tensors, as torch.autograd.Function does; underneath, each one becomes an op
(tinygraph/autograd/function.py), so it draws, traces and gradchecks like a registered op.
`tg.register_op` stays the way to add a built-in op on plain arrays.
"""
from tinygraph.autograd import forward_ad, function
from tinygraph.autograd.function import Function, FunctionCtx, once_differentiable
from tinygraph.engine import backward, grad      # torch.autograd.grad / backward, create_graph included

__all__ = ["Function", "FunctionCtx", "backward", "forward_ad", "function", "grad", "once_differentiable"]
