"""Ready-made models: the derivation's `TwoLayerCNN`, an `MLP`, `LeNet5` and `SmallCNN`; `build(name, **config)`."""
from __future__ import annotations

from typing import Any

from tinygraph.models.lenet5 import LeNet5
from tinygraph.models.mlp import MLP
from tinygraph.models.small_cnn import SmallCNN
from tinygraph.models.two_layer_cnn import TwoLayerCNN

MODELS = {"two_layer_cnn": TwoLayerCNN, "mlp": MLP, "lenet5": LeNet5, "smallcnn": SmallCNN}


def build(name: str, **config: Any):
    """A model by its command-line name ("two_layer_cnn", "mlp", "lenet5", "smallcnn") and its config."""
    if name not in MODELS:
        raise ValueError(f"models.build: unknown model {name!r}; choose one of {sorted(MODELS)}")
    return MODELS[name](**config)


__all__ = ["MLP", "TwoLayerCNN", "LeNet5", "SmallCNN", "MODELS", "build"]
