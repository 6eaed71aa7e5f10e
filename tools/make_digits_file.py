"""Make tinygraph/datasets/digits.npz, once, from scikit-learn's copy of the UCI digits.

    pip install scikit-learn && python tools/make_digits_file.py

The file holds the 1,797 images as uint8 pixel counts 0..16 (1797, 8, 8) and their labels, in
scikit-learn's order, compressed. tinygraph reads it with NumPy alone; see tinygraph/datasets/README.md.
"""
import os

import numpy as np
from sklearn.datasets import load_digits

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tinygraph", "datasets", "digits.npz")

digits = load_digits()
images = digits.images.astype(np.uint8)
assert np.array_equal(images, digits.images), "pixel counts are whole numbers 0..16"
np.savez_compressed(OUT, images=images, labels=digits.target.astype(np.uint8))
print(f"wrote {os.path.normpath(OUT)} ({os.path.getsize(OUT):,} bytes)")
