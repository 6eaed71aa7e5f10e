"""Forward-mode rules shared by ops: an op linear in its floating inputs needs no formula of its own.

For such an op (add, reshape, sum, getitem, cat, where with its condition fixed, ...) the map from
inputs to output is its own Jacobian: J·t = f(t), the forward rule run on the tangents, with a zero
for an input that carries none and integer or bool inputs (indices, masks) kept as they are.
Declared in the op's class as `jvp = ByLinearity()`.
"""
import numpy as np

from tinygraph.op import Context


class ByLinearity:
    """`jvp = ByLinearity()`: the op's forward rule, run on the tangents, is its forward-mode rule."""

    def __get__(self, instance, op):
        def jvp(ctx, tangents, inputs, out, attrs):
            args = [t if t is not None else (np.zeros_like(a) if a is not None and a.dtype.kind == "f" else a)
                    for t, a in zip(tangents, inputs)]
            return op.forward(Context(ctx.needs_input_grad), *args, **attrs)
        return jvp
