"""Data: the UCI digits (shipped with tinygraph), MNIST-style IDX files, seeded mini-batches, and
torch.utils.data's Dataset, TensorDataset, Subset, random_split and DataLoader (tinygraph/dataloader.py).

    train = data.Digits(train=True)                     # a TensorDataset of (1, 8, 8) images and labels
    loader = data.DataLoader(train, batch_size=32, shuffle=True)

Images come as float32 arrays of shape (N, 1, H, W) scaled to [0, 1]; labels as int64 (N,).
Readers check a file's declared sizes against the file and against `max_bytes` before they
allocate, and turn every malformed input into a ValueError naming the file.
"""
from __future__ import annotations

import gzip
import os
import zlib
from importlib import resources
from math import ceil
from typing import Iterator, NamedTuple

import numpy as np

from tinygraph.dataloader import (ConcatDataset, DataLoader, Dataset, Subset, TensorDataset,  # noqa: F401
                                  default_collate, random_split)
from tinygraph.tensor import from_numpy

MAX_BYTES = 2**30           # default cap on the data a reader allocates for one file (1 GiB)


class Split(NamedTuple):
    """A data set split into train and test parts."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


# ------------------------------------------------------------------------ digits
def load_digits(test_size: float = 0.25, seed: int = 0, *, size: int | None = None,
                fit: str = "resize", margin: int = 0) -> Split:
    """The 1,797 8×8 handwritten digits (UCI, as copied by scikit-learn), split stratified by class.

    Pixel values 0..16 become 0..1; images have shape (N, 1, 8, 8). The same seed gives the same
    split, identical to scikit-learn's `train_test_split(..., stratify=labels, random_state=seed)`.
    size=32 gives (N, 1, 32, 32) images for LeNet-5: fit="resize" (default) scales each digit up
    bilinearly, to fill the frame or, with margin=6, a 20×20 square inside a zero border as LeNet-5's
    paper frames its digits; fit="pad" centres the 8×8 digit in zeros (see `fit_images`).
    """
    if not 0 < test_size < 1:
        raise ValueError(f"load_digits: test_size must be a fraction in (0, 1), got {test_size!r}")
    _check_fit("load_digits", size, fit, margin)
    with resources.files("tinygraph.datasets").joinpath("digits.npz").open("rb") as f:
        with np.load(f, allow_pickle=False) as stored:
            pixels, labels = stored["images"], stored["labels"].astype(np.int64)
    images = (pixels / np.float32(16)).astype(np.float32)[:, np.newaxis]
    train, test = stratified_split(labels, test_size, seed)
    if size is not None:
        images = fit_images(images, size, fit, margin)
    return Split(images[train], labels[train], images[test], labels[test])


class Digits(TensorDataset):
    """The digits as a Dataset, like torchvision's MNIST(train=...): sample i is (image (1, 8, 8), label).

    The train or test part of `load_digits` with the same arguments (the same seed, the same split).
    """

    def __init__(self, train: bool = True, *, test_size: float = 0.25, seed: int = 0, size: int | None = None,
                 fit: str = "resize", margin: int = 0):
        split = load_digits(test_size, seed, size=size, fit=fit, margin=margin)
        images, labels = (split.x_train, split.y_train) if train else (split.x_test, split.y_test)
        super().__init__(from_numpy(images), from_numpy(labels))
        self.train = bool(train)


# ------------------------------------------------------------------------ image sizes
FITS = ("resize", "pad")


def _check_fit(caller: str, size, fit: str, margin: int = 0) -> None:
    if size is not None and (isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1):
        raise ValueError(f"{caller}: size must be a positive integer (the side of the square images) or None, "
                         f"got {size!r}")
    if fit not in FITS:
        raise ValueError(f"{caller}: fit must be one of {FITS}, got {fit!r}")
    if isinstance(margin, bool) or not isinstance(margin, (int, np.integer)) or margin < 0 \
            or (size is not None and 2 * margin >= size):
        raise ValueError(f"{caller}: margin must be a non-negative integer leaving room for the image "
                         f"(2·margin < size {size}), got {margin!r}")


def fit_images(images: np.ndarray, size: int, fit: str = "resize", margin: int = 0) -> np.ndarray:
    """Square images (N, C, H, W) brought to (N, C, size, size).

    fit="pad": centred in zeros (LeNet-5's 32×32 frame around MNIST's 28×28 digits; an odd margin
    puts the extra row and column after the image); the image must not be larger than `size`.
    fit="resize": bilinear interpolation with PyTorch's `F.interpolate(mode="bilinear",
    align_corners=False)` sampling, so each output pixel is read at the input position it covers;
    with a margin, the image is resized to size − 2·margin and then padded with `margin` zeros.
    """
    _check_fit("fit_images", size, fit, margin)
    height, width = images.shape[-2:]
    if fit == "pad":
        if height > size or width > size:
            raise ValueError(f"fit_images: cannot pad {height}×{width} images to {size}×{size} "
                             f"(they are larger); use fit='resize'")
        top, left = (size - height) // 2, (size - width) // 2
        margins = [(0, 0)] * (images.ndim - 2) + [(top, size - height - top), (left, size - width - left)]
        return np.pad(images, margins)
    if margin:
        return fit_images(fit_images(images, size - 2 * margin, "resize"), size, "pad")
    rows, cols = _bilinear_weights(height, size), _bilinear_weights(width, size)
    return (rows.astype(images.dtype) @ images @ cols.T.astype(images.dtype)).astype(images.dtype, copy=False)


def _bilinear_weights(source: int, target: int) -> np.ndarray:
    """The (target, source) matrix of linear interpolation: output i reads input (i + ½)·source/target − ½."""
    position = np.clip((np.arange(target) + 0.5) * source / target - 0.5, 0, source - 1)
    below = np.floor(position).astype(int)
    above = np.minimum(below + 1, source - 1)
    weight_above = position - below
    weights = np.zeros((target, source))
    np.add.at(weights, (np.arange(target), below), 1 - weight_above)
    np.add.at(weights, (np.arange(target), above), weight_above)
    return weights


def stratified_split(labels: np.ndarray, test_size: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) indices with each class's share kept, drawn as scikit-learn's
    StratifiedShuffleSplit draws them from `np.random.RandomState(seed)`, so splits made before
    tinygraph shipped its own copy of the digits stay the same."""
    n = len(labels)
    n_test = ceil(test_size * n)
    n_train = n - n_test
    classes, label_index, counts = np.unique(labels, return_inverse=True, return_counts=True)
    members = np.split(np.argsort(label_index, kind="stable"), np.cumsum(counts)[:-1])
    rng = np.random.RandomState(seed)
    train_per_class = _spread(counts, n_train, rng)
    test_per_class = _spread(counts - train_per_class, n_test, rng)
    train, test = [], []
    for k in range(len(classes)):
        shuffled = members[k][rng.permutation(counts[k])]
        train.extend(shuffled[:train_per_class[k]])
        test.extend(shuffled[train_per_class[k]:train_per_class[k] + test_per_class[k]])
    return rng.permutation(train), rng.permutation(test)


def _spread(counts: np.ndarray, draws: int, rng: np.random.RandomState) -> np.ndarray:
    """How many of `draws` each class gets: its proportional share rounded down, then one more
    for the classes with the largest remainders (ties broken by `rng`) until the total is right."""
    exact = counts / counts.sum() * draws
    taken = np.floor(exact)
    missing = int(draws - taken.sum())
    remainder = exact - taken
    for value in np.sort(np.unique(remainder))[::-1]:
        if missing <= 0:
            break
        (tied,) = np.where(remainder == value)
        chosen = rng.choice(tied, size=min(len(tied), missing), replace=False)
        taken[chosen] += 1
        missing -= len(chosen)
    return taken.astype(int)


# ------------------------------------------------------------------------ IDX files
# The IDX header: two zero bytes, a type code, the number of dimensions, then each size as a
# big-endian uint32; the data follow in big-endian order.
IDX_TYPES = {0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"),
             0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def read_idx(path: str | os.PathLike, *, max_bytes: int = MAX_BYTES) -> np.ndarray:
    """Read one IDX file (`*-ubyte`, or gzip-compressed `*-ubyte.gz`), checking its header and size.

    The header is read first; a file is refused with ValueError, before its data are read, when
    the declared data exceed `max_bytes` (default 1 GiB) or do not match the file. A `.gz` file is
    inflated only as far as its header declares.
    """
    path = os.fspath(path)
    try:
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rb") as f:
            return _read_idx_stream(f, path, max_bytes, None if opener is gzip.open else os.fstat(f.fileno()).st_size)
    except (OSError, EOFError, zlib.error) as error:     # gzip.BadGzipFile is an OSError
        if isinstance(error, (FileNotFoundError, IsADirectoryError, PermissionError)):
            raise
        raise ValueError(f"read_idx: {path} is not a readable gzip/IDX file "
                         f"({type(error).__name__}: {error})") from None


def _read_idx_stream(f, path: str, max_bytes: int, file_size: int | None) -> np.ndarray:
    magic = f.read(4)
    if len(magic) < 4:
        raise ValueError(f"read_idx: {path} is {len(magic)} bytes long, too short for an IDX header")
    if magic[0] != 0 or magic[1] != 0 or magic[2] not in IDX_TYPES:
        raise ValueError(f"read_idx: {path} does not start with an IDX magic number "
                         f"(got bytes {magic.hex()}; expected 0000, a type code in "
                         f"{[hex(t) for t in IDX_TYPES]}, and the number of dimensions)")
    dtype, ndim = IDX_TYPES[magic[2]], magic[3]
    header = 4 + 4 * ndim
    sizes = f.read(4 * ndim)
    if len(sizes) < 4 * ndim:
        raise ValueError(f"read_idx: {path} is truncated inside its header ({4 + len(sizes)} bytes, "
                         f"header needs {header} for {ndim} dimensions)")
    shape = tuple(int.from_bytes(sizes[4 * i:4 * i + 4], "big") for i in range(ndim))
    nbytes = dtype.itemsize
    for size in shape:
        nbytes *= size                      # Python ints: no overflow however hostile the sizes
    if file_size is not None and file_size != header + nbytes:
        problem = "truncated" if file_size < header + nbytes else "longer than its header says"
        raise ValueError(f"read_idx: {path} is {problem}: header says shape {shape} of {dtype.name} "
                         f"({header + nbytes} bytes with header), file has {file_size} bytes")
    if nbytes > max_bytes:
        raise ValueError(f"read_idx: {path} declares shape {shape} of {dtype.name}, {nbytes:,} bytes, "
                         f"over the limit of {max_bytes:,} (pass max_bytes= to read larger files)")
    array = np.empty(shape, dtype)
    got = f.readinto(memoryview(array.reshape(-1)).cast("B")) if nbytes else 0
    if got < nbytes:
        raise ValueError(f"read_idx: {path} is truncated: header says shape {shape} of {dtype.name} "
                         f"({header + nbytes} bytes with header), the data end after {header + got}")
    if f.read(1):
        raise ValueError(f"read_idx: {path} is longer than its header says: shape {shape} of "
                         f"{dtype.name} is {header + nbytes} bytes with header, and more follow")
    return array.astype(dtype.newbyteorder("="), copy=False)


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


def load_mnist(data_dir: str | os.PathLike, *, classes: int = 10, max_bytes: int = MAX_BYTES,
               size: int | None = None, fit: str = "pad") -> Split:
    """MNIST or Fashion-MNIST from the four standard IDX files in `data_dir` (plain or .gz).

    Files: train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte,
    t10k-labels-idx1-ubyte. Images become float32 (N, 1, 28, 28) in [0, 1]; every label must be
    below `classes`. `max_bytes` caps each file's data, as in `read_idx`. size=32 zero-pads the
    28×28 images to 32×32 as LeNet-5's paper does (fit="resize" scales them instead).
    """
    _check_fit("load_mnist", size, fit)
    data_dir = os.fspath(data_dir)
    parts = []
    for prefix in ("train", "t10k"):
        images_path = _find(data_dir, f"{prefix}-images-idx3-ubyte")
        labels_path = _find(data_dir, f"{prefix}-labels-idx1-ubyte")
        images = read_idx(images_path, max_bytes=max_bytes)
        labels = read_idx(labels_path, max_bytes=max_bytes)
        if images.ndim != 3 or images.dtype != np.uint8:
            raise ValueError(f"load_mnist: {images_path} should hold uint8 images (N, H, W), "
                             f"got {images.dtype} of shape {images.shape}")
        if labels.ndim != 1 or labels.dtype != np.uint8:
            raise ValueError(f"load_mnist: {labels_path} should hold uint8 labels (N,), "
                             f"got {labels.dtype} of shape {labels.shape}")
        if len(images) != len(labels):
            raise ValueError(f"load_mnist: {images_path} has {len(images)} images but {labels_path} "
                             f"has {len(labels)} labels")
        if len(labels) == 0:
            raise ValueError(f"load_mnist: {labels_path} holds no labels")
        if labels.max() >= classes:
            at = int(np.argmax(labels >= classes))
            raise ValueError(f"load_mnist: {labels_path} has label {labels[at]} at index {at}; "
                             f"labels must be 0..{classes - 1} (pass classes= for more)")
        if parts and images.shape[1:] != parts[0].shape[2:]:
            raise ValueError(f"load_mnist: {images_path} holds {images.shape[1]}×{images.shape[2]} images "
                             f"but the training images are {parts[0].shape[2]}×{parts[0].shape[3]}")
        parts += [(images / np.float32(255))[:, np.newaxis].astype(np.float32), labels.astype(np.int64)]
    if size is not None:
        parts[0], parts[2] = fit_images(parts[0], size, fit), fit_images(parts[2], size, fit)
    return Split(*parts)


class MNIST(TensorDataset):
    """MNIST (or Fashion-MNIST) IDX files as a Dataset, like torchvision's MNIST(root, train=...).

    Reads the four standard files from `root` (or from root/MNIST/raw, torchvision's layout) with
    `load_mnist`; sample i is (image (1, 28, 28) float32 in [0, 1], label). Nothing is downloaded.
    """

    def __init__(self, root: str | os.PathLike, train: bool = True, *, download: bool = False, classes: int = 10,
                 size: int | None = None, fit: str = "pad", max_bytes: int = MAX_BYTES):
        if download:
            raise ValueError("data.MNIST: tinygraph downloads nothing; put the four IDX files (plain or .gz) in "
                             f"{os.fspath(root)!r} and pass download=False")
        raw = os.path.join(os.fspath(root), "MNIST", "raw")
        directory = raw if os.path.isdir(raw) else root
        split = load_mnist(directory, classes=classes, max_bytes=max_bytes, size=size, fit=fit)
        images, labels = (split.x_train, split.y_train) if train else (split.x_test, split.y_test)
        super().__init__(from_numpy(images), from_numpy(labels))
        self.train = bool(train)


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
