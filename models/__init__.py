"""Ready-made models: the derivation's `TwoLayerCNN` and an `MLP`; `build(name, **config)` by name."""
from __future__ import annotations

from typing import Any

from tinygraph.models.mlp import MLP
from tinygraph.models.two_layer_cnn import TwoLayerCNN

MODELS = {"two_layer_cnn": TwoLayerCNN, "mlp": MLP}


def build(name: str, **config: Any):
    """A model by its command-line name ("two_layer_cnn" or "mlp") and its config."""
    if name not in MODELS:
        raise ValueError(f"models.build: unknown model {name!r}; choose one of {sorted(MODELS)}")
    return MODELS[name](**config)


__all__ = ["MLP", "TwoLayerCNN", "MODELS", "build"]
