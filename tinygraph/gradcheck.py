"""gradcheck: compare the engine's gradients with central differences, in float64."""
from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from tinygraph.grad_mode import no_grad
from tinygraph.tensor import Tensor


class GradcheckError(AssertionError):
    """A backward rule disagrees with central differences (or with itself in another dtype)."""


# How far a float32 (float16) gradient may sit from the float64 one: relative, and absolute as a
# fraction of the largest float64 gradient entry (rounding error grows with the gradient's scale).
LOW_PRECISION_TOLERANCE = {np.dtype(np.float32): 1e-3, np.dtype(np.float16): 5e-2}


def gradcheck(fn: Callable[..., Tensor], *inputs: Any, eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-3, seed: int = 0) -> bool:
    """Check d fn / d input for every tensor input with requires_grad=True.

    Floating inputs are copied to float64 (keeping their memory layout, so a transposed input
    stays transposed). A non-scalar output is reduced with fixed random weights r
    (loss = Σ r ⊙ fn(...)), so every output element is checked. Each input element is nudged by
    ±eps and the slope (f(x+eps) − f(x−eps)) / 2eps is compared with the analytic gradient:
    |analytic − numeric| ≤ atol + rtol·|numeric| everywhere. NaN or Inf in either slope fails.

    Inputs given in float32 (or float16) are then also run in their own dtype, and the gradients
    the rules return there must match the float64 ones to that dtype's precision — so a rule wrong
    only in float32 fails too. Raises GradcheckError naming the input, the index and both values;
    returns True when everything passes.
    """
    _check_settings(eps, atol, rtol)
    checked = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input has requires_grad=True, so there is nothing to check")
    copies = [_copy(x, np.float64) for x in inputs]
    out = fn(*copies)
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: fn must return a Tensor, got {type(out).__name__}")
    if out.dtype != np.float64:
        raise GradcheckError(f"gradcheck: fn returned dtype {out.dtype} on float64 inputs; "
                             "an op is casting (check every forward keeps the input dtype)")
    weights = np.random.default_rng(seed).uniform(0.5, 1.5, size=out.shape)
    out.backward(weights)

    def probe() -> float:
        with no_grad():
            return float(np.sum(fn(*copies).data * weights))

    analytic64 = {}
    for i in checked:
        x = copies[i]
        analytic = np.zeros_like(x.data) if x.grad is None else x._grad_array()
        numeric = np.zeros_like(x.data)
        for index in np.ndindex(x.shape):        # works for any layout: no flat view needed
            original = x.data[index]
            x.data[index] = original + eps
            plus = probe()
            x.data[index] = original - eps
            minus = probe()
            x.data[index] = original
            numeric[index] = (plus - minus) / (2 * eps)
        label = _label(inputs, i)
        _require_finite(analytic, "analytic", label)
        _require_finite(numeric, "numeric", label)
        excess = np.abs(analytic - numeric) - (atol + rtol * np.abs(numeric))
        worst = _worst(excess)
        if worst is not None:
            raise GradcheckError(
                f"gradcheck failed for {label} of shape {x.shape}: at index {_index(worst)} "
                f"analytic {analytic[worst]:.8g} vs numeric {numeric[worst]:.8g} "
                f"(atol={atol}, rtol={rtol}; {int((excess > 0).sum())} of {excess.size} elements off)")
        analytic64[i] = analytic
    _check_low_precision(fn, inputs, checked, weights, analytic64)
    return True


def _check_settings(eps: float, atol: float, rtol: float) -> None:
    for name, value in (("eps", eps), ("atol", atol), ("rtol", rtol)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise ValueError(f"gradcheck: {name} must be a finite number >= 0, got {value!r}")
    if eps == 0:
        raise ValueError("gradcheck: eps must be > 0 (it is the step of the central difference)")


def _check_low_precision(fn, inputs, checked, weights, analytic64) -> None:
    """Run fn on the inputs' own float32/float16 dtypes and compare its gradients with float64's."""
    low = {x.dtype for x in inputs if isinstance(x, Tensor) and x.dtype in LOW_PRECISION_TOLERANCE}
    if not low:
        return
    copies = [_copy(x, None) for x in inputs]
    out = fn(*copies)
    out.backward(weights.astype(out.dtype))
    for i in checked:
        x = copies[i]
        if x.dtype not in LOW_PRECISION_TOLERANCE:
            continue
        label = _label(inputs, i)
        grad = x._grad_array()
        if grad is None:
            raise GradcheckError(f"gradcheck: {label} got no gradient in {x.dtype}, but one in float64")
        if grad.dtype != x.dtype:
            raise GradcheckError(f"gradcheck: {label} is {x.dtype} but its gradient came back as {grad.dtype}")
        _require_finite(grad, f"{x.dtype} analytic", label)
        reference = analytic64[i]
        tolerance = LOW_PRECISION_TOLERANCE[x.dtype]
        scale = float(np.max(np.abs(reference))) if reference.size else 0.0
        excess = np.abs(grad - reference) - tolerance * (np.abs(reference) + scale)
        worst = _worst(excess)
        if worst is not None:
            raise GradcheckError(
                f"gradcheck failed for {label} in {x.dtype}: at index {_index(worst)} the {x.dtype} rule gives "
                f"{grad[worst]:.8g} but the float64 rule {reference[worst]:.8g} (which matches central "
                f"differences; tolerance {tolerance} relative to the entry and to the largest entry)")


def _worst(excess: np.ndarray) -> tuple | None:
    """The index where a gradient is furthest past its tolerance, or None when none is."""
    if not excess.size or excess.max() <= 0:
        return None
    return np.unravel_index(int(np.argmax(excess)), excess.shape)


def _require_finite(values: np.ndarray, what: str, label: str) -> None:
    bad = ~np.isfinite(values)
    if bad.any():
        index = np.unravel_index(int(np.argmax(bad)), values.shape)
        raise GradcheckError(f"gradcheck failed for {label}: the {what} gradient is {values[index]} at index "
                             f"{_index(index)} ({int(bad.sum())} of {values.size} entries not finite); "
                             "move the inputs away from the op's domain edge or fix the rule")


def _copy(x: Any, dtype) -> Any:
    """A fresh, writable copy of a floating tensor (in `dtype`, or its own); other inputs as given."""
    if isinstance(x, Tensor) and x.dtype.kind == "f":
        data = x.data.astype(dtype or x.dtype, order="K", copy=True)
        copy = Tensor._wrap(data)
        copy.name = x.name
        copy.requires_grad = x.requires_grad
        return copy
    return x


def _label(inputs, i: int) -> str:
    name = getattr(inputs[i], "name", None)
    return f"input {i}" + (f" ('{name}')" if name else "")


def _index(index) -> tuple[int, ...]:
    return tuple(int(k) for k in index)


def gradgradcheck(fn: Callable[..., Tensor], *inputs: Any, eps: float = 1e-6, atol: float = 1e-5,
                  rtol: float = 1e-3, seed: int = 0) -> bool:
    """Check second derivatives: `gradcheck` of fn's gradients, taken with create_graph=True.

    First, the gradients the recorded rules give (create_graph=True) must equal the NumPy rules'
    (a differentiable_backward that computes a different first derivative is caught here, which the
    next step alone would miss). Then the first derivative is weighted into one number,
    g(x, v) = Σ_k u_k · (vᵀ ∂fn/∂x_k)(x) with fixed random u_k and output weights v, and gradcheck
    compares its gradient — Hessian-vector products in x, and the first-order rule itself in v — with
    central differences. A rule whose gradient cannot be differentiated (no differentiable_backward)
    raises its "backward is not differentiable".
    """
    from tinygraph.engine import grad
    from tinygraph.grad_mode import enable_grad

    checked = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not checked:
        raise ValueError("gradgradcheck: no input has requires_grad=True, so there is nothing to check")
    with no_grad():
        shape = fn(*[_copy(x, np.float64) for x in inputs]).shape
    rng = np.random.default_rng(seed + 1)
    output_weights = Tensor(rng.uniform(0.5, 1.5, size=shape), requires_grad=True, name="v")
    directions = [rng.uniform(0.5, 1.5, size=inputs[i].shape) for i in checked]

    copies = [_copy(x, np.float64) for x in inputs]
    checked_copies = [copies[i] for i in checked]
    out = fn(*copies)               # one forward; its graph differentiated by both kinds of rules
    plain = grad(out, checked_copies, grad_outputs=output_weights.data, retain_graph=True, allow_unused=True)
    recorded = grad(out, checked_copies, grad_outputs=output_weights.data, create_graph=True, allow_unused=True)
    for i, first, second in zip(checked, plain, recorded):
        if (first is None) != (second is None):
            raise GradcheckError(f"gradgradcheck: {_label(inputs, i)} gets a gradient from only one of the "
                                 "NumPy rules and the recorded rules")
        if first is not None:
            scale = float(np.max(np.abs(first.data))) if first.data.size else 0.0
            off = np.abs(second.data - first.data) > 1e-9 * np.abs(first.data) + 1e-12 * max(scale, 1.0)
            if off.any():
                index = tuple(int(k) for k in np.argwhere(off)[0])
                raise GradcheckError(
                    f"gradgradcheck: the recorded rules (differentiable_backward) give {_label(inputs, i)} the "
                    f"gradient {second.data[index]:.10g} at index {index}, the NumPy rules {first.data[index]:.10g}")

    def weighted_first_derivative(*args: Any) -> Tensor:
        *xs, v = args
        with enable_grad():
            out = fn(*xs)
            grads = grad(out, [xs[i] for i in checked], grad_outputs=v, create_graph=True, allow_unused=True)
            total = (v * 0.0).sum()
            for g, u in zip(grads, directions):
                if g is not None:
                    total = total + (g * u).sum()
        return total

    return gradcheck(weighted_first_derivative, *inputs, output_weights, eps=eps, atol=atol, rtol=rtol, seed=seed)
