"""Inputs an op cannot differentiate: refused at the call when they require grad, as PyTorch refuses them."""
from tinygraph.errors import OpError
from tinygraph.grad_mode import STATE


def refuse_gradient(ctx, op: str, arg_names: tuple[str, ...], refused: tuple[str, ...], why: str) -> None:
    """Raise an OpError naming the first of `refused` that requires grad while grad mode is on.

    A rule that returned None for such an input would leave its .grad None, silently.
    """
    if not STATE.grad_enabled:
        return
    for name, needs in zip(arg_names, ctx.needs_input_grad):
        if needs and name in refused:
            raise OpError(op, name, f"{op} is not differentiable with respect to {name} ({why}); this input "
                          "cannot require grad: pass it detached")
