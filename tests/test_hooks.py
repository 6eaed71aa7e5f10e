"""Tensor hooks with PyTorch's names and semantics (register_hook, register_post_accumulate_grad_hook),
and the engine finishing each leaf's gradient right after its last use (what data-parallel overlap needs)."""
import numpy as np
import pytest
from torch_required import require_torch

import tinygraph as tg

torch = require_torch(__file__)

X = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.5]])
W1 = np.array([[0.2, -0.4], [0.7, 0.1], [-0.3, 0.5]])
W2 = np.array([[1.0], [-2.0]])


def run(lib, log):
    x = lib.tensor(X)
    w1, w2 = lib.tensor(W1, requires_grad=True), lib.tensor(W2, requires_grad=True)
    w1.register_hook(lambda g: log.append(("w1", g.detach().numpy().copy() if lib is torch else g.data.copy())) or g * 3)
    h = (x @ w1).tanh()
    h.register_hook(lambda g: g + 1)                       # a replacement flows on to w1
    w2.register_post_accumulate_grad_hook(lambda t: log.append(("w2 accumulated",)))
    (h @ w2).sum().backward()
    return w1.grad, w2.grad


def test_hooks_see_and_replace_gradients_as_in_pytorch():
    mine, theirs = [], []
    tg_w1, tg_w2 = run(tg, mine)
    torch_w1, torch_w2 = run(torch, theirs)
    np.testing.assert_allclose(np.asarray(tg_w1), torch_w1.numpy(), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(tg_w2), torch_w2.numpy(), rtol=1e-12)
    assert [entry[0] for entry in mine] == [entry[0] for entry in theirs] == ["w2 accumulated", "w1"]
    np.testing.assert_allclose(mine[1][1], theirs[1][1], rtol=1e-12)


def test_a_removed_hook_no_longer_runs():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    handle = x.register_hook(lambda g: g * 10)
    handle.remove()
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])


def test_a_hook_returning_another_shape_is_refused():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    x.register_hook(lambda g: tg.tensor([1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match="returned shape"):
        (x * x).sum().backward()


def test_post_accumulate_hooks_only_on_leaves_that_require_grad():
    x = tg.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="only a leaf"):
        (x * 2).register_post_accumulate_grad_hook(lambda t: None)
    with pytest.raises(RuntimeError, match="does not require grad"):
        tg.tensor([1.0]).register_hook(lambda g: g)


def test_each_parameter_is_final_right_after_its_last_use_not_at_the_end():
    """In a chain of layers, a layer's weight is accumulated before the rules of the layers below it run:
    its post-accumulate hook fires between its own layer's rule and the next one's."""
    rng = np.random.default_rng(0)
    x = tg.tensor(rng.standard_normal((4, 5)))
    weights = [tg.tensor(rng.standard_normal((5, 5)), requires_grad=True, name=f"w{i}") for i in range(4)]
    events = []
    for w in weights:
        w.register_post_accumulate_grad_hook(lambda t: events.append(("ready", t.name)))
    h = x
    for w in weights:
        h = (h @ w).tanh()
    with tg.backward_hook(lambda step: events.append(("rule", step.node.op.name)) if step.node else None):
        h.sum().backward()
    ready = [i for i, e in enumerate(events) if e[0] == "ready"]
    rules = [i for i, e in enumerate(events) if e[0] == "rule"]
    assert [events[i][1] for i in ready] == ["w3", "w2", "w1", "w0"]
    assert ready[0] < rules[-1] and ready[1] < rules[-1]            # w3 and w2 are ready while rules still run


def test_hooks_run_in_a_recorded_backward_too():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    seen = []
    x.register_hook(lambda g: seen.append(g.requires_grad) or g * 2)
    (g,) = tg.autograd.grad((x * x * x).sum(), x, create_graph=True)
    (x * x * x).sum().backward(create_graph=True)
    assert seen == [True]
    np.testing.assert_allclose(x.grad.data, 6 * x.data ** 2)
