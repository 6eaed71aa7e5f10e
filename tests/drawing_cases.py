"""The derivation's network for the drawing tests: built op by op with the document's symbols.

A plain module, not a test file, so test_draw.py and test_draw_render.py both import it under any
pytest import mode (tests/conftest.py puts tests/ on sys.path).
"""
import numpy as np

import tinygraph as tg


def derivation_network(seed=0):
    """Section 1 of the derivation on one 1×8×8 image, built op by op; returns the loss L."""
    return derivation_tensors(seed)["L"]


def derivation_tensors(seed=0):
    """Every named tensor of the derivation's network, by symbol."""
    rng = np.random.default_rng(seed)
    X = tg.tensor(rng.standard_normal((1, 1, 8, 8)), name="X")
    W = tg.tensor(rng.standard_normal((2, 1, 3, 3)) * 0.5, requires_grad=True, name="W")
    b = tg.tensor(np.zeros(2), requires_grad=True, name="b")
    U = tg.tensor(rng.standard_normal((4, 18)) * 0.3, requires_grad=True, name="U")
    c = tg.tensor(np.zeros(4), requires_grad=True, name="c")
    y = tg.tensor(np.array([1]), name="y")
    Z = tg.conv2d(X, W, b).named("Z")
    A = Z.relu().named("A")
    P = tg.maxpool(A, size=2).named("P")
    p = P.flatten(1).named("p")
    s = (p @ U.T + c).named("s")
    L = tg.softmax_xent(s, y).named("L")
    return dict(X=X, W=W, b=b, U=U, c=c, y=y, Z=Z, A=A, P=P, p=p, s=s, L=L)


def recorded(root):
    """Backpropagate from `root` under tg.record_backward() and return the recording."""
    with tg.record_backward() as recording:
        root.backward()
    return recording


def micrograd_example():
    """micrograd's classic expression: L = (a·b + c)·f with a = 2, b = −3, c = 10, f = −2.

    dL/db = a · f = −4 and dL/da = b · f = 6: the signs are the lesson.
    """
    a = tg.tensor(2.0, requires_grad=True, name="a")
    b = tg.tensor(-3.0, requires_grad=True, name="b")
    c = tg.tensor(10.0, requires_grad=True, name="c")
    f = tg.tensor(-2.0, requires_grad=True, name="f")
    e = (a * b).named("e")
    d = (e + c).named("d")
    return dict(a=a, b=b, c=c, f=f, e=e, d=d, L=(d * f).named("L"))
