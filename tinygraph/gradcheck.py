"""gradcheck: compare the engine's gradients with central differences, in float64."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from tinygraph.grad_mode import no_grad
from tinygraph.tensor import Tensor


class GradcheckError(AssertionError):
    """A backward rule disagrees with central differences."""


def gradcheck(fn: Callable[..., Tensor], *inputs: Any, eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-3, seed: int = 0) -> bool:
    """Check d fn / d input for every tensor input with requires_grad=True.

    Floating inputs are copied to float64 first. A non-scalar output is reduced with fixed random
    weights r (loss = Σ r ⊙ fn(...)), so every output element is checked. Each input element is
    nudged by ±eps and the slope (f(x+eps) − f(x−eps)) / 2eps is compared with the analytic
    gradient: |analytic − numeric| ≤ atol + rtol·|numeric| everywhere, or GradcheckError names the
    input, the worst index and both values. Returns True when every input passes.
    """
    copies = [_float64_copy(x) for x in inputs]
    checked = [i for i, x in enumerate(copies) if isinstance(x, Tensor) and x.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input has requires_grad=True, so there is nothing to check")
    out = fn(*copies)
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: fn must return a Tensor, got {type(out).__name__}")
    if out.data.dtype != np.float64:
        raise GradcheckError(f"gradcheck: fn returned dtype {out.data.dtype} on float64 inputs; "
                             "an op is casting (check every forward keeps the input dtype)")
    weights = np.random.default_rng(seed).uniform(0.5, 1.5, size=out.data.shape)
    out.backward(weights)

    def probe() -> float:
        with no_grad():
            return float(np.sum(fn(*copies).data * weights))

    for i in checked:
        x = copies[i]
        analytic = np.zeros_like(x.data) if x.grad is None else x.grad
        numeric = np.zeros_like(x.data)
        flat = x.data.reshape(-1)  # a view: nudging it nudges the input
        numeric_flat = numeric.reshape(-1)
        for j in range(flat.size):
            original = flat[j]
            flat[j] = original + eps
            plus = probe()
            flat[j] = original - eps
            minus = probe()
            flat[j] = original
            numeric_flat[j] = (plus - minus) / (2 * eps)
        excess = np.abs(analytic - numeric) - (atol + rtol * np.abs(numeric))
        if excess.size and (excess.max() > 0 or not np.isfinite(analytic).all()):
            worst = np.unravel_index(np.nanargmax(np.where(np.isfinite(excess), excess, np.inf)), x.data.shape)
            label = f"input {i}" + (f" ('{inputs[i].name}')" if getattr(inputs[i], "name", None) else "")
            raise GradcheckError(
                f"gradcheck failed for {label} of shape {x.data.shape}: at index {tuple(int(k) for k in worst)} "
                f"analytic {analytic[worst]:.8g} vs numeric {numeric[worst]:.8g} "
                f"(atol={atol}, rtol={rtol}; {int((excess > 0).sum())} of {excess.size} elements off)")
    return True


def _float64_copy(x: Any) -> Any:
    if isinstance(x, Tensor) and x.data.dtype.kind == "f":
        return Tensor(x.data.astype(np.float64), requires_grad=x.requires_grad, name=x.name)
    return x
