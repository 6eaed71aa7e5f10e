"""Function transforms, with JAX's and torch.func's names: grad, value_and_grad, vjp, jvp, hvp, jacrev,
jacfwd, hessian. Each takes a function of tensors and gives a function (or values); they nest:
`grad(grad(f))(x)` is f''(x).

Every transform differentiates with `create_graph=True`, so what it returns can be differentiated
again. A plain array or number argument becomes a fresh leaf; a tensor that already requires grad
is used as it is, which is what lets an outer transform see through an inner one.

    d2 = tg.func.grad(tg.func.grad(lambda x: x ** 3))(tg.tensor(2.0))     # 6x = 12
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from tinygraph.engine import grad as _grad
from tinygraph.tensor import Tensor


def _as_input(x: Any) -> Tensor:
    """A tensor that requires grad: x itself if it does (keeping its graph), else a fresh leaf of its values."""
    if isinstance(x, Tensor):
        if x.requires_grad:
            return x
        data = x.data
    else:
        data = np.asarray(x)
    if data.dtype.kind != "f":
        data = data.astype(np.float64)
    return Tensor._wrap(np.array(data)).requires_grad_()


def _positions(argnums: int | Sequence[int], count: int, where: str) -> tuple[int, ...]:
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    for n in nums:
        if not -count <= n < count:
            raise ValueError(f"{where}: argnums {argnums!r} is out of range for {count} positional arguments")
    return tuple(n % count for n in nums)


def _zeros_for_unused(grads: tuple, inputs: Sequence[Tensor]) -> tuple:
    return tuple(Tensor._wrap(np.zeros_like(x.data)) if g is None else g for g, x in zip(grads, inputs))


def value_and_grad(f: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False) -> Callable:
    """`(f(*args), df/d args[argnums])`; f must return one element (and an aux value when has_aux)."""
    def value_and_gradient(*args, **kwargs):
        args = list(args)
        nums = _positions(argnums, len(args), "value_and_grad")
        for n in nums:
            args[n] = _as_input(args[n])
        result = f(*args, **kwargs)
        value, aux = result if has_aux else (result, None)
        if not isinstance(value, Tensor) or value.data.size != 1:
            raise TypeError(f"grad: the function must return a one-element tensor, got "
                            f"{value._label() if isinstance(value, Tensor) else type(value).__name__}; "
                            "use tg.func.vjp or jacrev for other outputs")
        inputs = [args[n] for n in nums]
        if value.requires_grad:
            grads = _grad(value, inputs, create_graph=True, allow_unused=True)
        else:
            grads = (None,) * len(inputs)
        grads = _zeros_for_unused(grads, inputs)
        gradient = grads[0] if isinstance(argnums, int) else grads
        return ((value, aux), gradient) if has_aux else (value, gradient)
    return value_and_gradient


def grad(f: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False) -> Callable:
    """The gradient function of a function with one-element output (JAX's and torch.func's `grad`)."""
    both = value_and_grad(f, argnums, has_aux)

    def gradient(*args, **kwargs):
        value, g = both(*args, **kwargs)
        return (g, value[1]) if has_aux else g
    return gradient


def vjp(f: Callable, *primals) -> tuple[Tensor, Callable]:
    """`(f(*primals), vjp_fn)`; `vjp_fn(v)` is vᵀJ for each primal (a tuple), differentiable again."""
    inputs = [_as_input(p) for p in primals]
    out = f(*inputs)

    def vjp_fn(cotangent) -> tuple:
        if not out.requires_grad:
            return _zeros_for_unused((None,) * len(inputs), inputs)
        grads = _grad(out, inputs, grad_outputs=cotangent if isinstance(cotangent, Tensor) else Tensor(cotangent),
                      retain_graph=True, create_graph=True, allow_unused=True)
        return _zeros_for_unused(grads, inputs)
    return out, vjp_fn


def jvp(f: Callable, primals: Sequence, tangents: Sequence) -> tuple[Tensor, Tensor]:
    """`(f(*primals), J·tangents)`, forward mode by the double-vjp trick: vᵀJ is linear in v, so the
    vjp of (v ↦ vᵀJ) along the tangents is J·tangents."""
    primals, tangents = tuple(primals), tuple(tangents)
    if len(primals) != len(tangents):
        raise ValueError(f"jvp: {len(primals)} primals but {len(tangents)} tangents")
    out, vjp_fn = vjp(f, *primals)
    cotangent = Tensor._wrap(np.zeros_like(out.data)).requires_grad_()
    pulled = vjp_fn(cotangent)
    total = None
    for p, t in zip(pulled, tangents):
        t = t if isinstance(t, Tensor) else Tensor(np.asarray(t, dtype=p.dtype))
        if t.shape != p.shape:
            raise ValueError(f"jvp: a tangent of shape {t.shape} for a primal of shape {p.shape}")
        term = (p * t).sum()
        total = term if total is None else total + term
    if total is None or not total.requires_grad:
        return out, Tensor._wrap(np.zeros_like(out.data))
    (directional,) = _grad(total, [cotangent], create_graph=True, allow_unused=True)
    return out, directional if directional is not None else Tensor._wrap(np.zeros_like(out.data))


def hvp(f: Callable, primals: Sequence, tangents: Sequence) -> tuple[Tensor, tuple]:
    """`(f(*primals), H·tangents)` for a function with one-element output (torch.autograd.functional.hvp)."""
    primals, tangents = tuple(primals), tuple(tangents)
    inputs = [_as_input(p) for p in primals]
    value, grads = value_and_grad(f, tuple(range(len(inputs))))(*inputs)
    total = None
    for g, t in zip(grads, tangents):
        t = t if isinstance(t, Tensor) else Tensor(np.asarray(t, dtype=g.dtype))
        term = (g * t).sum()
        total = term if total is None else total + term
    if total is None or not total.requires_grad:
        return value, _zeros_for_unused((None,) * len(inputs), inputs)
    return value, _zeros_for_unused(_grad(total, inputs, create_graph=True, allow_unused=True), inputs)


def jacrev(f: Callable, argnums: int = 0) -> Callable:
    """The Jacobian by reverse mode, one vjp per output element: shape out.shape + x.shape."""
    def jacobian(*args):
        args = list(args)
        (n,) = _positions(argnums, len(args), "jacrev")
        x = args[n] = _as_input(args[n])
        out = f(*args)
        rows = []
        for k in range(out.data.size):
            basis = np.zeros(out.data.size, dtype=out.dtype)
            basis[k] = 1
            if out.requires_grad:
                (row,) = _grad(out, [x], grad_outputs=Tensor._wrap(basis.reshape(out.shape)),
                               retain_graph=True, create_graph=True, allow_unused=True)
            else:
                row = None
            rows.append(Tensor._wrap(np.zeros_like(x.data)) if row is None else row)
        return _stacked(rows, out.shape + x.shape)
    return jacobian


def jacfwd(f: Callable, argnums: int = 0) -> Callable:
    """The Jacobian by forward mode (jvp), one column per input element: shape out.shape + x.shape."""
    def jacobian(*args):
        args = list(args)
        (n,) = _positions(argnums, len(args), "jacfwd")
        x = args[n] = _as_input(args[n])

        def of_x(value):
            return f(*args[:n], value, *args[n + 1:])
        columns = []
        out = None
        for k in range(x.data.size):
            basis = np.zeros(x.data.size, dtype=x.dtype)
            basis[k] = 1
            out, column = jvp(of_x, (x,), (Tensor._wrap(basis.reshape(x.shape)),))
            columns.append(column)
        if out is None:                            # x has no elements
            out = of_x(x)
            return Tensor._wrap(np.zeros(out.shape + x.shape, dtype=out.dtype))
        # columns[k] is ∂out/∂x_k (out's shape): stacked last, then the input's axes
        stacked = _stacked(columns, (x.data.size,) + out.shape)
        order = tuple(range(1, out.ndim + 1)) + (0,)
        return stacked.permute(*order).reshape(*(out.shape + x.shape)) if out.ndim else stacked.reshape(*x.shape)
    return jacobian


def hessian(f: Callable, argnums: int = 0) -> Callable:
    """The matrix of second derivatives of a one-element function: jacfwd(jacrev(f)), as in JAX."""
    return jacfwd(jacrev(f, argnums), argnums)


def _stacked(parts: list, shape: tuple) -> Tensor:
    from tinygraph.ops.cat import stack
    return stack([p.reshape(-1) if p.ndim else p.reshape(1) for p in parts]).reshape(*shape)
