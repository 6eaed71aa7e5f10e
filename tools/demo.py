"""What `make demo` runs: train the derivation's TwoLayerCNN on digits and save a checkpoint.

Uses tools/train.py's defaults, so the accuracy printed here is the one the README quotes.
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import train  # noqa: E402  (tools/train.py, the training command)

OUT_DIR = "out"


def main() -> int:
    os.makedirs(OUT_DIR, exist_ok=True)
    checkpoint = os.path.join(OUT_DIR, "ckpt.npz")
    print("== Training TwoLayerCNN (Conv → ReLU → MaxPool → FC → softmax cross-entropy) on digits")
    train.run(train.parse_args(["--model", "two_layer_cnn", "--out", checkpoint]))
    print(f"checkpoint saved to {checkpoint}")
    draw_backprop(checkpoint)
    return 0


# ------------------------------------------------------------------ drawing (tools/draw_graph.py)
def draw_backprop(checkpoint: str) -> None:
    """Draw the trained CNN's backward pass on one test digit, and its step-through page."""
    import draw_graph  # tools/draw_graph.py

    drawing = os.path.join(OUT_DIR, "backprop.svg")
    steps = os.path.join(OUT_DIR, "backprop_steps.html")
    print("== Drawing backpropagation through the trained CNN on test digit 0")
    status = draw_graph.main(["--checkpoint", checkpoint, "--out", drawing, "--steps", steps])
    if status == 0:
        print(f"open {drawing} to see every gradient and the rule that made it, and {steps} "
              "to click through backward one rule at a time")


if __name__ == "__main__":
    sys.exit(main())
