"""Data: scikit-learn's digits (built in, no download), MNIST-style IDX files, seeded mini-batches.

Images come as float32 arrays of shape (N, 1, H, W) scaled to [0, 1]; labels as int64 (N,).
"""
from __future__ import annotations

import gzip
import os
from typing import Iterator, NamedTuple

import numpy as np


class Split(NamedTuple):
    """A data set split into train and test parts."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def load_digits(test_size: float = 0.25, seed: int = 0) -> Split:
    """The 1,797 8×8 handwritten digits shipped with scikit-learn, split stratified by class.

    Pixel values 0..16 become 0..1; images have shape (N, 1, 8, 8). The same seed gives the same split.
    """
    from sklearn.datasets import load_digits as sklearn_digits
    from sklearn.model_selection import train_test_split

    if not 0 < test_size < 1:
        raise ValueError(f"load_digits: test_size must be a fraction in (0, 1), got {test_size!r}")
    digits = sklearn_digits()
    images = (digits.images / 16.0).astype(np.float32)[:, np.newaxis]
    labels = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        images, labels, test_size=test_size, random_state=seed, stratify=labels)
    return Split(x_train, y_train, x_test, y_test)


# ------------------------------------------------------------------------ IDX files
# The IDX header: two zero bytes, a type code, the number of dimensions, then each size as a
# big-endian uint32; the data follow in big-endian order.
IDX_TYPES = {0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"),
             0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file (`*-ubyte`, or gzip-compressed `*-ubyte.gz`), checking its header and size."""
    path = os.fspath(path)
    try:
        if path.endswith(".gz"):
            with gzip.open(path, "rb") as f:
                raw = f.read()
        else:
            with open(path, "rb") as f:
                raw = f.read()
    except (OSError, EOFError) as error:     # gzip.BadGzipFile is an OSError
        if isinstance(error, FileNotFoundError):
            raise
        raise ValueError(f"read_idx: {path} is not a readable gzip/IDX file ({error})") from None
    if len(raw) < 4:
        raise ValueError(f"read_idx: {path} is {len(raw)} bytes long, too short for an IDX header")
    if raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_TYPES:
        raise ValueError(f"read_idx: {path} does not start with an IDX magic number "
                         f"(got bytes {raw[:4].hex()}; expected 0000, a type code in "
                         f"{[hex(t) for t in IDX_TYPES]}, and the number of dimensions)")
    dtype, ndim = IDX_TYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"read_idx: {path} is truncated inside its header ({len(raw)} bytes, "
                         f"header needs {header} for {ndim} dimensions)")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        problem = "truncated" if len(raw) < expected else "longer than its header says"
        raise ValueError(f"read_idx: {path} is {problem}: header says shape {shape} of {dtype.name} "
                         f"({expected} bytes with header), file has {len(raw)} bytes")
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="))


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write an array as an IDX file (gzip-compressed when the name ends in .gz)."""
    array = np.asarray(array)
    codes = {dtype.newbyteorder("=") if dtype.itemsize > 1 else dtype: code for code, dtype in IDX_TYPES.items()}
    native = array.dtype.newbyteorder("=") if array.dtype.itemsize > 1 else array.dtype
    if native not in codes:
        raise TypeError(f"write_idx: IDX cannot hold dtype {array.dtype}; use one of "
                        f"{sorted(str(d) for d in codes)}")
    code = codes[native]
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    payload = header + array.astype(IDX_TYPES[code]).tobytes()
    opener = gzip.open if os.fspath(path).endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(payload)


def _find(data_dir: str, stem: str) -> str:
    for name in (stem, stem + ".gz"):
        candidate = os.path.join(data_dir, name)
        if os.path.exists(candidate):
            return candidate
    raise FileNotFoundError(f"load_mnist: no {stem} or {stem}.gz in {data_dir}")


def load_mnist(data_dir: str | os.PathLike) -> Split:
    """MNIST or Fashion-MNIST from the four standard IDX files in `data_dir` (plain or .gz).

    Files: train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte,
    t10k-labels-idx1-ubyte. Images become float32 (N, 1, 28, 28) in [0, 1].
    """
    data_dir = os.fspath(data_dir)
    parts = []
    for prefix in ("train", "t10k"):
        images_path = _find(data_dir, f"{prefix}-images-idx3-ubyte")
        labels_path = _find(data_dir, f"{prefix}-labels-idx1-ubyte")
        images, labels = read_idx(images_path), read_idx(labels_path)
        if images.ndim != 3 or images.dtype != np.uint8:
            raise ValueError(f"load_mnist: {images_path} should hold uint8 images (N, H, W), "
                             f"got {images.dtype} of shape {images.shape}")
        if labels.ndim != 1 or labels.dtype != np.uint8:
            raise ValueError(f"load_mnist: {labels_path} should hold uint8 labels (N,), "
                             f"got {labels.dtype} of shape {labels.shape}")
        if len(images) != len(labels):
            raise ValueError(f"load_mnist: {images_path} has {len(images)} images but {labels_path} "
                             f"has {len(labels)} labels")
        parts += [(images / np.float32(255))[:, np.newaxis].astype(np.float32), labels.astype(np.int64)]
    return Split(*parts)


# ------------------------------------------------------------------------ mini-batches
def batches(x: np.ndarray, y: np.ndarray, batch_size: int, *, shuffle: bool = True, seed: int = 0,
            epoch: int = 0, drop_last: bool = False) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (x_batch, y_batch) pairs covering the data once.

    The order is a permutation drawn from (seed, epoch) alone, so epoch 5 is shuffled the same
    whether a run started at epoch 0 or resumed from a checkpoint at epoch 4.
    """
    if len(x) != len(y):
        raise ValueError(f"batches: x has {len(x)} samples (shape {np.shape(x)}) but y has {len(y)} "
                         f"(shape {np.shape(y)})")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batches: batch_size must be a positive integer, got {batch_size!r}")
    n = len(x)
    order = np.random.default_rng([seed, epoch]).permutation(n) if shuffle else np.arange(n)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        index = order[start:start + batch_size]
        yield x[index], y[index]


def num_batches(n: int, batch_size: int, drop_last: bool = False) -> int:
    return n // batch_size if drop_last else -(-n // batch_size)
