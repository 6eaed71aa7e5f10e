"""Train a tinygraph model on digits (built in) or MNIST-style IDX files, with checkpoints and curves.

    tinygraph-train                                    # TwoLayerCNN on digits, the defaults
    tinygraph-train --model mlp --epochs 20 --out out/mlp.npz --plot out/mlp.png
    tinygraph-train --resume out/mlp.npz --epochs 5    # 5 more epochs of the same run
    tinygraph-train --model lenet5                     # LeNet-5 on the digits brought to 32×32
    tinygraph-train --compile                          # each batch's step replayed by tg.compile
    mpiexec -n 4 tinygraph-train                       # the same run on 4 processes (tinygraph[dist])

The same seed gives the same numbers: the model is initialised from `--seed`, and epoch e is
shuffled by a permutation drawn from (seed, e), so a resumed run continues exactly where it stopped.
With --compile the per-batch step (forward, backward, optimizer update) is recorded once by
tg.compile and replayed after, with the same numbers bit for bit; evaluation stays eager.
Training stops with one line and a non-zero exit when the loss stops being finite, and a
checkpoint is only ever replaced by finite weights.

Under `mpiexec -n P` (or with --distributed) each process takes 1/P of every batch, and
DistributedDataParallel averages the gradients, so the run is the single-process one up to
rounding (BatchNorm's batch statistics and dropout masks are per process). Rank 0 alone prints,
saves and plots; an error on any rank stops every rank (MPI_Abort) after its one line.
"""
from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
import time
import warnings
from typing import Any, NamedTuple

import numpy as np

import tinygraph as tg
from tinygraph import checkpoint as checkpoints
from tinygraph import data, distributed, models, optim
from tinygraph.cli import CommandError, need_extra, run_command
from tinygraph.monitor import GradientFlow

PROG = "tinygraph-train"
# The defaults reach the README's accuracy on digits in a few seconds (measured there).
DEFAULTS = {"model": "two_layer_cnn", "dataset": "digits", "epochs": 20, "batch_size": 32,
            "lr": 1e-2, "optimizer": "adam", "seed": 0}
# Per model, what differs from DEFAULTS (the README gives the accuracy they reach over seeds 0-4).
MODEL_DEFAULTS = {"lenet5": {"epochs": 20, "lr": 4e-3, "optimizer": "adam"},
                  "smallcnn": {"epochs": 20, "lr": 1e-2, "optimizer": "adam"}}
# LeNet-5 reads 32×32 images with the digit inside a zero border, as its paper frames them (MNIST's
# 20×20 digits in 28×28 images, padded to 32×32): the 8×8 digits are scaled up to 20×20 (a margin of 6).
IMAGE_SIZE = {"lenet5": 32}
DIGITS_MARGIN = {"lenet5": 6}
# Settings that define a run: a resumed run takes them from its checkpoint.
RUN_SETTINGS = ("model", "dataset", "data_dir", "batch_size", "lr", "optimizer", "seed")
CHECKPOINT_KEYS = ("model", "optimizer", "epoch", "model_name", "model_config", "settings", "history")
HISTORY_KEYS = ("train_loss", "train_acc", "test_loss", "test_acc")
COMPILE_DISTRIBUTED = ("--compile does not work with several processes: DistributedDataParallel averages the "
                       "gradients in hooks, which a compiled step does not replay")


class Diverged(CommandError):
    """The loss stopped being finite; nothing from the diverged epoch is saved."""


class Processes(NamedTuple):
    """This process's place among those training together: (0, 1) when alone."""

    rank: int
    size: int

    @property
    def primary(self) -> bool:
        return self.rank == 0


def start_processes(args: argparse.Namespace) -> Processes:
    """Alone, or the MPI group of `mpiexec -n P` (found in the launcher's environment, or --distributed)."""
    if not (args.distributed or distributed.launched_world_size() > 1):
        return Processes(0, 1)
    try:
        distributed.init()
    except distributed.DistributedUnavailableError as error:
        raise CommandError(str(error)) from None
    return Processes(distributed.rank(), distributed.world_size())


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n")[0])
    parser.add_argument("--model", choices=sorted(models.MODELS), help=f"default {DEFAULTS['model']}")
    parser.add_argument("--dataset", choices=["digits", "mnist"], help="default digits (ships with tinygraph)")
    parser.add_argument("--data-dir", help="directory holding the four MNIST/Fashion-MNIST IDX files (--dataset mnist)")
    parser.add_argument("--epochs", type=int, help=f"epochs to run now (default {DEFAULTS['epochs']}, or the "
                        "model's own); "
                        "with --resume, epochs added to the checkpoint's")
    parser.add_argument("--batch-size", type=int, help=f"default {DEFAULTS['batch_size']}")
    per_model = ", ".join(f"{name} {options['lr']}" for name, options in MODEL_DEFAULTS.items())
    parser.add_argument("--lr", type=float, help=f"learning rate, default {DEFAULTS['lr']} ({per_model})")
    parser.add_argument("--optimizer", choices=["sgd", "adam"],
                        help=f"default {DEFAULTS['optimizer']}; sgd uses momentum 0.9")
    parser.add_argument("--seed", type=int, help=f"default {DEFAULTS['seed']}")
    parser.add_argument("--out", help="write a checkpoint (.npz) here after every epoch")
    parser.add_argument("--resume", help="continue the run saved in this checkpoint")
    parser.add_argument("--plot", help="write loss and accuracy curves to this image (e.g. curves.png; "
                        "needs tinygraph[tools])")
    parser.add_argument("--grad-flow", metavar="PATH.png", help="plot each layer's gradient norm, update-to-weight "
                        "ratio and dead ReLUs per epoch here, flagging vanishing/exploding layers (needs tinygraph[tools])")
    parser.add_argument("--distributed", action="store_true", help="average gradients over the processes of "
                        "`mpiexec -n P` (needs tinygraph[dist]); on by itself when P > 1")
    parser.add_argument("--compile", action="store_true", help="record each batch's training step once with "
                        "tg.compile and replay it (the same numbers, less Python per step)")
    args = parser.parse_args(argv)
    if args.compile and args.grad_flow:
        parser.error("--grad-flow watches every forward pass and optimizer step, which a compiled step replays "
                     "without; drop --compile or --grad-flow")
    if args.compile and args.distributed:
        parser.error(COMPILE_DISTRIBUTED)
    if args.epochs is not None and args.epochs < 0:
        parser.error(f"--epochs must be >= 0, got {args.epochs}")
    if args.batch_size is not None and args.batch_size < 1:
        parser.error(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.lr is not None and not (math.isfinite(args.lr) and args.lr > 0):
        parser.error(f"--lr must be a positive finite number, got {args.lr}")
    if args.seed is not None and args.seed < 0:
        parser.error(f"--seed must be >= 0, got {args.seed}")
    if args.data_dir is not None and args.dataset != "mnist" and args.resume is None:
        parser.error("--data-dir is read only with --dataset mnist")
    return args


def load_dataset(settings: dict[str, Any]) -> data.Split:
    size = IMAGE_SIZE.get(settings["model"])
    if settings["dataset"] == "digits":
        return data.load_digits(seed=0, size=size, margin=DIGITS_MARGIN.get(settings["model"], 0))
    if not settings.get("data_dir"):
        raise CommandError("--dataset mnist needs --data-dir DIR with the IDX files")
    return data.load_mnist(settings["data_dir"], size=size)


def model_config(name: str, split: data.Split) -> dict[str, Any]:
    """The model's shape arguments, read off the data."""
    _, channels, height, width = split.x_train.shape
    classes = int(max(split.y_train.max(), split.y_test.max())) + 1
    if name == "two_layer_cnn":
        return {"in_channels": channels, "image_size": height, "filters": 16, "kernel": 3, "classes": classes}
    if name in ("lenet5", "smallcnn"):
        return {"in_channels": channels, "image_size": height, "classes": classes}
    return {"in_features": channels * height * width, "hidden": [128], "classes": classes}


def make_optimizer(name: str, params: list, lr: float) -> optim.Optimizer:
    return optim.Adam(params, lr=lr) if name == "adam" else optim.SGD(params, lr=lr, momentum=0.9)


@contextlib.contextmanager
def one_blas_thread():
    """NumPy's BLAS held to one thread while training, when threadpoolctl is installed (tinygraph[tools]).

    tinygraph splits a large op over the cores itself; a training step's many small products
    (LeNet-5's 32×400 by 400×120) would otherwise wake OpenBLAS's own threads, which then spin
    against tinygraph's and, on a busy machine, make such a product many times slower.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


@one_blas_thread()
def evaluate(model: tg.nn.Module, x: np.ndarray, y: np.ndarray, batch_size: int = 512) -> tuple[float, float]:
    """(mean loss, accuracy) over a data set, without recording a graph, in eval mode."""
    total_loss, correct = 0.0, 0
    was_training = model.training
    model.eval()                                # no dropout, BatchNorm on running statistics
    with tg.no_grad():
        for start in range(0, len(x), batch_size):
            xb, yb = x[start:start + batch_size], y[start:start + batch_size]
            logits = model(xb)
            total_loss += tg.softmax_xent(logits, yb, reduction="sum").item()
            correct += int((logits.data.argmax(axis=1) == yb).sum())
    model.train(was_training)
    return total_loss / len(x), correct / len(x)


def progress_bar(batches, total: int, description: str):
    """A live tqdm bar on a terminal; in a log or CI nothing (the epoch's summary line says it all)."""
    if not sys.stderr.isatty():
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(batches, total=total, desc=description, leave=False, unit="batch", file=sys.stderr)


def shards(batches, processes: Processes):
    """This process's share of each batch: every P-th sample from its rank on.

    A batch with fewer samples than processes (the last one, at most) is skipped by all: every
    process must take part in every gradient allreduce.
    """
    for xb, yb in batches:
        if len(xb) >= processes.size:
            yield xb[processes.rank::processes.size], yb[processes.rank::processes.size], len(xb)


def train_step(model, optimizer, images: tg.Tensor, labels: np.ndarray, scale: float = 1.0):
    """One update on a batch; returns (loss, logits), the loss before `scale` (which multiplies the
    loss that is differentiated). --compile runs this through tg.compile, so it reads no values."""
    optimizer.zero_grad()
    logits = model(images)
    loss = tg.softmax_xent(logits, labels).named("L")
    (loss if scale == 1.0 else loss * scale).backward()
    optimizer.step()
    return loss, logits


@one_blas_thread()
def train_epoch(model, optimizer, split: data.Split, settings: dict[str, Any], epoch: int,
                epochs_total: int, processes: Processes = Processes(0, 1), step=train_step) -> tuple[float, float]:
    """One pass over the training set; returns (mean loss, accuracy) of the batches as trained.

    `step` is train_step or tg.compile(train_step) (--compile): the same numbers either way.
    """
    model.train()                               # dropout on, BatchNorm on batch statistics
    dropouts = [module for module in model.modules() if isinstance(module, tg.nn.Dropout)]
    own = [processes.rank] if processes.size > 1 else []     # each process its own masks
    for k, dropout in enumerate(dropouts):      # masks from (seed, epoch) too: a resumed run draws the same
        dropout.rng = np.random.default_rng([settings["seed"], epoch, k] + own)
    # (a compiled step sees the new generators: a replaced module attribute breaks its guard, and the
    # epoch's first batch records anew)
    x, y = split.x_train, split.y_train
    steps = data.num_batches(len(x), settings["batch_size"])
    batches = shards(data.batches(x, y, settings["batch_size"], seed=settings["seed"], epoch=epoch), processes)
    bar = progress_bar(batches, steps, f"epoch {epoch + 1}/{epochs_total}") if processes.primary else None
    total_loss, correct, seen = 0.0, 0, 0
    for number, (xb, yb, batch_size) in enumerate(bar if bar is not None else batches, 1):
        # The average over processes of the scaled losses is the batch's mean loss. The images go in
        # as a Tensor: a compiled step replays on its arguments, not on copies made inside it.
        scale = len(xb) * processes.size / batch_size if processes.size > 1 else 1.0
        loss, logits = step(model, optimizer, tg.tensor(xb), yb, scale)
        value = loss.item()
        if not math.isfinite(value):            # the weights it touched are never saved
            if bar is not None:
                bar.close()
            raise Diverged(f"the loss became {value} at step {number}/{steps} of epoch {epoch + 1} "
                           f"(lr {settings['lr']}); stopped without saving this epoch")
        total_loss += value * len(xb)
        correct += int((logits.data.argmax(axis=1) == yb).sum())
        seen += len(xb)
        if bar is not None:
            bar.set_postfix(loss=f"{total_loss / seen:.4f}", acc=f"{100 * correct / seen:.1f}%", refresh=False)
    if bar is not None:
        bar.close()
    if processes.size > 1:
        totals = distributed.all_reduce(np.array([total_loss, correct, seen], dtype=np.float64))
        total_loss, correct, seen = float(totals[0]), int(totals[1]), int(totals[2])
    return total_loss / seen, correct / seen


def resolve_settings(args: argparse.Namespace, checkpoint: dict[str, Any] | None) -> dict[str, Any]:
    """Flags, filled from the checkpoint when resuming (a conflicting flag is an error) or the defaults."""
    settings = {}
    for key in RUN_SETTINGS:
        given = getattr(args, key)
        if checkpoint is not None:
            saved = checkpoint["settings"].get(key)
            if key == "data_dir" and given is not None:
                saved = given                # the data may have moved since; the run is the same
            if given is not None and given != saved:
                raise CommandError(f"--{key.replace('_', '-')} {given} conflicts with the checkpoint "
                                   f"{args.resume}, which was trained with {saved!r}; drop the flag to resume")
            settings[key] = saved
        else:
            model = args.model or DEFAULTS["model"]
            settings[key] = given if given is not None else MODEL_DEFAULTS.get(model, {}).get(key, DEFAULTS.get(key))
    return settings


def read_resume(path: str) -> dict[str, Any]:
    """A training checkpoint, its settings checked as strictly as the flags they stand for."""
    checkpoint = tg.load(path)
    missing = [k for k in CHECKPOINT_KEYS if k not in checkpoint]
    if missing:
        raise CommandError(f"--resume {path}: not a training checkpoint of {PROG} (it lacks {missing})")
    settings, history = checkpoint["settings"], checkpoint["history"]
    problems = []
    if not isinstance(settings, dict):
        problems.append("its settings are not a dict")
    else:
        checks = {"model": lambda v: v in models.MODELS, "dataset": lambda v: v in ("digits", "mnist"),
                  "optimizer": lambda v: v in ("sgd", "adam"),
                  "batch_size": lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1,
                  "lr": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0,
                  "seed": lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
                  "data_dir": lambda v: v is None or isinstance(v, str)}
        problems += [f"{key} {settings.get(key)!r}" for key, ok in checks.items() if not ok(settings.get(key))]
    if checkpoint["model_name"] != (settings.get("model") if isinstance(settings, dict) else None):
        problems.append(f"model_name {checkpoint['model_name']!r}")
    if not isinstance(checkpoint["model_config"], dict):
        problems.append("model_config is not a dict")
    epoch = checkpoint["epoch"]
    if isinstance(epoch, (bool, float)) or not isinstance(epoch, (int, np.integer)) or epoch < 0:
        problems.append(f"epoch {epoch!r}")
    if not (isinstance(history, dict) and sorted(history) == sorted(HISTORY_KEYS)
            and all(isinstance(v, list) and all(isinstance(x, (int, float)) for x in v) for v in history.values())):
        problems.append("its history is not four lists of numbers")
    if problems:
        raise CommandError(f"--resume {path}: not a usable training checkpoint ({'; '.join(problems)})")
    return checkpoint


def build_model(name: str, config: dict[str, Any], seed: int, source: str):
    try:
        return models.build(name, rng=np.random.default_rng(seed), **config)
    except (TypeError, ValueError) as error:
        raise CommandError(f"{source}: model config {config} does not build a {name} ({error})") from None


def save_checkpoint(path: str, model, optimizer, settings, config, epoch: int, history) -> None:
    """Save, unless a weight is not finite (then the previous checkpoint stays); one line on failure."""
    bad = [name for name, parameter in model.named_parameters() if not np.isfinite(parameter.data).all()]
    if bad:
        raise Diverged(f"after epoch {epoch} the weights {bad[:3]} are not finite; {path} was not "
                       "overwritten")
    try:
        tg.save(path, {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch,
                       "model_name": settings["model"], "model_config": config, "settings": settings,
                       "history": history})
    except OSError as error:
        raise CommandError(f"could not write the checkpoint after epoch {epoch} to {path} "
                           f"({error.strerror or error}); any previous checkpoint there is unchanged") from None


def saved_epoch(path: str | None) -> str:
    """What an interrupted run leaves: the epoch of the checkpoint at `path`, read back from it."""
    if not path or not os.path.exists(path):
        return ""
    try:
        return f"; {path} holds epoch {int(tg.load(path)['epoch'])}"
    except (ValueError, KeyError, TypeError, OSError):
        return ""


def check_output(path: str, what: str) -> None:
    """Fail now, not after an epoch of training, if `path` cannot be written."""
    directory = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(directory, exist_ok=True)
        checkpoints.writable_destination(path)
    except OSError as error:
        raise CommandError(f"{what} {path} cannot be written: {error.strerror or error}") from None


def plot_curves(path: str, history: dict[str, list[float]]) -> None:
    matplotlib = need_extra("matplotlib", "tools", "--plot")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = range(1, len(history["train_loss"]) + 1)
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(epochs, history["train_loss"], label="train")
    left.plot(epochs, history["test_loss"], label="test")
    left.set(xlabel="epoch", ylabel="cross-entropy loss", title="Loss")
    right.plot(epochs, [100 * a for a in history["train_acc"]], label="train")
    right.plot(epochs, [100 * a for a in history["test_acc"]], label="test")
    right.set(xlabel="epoch", ylabel="accuracy (%)", title="Accuracy")
    for axes in (left, right):
        axes.legend()
        axes.grid(alpha=0.3)
    figure.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Train as the flags say; returns the final results (used by tools/demo.py and the tests).

    Under mpiexec every process trains; all but rank 0 run with their output discarded.
    """
    processes = start_processes(args)
    if processes.primary:
        return train(args, processes)
    with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):
        return train(args, processes)


def train(args: argparse.Namespace, processes: Processes) -> dict[str, Any]:
    primary = processes.primary
    checkpoint = read_resume(args.resume) if args.resume else None
    if args.out and primary:
        check_output(args.out, "--out")
    if args.plot and primary:
        need_extra("matplotlib", "tools", "--plot")
        check_output(args.plot, "--plot")
    if args.grad_flow and primary:
        need_extra("matplotlib", "tools", "--grad-flow")
        check_output(args.grad_flow, "--grad-flow")
    settings = resolve_settings(args, checkpoint)
    split = load_dataset(settings)
    if checkpoint is not None:
        config = checkpoint["model_config"]
    else:
        config = model_config(settings["model"], split)
    model = build_model(settings["model"], config, settings["seed"], args.resume or "the data")
    optimizer = make_optimizer(settings["optimizer"], model.parameters(), settings["lr"])
    flow = GradientFlow(model) if args.grad_flow and primary else None
    if flow is not None:
        flow.watch(optimizer)                   # its step() now notes each layer's gradient and update
    history = {key: [] for key in HISTORY_KEYS}
    start_epoch = 0
    if checkpoint is not None:
        try:
            model.load_state_dict(checkpoint["model"])
            optimizer.load_state_dict(checkpoint["optimizer"])
        except (ValueError, KeyError, TypeError, IndexError, AttributeError) as error:
            raise CommandError(f"--resume {args.resume}: its weights or optimizer state do not fit the "
                               f"{settings['model']} it describes ({type(error).__name__}: {error})") from None
        start_epoch = int(checkpoint["epoch"])
        history = {key: [float(v) for v in checkpoint["history"][key]] for key in HISTORY_KEYS}
    if args.compile and processes.size > 1:
        raise CommandError(COMPILE_DISTRIBUTED)
    trained = model if processes.size == 1 else distributed.DistributedDataParallel(model)
    step = tg.compile(train_step) if args.compile else train_step     # one per run: it guards these objects
    epochs = args.epochs if args.epochs is not None else MODEL_DEFAULTS.get(settings["model"], DEFAULTS)["epochs"]
    end_epoch = start_epoch + epochs
    print(f"{settings['model']} ({model.num_parameters():,} parameters) on {settings['dataset']}: "
          f"{len(split.x_train)} train / {len(split.x_test)} test images, {settings['optimizer']} "
          f"lr {settings['lr']}, batch {settings['batch_size']}, seed {settings['seed']}"
          + (f", {processes.size} processes" if processes.size > 1 else ""), flush=True)
    train_seconds = 0.0
    epoch = start_epoch
    try:
        for epoch in range(start_epoch, end_epoch):
            started = time.perf_counter()
            train_loss, train_acc = train_epoch(trained, optimizer, split, settings, epoch, end_epoch, processes,
                                                step)
            train_seconds += time.perf_counter() - started
            if not primary:
                continue                        # rank 0 alone evaluates, prints and saves
            test_loss, test_acc = evaluate(model, split.x_test, split.y_test)
            for key, value in zip(HISTORY_KEYS, (train_loss, train_acc, test_loss, test_acc)):
                history[key].append(value)
            if flow is not None:
                flow.end_epoch()
            print(f"epoch {epoch + 1:>3}/{end_epoch}  loss {train_loss:.4f}  train acc {100 * train_acc:5.1f}%  "
                  f"test loss {test_loss:.4f}  test acc {100 * test_acc:5.1f}%", flush=True)
            if args.out:
                save_checkpoint(args.out, model, optimizer, settings, config, epoch + 1, history)
    except KeyboardInterrupt:
        raise CommandError(f"interrupted in epoch {epoch + 1}{saved_epoch(args.out)}", status=130) from None
    finally:
        if flow is not None:
            flow.close()                        # stop watching forward passes, also when training fails
    if not primary:
        return {"model": model, "optimizer": optimizer, "train_seconds": train_seconds, "settings": settings}
    if args.out and epochs == 0:
        save_checkpoint(args.out, model, optimizer, settings, config, end_epoch, history)
    test_loss, test_acc = evaluate(model, split.x_test, split.y_test)
    print(f"training time: {train_seconds:.1f} s for {epochs} epochs")
    print(f"test accuracy: {100 * test_acc:.1f}%")
    if args.plot:
        if history["train_loss"]:
            plot_curves(args.plot, history)
            print(f"curves written to {args.plot}")
        else:
            print("no epochs trained, so no curves to plot", file=sys.stderr)
    if flow is not None and flow.epochs:
        flow.plot(args.grad_flow)
        print(f"gradient flow written to {args.grad_flow}" + "".join(f"\n  ⚠ {w}" for w in flow.warnings()))
    elif flow is not None:
        flow.close()
        print("no epochs trained, so no gradient flow to plot", file=sys.stderr)
    return {"model": model, "optimizer": optimizer, "test_accuracy": test_acc, "test_loss": test_loss,
            "train_seconds": train_seconds, "history": history, "settings": settings, "step": step}


def main(argv: list[str] | None = None) -> int:
    """The `tinygraph-train` command: exit 0, 1 (an error, one line), 2 (bad usage) or 130 (Ctrl-C)."""
    args = parse_args(argv)

    def command() -> int:
        with warnings.catch_warnings():      # NumPy's overflow warnings: the loss check reports them once
            warnings.simplefilter("ignore", RuntimeWarning)
            run(args)
        return 0

    status = run_command(PROG, command)
    if status and distributed.is_initialized() and distributed.world_size() > 1:
        distributed.abort(status)               # the other ranks may be waiting for this one in an allreduce
    return status


if __name__ == "__main__":
    sys.exit(main())
