"""What tools/bench.py measures, by name: the derivation's CNN configs, the model rows, the epoch.

Kept apart from the steps themselves so the parent process can name and describe every row
without importing PyTorch (it times the chain of ops itself, in a process like a user's).
"""
from __future__ import annotations

from tinygraph.cli import train as train_cli

# config: (N, C, H=W, F, K) of Conv(F filters K×K) → ReLU → MaxPool 2×2 → Flatten → Linear, from issue 6
CONFIGS = {
    "A": (64, 1, 28, 8, 3),
    "B": (64, 1, 28, 32, 5),
    "C": (128, 3, 32, 32, 5),
    "D": (64, 1, 8, 16, 3),
    "T": (1, 1, 8, 2, 3),
}
# model row: (model name for tinygraph.models.build, its config, batch size); SmallCNN's dropout is 0
# so that tinygraph and PyTorch, which draw masks from different generators, compute the same step.
MODEL_ROWS = {
    "lenet5-64": ("lenet5", {"in_channels": 1, "image_size": 32}, 64),
    "smallcnn-64": ("smallcnn", {"in_channels": 1, "image_size": 8, "dropout": 0.0}, 64),
    "smallcnn-128": ("smallcnn", {"in_channels": 3, "image_size": 32, "dropout": 0.0}, 128),
}
# How frameworks take turns (tools/bench_timing.py): a block lasts at least BLOCK_SECONDS (fast rows
# take more steps per block), and the next framework starts HANDOVER_PAUSE seconds after the last.
BLOCK_SECONDS = 0.1
HANDOVER_PAUSE = 0.15
MODEL_LABELS = {"lenet5": "LeNet5", "smallcnn": "SmallCNN", "two_layer_cnn": "TwoLayerCNN"}


def with_batch(config: tuple[int, int, int, int, int], n: int | None) -> tuple[int, int, int, int, int]:
    """The config with its batch size N replaced (None keeps it)."""
    return config if n is None else (n,) + tuple(config[1:])


def describe(row: str) -> tuple[str, str]:
    """(label, shape) of a row, as the tables print them."""
    if row in CONFIGS:
        n, channels, size, filters, k = CONFIGS[row]
        return row, f"{n}×{channels}×{size}×{size}, F {filters}, K {k}"
    if row in MODEL_ROWS:
        name, config, batch = MODEL_ROWS[row]
        size = config["image_size"]
        return MODEL_LABELS[name], f"{batch}×{config['in_channels']}×{size}×{size}"
    if row == "epoch":
        settings = train_cli.DEFAULTS
        return (f"{MODEL_LABELS[settings['model']]} epoch",
                f"{settings['dataset']}, batch {settings['batch_size']}, {settings['optimizer']} {settings['lr']}")
    raise ValueError(f"bench: unknown row {row!r}")


def thread_setting_name(threads: int | None) -> str:
    """How the tables name a thread setting (None: as the process finds them)."""
    if threads is None:
        return "default threads"
    return f"{threads} thread" + ("" if threads == 1 else "s")
