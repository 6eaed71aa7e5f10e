"""Gradient clipping, as torch.nn.utils: `clip_grad_norm_` and `clip_grad_value_` (in place on `.grad`)."""
from __future__ import annotations

import math
from typing import Iterable

import numpy as np

from tinygraph.grad_mode import STATE
from tinygraph.tensor import Tensor


def clip_grad_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False) -> Tensor:
    """Scale every gradient by min(1, max_norm / (‖g‖ + 1e-6)), ‖g‖ the norm of all gradients as one vector.

    Returns that total norm (a 0-d tensor, in the gradients' dtype); parameters without a gradient
    are skipped. As in PyTorch, the gradients are multiplied even when the factor is 1, and a
    non-finite norm is an error only with error_if_nonfinite=True. float16 gradients are measured and
    scaled in float32 (as PyTorch's CPU kernels), so their norm is inf only when it is past 65,504 itself.
    """
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    if STATE.recorder is not None:          # tg.compile is recording: replayed as one call
        return STATE.recorder.around("nn.utils.clip_grad_norm_", clip_grad_norm_,
                                     (params, max_norm, norm_type, error_if_nonfinite))
    norm_type = float(norm_type)
    grads = [p._grad_array() for p in params if p._grad is not None]
    if not grads:
        return Tensor(np.array(0.0, dtype=np.float32))
    dtype = np.result_type(*grads)
    accumulate = np.dtype(np.float32) if dtype == np.float16 else dtype
    norms = np.array([_vector_norm(g.astype(np.float32) if g.dtype == np.float16 else g, norm_type) for g in grads],
                     dtype=accumulate)
    with np.errstate(over="ignore"):        # a float16 norm past 65,504 is inf, as PyTorch returns it
        total = _vector_norm(norms, norm_type).astype(dtype)
    if error_if_nonfinite and not np.isfinite(total):
        raise RuntimeError(f"nn.utils.clip_grad_norm_: the total norm of order {norm_type} of the gradients "
                           f"is {total}, so it cannot be clipped (pass error_if_nonfinite=False to scale anyway)")
    coefficient = np.minimum(accumulate.type(max_norm) / (total + accumulate.type(1e-6)), accumulate.type(1.0))
    for p in params:
        grad = p._grad_array()
        if grad is not None:
            # a new array, not *=: a gradient array may be shared or read-only
            p._grad = (grad * coefficient).astype(grad.dtype, copy=False)
    return Tensor(np.asarray(total))


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float) -> None:
    """Clamp every gradient element into [−clip_value, clip_value]."""
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    if STATE.recorder is not None:          # tg.compile is recording: replayed as one call
        return STATE.recorder.around("nn.utils.clip_grad_value_", clip_grad_value_, (params, clip_value))
    clip_value = float(clip_value)
    for p in params:
        grad = p._grad_array()
        if grad is not None:
            p._grad = np.clip(grad, -clip_value, clip_value).astype(grad.dtype, copy=False)


def _vector_norm(x: np.ndarray, order: float) -> np.generic:
    """‖x‖_order of all elements, in x's dtype: max |x| for inf, the count of non-zeros for 0."""
    magnitude = np.abs(x.reshape(-1))
    if order == math.inf:
        return magnitude.max(initial=0).astype(x.dtype)
    if order == -math.inf:
        return magnitude.min().astype(x.dtype)
    if order == 0:
        return x.dtype.type(np.count_nonzero(magnitude))
    if order == 1:
        return magnitude.sum(dtype=x.dtype)
    if order == 2:
        return np.sqrt(np.dot(magnitude, magnitude)).astype(x.dtype)
    return (magnitude ** order).sum(dtype=x.dtype) ** x.dtype.type(1 / order)
