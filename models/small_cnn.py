"""A small modern CNN: two conv → BatchNorm → ReLU → max-pool blocks, then dropout and a linear head.

    [conv 3×3 (padding 1) → BatchNorm2d → ReLU → maxpool 2] × 2 → flatten → dropout → linear → classes

Each block halves the side, so it runs on the 1×8×8 digits (→ 2×2) and on 3×32×32 images (→ 8×8)
alike. The convolutions have no bias: BatchNorm's β would cancel it.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

import tinygraph as tg
from tinygraph import nn
from tinygraph.models.lenet5 import _check_images
from tinygraph.tensor import Tensor


class SmallCNN(nn.Module):
    """Images (N, in_channels, image_size, image_size), image_size at least 4; `channels` per block.

    Call model.train() while training and model.eval() to evaluate: BatchNorm then uses its
    running statistics and dropout is off. The dropout masks are drawn from a generator seeded
    from `rng`, so a seeded model trains the same way every run.
    """

    def __init__(self, in_channels: int = 1, image_size: int = 8, classes: int = 10,
                 channels: Sequence[int] = (32, 64), dropout: float = 0.25, *,
                 rng: np.random.Generator | None = None, dtype=np.float32):
        super().__init__()
        channels = [int(c) for c in channels]
        if len(channels) != 2:
            raise ValueError(f"SmallCNN: channels must be two widths, one per block, got {channels}")
        if image_size < 4:
            raise ValueError(f"SmallCNN: images must be at least 4×4 for two 2×2 poolings, got "
                             f"{image_size}×{image_size}")
        self.config = {"in_channels": in_channels, "image_size": image_size, "classes": classes,
                       "channels": channels, "dropout": float(dropout)}
        blocks: list[nn.Module] = []
        for fan_in, width in zip([in_channels, *channels[:-1]], channels):
            blocks += [nn.Conv2d(fan_in, width, 3, padding=1, bias=False, rng=rng, dtype=dtype),
                       nn.BatchNorm2d(width, dtype=dtype), nn.ReLU(), nn.MaxPool2d(2)]
        self.features = nn.Sequential(*blocks)
        side = image_size // 2 // 2
        head = nn.Linear(channels[-1] * side * side, classes, rng=rng, dtype=dtype)
        masks = np.random.default_rng(rng.integers(2**63)) if rng is not None else None   # None: tg.manual_seed's
        self.classifier = nn.Sequential(nn.Flatten(), nn.Dropout(dropout, rng=masks), head)

    def forward(self, x: Any) -> Tensor:
        """The logits s for a batch x of shape (N, C, H, W)."""
        x = x if isinstance(x, Tensor) else tg.tensor(x)
        _check_images("SmallCNN", x, self.config)
        return self.classifier(self.features(x)).named("s")

    def loss(self, x: Any, labels: Any) -> Tensor:
        """Mean softmax cross-entropy of the logits against integer labels."""
        return tg.softmax_xent(self(x), labels).named("L")
