"""The derivation's network: Conv(W, b) → ReLU → MaxPool 2×2 → Flatten → FC(U, c) → softmax cross-entropy.

Every tensor carries the document's symbol, so drawings and error messages speak its language:
input X, Z = W ⋆ X + b, A = max(0, Z), P = maxpool(A), p = flatten(P), s = U p + c, loss L.
"""
from __future__ import annotations

from typing import Any

import numpy as np

import tinygraph as tg
from tinygraph import nn
from tinygraph.tensor import Tensor


class TwoLayerCNN(nn.Module):
    """Section 1's pipeline for images of shape (in_channels, image_size, image_size).

    The convolution is valid (no padding), stride 1, as in section 2.1: Z has side
    image_size − kernel + 1, P half of that (rounded down), and p has filters · side² entries.
    """

    def __init__(self, in_channels: int = 1, image_size: int = 8, filters: int = 16, kernel: int = 3,
                 classes: int = 10, *, rng: np.random.Generator | None = None, dtype=np.float32):
        super().__init__()
        conv_side = image_size - kernel + 1
        if conv_side < 2:
            raise ValueError(f"TwoLayerCNN: a {kernel}×{kernel} kernel on {image_size}×{image_size} images leaves "
                             f"a {max(conv_side, 0)}×{max(conv_side, 0)} map, too small for 2×2 max-pooling")
        pooled_side = conv_side // 2
        self.config = {"in_channels": in_channels, "image_size": image_size, "filters": filters,
                       "kernel": kernel, "classes": classes}
        self.conv = nn.Conv2d(in_channels, filters, kernel, rng=rng, dtype=dtype)
        self.relu = nn.ReLU()
        self.pool = nn.MaxPool(2)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(filters * pooled_side * pooled_side, classes, rng=rng, dtype=dtype)
        self.conv.weight.name, self.conv.bias.name = "W", "b"
        self.fc.weight.name, self.fc.bias.name = "U", "c"

    def forward(self, x: Any) -> Tensor:
        """The logits s for a batch x of shape (N, C, H, W)."""
        X = x if isinstance(x, Tensor) else tg.tensor(x)
        if X.name is None:
            X.named("X")
        expected = (self.config["in_channels"], self.config["image_size"], self.config["image_size"])
        if X.ndim != 4 or X.shape[1:] != expected:
            raise ValueError(f"TwoLayerCNN: input X must have shape (N, {', '.join(map(str, expected))}), "
                             f"got {X.shape}")
        Z = self.conv(X).named("Z")
        A = self.relu(Z).named("A")
        P = self.pool(A).named("P")
        p = self.flatten(P).named("p")
        return self.fc(p).named("s")

    def loss(self, x: Any, labels: Any) -> Tensor:
        """L = mean over the batch of −Σ_i y_i log softmax(s)_i, with y the one-hot labels."""
        return tg.softmax_xent(self(x), labels).named("L")
