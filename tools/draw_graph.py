"""Draw backpropagation: the graph, every gradient and the rule that made it, or a step-through page.

    python tools/draw_graph.py                     # TwoLayerCNN on one digit -> backprop.svg
    python tools/draw_graph.py --checkpoint out/ckpt.npz --sample 3 --steps steps.html
    python tools/draw_graph.py --entry my_op.py:build --format png --out my_op.png

With no --entry, the model runs forward on one digit of the built-in data set, then backward
inside a recorder, and the drawing shows every tensor's gradient. With --entry FILE.py:FUNC,
FUNC() returns the tensor to draw; when it is a scalar, the tool runs backward on it too.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from pathlib import Path

import graphviz
import numpy as np

import tinygraph as tg
from tinygraph.drawing import draw, draw_step, draw_steps, record_backward

FORMATS = ("svg", "png", "pdf", "dot")
INSTALL_HINT = ("install Graphviz (Debian/Ubuntu: sudo apt-get install graphviz; macOS: brew install graphviz; "
                "or `make setup`)")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="draw_graph.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="two_layer_cnn",
                        help="model to draw, by name in tinygraph.models (default: two_layer_cnn)")
    parser.add_argument("--checkpoint", help="trained weights (.npz from tools/train.py); fresh seeded ones otherwise")
    parser.add_argument("--sample", type=int, default=0, metavar="K", help="which test digit to run (default 0)")
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
    parser.add_argument("--wrap", type=int, default=4, help="columns per row before wrapping; 0 keeps one row")
    parser.add_argument("--entry", metavar="FILE.py:FUNC", help="draw the tensor FUNC() returns instead of a model")
    parser.add_argument("--seed", type=int, default=0, help="seed of the fresh weights (default 0)")
    return parser.parse_args(argv)


def output_path(args: argparse.Namespace) -> tuple[Path, str]:
    fmt = args.format
    if args.out is None:
        fmt = fmt or "svg"
        return Path(f"backprop.{fmt}"), fmt
    out = Path(args.out)
    if fmt is None:
        fmt = out.suffix.lstrip(".").lower() if out.suffix.lstrip(".").lower() in FORMATS else "svg"
    return out, fmt


def model_loss(args: argparse.Namespace) -> tg.Tensor:
    """The model's loss L on test digit K, with labels named y, not yet backpropagated."""
    from tinygraph import data, models

    split = data.load_digits(seed=0)
    if not 0 <= args.sample < len(split.x_test):
        raise SystemExit(f"draw_graph.py: --sample {args.sample} is out of range; the digits test set "
                         f"has {len(split.x_test)} images (0..{len(split.x_test) - 1})")
    if args.checkpoint:
        checkpoint = tg.load(args.checkpoint)
        model = models.build(args.model, **checkpoint["model_config"])
        model.load_state_dict(checkpoint["model"])
    else:
        _, channels, height, _ = split.x_test.shape
        config = {"in_channels": channels, "image_size": height, "classes": 10}
        if args.model != "two_layer_cnn":
            config = {"in_features": channels * height * height, "classes": 10}
        model = models.build(args.model, rng=np.random.default_rng(args.seed), **config)
    for name, parameter in model.named_parameters():
        parameter.name = parameter.name or name          # unnamed parameters show their path: layers.1.weight
    x = split.x_test[args.sample:args.sample + 1]
    y = tg.tensor(split.y_test[args.sample:args.sample + 1], name="y")
    if args.model == "two_layer_cnn":
        return model.loss(tg.tensor(x, name="X"), y)
    return tg.softmax_xent(model(tg.tensor(x.reshape(1, -1), name="X")), y).named("L")


def entry_tensor(spec: str) -> tg.Tensor:
    """Import FILE.py and call FUNC() from `FILE.py:FUNC`."""
    path, _, func = spec.rpartition(":")
    if not path or not func:
        raise SystemExit(f"draw_graph.py: --entry needs FILE.py:FUNC, got {spec!r}")
    if not os.path.isfile(path):
        raise SystemExit(f"draw_graph.py: --entry file {path!r} does not exist")
    spec_ = importlib.util.spec_from_file_location(Path(path).stem, path)
    module = importlib.util.module_from_spec(spec_)
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    spec_.loader.exec_module(module)
    if not callable(getattr(module, func, None)):
        raise SystemExit(f"draw_graph.py: {path} has no function {func!r}")
    root = getattr(module, func)()
    if not isinstance(root, tg.Tensor):
        raise SystemExit(f"draw_graph.py: {spec} returned a {type(root).__name__}, not a tinygraph Tensor")
    return root


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out, fmt = output_path(args)
    root = entry_tensor(args.entry) if args.entry else model_loss(args)
    recording = None
    wants_grads = not args.no_grads and args.view != "forward"
    if (wants_grads or args.steps or args.step) and root.requires_grad and root.size == 1:
        with record_backward() as recording:
            root.backward(retain_graph=bool(args.steps))
    collapse = {"auto": None, "module": "module", "none": False}[args.collapse]
    if args.step is not None and recording is None:
        raise SystemExit("draw_graph.py: --step needs a scalar loss that requires grad to step through")
    if args.step is not None:
        try:
            digraph = draw_step(root, args.step, recording=recording, view=args.view)
        except ValueError as error:
            raise SystemExit(f"draw_graph.py: {error}") from None
    else:
        digraph = draw(root, view=args.view, values=not args.no_values, grads=not args.no_grads,
                       collapse=collapse, recording=recording, wrap=args.wrap or None)
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "dot":
        out.write_text(digraph.source, encoding="utf-8")
    else:
        try:
            out.write_bytes(digraph.pipe(format=fmt))
        except graphviz.ExecutableNotFound:
            source = out.with_suffix(".dot")
            source.write_text(digraph.source, encoding="utf-8")
            print(f"draw_graph.py: Graphviz's `dot` executable was not found on PATH, so only the source "
                  f"was written, to {source}; {INSTALL_HINT}.", file=sys.stderr)
            return 2
    print(f"wrote {out} ({fmt}, view={args.view})")
    if args.steps:
        if recording is None:
            raise SystemExit("draw_graph.py: --steps needs a scalar loss that requires grad to step through")
        try:
            path = draw_steps(root, args.steps, recording=recording, rankdir="LR")
        except graphviz.ExecutableNotFound:
            print(f"draw_graph.py: Graphviz's `dot` executable was not found on PATH, so the step-through "
                  f"page was not written; {INSTALL_HINT}.", file=sys.stderr)
            return 2
        print(f"wrote {path} (step-through of backward: {len(recording.rule_steps)} frames)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
