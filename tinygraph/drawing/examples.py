"""Small graphs to draw: the derivation's network built op by op, for tests and as a fallback."""
from __future__ import annotations

import numpy as np

import tinygraph as tg


def derivation_network(seed: int = 0, filters: int = 2, classes: int = 4) -> tg.Tensor:
    """The document's pipeline on one 1×8×8 image, from the ops alone, named in its symbols.

    X → conv(W, b) → Z → ReLU → A → maxpool 2×2 → P → flatten → p → p Uᵀ + c → s → softmax-xent(y) → L
    Returns L (not yet backpropagated).
    """
    rng = np.random.default_rng(seed)
    X = tg.tensor(rng.standard_normal((1, 1, 8, 8)), name="X")
    W = tg.tensor(rng.standard_normal((filters, 1, 3, 3)) * 0.5, requires_grad=True, name="W")
    b = tg.tensor(np.zeros(filters), requires_grad=True, name="b")
    U = tg.tensor(rng.standard_normal((classes, filters * 9)) * 0.3, requires_grad=True, name="U")
    c = tg.tensor(np.zeros(classes), requires_grad=True, name="c")
    y = tg.tensor(np.array([1.0]), name="y")
    Z = tg.conv2d(X, W, b).named("Z")
    A = Z.relu().named("A")
    P = tg.maxpool(A, size=2).named("P")
    p = P.flatten().named("p")
    s = (p @ U.T + c).named("s")
    return tg.softmax_xent(s, y).named("L")
