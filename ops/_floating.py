"""Integer and bool inputs to floating math (sin, log2, erf, ...) compute in float64, as NumPy promotes them.

PyTorch gives float32 there; tinygraph keeps NumPy's rule for every op alike (README "Dtypes"), and
this helper also keeps bool from NumPy's float16 (np.sin(True) is float16).
"""
import numpy as np


def floating(x: np.ndarray) -> np.ndarray:
    """x itself if floating; otherwise x as float64."""
    return x if x.dtype.kind == "f" else x.astype(np.float64)
