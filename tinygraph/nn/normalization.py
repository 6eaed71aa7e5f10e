"""Layers that behave differently in training and evaluation: BatchNorm1d/2d and Dropout (read `self.training`)."""
from __future__ import annotations

import numpy as np

from tinygraph import functional as F
from tinygraph.grad_mode import STATE
from tinygraph.nn.layers import _refuse, as_tensor
from tinygraph.nn.module import Module, Parameter
from tinygraph.tensor import Tensor


class _BatchNorm(Module):
    """y = (x − μ) / √(σ² + eps) · γ + β per channel (dim 1), as torch.nn's BatchNorm.

    Training: μ, σ² are the batch's (σ² biased), and the running statistics move by `momentum`
    towards them (running_var with the unbiased σ²; momentum=None is a cumulative average).
    Evaluation: μ, σ² are the running statistics, unless track_running_stats=False, when the batch's
    are always used. γ = weight (ones), β = bias (zeros) exist when affine (β not with bias=False). running_mean,
    running_var and num_batches_tracked are buffers, so state_dict() saves them.
    """

    expected_dims: tuple[int, ...] = ()

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, *, bias: bool = True, dtype=np.float32):
        super().__init__()
        name = f"nn.{type(self).__name__}"
        if isinstance(num_features, bool) or not isinstance(num_features, (int, np.integer)) or num_features < 1:
            raise ValueError(f"{name}: num_features must be a positive integer, got {num_features!r}")
        if not eps > 0:
            raise ValueError(f"{name}: eps must be positive, got {eps!r}")
        if momentum is not None and not 0 <= momentum <= 1:
            raise ValueError(f"{name}: momentum must be in [0, 1] or None (a cumulative average), got {momentum!r}")
        self.num_features, self.eps, self.momentum = int(num_features), float(eps), momentum
        self.affine, self.track_running_stats = bool(affine), bool(track_running_stats)
        self.weight = Parameter(np.ones(num_features, dtype)) if affine else None
        self.bias = Parameter(np.zeros(num_features, dtype)) if affine and bias else None
        if track_running_stats:
            self.register_buffer("running_mean", np.zeros(num_features, dtype))
            self.register_buffer("running_var", np.ones(num_features, dtype))
            self.register_buffer("num_batches_tracked", np.array(0, dtype=np.int64))
        else:
            for buffer in ("running_mean", "running_var", "num_batches_tracked"):
                self.register_buffer(buffer, None)

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean[...] = 0
            self.running_var[...] = 1
            self.num_batches_tracked[...] = 0

    def forward(self, x: Tensor) -> Tensor:
        x = as_tensor(x)
        name = f"nn.{type(self).__name__}"
        if x.ndim not in self.expected_dims or x.shape[1] != self.num_features:
            shapes = " or ".join(f"{n}-D" for n in self.expected_dims)
            raise ValueError(f"{name}: expected {shapes} input with {self.num_features} channels on dim 1, "
                             f"got shape {x.shape}")
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            _count_batch(self)
            if self.momentum is None:
                if STATE.recorder is not None:
                    STATE.recorder.refuse(f"{name}(momentum=None) computes its factor 1/n in Python from the "
                                          "batch count; give a momentum to compile the step")
                factor = 1.0 / float(self.num_batches_tracked)
        batch_stats = self.training or not self.track_running_stats
        if batch_stats and x.size // self.num_features < 2:
            raise ValueError(f"{name}: expected more than 1 value per channel when training, got input of "
                             f"shape {x.shape}")
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            training=batch_stats, momentum=factor, eps=self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


def _count_batch(module: _BatchNorm) -> None:
    """One more batch in the running statistics (tg.compile replays the count as a whole call)."""
    if STATE.recorder is not None:
        STATE.recorder.around(f"{type(module).__name__}.num_batches_tracked += 1", _count_batch_now, (module,))
    else:
        _count_batch_now(module)


def _count_batch_now(module: _BatchNorm) -> None:
    module.num_batches_tracked += 1            # in place: the buffer stays the same array


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (N, C) features or (N, C, L) sequences, per channel C."""

    expected_dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of (N, C, H, W) images, per channel C (statistics over N, H and W)."""

    expected_dims = (4,)


class Dropout(Module):
    """In training, zero each element with probability p and scale the rest by 1/(1 − p); in eval, identity.

    rng (a numpy.random.Generator) draws the masks, so a seeded model drops the same elements
    every run; without one they come from tinygraph's default generator (tg.manual_seed).
    """

    def __init__(self, p: float = 0.5, inplace: bool = False, *, rng: np.random.Generator | None = None):
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p <= 1:
            raise ValueError(f"nn.Dropout: dropout probability has to be between 0 and 1, but got {p!r}")
        _refuse("nn.Dropout", "inplace", inplace, False, "tinygraph never overwrites an input")
        if rng is not None and not isinstance(rng, np.random.Generator):
            raise TypeError(f"nn.Dropout: rng must be a numpy.random.Generator (np.random.default_rng(seed)), "
                            f"got {type(rng).__name__}")
        self.p = float(p)
        self.rng = rng

    def forward(self, x: Tensor) -> Tensor:
        if not self.training:
            return x                            # evaluation: the input itself, no node in the graph
        return F.dropout(as_tensor(x), self.p, self.training, generator=self.rng)

    def extra_repr(self) -> str:
        return f"p={self.p}"
