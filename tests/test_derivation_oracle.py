"""The network built from tinygraph ops matches the document's equations, written out as loops.

conv2d → relu → maxpool(2) → flatten → s = p Uᵀ + c → softmax_xent, in float64: the same loss and
the same dL/dW, dL/db, dL/dU, dL/dc, dL/dX as `derivation_oracle` to 1e-10 relative.
"""
import numpy as np
import pytest

import tinygraph as tg
from derivation_oracle import forward_backward, forward_backward_batch

RELATIVE = 1e-10


def tinygraph_network(X, W, b, U, c, target):
    """The document's pipeline from tinygraph ops; returns the loss and the leaf tensors."""
    leaves = {name: tg.tensor(value, requires_grad=True, name=name)
              for name, value in (("X", X), ("W", W), ("b", b), ("U", U), ("c", c))}
    Z = tg.conv2d(leaves["X"], leaves["W"], leaves["b"])
    A = tg.relu(Z)
    P = tg.maxpool(A, size=2)
    p = P.flatten(1)
    s = p @ leaves["U"].T + leaves["c"]
    L = tg.softmax_xent(s, target)
    L.backward()
    return L, leaves


def random_parameters(rng, channels, filters, kernel, height, width, classes):
    out_h, out_w = height - kernel[0] + 1, width - kernel[1] + 1
    features = filters * (out_h // 2) * (out_w // 2)
    W = rng.standard_normal((filters, channels) + kernel) * 0.5
    b = rng.standard_normal(filters) * 0.1
    U = rng.standard_normal((classes, features)) * 0.5
    c = rng.standard_normal(classes) * 0.1
    return W, b, U, c


def assert_close(name, got, expected):
    got, expected = np.asarray(got), np.asarray(expected)
    assert got.shape == expected.shape, f"{name}: shape {got.shape} vs oracle {expected.shape}"
    scale = np.abs(expected).max()
    assert scale > 0, f"{name}: the oracle's value is all zeros, so this case checks nothing"
    error = np.abs(got - expected).max()
    assert error <= RELATIVE * scale, f"{name}: max |tinygraph − oracle| = {error:.3g}, scale {scale:.3g}"


def test_one_sample_matches_the_document():
    rng = np.random.default_rng(1)
    W, b, U, c = random_parameters(rng, channels=2, filters=3, kernel=(3, 3), height=8, width=8, classes=4)
    X = rng.standard_normal((2, 8, 8))
    y = np.eye(4)[2]                                    # the document's one-hot y
    oracle_loss, oracle_grads = forward_backward(X, W, b, U, c, y)

    L, leaves = tinygraph_network(X[np.newaxis], W, b, U, c, y[np.newaxis])   # probability-row target
    assert_close("loss", L.data, oracle_loss)
    for name in ("W", "b", "U", "c"):
        assert_close(f"dL/d{name}", leaves[name].grad, oracle_grads[name])
    assert_close("dL/dX", leaves["X"].grad[0], oracle_grads["X"])


@pytest.mark.parametrize("height, width, kernel", [(9, 8, (3, 3)), (7, 10, (2, 3))])
def test_batch_mean_loss_matches_the_document(height, width, kernel):
    """Odd sides leave a trailing row/column outside every pooling block; the kernel may be non-square."""
    rng = np.random.default_rng(2)
    W, b, U, c = random_parameters(rng, channels=2, filters=3, kernel=kernel, height=height, width=width, classes=5)
    X = rng.standard_normal((3, 2, height, width))
    labels = np.array([4, 0, 2])
    oracle_loss, oracle_grads = forward_backward_batch(X, W, b, U, c, labels)

    L, leaves = tinygraph_network(X, W, b, U, c, labels)               # integer-label target
    assert_close("loss", L.data, oracle_loss)
    for name in ("W", "b", "U", "c", "X"):
        assert_close(f"dL/d{name}", leaves[name].grad, oracle_grads[name])


def test_the_oracle_is_not_trivially_agreeing():
    """The oracle must itself disagree with a changed network: a different label changes dL/dc."""
    rng = np.random.default_rng(3)
    W, b, U, c = random_parameters(rng, channels=1, filters=2, kernel=(3, 3), height=6, width=6, classes=3)
    X = rng.standard_normal((1, 6, 6))
    _, grads_0 = forward_backward(X, W, b, U, c, [1.0, 0.0, 0.0])
    _, grads_1 = forward_backward(X, W, b, U, c, [0.0, 1.0, 0.0])
    assert np.allclose(grads_0["c"] - grads_1["c"], [-1.0, 1.0, 0.0])   # δs = ŷ − y, and only y changed
