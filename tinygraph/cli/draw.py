"""Draw backpropagation: the graph, every gradient and the rule that made it, or a step-through page.

    tinygraph-draw                                 # TwoLayerCNN on one digit -> backprop.svg
    tinygraph-draw --checkpoint out/ckpt.npz --sample 3 --steps steps.html
    tinygraph-draw --entry my_op.py:build --out my_op.png

With no --entry, the model runs forward on one digit of the built-in data set, then backward
inside a recorder, and the drawing shows every tensor's gradient; a --checkpoint says which
model it holds. With --entry FILE.py:FUNC, FUNC() returns the tensor to draw; when it is a
scalar, the tool runs backward on it too. The format comes from --out's suffix.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import traceback
from pathlib import Path

import graphviz
import numpy as np

import tinygraph as tg
from tinygraph.cli import CommandError, report, run_command
from tinygraph.drawing import draw, draw_step, draw_steps, record_backward
from tinygraph.drawing.browser import DOT_HINT, has_dot

PROG = "tinygraph-draw"
FORMATS = ("svg", "png", "pdf", "dot")
INSTALL_HINT = DOT_HINT      # where to get Graphviz's `dot`, for SVG, PNG and PDF


class EntryFailed(Exception):
    """The user's --entry code raised; its own traceback is shown, then one line."""

    def __init__(self, spec: str, path: str, error: BaseException):
        super().__init__(spec)
        self.spec, self.path, self.error = spec, path, error


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from tinygraph import models

    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=sorted(models.MODELS),
                        help="model to draw (default: the checkpoint's, else two_layer_cnn)")
    parser.add_argument("--checkpoint", help="trained weights (.npz from tinygraph-train); fresh seeded ones otherwise")
    parser.add_argument("--sample", type=int, default=0, metavar="K",
                        help="index of the test image to run (default 0); the drawing shows its label y")
    parser.add_argument("--view", choices=("forward", "backward", "both"), default="both")
    parser.add_argument("--format", choices=FORMATS, default=None,
                        help="output format (default: from --out's suffix, else svg)")
    parser.add_argument("--out", default=None, help="output file (default backprop.<format>)")
    parser.add_argument("--steps", metavar="PATH.html", help="also write the step-through page of backward here")
    parser.add_argument("--step", type=int, metavar="K",
                        help="draw backward as it stands after its K-th rule (a frame of --steps) instead")
    parser.add_argument("--no-values", action="store_true", help="leave out min/mean/max of each tensor")
    parser.add_argument("--no-grads", action="store_true", help="leave out gradient norms and health")
    parser.add_argument("--collapse", choices=("auto", "module", "none"), default="auto",
                        help="draw each module as one box (default: only for graphs of hundreds of ops)")
    parser.add_argument("--wrap", type=int, default=None,
                        help="columns per row before wrapping (>= 2); 0 keeps one row (default: one row "
                             "up to 16 columns, the loss at its right end)")
    parser.add_argument("--no-images", action="store_true", help="leave out the heatmaps of feature maps and filters")
    parser.add_argument("--lecture", action="store_true",
                        help="large type, to project in a lecture hall (the drawing and the --steps page)")
    parser.add_argument("--entry", metavar="FILE.py:FUNC", help="draw the tensor FUNC() returns instead of a model")
    parser.add_argument("--seed", type=int, default=0, help="seed of the fresh weights (default 0)")
    args = parser.parse_args(argv)
    if args.wrap is not None and (args.wrap == 1 or args.wrap < 0):
        parser.error(f"--wrap must be 0 (one row) or at least 2 columns, got {args.wrap}")
    if args.step is not None and args.step < 1:
        parser.error(f"--step counts backward's rules from 1, got {args.step}")
    if args.entry and (args.checkpoint or args.model):
        parser.error("--entry draws its own tensor; --checkpoint and --model are for the built-in models")
    args.out, args.format = output_path(parser, args.out, args.format)
    return args


def output_path(parser: argparse.ArgumentParser, out: str | None, fmt: str | None) -> tuple[Path, str]:
    """--out and --format agree: the format is --out's suffix unless --format says it."""
    if out is None:
        fmt = fmt or "svg"
        return Path(f"backprop.{fmt}"), fmt
    suffix = Path(out).suffix.lstrip(".").lower()
    if suffix in FORMATS:
        if fmt is not None and fmt != suffix:
            parser.error(f"--out {out} says {suffix} but --format says {fmt}; make them agree")
        return Path(out), suffix
    if fmt is None:
        parser.error(f"cannot tell the format of --out {out} from its suffix; "
                     f"name it .{'/.'.join(FORMATS)} or give --format")
    return Path(out), fmt


def read_checkpoint(path: str, model_flag: str | None) -> tuple[str, dict, dict]:
    """(model name, config, weights) from a tinygraph-train checkpoint; the checkpoint names its model."""
    from tinygraph import models

    state = tg.load(path)
    missing = [key for key in ("model", "model_config") if key not in state]
    if missing or not isinstance(state.get("model"), dict) or not isinstance(state.get("model_config"), dict):
        raise CommandError(f"--checkpoint {path} is not a training checkpoint of tinygraph-train "
                           f"(it lacks {missing or ['a model and its config']})")
    name = state.get("model_name", model_flag or "two_layer_cnn")
    if name not in models.MODELS:
        raise CommandError(f"--checkpoint {path} holds a model named {name!r}, which tinygraph.models lacks")
    if model_flag is not None and model_flag != name:
        raise CommandError(f"--model {model_flag} conflicts with --checkpoint {path}, which holds a {name}; "
                           "drop --model")
    return name, state["model_config"], state["model"]


def model_loss(args: argparse.Namespace) -> tg.Tensor:
    """The model's loss L on test image K, with labels named y, not yet backpropagated.

    The digits come as tinygraph-train gives them to the model (LeNet-5's brought to 32×32).
    """
    from tinygraph import models
    from tinygraph.cli.train import load_dataset

    if args.checkpoint:
        name, config, weights = read_checkpoint(args.checkpoint, args.model)
    else:
        name, config, weights = args.model or "two_layer_cnn", None, None
    split = load_dataset({"model": name, "dataset": "digits"})
    if not 0 <= args.sample < len(split.x_test):
        raise CommandError(f"--sample {args.sample} is out of range; the digits test set "
                           f"has {len(split.x_test)} images (0..{len(split.x_test) - 1})")
    _, channels, height, width = split.x_test.shape
    if config is None:
        config = {"in_channels": channels, "image_size": height, "classes": 10}
        if name == "mlp":
            config = {"in_features": channels * height * width, "classes": 10}
    if config.get("image_size", height) != height or config.get("in_features", channels * height * width) \
            != channels * height * width or config.get("in_channels", channels) != channels:
        raise CommandError(f"--checkpoint {args.checkpoint} holds a {name} for other images ({config}); "
                           f"{PROG} runs models on the {height}×{width} digits")
    try:
        model = models.build(name, rng=np.random.default_rng(args.seed), **config)
        if weights is not None:
            model.load_state_dict(weights)
    except (TypeError, ValueError, KeyError) as error:
        raise CommandError(f"--checkpoint {args.checkpoint}: its weights and config do not make a {name} "
                           f"({type(error).__name__}: {error})") from None
    for parameter_name, parameter in model.named_parameters():
        parameter.name = parameter.name or parameter_name   # unnamed parameters show their path: layers.1.weight
    x = split.x_test[args.sample:args.sample + 1]
    args.title = f"{name} on test image {args.sample} (label y = {int(split.y_test[args.sample])})"
    y = tg.tensor(split.y_test[args.sample:args.sample + 1], name="y")
    if name != "mlp":
        return model.loss(tg.tensor(x, name="X"), y)
    return tg.softmax_xent(model(tg.tensor(x.reshape(1, -1), name="X")), y).named("L")


def entry_tensor(spec: str) -> tg.Tensor:
    """Import FILE.py and call FUNC() from `FILE.py:FUNC`; what the user's code raises is EntryFailed."""
    path, _, func = spec.rpartition(":")
    if not path or not func:
        raise CommandError(f"--entry needs FILE.py:FUNC, got {spec!r}")
    if not os.path.isfile(path):
        raise CommandError(f"--entry file {path!r} does not exist")
    module_spec = importlib.util.spec_from_file_location(Path(path).stem, path)
    if module_spec is None or module_spec.loader is None:
        raise CommandError(f"--entry file {path!r} is not a Python file (name it .py)")
    module = importlib.util.module_from_spec(module_spec)
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    try:
        module_spec.loader.exec_module(module)
        function = getattr(module, func, None)
        if not callable(function):
            raise CommandError(f"--entry {path} has no function {func!r}")
        root = function()
    except (CommandError, KeyboardInterrupt):
        raise
    except BaseException as error:               # SystemExit too: the user's code ends here, not us
        raise EntryFailed(spec, path, error) from None
    if not isinstance(root, tg.Tensor):
        raise CommandError(f"--entry {spec} returned a {type(root).__name__}, not a tinygraph Tensor")
    return root


def show_entry_failure(failure: EntryFailed) -> None:
    """The user's traceback from their own file down, then our one line."""
    error, tb = failure.error, failure.error.__traceback__
    entry_file = os.path.abspath(failure.path)
    while tb is not None and os.path.abspath(tb.tb_frame.f_code.co_filename) != entry_file:
        tb = tb.tb_next                          # skip our frames (importlib, this module)
    sys.stderr.write("".join(traceback.format_exception(type(error), error, tb)))
    report(PROG, f"--entry {failure.spec} raised {type(error).__name__} (its traceback is above)")


def write_drawing(digraph: graphviz.Digraph, out: Path, fmt: str) -> bool:
    """Write the drawing; without Graphviz's dot, write the .dot source instead and return False."""
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "dot":
        out.write_text(digraph.source, encoding="utf-8")
        return True
    try:
        rendered = digraph.pipe(format=fmt)
    except graphviz.ExecutableNotFound:
        source = out.with_suffix(".dot")
        source.write_text(digraph.source, encoding="utf-8")
        report(PROG, f"Graphviz's `dot` executable was not found on PATH, so only the source was written, "
                     f"to {source} (no {fmt.upper()}); {INSTALL_HINT}.")
        return False
    out.write_bytes(rendered)
    return True


def run(args: argparse.Namespace) -> int:
    root = entry_tensor(args.entry) if args.entry else model_loss(args)
    recording = None
    wants_grads = not args.no_grads and args.view != "forward"
    if (wants_grads or args.steps or args.step) and root.requires_grad and root.size == 1:
        with record_backward() as recording:
            root.backward(retain_graph=bool(args.steps))
    collapse = {"auto": None, "module": "module", "none": False}[args.collapse]
    if (args.step is not None or args.steps) and recording is None:
        raise CommandError(f"--step{'s' if args.steps else ''} needs a scalar loss that requires grad to step through")
    if args.step is not None:
        digraph = draw_step(root, args.step, recording=recording, view=args.view, images=not args.no_images,
                            lecture=args.lecture)
    else:
        digraph = draw(root, view=args.view, values=not args.no_values, grads=not args.no_grads,
                       collapse=collapse, recording=recording, images=not args.no_images, lecture=args.lecture,
                       wrap="auto" if args.wrap is None else (args.wrap or None))
    if getattr(args, "title", None):
        digraph.attr(label=args.title, labelloc="t", labeljust="l", fontsize="20" if args.lecture else "16")
    drawn = write_drawing(digraph, args.out, args.format)
    if drawn:
        print(f"wrote {args.out} ({args.format}, view={args.view})")
    if args.steps:      # without `dot` too: the page then lays its frames out in the browser
        page = draw_steps(root, args.steps, recording=recording, rankdir="LR", images=not args.no_images,
                          lecture=args.lecture)
        where = "" if has_dot() else ", laid out in the browser by Graphviz in WebAssembly"
        print(f"wrote {page} (step-through of backward: {page.frames} frames{where})")
    return 0 if drawn else 2


def main(argv: list[str] | None = None) -> int:
    """The `tinygraph-draw` command: exit 0, 1 (an error, one line), 2 (bad usage or no `dot`)."""
    args = parse_args(argv)

    def command() -> int:
        try:
            return run(args)
        except EntryFailed as failure:
            show_entry_failure(failure)
            return 1

    return run_command(PROG, command)


if __name__ == "__main__":
    sys.exit(main())
