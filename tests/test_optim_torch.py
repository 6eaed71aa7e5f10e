"""Optimizers, schedulers and gradient clipping against PyTorch itself: same weights, same gradients, same steps.

Each case runs a few steps in tinygraph and in torch from identical parameters (two parameter
groups, the second with its own lr) and identical gradients, and compares every parameter and
every state buffer after every step: float64 to 1e-12, float32 to its round-off. Learning-rate
schedules must be exactly equal (both compute them in Python floats by the same recurrence).

torch is a test-only dependency: without it this file is skipped, except under CI=true, where it fails.
"""
from __future__ import annotations

import itertools
import re
import math

import numpy as np
import pytest
from torch_required import require_torch

torch = require_torch(__file__)

import tinygraph as tg  # noqa: E402
from tinygraph import nn, optim  # noqa: E402
from tinygraph.optim import lr_scheduler  # noqa: E402

SHAPES = [(3, 4), (5,), ()]
STEPS = 6
TOLERANCE = {np.float64: (1e-12, 1e-13), np.float32: (2e-6, 2e-7)}    # (rtol, atol · max(1, max|value|))

# Buffer names are PyTorch's; torch keeps "step" as a float tensor.
BUFFERS = {"SGD": ["momentum_buffer"], "Adam": ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"],
           "AdamW": ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"],
           "RMSprop": ["square_avg", "momentum_buffer", "grad_avg"], "Adagrad": ["sum"],
           "Adadelta": ["square_avg", "acc_delta"]}


def assert_close(actual, expected, dtype, what):
    rtol, atol = TOLERANCE[dtype]
    scale = max(1.0, float(np.abs(expected).max(initial=0)))
    assert actual.dtype == expected.dtype, f"{what}: dtype {actual.dtype}, PyTorch {expected.dtype}"
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol * scale, err_msg=f"{what} differs from PyTorch")


def run_both(name: str, options: dict, dtype, seed: int = 0, steps: int = STEPS, group_lr: float = 0.05,
             unused_last: bool = False):
    """Step tinygraph's and torch's optimizer `name` side by side; yield (step, tg params, torch params, opts)."""
    rng = np.random.default_rng(seed)
    weights = [rng.normal(size=shape).astype(dtype) for shape in SHAPES]
    gradients = [[rng.normal(size=shape).astype(dtype) for shape in SHAPES] for _ in range(steps)]
    tg_params = [nn.Parameter(w.copy()) for w in weights]
    torch_params = [torch.tensor(w.copy(), requires_grad=True) for w in weights]
    tg_opt = getattr(optim, name)([{"params": tg_params[:2]}, {"params": tg_params[2:], "lr": group_lr}], **options)
    torch_opt = getattr(torch.optim, name)([{"params": torch_params[:2]}, {"params": torch_params[2:], "lr": group_lr}],
                                           **options)
    for step, grads in enumerate(gradients):
        for i, (p, q, g) in enumerate(zip(tg_params, torch_params, grads)):
            skip = unused_last and i == len(grads) - 1 and step % 2 == 0    # a parameter without a gradient
            p.grad = None if skip else g.copy()
            q.grad = None if skip else torch.from_numpy(g.copy())
        tg_opt.step()
        torch_opt.step()
        yield step, tg_params, torch_params, tg_opt, torch_opt


def compare_run(name: str, options: dict, dtype, **kwargs) -> float:
    """Run and compare; returns the largest |difference| relative to max(1, |value|) seen."""
    worst = 0.0
    for step, tg_params, torch_params, tg_opt, torch_opt in run_both(name, options, dtype, **kwargs):
        for i, (p, q) in enumerate(zip(tg_params, torch_params)):
            expected = q.detach().numpy()
            assert_close(p.data, expected, dtype, f"{name}({options}) {dtype.__name__} parameter {i} after step {step + 1}")
            worst = max(worst, float(np.abs(p.data - expected).max(initial=0)) / max(1.0, float(np.abs(expected).max(initial=0))))
            torch_state = torch_opt.state.get(q, {})
            assert (p in tg_opt.state and bool(tg_opt.state[p])) == bool(torch_state), f"state of parameter {i}"
            for buffer in BUFFERS[name]:
                if buffer in torch_state and torch_state[buffer] is not None:
                    assert_close(tg_opt.state[p][buffer], torch_state[buffer].numpy(), dtype,
                                 f"{name}({options}) buffer {buffer} of parameter {i} after step {step + 1}")
            if "step" in torch_state:
                assert tg_opt.state[p]["step"] == int(torch_state["step"])
    return worst


def sgd_options():
    for momentum, dampening, weight_decay, nesterov, maximize in itertools.product(
            [0.0, 0.9], [0.0, 0.3], [0.0, 0.1], [False, True], [False, True]):
        if nesterov and (momentum == 0 or dampening != 0):
            continue                 # refused by both (tested below)
        yield {"lr": 0.1, "momentum": momentum, "dampening": dampening, "weight_decay": weight_decay,
               "nesterov": nesterov, "maximize": maximize}


def adam_options():
    for betas, eps, weight_decay, amsgrad, maximize in itertools.product(
            [(0.9, 0.999), (0.5, 0.9)], [1e-8, 1e-3], [0.0, 0.1], [False, True], [False, True]):
        yield {"lr": 0.01, "betas": betas, "eps": eps, "weight_decay": weight_decay, "amsgrad": amsgrad,
               "maximize": maximize}


def rmsprop_options():
    for alpha, eps, weight_decay, momentum, centered, maximize in itertools.product(
            [0.99, 0.5], [1e-8, 1e-2], [0.0, 0.1], [0.0, 0.9], [False, True], [False, True]):
        yield {"lr": 0.01, "alpha": alpha, "eps": eps, "weight_decay": weight_decay, "momentum": momentum,
               "centered": centered, "maximize": maximize}


def adagrad_options():
    for lr_decay, weight_decay, initial, eps, maximize in itertools.product(
            [0.0, 0.1], [0.0, 0.1], [0.0, 0.5], [1e-10, 1e-3], [False, True]):
        yield {"lr": 0.1, "lr_decay": lr_decay, "weight_decay": weight_decay, "initial_accumulator_value": initial,
               "eps": eps, "maximize": maximize}


def adadelta_options():
    for lr, rho, eps, weight_decay, maximize in itertools.product(
            [1.0, 0.5], [0.9, 0.5], [1e-6, 1e-2], [0.0, 0.1], [False, True]):
        yield {"lr": lr, "rho": rho, "eps": eps, "weight_decay": weight_decay, "maximize": maximize}


CASES = ([("SGD", o) for o in sgd_options()] + [("Adam", o) for o in adam_options()]
         + [("AdamW", o) for o in adam_options()] + [("RMSprop", o) for o in rmsprop_options()]
         + [("Adagrad", o) for o in adagrad_options()] + [("Adadelta", o) for o in adadelta_options()])
OPTIMIZERS = ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta"]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name, options", CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_every_option_combination_steps_like_pytorch(name, options, dtype):
    compare_run(name, options, dtype, unused_last=True)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_defaults_are_pytorchs(name):
    p = nn.Parameter(np.zeros(1))
    ours = getattr(optim, name)([p]).param_groups[0]
    theirs = getattr(torch.optim, name)([torch.zeros(1, requires_grad=True)]).param_groups[0]
    for key, value in ours.items():
        if key != "params":
            assert value == theirs[key], f"{name} default {key}: {value!r}, PyTorch {theirs[key]!r}"


def test_refusals_match_pytorchs():
    bad = [("SGD", {"lr": -1.0}), ("SGD", {"lr": 0.1, "momentum": -0.1}), ("SGD", {"lr": 0.1, "nesterov": True}),
           ("SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.1, "nesterov": True}),
           ("SGD", {"lr": 0.1, "weight_decay": -1.0}), ("Adam", {"betas": (1.0, 0.9)}), ("Adam", {"eps": -1.0}),
           ("AdamW", {"betas": (0.9, -0.1)}), ("AdamW", {"weight_decay": -0.1}),
           ("RMSprop", {"alpha": -0.1}), ("RMSprop", {"momentum": -0.1}), ("RMSprop", {"eps": -1.0}),
           ("RMSprop", {"weight_decay": -1.0}), ("Adagrad", {"lr_decay": -0.1}), ("Adagrad", {"eps": -1.0}),
           ("Adagrad", {"initial_accumulator_value": -0.1}), ("Adagrad", {"weight_decay": -0.1}),
           ("Adadelta", {"rho": 1.1}), ("Adadelta", {"rho": -0.1}), ("Adadelta", {"eps": -1.0}),
           ("Adadelta", {"weight_decay": -0.1})]
    for name, options in bad:
        with pytest.raises(ValueError):
            getattr(torch.optim, name)([torch.zeros(1, requires_grad=True)], **options)
        with pytest.raises(ValueError, match=f"optim.{name}: "):
            getattr(optim, name)([nn.Parameter(np.zeros(1))], **options)


def test_a_resumed_run_matches_an_uninterrupted_pytorch_run(tmp_path):
    """3 steps, checkpoint through tg.save/tg.load into fresh objects, 3 more: equals torch's 6 in a row."""
    options = {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True}
    rng = np.random.default_rng(3)
    weights = rng.normal(size=(4, 3)).astype(np.float32)
    grads = rng.normal(size=(6, 4, 3)).astype(np.float32)
    q = torch.tensor(weights.copy(), requires_grad=True)
    torch_opt = torch.optim.AdamW([q], **options)
    torch_scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(torch_opt, T_max=4)
    p = nn.Parameter(weights.copy())
    opt = optim.AdamW([p], **options)
    scheduler = lr_scheduler.CosineAnnealingLR(opt, T_max=4)
    for step, g in enumerate(grads):
        if step == 3:
            tg.save(tmp_path / "c.npz", {"p": p.data, "opt": opt.state_dict(), "sched": scheduler.state_dict()})
            saved = tg.load(tmp_path / "c.npz")
            p = nn.Parameter(saved["p"])
            opt = optim.AdamW([p], **options)
            opt.load_state_dict(saved["opt"])
            scheduler = lr_scheduler.CosineAnnealingLR(opt, T_max=4)
            scheduler.load_state_dict(saved["sched"])
        p.grad, q.grad = g.copy(), torch.from_numpy(g.copy())
        opt.step()
        torch_opt.step()
        scheduler.step()
        torch_scheduler.step()
        assert scheduler.get_last_lr() == torch_scheduler.get_last_lr()
        assert_close(p.data, q.detach().numpy(), np.float32, f"parameter after step {step + 1}")


# ------------------------------------------------------------------ learning-rate schedules

def lr_sequences(make_ours, make_theirs, steps: int, optimizer: str = "SGD", options=None):
    """The lrs (and momentum/beta1) of both schedulers over `steps` steps, two parameter groups."""
    options = options or {"lr": 0.1, "momentum": 0.9}
    p, q = nn.Parameter(np.zeros(1)), nn.Parameter(np.zeros(1))
    a, b = torch.zeros(1, requires_grad=True), torch.zeros(1, requires_grad=True)
    ours_opt = getattr(optim, optimizer)([{"params": [p]}, {"params": [q], "lr": 0.03}], **options)
    theirs_opt = getattr(torch.optim, optimizer)([{"params": [a]}, {"params": [b], "lr": 0.03}], **options)
    ours, theirs = make_ours(ours_opt), make_theirs(theirs_opt)
    key = "betas" if optimizer != "SGD" else "momentum"
    seen_ours, seen_theirs = [], []
    for _ in range(steps + 1):
        seen_ours.append((ours.get_last_lr(), [g["lr"] for g in ours_opt.param_groups],
                          [g[key] for g in ours_opt.param_groups]))
        seen_theirs.append((theirs.get_last_lr(), [g["lr"] for g in theirs_opt.param_groups],
                            [tuple(g[key]) if key == "betas" else g[key] for g in theirs_opt.param_groups]))
        ours_opt.step()
        theirs_opt.step()
        if len(seen_ours) <= steps:
            ours.step()
            theirs.step()
    return seen_ours, seen_theirs


def assert_same_sequence(ours, theirs):
    for step, (a, b) in enumerate(zip(ours, theirs)):
        assert a == b, f"step {step}: tinygraph {a}, PyTorch {b}"     # the same float operations: exactly equal


@pytest.mark.parametrize("step_size, gamma", [(1, 0.1), (3, 0.5), (4, 0.9)])
def test_step_lr_sequence_is_pytorchs(step_size, gamma):
    assert_same_sequence(*lr_sequences(lambda o: lr_scheduler.StepLR(o, step_size, gamma=gamma),
                                       lambda o: torch.optim.lr_scheduler.StepLR(o, step_size, gamma=gamma), 20))


@pytest.mark.parametrize("T_max, eta_min", [(1, 0.0), (5, 0.0), (7, 1e-3), (10, 0.05)])
def test_cosine_annealing_sequence_is_pytorchs_past_T_max_too(T_max, eta_min):
    assert_same_sequence(*lr_sequences(lambda o: lr_scheduler.CosineAnnealingLR(o, T_max, eta_min=eta_min),
                                       lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max, eta_min=eta_min),
                                       3 * T_max + 2))


ONE_CYCLE = [
    {"max_lr": 0.5, "total_steps": 20},
    {"max_lr": [0.5, 0.2], "epochs": 3, "steps_per_epoch": 7, "pct_start": 0.25},
    {"max_lr": 1.0, "total_steps": 17, "anneal_strategy": "linear"},
    {"max_lr": 0.3, "total_steps": 30, "three_phase": True, "div_factor": 10.0, "final_div_factor": 100.0},
    {"max_lr": 0.3, "total_steps": 12, "three_phase": True, "anneal_strategy": "linear", "pct_start": 0.4},
    {"max_lr": 0.3, "total_steps": 10, "cycle_momentum": False},
    {"max_lr": 0.3, "total_steps": 10, "base_momentum": [0.8, 0.7], "max_momentum": 0.9},
]


@pytest.mark.parametrize("optimizer, options", [("SGD", {"lr": 0.1, "momentum": 0.9}), ("SGD", {"lr": 0.1}),
                                                ("Adam", {"lr": 0.1}), ("AdamW", {"betas": (0.8, 0.99)})])
@pytest.mark.parametrize("kwargs", ONE_CYCLE)
def test_one_cycle_lr_and_momentum_sequences_are_pytorchs(kwargs, optimizer, options):
    steps = kwargs.get("total_steps") or kwargs["epochs"] * kwargs["steps_per_epoch"]
    assert_same_sequence(*lr_sequences(lambda o: lr_scheduler.OneCycleLR(o, **kwargs),
                                       lambda o: torch.optim.lr_scheduler.OneCycleLR(o, **kwargs),
                                       steps, optimizer, options))


def test_one_cycle_drives_adam_like_pytorch():
    """The schedule changes lr and β₁ every step; the parameters still follow PyTorch's."""
    rng = np.random.default_rng(5)
    w, grads = rng.normal(size=(3, 3)).astype(np.float32), rng.normal(size=(12, 3, 3)).astype(np.float32)
    p, q = nn.Parameter(w.copy()), torch.tensor(w.copy(), requires_grad=True)
    opt, torch_opt = optim.Adam([p], lr=0.1), torch.optim.Adam([q], lr=0.1)
    scheduler = lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=12)
    torch_scheduler = torch.optim.lr_scheduler.OneCycleLR(torch_opt, max_lr=0.1, total_steps=12)
    for step, g in enumerate(grads):
        p.grad, q.grad = g.copy(), torch.from_numpy(g.copy())
        opt.step()
        torch_opt.step()
        scheduler.step()
        torch_scheduler.step()
        assert_close(p.data, q.detach().numpy(), np.float32, f"parameter after step {step + 1}")


# ------------------------------------------------------------------ gradient clipping

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf, 0.5])
@pytest.mark.parametrize("max_norm", [0.5, 1e3])
def test_clip_grad_norm_is_pytorchs(norm_type, max_norm, dtype):
    rng = np.random.default_rng(1)
    grads = [rng.normal(size=shape).astype(dtype) for shape in SHAPES]
    params = [nn.Parameter(np.zeros(shape, dtype)) for shape in SHAPES] + [nn.Parameter(np.zeros(2, dtype))]
    tensors = [torch.zeros(shape, dtype=getattr(torch, np.dtype(dtype).name), requires_grad=True)
               for shape in SHAPES] + [torch.zeros(2, dtype=getattr(torch, np.dtype(dtype).name), requires_grad=True)]
    for p, t, g in zip(params, tensors, grads):                  # the last parameter has no gradient
        p.grad, t.grad = g.copy(), torch.from_numpy(g.copy())
    total = nn.utils.clip_grad_norm_(params, max_norm, norm_type=norm_type)
    expected = torch.nn.utils.clip_grad_norm_(tensors, max_norm, norm_type=norm_type)
    assert isinstance(total, tg.Tensor) and total.shape == ()
    assert_close(total.data, expected.numpy(), dtype, "total norm")
    for i, (p, t) in enumerate(zip(params, tensors)):
        if t.grad is None:
            assert p.grad is None
        else:
            assert_close(p.grad, t.grad.numpy(), dtype, f"clipped gradient {i}")


def test_clip_grad_norm_edge_cases():
    p = nn.Parameter(np.zeros(3))
    assert float(nn.utils.clip_grad_norm_([p], 1.0).data) == 0.0           # no gradients: norm 0, as PyTorch
    p.grad = np.array([np.inf, 1.0, 0.0])
    with pytest.raises(RuntimeError, match="total norm of order 2.0 of the gradients is inf"):
        nn.utils.clip_grad_norm_(p, 1.0, error_if_nonfinite=True)
    q = nn.Parameter(np.zeros(3))
    q.grad = np.array([3.0, -4.0, 0.5])
    nn.utils.clip_grad_value_(q, 1.0)
    np.testing.assert_array_equal(q.grad, [1.0, -1.0, 0.5])


# ------------------------------------------------------------------ gradients that do not fit their parameter

@pytest.mark.parametrize("name", OPTIMIZERS)
@pytest.mark.parametrize("grad, problem", [(np.ones(4), "shape (4,)"), (np.ones((1, 4)), "shape (1, 4)"),
                                           (np.ones((3, 4), np.float32), "dtype float32")])
def test_a_gradient_that_does_not_match_its_parameter_is_refused_as_by_pytorch(name, grad, problem):
    """w.grad = np.ones(4) on a (3, 4) w used to update every row by broadcasting; PyTorch refuses it."""
    q = torch.zeros(3, 4, dtype=torch.float64, requires_grad=True)
    with pytest.raises(RuntimeError):
        q.grad = torch.from_numpy(grad.copy())                  # PyTorch: at the assignment
    p = nn.Parameter(np.zeros((3, 4)), name="w")
    other = nn.Parameter(np.zeros(2))
    opt = getattr(optim, name)([other, p], lr=0.1)
    with pytest.raises(RuntimeError, match=rf"\.grad: assigned a gradient of .*{re.escape(problem)}.* to tensor 'w'"):
        p.grad = grad.copy()                                     # tinygraph too, naming both sides
    # A gradient changed behind the setter's back (through .data) is still refused by step().
    other.grad, p.grad = np.ones(2), np.zeros((3, 4))
    p.grad.data = grad.copy()
    with pytest.raises(ValueError, match=rf"optim.{name}.step: the gradient of parameter 1 \('w'\) has "
                                         rf".*{re.escape(problem)}.*the parameter has shape \(3, 4\) and dtype float64"):
        opt.step()
    np.testing.assert_array_equal(p.data, np.zeros((3, 4)))
