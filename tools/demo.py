"""What `make demo` runs: train the derivation's TwoLayerCNN on digits, save a checkpoint, draw it.

Uses tinygraph-train's defaults, so the accuracy printed here is the one the README quotes.
"""
from __future__ import annotations

import os
import sys

from tinygraph.cli import draw, train

OUT_DIR = "out"


def main() -> int:
    os.makedirs(OUT_DIR, exist_ok=True)
    checkpoint = os.path.join(OUT_DIR, "ckpt.npz")
    print("== Training TwoLayerCNN (Conv → ReLU → MaxPool → FC → softmax cross-entropy) on digits")
    status = train.main(["--model", "two_layer_cnn", "--out", checkpoint])
    if status != 0:
        return status
    print(f"checkpoint saved to {checkpoint}")
    drawing = os.path.join(OUT_DIR, "backprop.svg")
    steps = os.path.join(OUT_DIR, "backprop_steps.html")
    print("== Drawing backpropagation through the trained CNN on test image 0 (its label is on the drawing)")
    status = draw.main(["--checkpoint", checkpoint, "--out", drawing, "--steps", steps])
    if status == 0:
        print(f"open {drawing} to see every gradient and the rule that made it, and {steps} "
              "to click through backward one rule at a time")
    return status


if __name__ == "__main__":
    sys.exit(main())
