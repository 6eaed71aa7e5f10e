"""Batch normalisation: each channel standardised by its batch statistics (training) or running ones (eval)."""
import numpy as np

from tinygraph.errors import OpError
from tinygraph.op import Op
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
    """

    @staticmethod
    def forward(ctx, x: np.ndarray, weight: np.ndarray = None, bias: np.ndarray = None,
                running_mean: np.ndarray = None, running_var: np.ndarray = None, *,
                training: bool = False, momentum: float = 0.1, eps: float = 1e-5) -> np.ndarray:
        _check(x, weight, bias, running_mean, running_var, training)
        axes = (0, *range(2, x.ndim))                          # every axis but the channel's
        per_channel = (1, -1) + (1,) * (x.ndim - 2)            # a (C,) vector laid along axis 1
        if training:
            mean = x.mean(axis=axes)
            var = x.var(axis=axes)                             # biased: what normalises
            m = x.size // x.shape[1]
            for running, batch in ((running_mean, mean), (running_var, var * m / (m - 1))):
                if running is not None:
                    running[...] = (1 - momentum) * running + momentum * batch
        else:
            mean, var = running_mean, running_var
        inv_std = (1 / np.sqrt(var + eps)).astype(x.dtype, copy=False)
        x_hat = (x - mean.reshape(per_channel).astype(x.dtype, copy=False)) * inv_std.reshape(per_channel)
        y = x_hat
        if weight is not None:
            y = y * weight.reshape(per_channel)
        if bias is not None:
            y = y + bias.reshape(per_channel)
        ctx.save_for_backward(x_hat, inv_std, weight)
        ctx.training, ctx.axes, ctx.per_channel = training, axes, per_channel
        return y

    @staticmethod
    def backward(ctx, grad_out):
        x_hat, inv_std, gamma = ctx.saved
        need_x, need_weight, need_bias = ctx.needs_input_grad[:3]
        axes, per_channel = ctx.axes, ctx.per_channel
        grad_bias = grad_out.sum(axis=axes) if need_bias else None                  # Σ δy
        grad_weight = (grad_out * x_hat).sum(axis=axes) if need_weight else None   # Σ δy ⊙ x̂
        grad_x = None
        if need_x:
            scale = inv_std if gamma is None else gamma * inv_std                   # γ / √(σ² + ε)
            grad_x_hat = grad_out * scale.reshape(per_channel)
            if ctx.training:             # μ and σ² depend on x too: subtract their share, per channel
                m = grad_out.size // grad_out.shape[1]
                mean_grad = grad_x_hat.sum(axis=axes, keepdims=True) / m
                mean_grad_x_hat = (grad_x_hat * x_hat).sum(axis=axes, keepdims=True) / m
                grad_x = grad_x_hat - mean_grad - x_hat * mean_grad_x_hat
            else:
                grad_x = grad_x_hat
        return grad_x, grad_weight, grad_bias, None, None


def _check(x, weight, bias, running_mean, running_var, training) -> None:
    if x.ndim < 2:
        raise OpError("batch_norm", "x", f"input x must be (N, C) or (N, C, ...), got shape {x.shape}")
    channels = x.shape[1]
    for name, vector in (("weight", weight), ("bias", bias), ("running_mean", running_mean),
                         ("running_var", running_var)):
        if vector is not None and vector.shape != (channels,):
            raise OpError("batch_norm", name, f"{name} must have shape ({channels},), one per channel of "
                          f"input x {x.shape}, got shape {vector.shape}")
    if training and x.size // max(channels, 1) <= 1:
        raise OpError("batch_norm", "x", f"training needs more than one value per channel to take a "
                      f"variance, got input x of shape {x.shape}")
    if not training and (running_mean is None or running_var is None):
        raise OpError("batch_norm", None, "evaluation (training=False) normalises by running_mean and "
                      f"running_var, so both must be given (input x {x.shape})")
