"""Datasets and the DataLoader, with torch.utils.data's names, arguments and batches (re-exported by tinygraph.data).

    from tinygraph.data import DataLoader, TensorDataset
    loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True)
    for xb, yb in loader:           # tinygraph tensors, stacked along a new first axis
        ...

A Dataset is anything with `__getitem__(i)` and `__len__()`. The loader draws an order (a
permutation from `generator`, or from tinygraph's default generator, which `tg.manual_seed`
seeds, when shuffle=True), cuts it into batches and stacks each batch's samples with
`default_collate`, as PyTorch's does. Everything runs in the calling process: `num_workers` and
`pin_memory` are accepted and change nothing. A TensorDataset batch is taken with one index per
tensor instead of sample by sample (the same values, much faster).
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from tinygraph.random import numpy_generator
from tinygraph.tensor import Tensor, from_numpy


class Dataset:
    """Base class of map-style datasets: subclasses define `__getitem__(index)` and `__len__()`."""

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__(index)")

    def __add__(self, other: "Dataset") -> "ConcatDataset":
        return ConcatDataset([self, other])


class TensorDataset(Dataset):
    """Sample i is (t[i] for each tensor t); every tensor has the same length along its first axis."""

    def __init__(self, *tensors: Tensor | np.ndarray):
        if not tensors:
            raise ValueError("TensorDataset: give at least one tensor")
        self.tensors = tuple(t if isinstance(t, Tensor) else from_numpy(np.asarray(t)) for t in tensors)
        lengths = [t.shape[0] if t.ndim else None for t in self.tensors]
        if None in lengths or len(set(lengths)) != 1:
            shapes = ", ".join(str(t.shape) for t in self.tensors)
            raise ValueError(f"TensorDataset: every tensor needs the same length along axis 0 (size mismatch "
                             f"between tensors of shapes {shapes})")

    def __getitem__(self, index: int) -> tuple:
        return tuple(t[index] for t in self.tensors)

    def __len__(self) -> int:
        return self.tensors[0].shape[0]


class Subset(Dataset):
    """The samples of `dataset` at `indices`, in that order."""

    def __init__(self, dataset: Any, indices: Sequence[int]):
        self.dataset = dataset
        self.indices = list(indices)

    def __getitem__(self, index: int | list) -> Any:
        if isinstance(index, list):
            return self.dataset[[self.indices[i] for i in index]]
        return self.dataset[self.indices[index]]

    def __len__(self) -> int:
        return len(self.indices)


class ConcatDataset(Dataset):
    """Several datasets one after the other."""

    def __init__(self, datasets: Iterable[Any]):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: give at least one dataset")
        self.cumulative_sizes = list(np.cumsum([len(d) for d in self.datasets]))

    def __len__(self) -> int:
        return int(self.cumulative_sizes[-1])

    def __getitem__(self, index: int) -> Any:
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"ConcatDataset: index {index} is out of range for {len(self)} samples")
        which = int(np.searchsorted(self.cumulative_sizes, index, side="right"))
        start = 0 if which == 0 else int(self.cumulative_sizes[which - 1])
        return self.datasets[which][index - start]


def random_split(dataset: Any, lengths: Sequence[int | float], generator: np.random.Generator | None = None) -> list[Subset]:
    """Split into non-overlapping Subsets of these lengths (or fractions summing to 1), as PyTorch's.

    Fractions become floor(fraction · n) samples each, and what remains is handed out one by one
    from the first subset on. The order is a permutation drawn from `generator` (default: tinygraph's).
    """
    n = len(dataset)
    lengths = list(lengths)
    if lengths and all(isinstance(x, float) for x in lengths) and math.isclose(sum(lengths), 1) and sum(lengths) <= 1:
        counts = [int(math.floor(n * fraction)) for fraction in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        lengths = counts
    if any(isinstance(x, bool) or not isinstance(x, (int, np.integer)) or x < 0 for x in lengths):
        raise ValueError(f"random_split: lengths must be non-negative integers or fractions summing to 1, got {lengths}")
    if sum(lengths) != n:
        raise ValueError(f"random_split: the lengths {lengths} sum to {sum(lengths)}, but the dataset has {n} samples")
    order = numpy_generator(generator, "random_split").permutation(n).tolist()
    offsets = np.cumsum([0] + lengths)
    return [Subset(dataset, order[offsets[i]:offsets[i + 1]]) for i in range(len(lengths))]


def default_collate(batch: list) -> Any:
    """Stack a list of samples into a batch the way PyTorch's default_collate does.

    Tensors and numeric arrays are stacked along a new first axis; Python floats become a float64
    tensor, ints an int64 tensor, NumPy scalars a tensor of their dtype; dicts, namedtuples and
    sequences are collated field by field (a tuple sample gives a list, as in PyTorch); strings stay as they are.
    """
    elem = batch[0]
    if isinstance(elem, Tensor):
        return from_numpy(np.stack([sample.data for sample in batch]))
    if isinstance(elem, np.ndarray):
        if elem.dtype.kind not in "biuf":
            raise TypeError(f"default_collate: cannot batch arrays of dtype {elem.dtype}")
        return from_numpy(np.stack(batch))
    if isinstance(elem, np.generic) and elem.dtype.kind in "biuf":
        return from_numpy(np.array(batch))
    if isinstance(elem, bool):
        return from_numpy(np.array(batch, dtype=np.bool_))
    if isinstance(elem, float):
        return from_numpy(np.array(batch, dtype=np.float64))
    if isinstance(elem, int):
        return from_numpy(np.array(batch, dtype=np.int64))
    if isinstance(elem, (str, bytes)):
        return batch
    if isinstance(elem, Mapping):
        return {key: default_collate([sample[key] for sample in batch]) for key in elem}
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):
        return type(elem)(*(default_collate(list(field)) for field in zip(*batch)))
    if isinstance(elem, Sequence):
        if any(len(sample) != len(elem) for sample in batch):
            raise RuntimeError("default_collate: each element in the batch should be of equal size")
        return [default_collate(list(field)) for field in zip(*batch)]
    raise TypeError(f"default_collate: batch must contain tensors, NumPy arrays, numbers, dicts or lists; "
                    f"found {type(elem).__name__}")


class DataLoader:
    """Batches of a dataset, in order or shuffled, as torch.utils.data.DataLoader (in this process).

    `len(loader)` is the number of batches: ⌈n / batch_size⌉, or ⌊n / batch_size⌋ with drop_last.
    Each pass over the loader with shuffle=True draws a new order from `generator` (a tg.Generator
    or numpy Generator; default: tinygraph's default generator).
    """

    def __init__(self, dataset: Any, batch_size: int | None = 1, shuffle: bool | None = None,
                 sampler: Iterable[int] | None = None, batch_sampler: Iterable[list[int]] | None = None,
                 num_workers: int = 0, collate_fn: Callable[[list], Any] | None = None, pin_memory: bool = False,
                 drop_last: bool = False, timeout: float = 0, worker_init_fn: Callable | None = None, *,
                 generator: np.random.Generator | None = None, prefetch_factor: int | None = None,
                 persistent_workers: bool = False, pin_memory_device: str = ""):
        if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError(f"DataLoader: num_workers must be a non-negative integer, got {num_workers!r}")
        if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer))
                                       or batch_size < 1):
            raise ValueError(f"DataLoader: batch_size must be a positive integer or None, got {batch_size!r}")
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None and (batch_size != 1 or shuffle or sampler is not None or drop_last):
            raise ValueError("DataLoader: batch_sampler option is mutually exclusive with batch_size, shuffle, "
                             "sampler, and drop_last")
        if generator is not None:
            numpy_generator(generator, "DataLoader")        # refuses what is not a generator, now
        self.dataset = dataset
        self.batch_size = None if batch_sampler is not None else batch_size
        self.shuffle = bool(shuffle)
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.drop_last = bool(drop_last)
        self.num_workers = num_workers
        self.collate_fn = collate_fn
        self.generator = generator
        self.pin_memory = pin_memory

    def _order(self) -> list[int]:
        if self.sampler is not None:
            return list(self.sampler)
        n = len(self.dataset)
        if self.shuffle:
            return numpy_generator(self.generator, "DataLoader").permutation(n).tolist()
        return list(range(n))

    def _batches_of_indices(self) -> Iterator[list[int]]:
        if self.batch_sampler is not None:
            yield from (list(batch) for batch in self.batch_sampler)
            return
        order = self._order()
        stop = len(order) - len(order) % self.batch_size if self.drop_last else len(order)
        for start in range(0, stop, self.batch_size):
            yield order[start:start + self.batch_size]

    def __iter__(self) -> Iterator[Any]:
        if self.batch_size is None and self.batch_sampler is None:     # no batching: samples one by one
            for index in self._order():
                sample = self.dataset[index]
                yield sample if self.collate_fn is None else self.collate_fn(sample)
            return
        tensors = _tensors_of(self.dataset) if self.collate_fn is None else None
        for indices in self._batches_of_indices():
            if tensors is not None:
                index = np.asarray(indices, dtype=np.int64)
                yield [from_numpy(t.data[index]) for t in tensors]
            else:
                yield (self.collate_fn or default_collate)([self.dataset[i] for i in indices])

    def __len__(self) -> int:
        if self.batch_sampler is not None:
            return len(self.batch_sampler)
        n = len(self.sampler) if self.sampler is not None else len(self.dataset)
        if self.batch_size is None:
            return n
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __repr__(self) -> str:
        return (f"DataLoader({type(self.dataset).__name__} of {len(self.dataset)}, batch_size={self.batch_size}, "
                f"shuffle={self.shuffle}, drop_last={self.drop_last})")


def _tensors_of(dataset: Any) -> tuple | None:
    """The tensors behind a TensorDataset that needs no gradient: batches are then taken with one index each."""
    if not isinstance(dataset, TensorDataset) or type(dataset).__getitem__ is not TensorDataset.__getitem__:
        return None
    tensors = dataset.tensors
    return None if any(t.requires_grad for t in tensors) else tensors
