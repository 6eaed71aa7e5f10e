"""nn.Module against torch.nn: the same model built in both has the same names, order and outputs.

torch is a test-only dependency: without it this file is skipped, except under CI=true, where it fails.
"""
from __future__ import annotations


import numpy as np
import pytest
from torch_required import require_torch

torch = require_torch(__file__)

import tinygraph as tg  # noqa: E402
from tinygraph import nn  # noqa: E402


def build(lib, **kwargs):
    """One model in either library: nested Sequential, ModuleList, a tied layer, a buffer."""

    class Block(lib.Module):
        def __init__(self):
            super().__init__()
            self.conv = lib.Conv2d(2, 3, (3, 2), stride=(1, 2), padding=(1, 0), bias=False, **kwargs)
            self.register_buffer("running_mean", np.zeros(3, np.float32) if lib is nn else torch.zeros(3))

    class Net(lib.Module):
        def __init__(self):
            super().__init__()
            self.block = Block()
            self.body = lib.Sequential(lib.Conv2d(3, 4, 3, padding=1, **kwargs), lib.ReLU(), lib.Flatten())
            self.heads = lib.ModuleList([lib.Linear(4 * 5 * 3, 6, **kwargs), lib.Identity()])
            self.heads.append(lib.Linear(6, 2, bias=False, **kwargs))
            self.tied = self.heads[0]

        def forward(self, x):
            x = self.body(self.block.conv(x))
            for head in self.heads:
                x = head(x)
            return x

    return Net()


def test_names_and_orders_match_pytorch():
    ours, theirs = build(nn, rng=np.random.default_rng(0)), build(torch.nn)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    assert ([n for n, _ in ours.named_modules(remove_duplicate=False)]
            == [n for n, _ in theirs.named_modules(remove_duplicate=False)])
    assert [n for n, _ in ours.named_children()] == [n for n, _ in theirs.named_children()]
    order_ours, order_theirs = [], []
    ours.apply(lambda m: order_ours.append(type(m).__name__))
    theirs.apply(lambda m: order_theirs.append(type(m).__name__))
    assert order_ours == order_theirs
    assert list(ours.body[1:]._modules) == list(theirs.body[1:]._modules)
    assert list(ours.heads[1:]._modules) == list(theirs.heads[1:]._modules)


def test_weights_copied_over_give_pytorchs_output_and_load_state_dict_report():
    ours, theirs = build(nn, rng=np.random.default_rng(0)), build(torch.nn)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x = np.random.default_rng(1).normal(size=(2, 2, 5, 6)).astype(np.float32)
    expected = theirs(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(ours(tg.tensor(x)).data, expected, rtol=1e-5, atol=1e-6)
    state = {k: v.copy() for k, v in ours.state_dict().items()}
    del state["block.running_mean"]
    state["extra"] = np.zeros(1, np.float32)
    torch_state = {k: torch.from_numpy(v) for k, v in state.items()}
    assert tuple(ours.load_state_dict(state, strict=False)) == tuple(theirs.load_state_dict(torch_state, strict=False))
    with pytest.raises(RuntimeError):
        theirs.load_state_dict(torch_state)
    with pytest.raises(RuntimeError):
        ours.load_state_dict(state)


def test_layer_init_bounds_match_pytorchs():
    for make in (lambda lib, **k: lib.Conv2d(4, 6, (3, 5), groups=1, **k), lambda lib, **k: lib.Linear(7, 3, **k)):
        ours, theirs = make(nn, rng=np.random.default_rng(0)), make(torch.nn)
        fan_in = int(np.prod(theirs.weight.shape[1:]))
        for p, q in zip(ours.parameters(), theirs.parameters()):
            assert p.shape == tuple(q.shape)
            assert np.abs(p.data).max() <= 1 / np.sqrt(fan_in) and q.abs().max().item() <= 1 / np.sqrt(fan_in)


# --------------------------------------------------------------------------- layers of issue 11, one by one
def copy_weights(ours, theirs) -> None:
    """PyTorch's parameters and buffers (running statistics included) into our layer."""
    ours.load_state_dict({k: v.detach().numpy().copy() for k, v in theirs.state_dict().items()})


def run_both(ours, theirs, x: np.ndarray, seed: int = 2):
    """Forward and a weighted-sum backward in both; returns (our output, theirs, our x, their x)."""
    x_ours, x_theirs = tg.tensor(x, requires_grad=True), torch.from_numpy(x.copy()).requires_grad_()
    out_ours, out_theirs = ours(x_ours), theirs(x_theirs)
    weights = np.random.default_rng(seed).normal(size=tuple(out_theirs.shape)).astype(x.dtype)
    (out_ours * weights).sum().backward()
    (out_theirs * torch.from_numpy(weights)).sum().backward()
    return out_ours, out_theirs, x_ours, x_theirs


def assert_same(ours, theirs, out_ours, out_theirs, x_ours, x_theirs, rtol=1e-5, atol=1e-6):
    """Output, input gradient, every parameter gradient and every buffer equal PyTorch's."""
    np.testing.assert_allclose(out_ours.data, out_theirs.detach().numpy(), rtol=rtol, atol=atol, err_msg="output")
    np.testing.assert_allclose(x_ours.grad, x_theirs.grad.numpy(), rtol=rtol, atol=atol, err_msg="input gradient")
    theirs_params = dict(theirs.named_parameters())
    assert [n for n, _ in ours.named_parameters()] == list(theirs_params)
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad, theirs_params[name].grad.numpy(), rtol=rtol, atol=atol, err_msg=name)
    theirs_buffers = dict(theirs.named_buffers())
    assert [n for n, _ in ours.named_buffers()] == list(theirs_buffers)
    for name, b in ours.named_buffers():
        np.testing.assert_allclose(np.asarray(b), theirs_buffers[name].numpy(), rtol=rtol, atol=atol, err_msg=name)


LAYERS = [
    ("MaxPool2d(2)", lambda lib: lib.MaxPool2d(2), (2, 3, 7, 6)),
    ("MaxPool2d(3, 2, 1)", lambda lib: lib.MaxPool2d(3, stride=2, padding=1), (2, 3, 7, 6)),
    ("MaxPool2d((2, 3), dilation=2, ceil_mode)", lambda lib: lib.MaxPool2d((2, 3), 2, 1, dilation=2, ceil_mode=True),
     (2, 2, 9, 8)),
    ("AvgPool2d(2)", lambda lib: lib.AvgPool2d(2), (2, 3, 7, 6)),
    ("AvgPool2d(3, 2, 1)", lambda lib: lib.AvgPool2d(3, 2, 1), (2, 3, 7, 6)),
    ("AvgPool2d(3, 2, 1, ceil_mode, no pad count)",
     lambda lib: lib.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False), (2, 3, 8, 7)),
    ("ReLU", lambda lib: lib.ReLU(), (3, 4)),
    ("Sigmoid", lambda lib: lib.Sigmoid(), (3, 4)),
    ("Tanh", lambda lib: lib.Tanh(), (3, 4)),
    ("Softmax(1)", lambda lib: lib.Softmax(dim=1), (3, 4, 2)),
    ("LogSoftmax(-1)", lambda lib: lib.LogSoftmax(dim=-1), (3, 4)),
    ("Flatten()", lambda lib: lib.Flatten(), (2, 3, 4, 5)),
    ("Flatten(0, 2)", lambda lib: lib.Flatten(0, 2), (2, 3, 4, 5)),
    ("Linear", lambda lib: lib.Linear(5, 3), (4, 5)),
    ("Conv2d groups dilation", lambda lib: lib.Conv2d(4, 6, 3, stride=2, padding=2, dilation=2, groups=2),
     (2, 4, 9, 8)),
    ("BatchNorm1d (N, C)", lambda lib: lib.BatchNorm1d(5), (8, 5)),
    ("BatchNorm1d (N, C, L)", lambda lib: lib.BatchNorm1d(3, momentum=0.3), (4, 3, 6)),
    ("BatchNorm2d", lambda lib: lib.BatchNorm2d(3, eps=1e-3), (4, 3, 5, 5)),
    ("BatchNorm2d affine=False", lambda lib: lib.BatchNorm2d(3, affine=False), (4, 3, 5, 5)),
    ("BatchNorm2d no running stats", lambda lib: lib.BatchNorm2d(3, track_running_stats=False), (4, 3, 5, 5)),
    ("BatchNorm2d momentum=None", lambda lib: lib.BatchNorm2d(3, momentum=None), (4, 3, 5, 5)),
    ("BatchNorm2d bias=False", lambda lib: lib.BatchNorm2d(3, bias=False), (4, 3, 5, 5)),
]


@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize("what, make, shape", LAYERS, ids=[case[0] for case in LAYERS])
def test_layer_matches_torch_forward_and_gradients(what, make, shape, mode):
    torch.manual_seed(0)
    theirs = make(torch.nn)
    ours = make(nn)
    if any(True for _ in theirs.parameters()) or any(True for _ in theirs.buffers()):
        with torch.no_grad():                  # non-trivial γ, β and running statistics
            for tensor in [*theirs.parameters(), *(b for b in theirs.buffers() if b.dtype.is_floating_point)]:
                tensor.copy_(tensor + 0.3 * torch.rand_like(tensor))
        copy_weights(ours, theirs)
    ours.train(mode == "train")
    theirs.train(mode == "train")
    x = np.random.default_rng(1).normal(size=shape).astype(np.float32)
    assert_same(ours, theirs, *run_both(ours, theirs, x))


@pytest.mark.parametrize("make", [lambda lib: lib.BatchNorm1d(4, momentum=0.2), lambda lib: lib.BatchNorm2d(4),
                                  lambda lib: lib.BatchNorm2d(4, momentum=None)], ids=["1d", "2d", "cumulative"])
def test_batchnorm_running_stats_after_training_steps_then_eval(make):
    theirs, ours = make(torch.nn), make(nn)
    copy_weights(ours, theirs)
    shape = (6, 4) if isinstance(theirs, torch.nn.BatchNorm1d) else (5, 4, 3, 3)
    rng = np.random.default_rng(3)
    for step in range(4):                      # shifted, scaled batches: the running statistics move
        x = (rng.normal(size=shape) * (1 + step) + step).astype(np.float32)
        assert_same(ours, theirs, *run_both(ours, theirs, x, seed=step))
        for p in [*ours.parameters(), *theirs.parameters()]:
            p.grad = None
    assert int(ours.num_batches_tracked) == int(theirs.num_batches_tracked) == 4
    ours.eval()
    theirs.eval()
    x = rng.normal(size=shape).astype(np.float32)
    assert_same(ours, theirs, *run_both(ours, theirs, x))
    assert list(ours.state_dict()) == list(theirs.state_dict())


def test_dropout_in_eval_is_the_identity_as_in_torch():
    ours, theirs = nn.Dropout(0.5).eval(), torch.nn.Dropout(0.5).eval()
    x = np.random.default_rng(0).normal(size=(4, 5)).astype(np.float32)
    x_ours = tg.tensor(x)
    assert ours(x_ours) is x_ours
    np.testing.assert_array_equal(ours(x_ours).data, theirs(torch.from_numpy(x)).numpy())


@pytest.mark.parametrize("p", [0.2, 0.5])
def test_dropout_with_a_fixed_mask_scales_as_torch(p):
    """Our mask comes from the generator; given the same mask, output and gradient are PyTorch's."""
    x = np.random.default_rng(0).normal(size=(50, 40)).astype(np.float32)
    ours = nn.Dropout(p, rng=np.random.default_rng(7))
    x_ours = tg.tensor(x, requires_grad=True)
    out = ours(x_ours)
    keep = out.data != 0
    assert keep.mean() == pytest.approx(1 - p, abs=0.03)
    torch.manual_seed(0)
    out_torch = torch.nn.Dropout(p)(torch.from_numpy(x))
    keep_torch = (out_torch != 0).numpy()
    np.testing.assert_allclose(out_torch.numpy()[keep_torch], x[keep_torch] / (1 - p), rtol=1e-6)  # PyTorch's rule
    np.testing.assert_allclose(out.data, x * keep / np.float32(1 - p), rtol=1e-6)                 # is ours
    x_torch = torch.from_numpy(x.copy()).requires_grad_()
    (x_torch * torch.from_numpy(keep) / (1 - p)).sum().backward()          # PyTorch with our mask
    out.sum().backward()
    np.testing.assert_allclose(x_ours.grad, x_torch.grad.numpy(), rtol=1e-6)


def _loss_inputs(targets: str):
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(6, 4)).astype(np.float32)
    if targets == "indices":
        return logits, np.array([0, 3, 1, 1, 2, 3], dtype=np.int64)
    probabilities = rng.random((6, 4)).astype(np.float32)
    return logits, probabilities / probabilities.sum(axis=1, keepdims=True)


LOSSES = [
    ("default", {}, "indices"),
    ("sum", {"reduction": "sum"}, "indices"),
    ("none", {"reduction": "none"}, "indices"),
    ("weight", {"weight": [1.0, 2.0, 0.5, 1.5]}, "indices"),
    ("ignore_index", {"ignore_index": 1}, "indices"),
    ("label_smoothing", {"label_smoothing": 0.1}, "indices"),
    ("weight + ignore + smoothing", {"weight": [1.0, 2.0, 0.5, 1.5], "ignore_index": 3, "label_smoothing": 0.2},
     "indices"),
    ("probabilities", {}, "probabilities"),
    ("probabilities + smoothing", {"label_smoothing": 0.3, "reduction": "sum"}, "probabilities"),
]


@pytest.mark.parametrize("what, options, targets", LOSSES, ids=[case[0] for case in LOSSES])
def test_cross_entropy_loss_matches_torch(what, options, targets):
    logits, target = _loss_inputs(targets)
    ours_options = dict(options)
    theirs_options = dict(options)
    if "weight" in options:
        ours_options["weight"] = np.asarray(options["weight"], np.float32)
        theirs_options["weight"] = torch.tensor(options["weight"])
    x_ours, x_theirs = tg.tensor(logits, requires_grad=True), torch.from_numpy(logits.copy()).requires_grad_()
    loss_ours = nn.CrossEntropyLoss(**ours_options)(x_ours, target)
    loss_theirs = torch.nn.CrossEntropyLoss(**theirs_options)(x_theirs, torch.from_numpy(target))
    np.testing.assert_allclose(loss_ours.data, loss_theirs.detach().numpy(), rtol=1e-5, atol=1e-6)
    loss_ours.sum().backward()
    loss_theirs.sum().backward()
    np.testing.assert_allclose(x_ours.grad, x_theirs.grad.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss_matches_torch(reduction):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(3, 4)).astype(np.float32), rng.normal(size=(3, 4)).astype(np.float32)
    x_ours, x_theirs = tg.tensor(x, requires_grad=True), torch.from_numpy(x.copy()).requires_grad_()
    loss_ours = nn.MSELoss(reduction=reduction)(x_ours, tg.tensor(y))
    loss_theirs = torch.nn.MSELoss(reduction=reduction)(x_theirs, torch.from_numpy(y))
    np.testing.assert_allclose(loss_ours.data, loss_theirs.detach().numpy(), rtol=1e-6)
    loss_ours.sum().backward()
    loss_theirs.sum().backward()
    np.testing.assert_allclose(x_ours.grad, x_theirs.grad.numpy(), rtol=1e-6)


def test_new_layers_have_pytorchs_defaults():
    import inspect
    for name in ("MaxPool2d", "AvgPool2d", "BatchNorm1d", "BatchNorm2d", "Dropout", "Flatten", "CrossEntropyLoss",
                 "MSELoss", "Softmax", "LogSoftmax"):
        ours = inspect.signature(getattr(nn, name))
        theirs = inspect.signature(getattr(torch.nn, name))
        ours_params = {k: v.default for k, v in ours.parameters.items() if v.kind != v.KEYWORD_ONLY}
        theirs_params = {k: v.default for k, v in theirs.parameters.items()
                         if k not in ("device", "dtype") and v.kind != v.KEYWORD_ONLY}
        assert list(ours_params) == list(theirs_params), name
        for key, default in theirs_params.items():
            assert ours_params[key] == default or (key == "weight" and ours_params[key] is None), (name, key)
