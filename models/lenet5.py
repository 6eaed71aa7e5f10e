"""LeNet-5 (LeCun et al. 1998) as usually taught: two tanh convolutions with average pooling, then three FC layers.

    conv 6@5×5 → tanh → avgpool 2 → conv 16@5×5 → tanh → avgpool 2 → flatten → 120 → tanh → 84 → tanh → 10

for 32×32 inputs (the paper's frame: MNIST's 28×28 padded by 2; the 8×8 digits brought there by
`data.load_digits(size=32)`). The paper's sparse C3 connections and RBF output are the usual
simplifications away: C3 sees all six maps, and the output is ten logits for softmax cross-entropy.
"""
from __future__ import annotations

from typing import Any

import numpy as np

import tinygraph as tg
from tinygraph import nn
from tinygraph.tensor import Tensor


class LeNet5(nn.Module):
    """Images (N, in_channels, image_size, image_size), image_size 32 as in the paper (at least 16)."""

    def __init__(self, in_channels: int = 1, image_size: int = 32, classes: int = 10, *,
                 rng: np.random.Generator | None = None, dtype=np.float32):
        super().__init__()
        side = ((image_size - 4) // 2 - 4) // 2          # after conv 5 → pool 2 → conv 5 → pool 2
        if image_size < 16:
            raise ValueError(f"LeNet5: images must be at least 16×16 for two 5×5 convolutions and two 2×2 "
                             f"poolings, got {image_size}×{image_size} (load_digits(size=32) gives 32×32)")
        self.config = {"in_channels": in_channels, "image_size": image_size, "classes": classes}
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, 5, rng=rng, dtype=dtype), nn.Tanh(), nn.AvgPool2d(2),
            nn.Conv2d(6, 16, 5, rng=rng, dtype=dtype), nn.Tanh(), nn.AvgPool2d(2))
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(16 * side * side, 120, rng=rng, dtype=dtype), nn.Tanh(),
            nn.Linear(120, 84, rng=rng, dtype=dtype), nn.Tanh(),
            nn.Linear(84, classes, rng=rng, dtype=dtype))

    def forward(self, x: Any) -> Tensor:
        """The logits s for a batch x of shape (N, C, H, W)."""
        x = x if isinstance(x, Tensor) else tg.tensor(x)
        _check_images("LeNet5", x, self.config)
        return self.classifier(self.features(x)).named("s")

    def loss(self, x: Any, labels: Any) -> Tensor:
        """Mean softmax cross-entropy of the logits against integer labels."""
        return tg.softmax_xent(self(x), labels).named("L")


def _check_images(model: str, x: Tensor, config: dict[str, Any]) -> None:
    expected = (config["in_channels"], config["image_size"], config["image_size"])
    if x.ndim != 4 or x.shape[1:] != expected:
        raise ValueError(f"{model}: input must have shape (N, {', '.join(map(str, expected))}), got {x.shape}")
