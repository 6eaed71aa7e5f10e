"""nn.Module against torch.nn: the same model built in both has the same names, order and outputs.

torch is a test-only dependency: without it this file is skipped, except under CI=true, where it fails.
"""
from __future__ import annotations

import os

import numpy as np
import pytest

if os.environ.get("CI") == "true":
    try:
        import torch
    except ImportError as error:     # CI must never skip the comparison with PyTorch silently
        raise RuntimeError("CI=true but PyTorch is not installed: tests/test_nn_torch.py needs torch "
                           "(pip install -e '.[crosscheck]')") from error
else:
    torch = pytest.importorskip("torch")

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
