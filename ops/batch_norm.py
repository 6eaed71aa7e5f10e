"""Batch normalisation: each channel standardised by its batch statistics (training) or running ones (eval)."""
import math

import numpy as np

from tinygraph import buffers
from tinygraph.errors import OpError
from tinygraph.op import Op
from tinygraph.ops._axes import accumulating
from tinygraph.ops._inputs import refuse_gradient
from tinygraph.recorded_backward import by_composition
from tinygraph.registry import register_op


@register_op("batch_norm", forward="{out} = {weight} ⊙ ({x} − μ) / √(σ² + ε) + {bias}",
             backward=("δ{x} = γ/(m√(σ² + ε)) · (m δ{out} − Σ δ{out} − x̂ Σ δ{out} ⊙ x̂)  (training; eval: γ δ{out} / √(σ² + ε))",
                       "∂L/∂{weight} = Σ δ{out} ⊙ x̂", "∂L/∂{bias} = Σ δ{out}",
                       "δ{running_mean}: none (a statistic, updated in place when training)",
                       "δ{running_var}: none (a statistic, updated in place when training)"))
class BatchNorm(Op):
    """y = γ x̂ + β, x̂ = (x − μ) / √(σ² + ε) per channel (axis 1 of x (N, C, ...)), Σ over the m values of a channel.

    training: μ, σ² are the batch's mean and biased variance, and running_mean / running_var (if given)
    move towards μ and the unbiased variance by `momentum`, in place. Eval: μ, σ² are the running ones.
    float16 is computed in float32 and rounded once, as PyTorch's CPU kernel (its sums overflow otherwise).
    """

    @staticmethod
    def forward(ctx, x: np.ndarray, weight: np.ndarray = None, bias: np.ndarray = None,
                running_mean: np.ndarray = None, running_var: np.ndarray = None, *,
                training: bool = False, momentum: float = 0.1, eps: float = 1e-5) -> np.ndarray:
        _check(x, weight, bias, running_mean, running_var, training)
        refuse_gradient(ctx, "batch_norm", BatchNorm.arg_names, ("running_mean", "running_var"),
                        "running statistics are updated in place, not differentiated")
        # float16: statistics and normalisation in float32, rounded once at the end; integers: float64, as NumPy
        dtype = accumulating(x.dtype) if x.dtype.kind == "f" else np.dtype(np.float64)
        ctx.out_dtype = None
        if dtype != x.dtype:
            ctx.out_dtype = x.dtype if x.dtype.kind == "f" else None
            x, weight, bias = (None if a is None else a.astype(dtype) for a in (x, weight, bias))
        m = x.size // x.shape[1]                               # values per channel
        x_mu = buffers.empty(x.shape, x.dtype)                 # x − μ, kept for backward (x̂ = (x − μ)/√(σ² + ε))
        if training:
            with np.errstate(invalid="ignore", divide="ignore"):     # an empty batch: NaN statistics, no rows to use them
                mean = channel_sums(x) / m
                np.subtract(x, along_channels(mean, x), out=x_mu)
                var = channel_sums(x_mu, x_mu) / m             # σ², biased: what normalises
            for running, batch in ((running_mean, mean), (running_var, var * m / max(m - 1, 1))):
                if running is not None and m:                  # an empty batch leaves them, as PyTorch
                    running[...] = (1 - momentum) * running + momentum * batch
        else:
            mean, var = running_mean.astype(x.dtype, copy=False), running_var.astype(x.dtype, copy=False)
            np.subtract(x, along_channels(mean, x), out=x_mu)
        inv_std = (1 / np.sqrt(var + eps)).astype(x.dtype, copy=False)
        scale = inv_std if weight is None else weight * inv_std            # γ/√(σ² + ε), so γ x̂ in one pass
        y = buffers.empty(x.shape, np.result_type(x_mu, scale, *([] if bias is None else [bias])))
        np.multiply(x_mu, along_channels(scale, x), out=y)                  # γ x̂
        if bias is not None:
            np.add(y, along_channels(bias, x), out=y)                       # + β
        ctx.save_for_backward(x_mu, inv_std, weight)
        ctx.training, ctx.eps = training, eps
        return y if ctx.out_dtype is None else y.astype(ctx.out_dtype)

    @staticmethod
    def backward(ctx, grad_out):
        """δx = γ/√(σ² + ε) ⊙ (δy − mean(δy) − x̂ ⊙ mean(δy ⊙ x̂)) in training, the means per channel."""
        x_mu, inv_std, gamma = ctx.saved                      # x − μ, 1/√(σ² + ε), γ
        if ctx.out_dtype is not None:                         # float16, computed in float32
            grads = BatchNorm.backward_in(ctx, grad_out.astype(x_mu.dtype), x_mu, inv_std, gamma)
            return tuple(None if g is None else g.astype(ctx.out_dtype) for g in grads)
        return BatchNorm.backward_in(ctx, grad_out, x_mu, inv_std, gamma)

    @staticmethod
    def backward_in(ctx, grad_out, x_mu, inv_std, gamma):
        """backward's work, in the dtype the forward computed in."""
        need_x, need_weight, need_bias = ctx.needs_input_grad[:3]
        if grad_out.size == 0:             # an empty batch: its NaN statistics scale no rows, so all is 0
            zeros = np.zeros(grad_out.shape[1], grad_out.dtype)
            return (np.zeros_like(grad_out) if need_x else None, zeros if need_weight else None,
                    zeros if need_bias else None, None, None)
        through_statistics = need_x and ctx.training          # μ and σ² depend on x too
        sum_grad = channel_sums(grad_out) if need_bias or through_statistics else None        # Σ δy
        sum_grad_x_hat = None
        if need_weight or through_statistics:                                                  # Σ δy ⊙ x̂
            sum_grad_x_hat = channel_sums(grad_out, x_mu) * inv_std
        grad_x = None
        if need_x:
            scale = inv_std if gamma is None else gamma * inv_std                   # γ / √(σ² + ε)
            grad_x = buffers.empty(grad_out.shape, np.result_type(grad_out, x_mu, scale))
            if through_statistics:           # subtract their share, per channel
                m = grad_out.size // grad_out.shape[1]
                x_hat_share = along_channels(inv_std * sum_grad_x_hat / m, grad_out)   # x̂ = (x − μ) / √(σ² + ε)
                np.multiply(x_mu, x_hat_share, out=grad_x)                              # x̂ ⊙ mean(δy ⊙ x̂)
                np.add(grad_x, along_channels(sum_grad / m, grad_out), out=grad_x)     # + mean(δy)
                np.subtract(grad_out, grad_x, out=grad_x)                               # δy − ...
                np.multiply(grad_x, along_channels(scale, grad_out), out=grad_x)        # ⊙ γ / √(σ² + ε)
            else:
                np.multiply(grad_out, along_channels(scale, grad_out), out=grad_x)
        return (grad_x, sum_grad_x_hat if need_weight else None, sum_grad if need_bias else None, None, None)

    differentiable_backward = by_composition(lambda ctx, x, weight, bias, mean, var: _composed(ctx, x, weight, bias))


def _composed(ctx, x, weight, bias):
    """γ (x − μ) / √(σ² + ε) + β in ops: μ and σ² of the batch in training, the running ones (constants) in eval."""
    x_mu, inv_std, _ = ctx.saved
    axes = (0,) + tuple(range(2, x.ndim))
    along = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    if ctx.training:
        centred = x - x.mean(axes, keepdim=True)
        x_hat = centred / ((centred * centred).mean(axes, keepdim=True) + ctx.eps).sqrt()
    else:                                     # x − μ with μ constant: x minus what forward subtracted
        x_hat = (x - (x.data - x_mu.astype(x.dtype, copy=False))) * inv_std.astype(x.dtype).reshape(along)
    y = x_hat if weight is None else x_hat * weight.reshape(*along)
    return y if bias is None else y + bias.reshape(*along)


def channel_sums(a: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """Σ a (or Σ a ⊙ b) over every axis but axis 1: one value per channel, with no array of products.

    einsum sums each sample's contiguous block of a channel in one loop; ndarray.sum over axes
    (0, 2, 3) runs many short strided loops instead, and a ⊙ b would be one more array.
    """
    a3 = a.reshape(a.shape[0], a.shape[1], math.prod(a.shape[2:]))      # not -1: an empty batch leaves it open
    if b is None:
        return np.einsum("ncl->c", a3)
    return np.einsum("ncl,ncl->c", a3, b.reshape(a3.shape))


def along_channels(v: np.ndarray, like: np.ndarray) -> np.ndarray:
    """A (C,) vector laid along axis 1 of `like` (N, C, ...), repeated over the trailing axes: (C, ...).

    Broadcast over N only, NumPy runs one contiguous loop per sample; broadcast as (1, C, 1, 1) it
    runs one short loop per channel of each sample instead, which is slower.
    """
    if like.ndim == 2:
        return v
    return v.repeat(math.prod(like.shape[2:])).reshape(like.shape[1:])


def _check(x, weight, bias, running_mean, running_var, training) -> None:
    if x.ndim < 2:
        raise OpError("batch_norm", "x", f"input x must be (N, C) or (N, C, ...), got shape {x.shape}")
    channels = x.shape[1]
    for name, vector in (("weight", weight), ("bias", bias), ("running_mean", running_mean),
                         ("running_var", running_var)):
        if vector is not None and vector.shape != (channels,):
            raise OpError("batch_norm", name, f"{name} must have shape ({channels},), one per channel of "
                          f"input x {x.shape}, got shape {vector.shape}")
    if training and x.size // max(channels, 1) == 1:        # an empty batch is allowed, as in PyTorch
        raise OpError("batch_norm", "x", f"training needs more than one value per channel to take a "
                      f"variance, got input x of shape {x.shape}")
    if not training and (running_mean is None or running_var is None):
        raise OpError("batch_norm", None, "evaluation (training=False) normalises by running_mean and "
                      f"running_var, so both must be given (input x {x.shape})")
