"""Optimizers against steps computed by hand from PyTorch's update equations."""
import numpy as np
import pytest

import tinygraph as tg
from tinygraph import nn, optim


def param(values, dtype=np.float64):
    return nn.Parameter(np.array(values, dtype=dtype))


def step_with(opt, p, grad):
    p.grad = np.array(grad, dtype=p.dtype)
    opt.step()


def test_sgd_plain_step_is_theta_minus_lr_grad():
    p = param([1.0, 2.0])
    opt = optim.SGD([p], lr=0.1)
    step_with(opt, p, [0.5, -1.0])
    np.testing.assert_allclose(p.data, [0.95, 2.1], rtol=1e-12)


def test_sgd_momentum_and_weight_decay_two_steps_by_hand():
    # Step 1: g = 0.5 + 0.1·1 = 0.6, buffer b = g = 0.6, θ = 1 − 0.1·0.6 = 0.94.
    # Step 2: g = 0.5 + 0.1·0.94 = 0.594, b = 0.9·0.6 + 0.594 = 1.134, θ = 0.94 − 0.1·1.134 = 0.8266.
    p = param([1.0])
    opt = optim.SGD([p], lr=0.1, momentum=0.9, weight_decay=0.1)
    step_with(opt, p, [0.5])
    np.testing.assert_allclose(p.data, [0.94], rtol=1e-12)
    step_with(opt, p, [0.5])
    np.testing.assert_allclose(p.data, [0.8266], rtol=1e-12)
    np.testing.assert_allclose(opt.state[0]["momentum"], [1.134], rtol=1e-12)


def test_adam_two_steps_by_hand():
    # Step 1 (g = 0.5): m = 0.05, v = 0.00025, m̂ = 0.5, v̂ = 0.25, θ = 1 − 0.1·0.5/(0.5 + 1e-8) = 0.900000002.
    # Step 2 (g = −1): m = −0.055, v = 0.00124975, m̂ = −0.055/0.19, v̂ = 0.00124975/0.001999,
    #                  θ = 0.900000002 + 0.1·0.28947368/0.79068805 = 0.93661035424.
    p = param([1.0])
    opt = optim.Adam([p], lr=0.1, betas=(0.9, 0.999), eps=1e-8)
    step_with(opt, p, [0.5])
    np.testing.assert_allclose(p.data, [0.900000002], rtol=1e-12)
    step_with(opt, p, [-1.0])
    np.testing.assert_allclose(p.data, [0.9366103542405654], rtol=1e-10)
    assert opt.state[0]["step"] == 2
    np.testing.assert_allclose(opt.state[0]["m"], [-0.055], rtol=1e-12)
    np.testing.assert_allclose(opt.state[0]["v"], [0.00124975], rtol=1e-12)


def test_adam_weight_decay_is_added_to_the_gradient():
    # g = 0.3 + 0.1·2 = 0.5; first step moves by lr·g/(|g| + eps) ≈ 0.01: θ = 1.9900000002.
    p = param([2.0])
    opt = optim.Adam([p], lr=0.01, weight_decay=0.1)
    step_with(opt, p, [0.3])
    np.testing.assert_allclose(p.data, [1.9900000002], rtol=1e-12)


@pytest.mark.parametrize("make", [lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=1e-3),
                                  lambda ps: optim.Adam(ps, lr=0.1, weight_decay=1e-3)])
def test_updates_keep_float32_in_place_and_skip_parameters_without_grad(make):
    used, unused = param(np.ones((2, 3)), np.float32), param(np.ones(3), np.float32)
    array = used.data
    opt = make([used, unused])
    for _ in range(3):
        step_with(opt, used, np.full((2, 3), 0.25))
    assert used.data is array and used.dtype == np.float32
    assert not np.allclose(used.data, 1.0)
    np.testing.assert_array_equal(unused.data, np.ones(3, np.float32))
    assert opt.state[1] == {}
    assert all(v.dtype == np.float32 for s in opt.state for v in s.values() if isinstance(v, np.ndarray))


def test_zero_grad_clears_every_parameter():
    a, b = param([1.0]), param([2.0])
    a.grad, b.grad = np.ones(1), np.ones(1)
    optim.SGD([a, b], lr=0.1).zero_grad()
    assert a.grad is None and b.grad is None


@pytest.mark.parametrize("make", [lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9),
                                  lambda ps: optim.Adam(ps, lr=0.05)])
def test_state_dict_resumes_the_same_trajectory(make):
    grads = np.random.default_rng(0).normal(size=(6, 4))
    straight = param(np.zeros(4))
    opt = make([straight])
    for g in grads:
        step_with(opt, straight, g)
    first = param(np.zeros(4))
    opt_first = make([first])
    for g in grads[:3]:
        step_with(opt_first, first, g)
    resumed = param(first.data.copy())
    opt_resumed = make([resumed])
    opt_resumed.load_state_dict(opt_first.state_dict())
    for g in grads[3:]:
        step_with(opt_resumed, resumed, g)
    np.testing.assert_array_equal(resumed.data, straight.data)


def test_load_state_dict_rejects_a_foreign_or_mismatched_state_and_changes_nothing():
    p = param(np.zeros(3))
    adam = optim.Adam([p], lr=0.1)
    step_with(adam, p, [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="optim.SGD.load_state_dict: the state is for a Adam optimizer"):
        optim.SGD([p], lr=0.1).load_state_dict(adam.state_dict())
    other = optim.Adam([param(np.zeros(4))], lr=0.1)
    before = other.state_dict()
    with pytest.raises(ValueError, match=r"buffer 'm' of parameter 0 has shape \(3,\).*shape \(4,\)"):
        other.load_state_dict(adam.state_dict())
    assert other.state_dict() == before


def test_bad_arguments_name_the_optimizer():
    with pytest.raises(ValueError, match="optim.SGD: got no parameters"):
        optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="optim.Adam: lr must be positive"):
        optim.Adam([param([1.0])], lr=0)
    with pytest.raises(TypeError, match="optim.SGD: parameter 0 must be a floating tensor with requires_grad"):
        optim.SGD([tg.tensor([1.0])], lr=0.1)
    with pytest.raises(ValueError, match="optim.SGD: momentum"):
        optim.SGD([param([1.0])], lr=0.1, momentum=1.5)


def test_a_model_trained_through_backward_moves_downhill():
    # One SGD step on L = Σ (w·x)² with x = 1: dL/dw = 2w, so w ← w − lr·2w = 0.8·w.
    w = param([3.0, -1.0])
    loss = (w * w).sum()
    loss.backward()
    optim.SGD([w], lr=0.1).step()
    np.testing.assert_allclose(w.data, [2.4, -0.8], rtol=1e-12)
