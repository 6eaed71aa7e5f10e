"""LeNet5 and SmallCNN against the same networks written in PyTorch, weights copied over.

The PyTorch code below is what a PyTorch user would write for these models; with our weights
loaded into it, loss and every parameter gradient agree to float32 round-off, in training mode
(BatchNorm on batch statistics, running statistics updated) and in evaluation mode.

torch is a test-only dependency: without it this file is skipped, except under CI=true, where it fails.
"""
from __future__ import annotations


import numpy as np
import pytest
from torch_required import require_torch

torch = require_torch(__file__)

import torch.nn as tnn  # noqa: E402
import torch.nn.functional as TF  # noqa: E402

import tinygraph as tg  # noqa: E402
from tinygraph import data, models  # noqa: E402


class TorchLeNet5(tnn.Module):
    def __init__(self, in_channels=1, image_size=32, classes=10):
        super().__init__()
        side = ((image_size - 4) // 2 - 4) // 2
        self.features = tnn.Sequential(tnn.Conv2d(in_channels, 6, 5), tnn.Tanh(), tnn.AvgPool2d(2),
                                       tnn.Conv2d(6, 16, 5), tnn.Tanh(), tnn.AvgPool2d(2))
        self.classifier = tnn.Sequential(tnn.Flatten(), tnn.Linear(16 * side * side, 120), tnn.Tanh(),
                                         tnn.Linear(120, 84), tnn.Tanh(), tnn.Linear(84, classes))

    def forward(self, x):
        return self.classifier(self.features(x))


class TorchSmallCNN(tnn.Module):
    def __init__(self, in_channels=1, image_size=8, classes=10, channels=(32, 64), dropout=0.25):
        super().__init__()
        c1, c2 = channels
        self.features = tnn.Sequential(
            tnn.Conv2d(in_channels, c1, 3, padding=1, bias=False), tnn.BatchNorm2d(c1), tnn.ReLU(), tnn.MaxPool2d(2),
            tnn.Conv2d(c1, c2, 3, padding=1, bias=False), tnn.BatchNorm2d(c2), tnn.ReLU(), tnn.MaxPool2d(2))
        side = image_size // 4
        self.classifier = tnn.Sequential(tnn.Flatten(), tnn.Dropout(dropout), tnn.Linear(c2 * side * side, classes))

    def forward(self, x):
        return self.classifier(self.features(x))


def both(name: str, **config):
    ours = models.build(name, rng=np.random.default_rng(0), **config)
    theirs = {"lenet5": TorchLeNet5, "smallcnn": TorchSmallCNN}[name](**config)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    theirs.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in ours.state_dict().items()})
    return ours, theirs


def loss_and_grads(ours, theirs, x: np.ndarray, y: np.ndarray):
    loss_ours = tg.softmax_xent(ours(tg.tensor(x)), y)
    loss_ours.backward()
    loss_theirs = TF.cross_entropy(theirs(torch.from_numpy(x)), torch.from_numpy(y))
    loss_theirs.backward()
    return loss_ours, loss_theirs


def assert_same(ours, theirs, loss_ours, loss_theirs):
    """Loss, every parameter gradient and every buffer equal to float32 round-off (relative to each's scale)."""
    np.testing.assert_allclose(loss_ours.item(), loss_theirs.item(), rtol=1e-5)
    grads = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        expected = grads[name].grad.numpy()
        scale = max(1e-3, float(np.abs(expected).max()))
        np.testing.assert_allclose(p.grad, expected, rtol=1e-4, atol=1e-5 * scale, err_msg=name)
    buffers = dict(theirs.named_buffers())
    for name, b in ours.named_buffers():
        np.testing.assert_allclose(np.asarray(b), buffers[name].numpy(), rtol=1e-5, atol=1e-6, err_msg=name)


def digits(size=None, n=32):
    split = data.load_digits(seed=0, size=size)
    return split.x_train[:n], split.y_train[:n]


def test_lenet5_on_32x32_digits_matches_pytorch():
    ours, theirs = both("lenet5")
    x, y = digits(size=32)
    assert_same(ours, theirs, *loss_and_grads(ours, theirs, x, y))


def test_lenet5_on_3x32x32_images_matches_pytorch():
    ours, theirs = both("lenet5", in_channels=3, image_size=32, classes=5)
    rng = np.random.default_rng(1)
    x, y = rng.random((6, 3, 32, 32), dtype=np.float32), rng.integers(0, 5, 6)
    assert_same(ours, theirs, *loss_and_grads(ours, theirs, x, y))


@pytest.mark.parametrize("config, size", [({"in_channels": 1, "image_size": 8}, 8),
                                          ({"in_channels": 3, "image_size": 32, "channels": (8, 16)}, 32)],
                         ids=["1x8x8 digits", "3x32x32"])
def test_smallcnn_in_training_mode_matches_pytorch_over_steps(config, size):
    """Dropout off (p=0) so both draw the same (no) mask; BatchNorm on batch statistics, running stats updated."""
    ours, theirs = both("smallcnn", dropout=0.0, **config)
    rng = np.random.default_rng(2)
    theirs_optimizer = torch.optim.SGD(theirs.parameters(), lr=0.1)
    ours_optimizer = tg.optim.SGD(ours.parameters(), lr=0.1)
    for step in range(3):
        if size == 8:
            x, y = digits(n=16 * (step + 1))
            x, y = x[-16:], y[-16:]
        else:
            x, y = rng.random((8, 3, 32, 32), dtype=np.float32), rng.integers(0, 10, 8)
        ours_optimizer.zero_grad()
        theirs_optimizer.zero_grad()
        assert_same(ours, theirs, *loss_and_grads(ours, theirs, x, y))
        ours_optimizer.step()
        theirs_optimizer.step()
    assert int(ours.features[1].num_batches_tracked) == 3


def test_smallcnn_in_eval_mode_matches_pytorch_with_dropout_off_and_running_stats():
    ours, theirs = both("smallcnn")
    with torch.no_grad():                        # running statistics as after some training
        for module in theirs.modules():
            if isinstance(module, tnn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    ours.eval()
    theirs.eval()
    x, y = digits()
    assert_same(ours, theirs, *loss_and_grads(ours, theirs, x, y))


def test_smallcnn_dropout_with_our_mask_in_pytorch_gives_the_same_gradients():
    """Training mode with dropout on: PyTorch's Dropout replaced by the mask our generator draws.

    The dropout op keeps an element where generator.random(shape) < 1 − p; a copy of the
    generator's state, taken before the forward pass, draws the same mask for PyTorch.
    """
    ours, theirs = both("smallcnn", dropout=0.5)
    x, y = digits()
    replay = np.random.Generator(np.random.PCG64())
    replay.bit_generator.state = ours.classifier[1].rng.bit_generator.state
    keep = replay.random((len(x), ours.classifier[2].in_features)) < 0.5

    class FixedMask(tnn.Module):
        def forward(self, h):
            return h * torch.from_numpy(keep) / 0.5

    theirs.classifier[1] = FixedMask()
    assert_same(ours, theirs, *loss_and_grads(ours, theirs, x, y))
