"""Optimizers against steps computed by hand from PyTorch's update equations; groups, state and checkpoints.

tests/test_optim_torch.py runs the same steps in PyTorch itself.
"""
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
    np.testing.assert_allclose(opt.state[p]["momentum_buffer"], [1.134], rtol=1e-12)


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
    assert opt.state[p]["step"] == 2
    np.testing.assert_allclose(opt.state[p]["exp_avg"], [-0.055], rtol=1e-12)
    np.testing.assert_allclose(opt.state[p]["exp_avg_sq"], [0.00124975], rtol=1e-12)


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
    assert unused not in opt.state and list(opt.state) == [used]
    assert all(v.dtype == np.float32 for s in opt.state.values() for v in s.values() if isinstance(v, np.ndarray))


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
    with pytest.raises(ValueError, match=r"buffer 'exp_avg' of parameter 0 has shape \(3,\).*shape \(4,\)"):
        other.load_state_dict(adam.state_dict())
    assert other.state_dict() == before


def test_bad_arguments_name_the_optimizer():
    with pytest.raises(ValueError, match="optim.SGD: got no parameters"):
        optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="optim.Adam: lr must be a non-negative number"):
        optim.Adam([param([1.0])], lr=-1e-3)
    with pytest.raises(TypeError, match="optim.SGD: parameter 0 must be a floating-point tensor"):
        optim.SGD([tg.tensor([1, 2])], lr=0.1)
    with pytest.raises(ValueError, match=r"optim.SGD: momentum must be >= 0"):
        optim.SGD([param([1.0])], lr=0.1, momentum=-0.5)


def test_a_model_trained_through_backward_moves_downhill():
    # One SGD step on L = Σ (w·x)² with x = 1: dL/dw = 2w, so w ← w − lr·2w = 0.8·w.
    w = param([3.0, -1.0])
    loss = (w * w).sum()
    loss.backward()
    optim.SGD([w], lr=0.1).step()
    np.testing.assert_allclose(w.data, [2.4, -0.8], rtol=1e-12)


# ------------------------------------------------------------------ parameter groups and state

def test_parameter_groups_take_their_own_hyperparameters_and_the_defaults_for_the_rest():
    a, b = param([1.0]), param([1.0])
    opt = optim.SGD([{"params": [a], "lr": 0.5}, {"params": b}], lr=0.1, momentum=0.9)
    assert [g["lr"] for g in opt.param_groups] == [0.5, 0.1]
    assert [g["momentum"] for g in opt.param_groups] == [0.9, 0.9]
    assert opt.param_groups[1]["params"] == [b] and opt.defaults["lr"] == 0.1
    a.grad, b.grad = np.ones(1), np.ones(1)
    opt.step()
    np.testing.assert_allclose([a.data[0], b.data[0]], [0.5, 0.9], rtol=1e-12)


def test_add_param_group_and_the_lr_property():
    a, b = param([1.0]), param([2.0])
    opt = optim.Adam([a], lr=0.01)
    opt.add_param_group({"params": [b], "betas": (0.5, 0.9)})
    assert opt.param_groups[1]["lr"] == 0.01 and opt.param_groups[1]["betas"] == (0.5, 0.9)
    assert opt.lr == 0.01
    opt.lr = 0.2                                      # sets every group, like a scheduler would
    assert [g["lr"] for g in opt.param_groups] == [0.2, 0.2]
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [a]})
    with pytest.raises(ValueError, match=r"betas\[0\] must be in \[0.0, 1.0\)"):
        opt.add_param_group({"params": [param([0.0])], "betas": (1.0, 0.9)})


def test_bad_groups_and_parameters_are_refused():
    p = param([1.0])
    with pytest.raises(TypeError, match="wrap a single tensor in a list"):
        optim.SGD(p, lr=0.1)
    with pytest.raises(TypeError, match="ordered collection"):
        optim.SGD({p}, lr=0.1)
    with pytest.raises(ValueError, match="not a leaf tensor"):
        optim.SGD([p * 2], lr=0.1)
    with pytest.raises(ValueError, match="the same parameter appears twice"):
        optim.SGD([p, p], lr=0.1)
    with pytest.raises(ValueError, match="nesterov needs momentum > 0 and dampening = 0"):
        optim.SGD([p], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="optim.AdamW: eps must be >= 0"):
        optim.AdamW([p], eps=-1.0)
    frozen = tg.tensor([1.0])                       # no requires_grad: accepted, never updated (PyTorch too)
    opt = optim.SGD([frozen], lr=0.1)
    opt.step()
    np.testing.assert_array_equal(frozen.data, [1.0])


def test_step_bumps_the_version_so_a_stale_backward_raises():
    w = param([3.0])
    square = w * w                                  # saves w for its backward
    w.grad = np.ones(1)
    optim.SGD([w], lr=0.1).step()
    with pytest.raises(RuntimeError, match="modified in place"):
        square.backward(np.ones(1))


def test_zero_grad_can_keep_zero_arrays_and_step_calls_the_closure():
    p = param([1.0, 2.0])
    opt = optim.SGD([p], lr=0.1)
    p.grad = np.ones(2)
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(p.grad, [0.0, 0.0])
    calls = []

    def closure():
        calls.append(tg.is_grad_enabled())
        p.grad = np.array([1.0, -1.0])
        return 7.0

    with tg.no_grad():
        assert opt.step(closure) == 7.0
    assert calls == [True]
    np.testing.assert_allclose(p.data, [0.9, 2.1], rtol=1e-12)


def test_state_dict_has_pytorchs_layout_and_numbers_parameters_across_groups():
    a, b, c = param([1.0]), param([2.0]), param([3.0])
    opt = optim.Adam([{"params": [a, b]}, {"params": [c], "lr": 0.5}], lr=0.1, amsgrad=True)
    for p in (a, c):
        p.grad = np.ones(1)
    opt.step()
    state = opt.state_dict()
    assert state["type"] == "Adam"
    assert [g["params"] for g in state["param_groups"]] == [[0, 1], [2]]
    assert state["param_groups"][1]["lr"] == 0.5 and state["param_groups"][0]["betas"] == (0.9, 0.999)
    assert sorted(state["state"]) == ["0", "2"]
    assert sorted(state["state"]["2"]) == ["exp_avg", "exp_avg_sq", "max_exp_avg_sq", "step"]
    state["state"]["0"]["exp_avg"][:] = 99.0        # a copy
    assert opt.state[a]["exp_avg"][0] != 99.0


def test_load_state_dict_restores_group_hyperparameters_through_a_checkpoint(tmp_path):
    a, b = param([1.0, 2.0]), param([3.0])
    opt = optim.AdamW([{"params": [a]}, {"params": [b], "weight_decay": 0.5}], lr=0.1, betas=(0.8, 0.99))
    a.grad, b.grad = np.ones(2), np.ones(1)
    opt.step()
    tg.save(tmp_path / "c.npz", {"optimizer": opt.state_dict()})
    loaded = tg.load(tmp_path / "c.npz")["optimizer"]
    c, d = param([1.0, 2.0]), param([3.0])
    other = optim.AdamW([{"params": [c]}, {"params": [d]}], lr=0.7)
    other.load_state_dict(loaded)
    assert other.param_groups[0]["betas"] == (0.8, 0.99)          # a tuple again after the file's list
    assert [g["lr"] for g in other.param_groups] == [0.1, 0.1]
    assert [g["weight_decay"] for g in other.param_groups] == [0.01, 0.5]
    assert other.param_groups[1]["params"] == [d]
    np.testing.assert_array_equal(other.state[c]["exp_avg"], opt.state[a]["exp_avg"])
    with pytest.raises(ValueError, match="has 2 parameter groups, the optimizer 1"):
        optim.AdamW([param([0.0])]).load_state_dict(loaded)
    with pytest.raises(ValueError, match="parameter group 0 has 1 parameters in the state, 2 in the optimizer"):
        optim.AdamW([{"params": [param([0.0]), param([0.0])]}, {"params": [param([0.0])]}]).load_state_dict(loaded)


def test_load_state_dict_casts_buffers_to_the_parameters_dtype_like_pytorch():
    p64 = param([1.0, 2.0])
    opt = optim.SGD([p64], lr=0.1, momentum=0.9)
    step_with(opt, p64, [1.0, 1.0])
    p32 = param([1.0, 2.0], np.float32)
    other = optim.SGD([p32], lr=0.1, momentum=0.9)
    other.load_state_dict(opt.state_dict())
    assert other.state[p32]["momentum_buffer"].dtype == np.float32


def test_a_state_written_before_parameter_groups_still_loads():
    # The layout tinygraph-train checkpoints had: {"type", "hyper", "state"} with buffers m, v, momentum.
    p = param(np.zeros(2))
    old = {"type": "Adam", "hyper": {"lr": 0.01, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.0},
           "state": {"0": {"step": 3, "m": np.ones(2), "v": np.full(2, 4.0)}}}
    opt = optim.Adam([p], lr=0.5)
    opt.load_state_dict(old)
    assert opt.param_groups[0]["lr"] == 0.01 and opt.param_groups[0]["amsgrad"] is False
    assert opt.state[p]["step"] == 3
    np.testing.assert_array_equal(opt.state[p]["exp_avg_sq"], [4.0, 4.0])
    q = param(np.zeros(1))
    sgd = optim.SGD([q], lr=0.5, momentum=0.5)
    sgd.load_state_dict({"type": "SGD", "hyper": {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.0},
                         "state": {"0": {"momentum": np.ones(1)}}})
    assert sgd.param_groups[0]["momentum"] == 0.9 and sgd.param_groups[0]["nesterov"] is False
    np.testing.assert_array_equal(sgd.state[q]["momentum_buffer"], [1.0])


# ------------------------------------------------------------------ schedulers

def test_schedulers_set_group_lrs_and_resume_from_their_state():
    lr_scheduler = optim.lr_scheduler
    p = param([1.0])
    opt = optim.SGD([p], lr=1.0)
    scheduler = lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    seen = [scheduler.get_last_lr()[0]]
    for _ in range(5):
        opt.step()
        scheduler.step()
        seen.append(opt.param_groups[0]["lr"])
    assert seen == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
    saved_opt, saved_scheduler = opt.state_dict(), scheduler.state_dict()
    other_opt = optim.SGD([param([1.0])], lr=1.0)
    other_opt.load_state_dict(saved_opt)
    other = lr_scheduler.StepLR(other_opt, step_size=2, gamma=0.5)
    other.load_state_dict(saved_scheduler)
    other.step()
    scheduler.step()
    assert other.get_last_lr() == scheduler.get_last_lr() == [0.125]
    with pytest.raises(ValueError, match="unknown entries"):
        other.load_state_dict({"bogus": 1})


def test_scheduler_arguments_are_checked():
    opt = optim.SGD([param([1.0])], lr=1.0)
    with pytest.raises(ValueError, match="step_size must be a positive integer"):
        optim.lr_scheduler.StepLR(opt, step_size=0)
    with pytest.raises(ValueError, match="T_max must be a positive integer"):
        optim.lr_scheduler.CosineAnnealingLR(opt, T_max=0)
    with pytest.raises(ValueError, match="give total_steps, or epochs and steps_per_epoch"):
        optim.lr_scheduler.OneCycleLR(opt, max_lr=1.0)
    with pytest.raises(KeyError, match="no 'initial_lr'"):
        optim.lr_scheduler.StepLR(optim.SGD([param([1.0])], lr=1.0), step_size=1, last_epoch=3)
    one_cycle = optim.lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=2)
    one_cycle.step()
    one_cycle.step()
    with pytest.raises(ValueError, match="stepped 3 times, but total_steps is 2"):
        one_cycle.step()
