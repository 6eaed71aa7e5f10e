"""How tinygraph reads an index as PyTorch does, shared by indexing (getitem) and writing (setitem, add_at)."""
import numpy as np


def copied(index):
    """The index with each array in it copied (ints, slices, None and Ellipsis are immutable).

    A 0-d integer array (a 0-d index tensor, labels[0]) becomes an int: PyTorch reads it as one, a
    basic index, where NumPy would make it an array that moves the other arrays' axes to the front.
    """
    if isinstance(index, tuple):
        return tuple(_copied_part(p) for p in index)
    return _copied_part(index)


def _copied_part(part):
    if not isinstance(part, np.ndarray):
        return part
    if part.ndim == 0 and part.dtype.kind in "iu":
        return int(part)
    return np.array(part)


def as_pytorch_reads_it(index, ndim: int) -> tuple:
    """The index as one or two NumPy indexing steps that give PyTorch's result.

    NumPy and PyTorch agree except when integers and index arrays meet: PyTorch selects with the
    integers first (they are basic indexing there) and only then applies the arrays, while NumPy
    treats the integers as arrays too, which can move the arrays' axes to the front.
    """
    parts = index if isinstance(index, tuple) else (index,)
    arrays = [p for p in parts if isinstance(p, np.ndarray) and p.ndim > 0]
    integers = [p for p in parts if isinstance(p, (int, np.integer)) and not isinstance(p, bool)]
    if not arrays or not integers:
        return (index,)
    consumed = sum(1 if isinstance(p, (slice, int, np.integer)) or (isinstance(p, np.ndarray) and p.ndim == 0)
                   else p.ndim if isinstance(p, np.ndarray) and p.dtype == bool
                   else 1 if isinstance(p, np.ndarray) else 0 for p in parts)
    first, second = [], []                        # integers and slices, then the arrays on what is left
    for p in parts:
        if p is None or isinstance(p, slice):
            first.append(p)
            second.append(slice(None))
        elif p is Ellipsis:
            first.append(p)
            second.extend([slice(None)] * (ndim - consumed))
        elif isinstance(p, np.ndarray) and p.ndim > 0:
            first.extend([slice(None)] * (p.ndim if p.dtype == bool else 1))
            second.append(p)
        else:                                     # an integer: PyTorch selects it away now
            first.append(p)
    return tuple(first), tuple(second)


def added_at(g: np.ndarray, steps: tuple, shapes: list) -> np.ndarray:
    """zeros of shapes[0], then [i] += g through each indexing step (np.add.at: repeats add up), the
    last step first: x[i]'s backward, and the add_at op's forward. shapes[k] is step k's input shape."""
    for step, shape in zip(reversed(steps), reversed(shapes)):
        grad_in = np.zeros(shape, dtype=g.dtype)
        np.add.at(grad_in, step, g)
        g = grad_in
    return g
