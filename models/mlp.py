"""A multilayer perceptron: Flatten → Linear → ReLU → … → Linear, the non-convolutional baseline."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

import tinygraph as tg
from tinygraph import nn
from tinygraph.tensor import Tensor


class MLP(nn.Module):
    """Images (or vectors) of `in_features` numbers → hidden ReLU layers → `classes` logits."""

    def __init__(self, in_features: int = 64, hidden: Sequence[int] = (128,), classes: int = 10, *,
                 rng: np.random.Generator | None = None, dtype=np.float32):
        super().__init__()
        hidden = [int(h) for h in hidden]
        self.config = {"in_features": in_features, "hidden": hidden, "classes": classes}
        widths = [in_features, *hidden, classes]
        layers: list[nn.Module] = [nn.Flatten()]
        for i, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:])):
            layers.append(nn.Linear(fan_in, fan_out, rng=rng, dtype=dtype))
            if i < len(widths) - 2:
                layers.append(nn.ReLU())
        self.layers = nn.Sequential(*layers)

    def forward(self, x: Any) -> Tensor:
        """The logits s for a batch x of shape (N, ...) with in_features numbers per sample."""
        x = x if isinstance(x, Tensor) else tg.tensor(x)
        features = int(np.prod(x.shape[1:])) if x.ndim > 1 else -1
        if features != self.config["in_features"]:
            raise ValueError(f"MLP: input of shape {x.shape} has {features} features per sample, "
                             f"the model expects {self.config['in_features']}")
        return self.layers(x).named("s")

    def loss(self, x: Any, labels: Any) -> Tensor:
        return tg.softmax_xent(self(x), labels).named("L")
