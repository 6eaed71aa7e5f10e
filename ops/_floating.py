"""Integer and bool inputs to floating math (sin, log2, erf, ...) become float32, as PyTorch's default dtype."""
import numpy as np


def floating(x: np.ndarray) -> np.ndarray:
    """x itself if floating; otherwise x as float32 (torch.sin(int tensor) is float32)."""
    return x if x.dtype.kind == "f" else x.astype(np.float32)
