"""The model rows of tools/bench.py: ready-made tinygraph models against the same networks in PyTorch.

A model step is forward, mean softmax cross-entropy, backward and a plain SGD update (lr 0.01) on
one fixed batch, in training mode, from the same weights (ours, copied into PyTorch through
state_dict) and the same data. SmallCNN is built with dropout=0.0 on both sides, so neither draws
a mask and both compute the same step; its BatchNorm runs on batch statistics in both.

The epoch row is what `tinygraph-train` runs with its defaults: the CLI's own `train_epoch` for
TwoLayerCNN on the built-in digits (its batch size, Adam and learning rate, its shuffling),
against the same loop written in PyTorch, reading the same batches in the same order.

The compiled runners are tinygraph's step and epoch under tg.compile (the epoch as
`tinygraph-train --compile` runs it): a step is recorded when built (tools/bench_memory.py builds it
unrecorded, so that its recording call is its first warm-up step), an epoch in its warm-up epoch.
"""
from __future__ import annotations

import numpy as np

import tinygraph as tg
from tinygraph import data, models, optim
from tinygraph.cli import train as train_cli
from bench_rows import MODEL_ROWS
from bench_steps import CLASSES, LR, compiled, torch

if torch is not None:
    import torch.nn as torch_nn
    import torch.nn.functional as F

SEED = 0


def build_ours(name: str, config: dict):
    return models.build(name, rng=np.random.default_rng(SEED), **config)


def copy_into_torch(ours, theirs):
    """Our weights and buffers into the PyTorch twin; the names must match one for one."""
    state = ours.state_dict()
    if list(state) != list(theirs.state_dict()):
        raise RuntimeError(f"{type(theirs).__name__}: parameter names differ from tinygraph's {list(state)}")
    theirs.load_state_dict({key: torch.from_numpy(np.array(value)) for key, value in state.items()})
    return theirs


def model_batch(row: str) -> tuple[np.ndarray, np.ndarray]:
    """A fixed batch of images in [0, 1) and integer labels."""
    _, config, batch = MODEL_ROWS[row]
    size = config["image_size"]
    rng = np.random.default_rng(SEED)
    images = rng.random((batch, config["in_channels"], size, size), dtype=np.float32)
    return images, rng.integers(0, CLASSES, batch).astype(np.int64)


# ------------------------------------------------------------------------- one training step
class TinygraphModelStep:
    """The step as a tinygraph user writes it with a ready-made model and optim.SGD."""

    name = "tinygraph"

    def __init__(self, row: str):
        name, config, _ = MODEL_ROWS[row]
        self.model = build_ours(name, config).train()
        images, labels = model_batch(row)
        self.images, self.labels = tg.tensor(images), labels
        self.optimizer = optim.SGD(self.model.parameters(), lr=LR)

    def first_loss(self) -> float:
        return tg.softmax_xent(self.model(self.images), self.labels).item()

    def step(self):
        self.optimizer.zero_grad()
        loss = tg.softmax_xent(self.model(self.images), self.labels)
        loss.backward()
        self.optimizer.step()
        return loss


class TinygraphCompiledModelStep(TinygraphModelStep):
    """TinygraphModelStep's step under tg.compile, recorded when built (unless record_now is False: then
    the first step records): every later step is a replay."""

    name = "compiled"

    def __init__(self, row: str, record_now: bool = True):
        super().__init__(row)
        self.step = compiled(self.step, record_now)


class TorchModelStep:
    """The same step as a PyTorch user writes it, on the twin network holding our weights."""

    name = "torch"

    def __init__(self, row: str):
        name, config, _ = MODEL_ROWS[row]
        self.model = copy_into_torch(build_ours(name, config), TORCH_MODELS[name](**config)).train()
        images, labels = model_batch(row)
        self.images, self.labels = torch.from_numpy(images), torch.from_numpy(labels)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=LR)

    def first_loss(self) -> float:
        return F.cross_entropy(self.model(self.images), self.labels).item()

    def step(self):
        self.optimizer.zero_grad()
        loss = F.cross_entropy(self.model(self.images), self.labels)
        loss.backward()
        self.optimizer.step()
        return loss


def model_steps(row: str, use_torch: bool) -> list:
    return [TinygraphModelStep(row)] + ([TorchModelStep(row)] if use_torch else [])


# ------------------------------------------------------------------------- one epoch of tinygraph-train
def cli_settings() -> dict:
    return dict(train_cli.DEFAULTS)


class TinygraphEpoch:
    """One epoch of `tinygraph-train` with its defaults: the CLI's own data, model, optimizer and train_epoch."""

    name = "tinygraph"

    def __init__(self):
        self.settings = cli_settings()
        self.split = train_cli.load_dataset(self.settings)
        config = train_cli.model_config(self.settings["model"], self.split)
        self.model = train_cli.build_model(self.settings["model"], config, self.settings["seed"], "tools/bench.py")
        self.optimizer = train_cli.make_optimizer(self.settings["optimizer"], self.model.parameters(),
                                                  self.settings["lr"])
        self.train_step = train_cli.train_step
        self.epoch = 0
        self.losses: list[float] = []

    def first_loss(self) -> float:
        images, labels = next(data.batches(self.split.x_train, self.split.y_train, self.settings["batch_size"],
                                           seed=self.settings["seed"], epoch=0))
        return tg.softmax_xent(self.model(images), labels).item()

    def step(self):
        loss, _ = train_cli.train_epoch(self.model, self.optimizer, self.split, self.settings, self.epoch,
                                        self.epoch + 1, step=self.train_step)
        self.epoch += 1
        self.losses.append(loss)


class TinygraphCompiledEpoch(TinygraphEpoch):
    """The same epoch as `tinygraph-train --compile` runs it; its first epoch records (one schedule for
    the full batches, one for the smaller last batch), the later ones replay."""

    name = "compiled"

    def __init__(self):
        super().__init__()
        self.train_step = tg.compile(train_cli.train_step)


class TorchEpoch:
    """The same epoch as a PyTorch user writes it: same weights, batches, order, Adam and learning rate."""

    name = "torch"

    def __init__(self):
        self.settings = cli_settings()
        if self.settings["optimizer"] != "adam":
            raise RuntimeError(f"tinygraph-train's default optimizer is now {self.settings['optimizer']}; "
                               "TorchEpoch builds Adam")
        self.split = train_cli.load_dataset(self.settings)
        config = train_cli.model_config(self.settings["model"], self.split)
        ours = train_cli.build_model(self.settings["model"], config, self.settings["seed"], "tools/bench.py")
        self.model = copy_into_torch(ours, TORCH_MODELS[self.settings["model"]](**config))
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=self.settings["lr"])
        self.epoch = 0
        self.losses: list[float] = []

    def batches(self, epoch: int):
        for images, labels in data.batches(self.split.x_train, self.split.y_train, self.settings["batch_size"],
                                           seed=self.settings["seed"], epoch=epoch):
            yield torch.from_numpy(images), torch.from_numpy(labels)

    def first_loss(self) -> float:
        images, labels = next(self.batches(0))
        return F.cross_entropy(self.model(images), labels).item()

    def step(self):
        """train_epoch's loop: the loss and accuracy of the batches as trained are kept, as the CLI reports them."""
        self.model.train()
        total_loss, correct, seen = 0.0, 0, 0
        for images, labels in self.batches(self.epoch):
            logits = self.model(images)
            loss = F.cross_entropy(logits, labels)
            value = loss.item()
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            total_loss += value * len(images)
            correct += int((logits.argmax(dim=1) == labels).sum())
            seen += len(images)
        self.epoch += 1
        self.losses.append(total_loss / seen)


def epoch_runners(use_torch: bool) -> list:
    return [TinygraphEpoch()] + ([TorchEpoch()] if use_torch else [])


# ------------------------------------------------------------------------- the PyTorch twins
if torch is not None:
    class TorchLeNet5(torch_nn.Module):
        """models/lenet5.py in PyTorch: same layers, same state_dict names."""

        def __init__(self, in_channels=1, image_size=32, classes=CLASSES):
            super().__init__()
            side = ((image_size - 4) // 2 - 4) // 2
            self.features = torch_nn.Sequential(
                torch_nn.Conv2d(in_channels, 6, 5), torch_nn.Tanh(), torch_nn.AvgPool2d(2),
                torch_nn.Conv2d(6, 16, 5), torch_nn.Tanh(), torch_nn.AvgPool2d(2))
            self.classifier = torch_nn.Sequential(
                torch_nn.Flatten(), torch_nn.Linear(16 * side * side, 120), torch_nn.Tanh(),
                torch_nn.Linear(120, 84), torch_nn.Tanh(), torch_nn.Linear(84, classes))

        def forward(self, x):
            return self.classifier(self.features(x))

    class TorchSmallCNN(torch_nn.Module):
        """models/small_cnn.py in PyTorch."""

        def __init__(self, in_channels=1, image_size=8, classes=CLASSES, channels=(32, 64), dropout=0.25):
            super().__init__()
            first, second = channels
            self.features = torch_nn.Sequential(
                torch_nn.Conv2d(in_channels, first, 3, padding=1, bias=False), torch_nn.BatchNorm2d(first),
                torch_nn.ReLU(), torch_nn.MaxPool2d(2),
                torch_nn.Conv2d(first, second, 3, padding=1, bias=False), torch_nn.BatchNorm2d(second),
                torch_nn.ReLU(), torch_nn.MaxPool2d(2))
            side = image_size // 4
            self.classifier = torch_nn.Sequential(torch_nn.Flatten(), torch_nn.Dropout(dropout),
                                                  torch_nn.Linear(second * side * side, classes))

        def forward(self, x):
            return self.classifier(self.features(x))

    class TorchTwoLayerCNN(torch_nn.Module):
        """models/two_layer_cnn.py in PyTorch: Conv → ReLU → MaxPool 2×2 → Flatten → Linear."""

        def __init__(self, in_channels=1, image_size=8, filters=16, kernel=3, classes=CLASSES):
            super().__init__()
            pooled_side = (image_size - kernel + 1) // 2
            self.conv = torch_nn.Conv2d(in_channels, filters, kernel)
            self.fc = torch_nn.Linear(filters * pooled_side * pooled_side, classes)

        def forward(self, x):
            return self.fc(F.max_pool2d(F.relu(self.conv(x)), 2).flatten(1))

    TORCH_MODELS = {"lenet5": TorchLeNet5, "smallcnn": TorchSmallCNN, "two_layer_cnn": TorchTwoLayerCNN}
else:
    TORCH_MODELS = {}
