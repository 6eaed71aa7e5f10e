"""PyTorch's tensor factories: tg.zeros(2, 3), tg.arange(5), tg.randn(4, generator=g), tg.ones_like(x), ...

Signatures and dtype rules are PyTorch's: sizes as `*size` or one tuple; floating results are
float32 unless `dtype=` says otherwise; `arange` and `full` infer int64 from integer arguments,
`full` bool from a bool. `device=` accepts the CPU only (see tinygraph.dtypes). Random factories
draw from `generator=` (a numpy.random.Generator) or else from tinygraph.random's default
generator, which `tg.manual_seed` seeds; their values are not PyTorch's, their distributions are.
"""
from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from tinygraph.dtypes import DEFAULT_FLOAT, as_dtype, check_device, int64
from tinygraph.grad_mode import STATE
from tinygraph.random import default_generator
from tinygraph.tensor import Tensor, from_numpy

__all__ = ["zeros", "ones", "full", "empty", "arange", "linspace", "eye", "rand", "randn", "randint",
           "zeros_like", "ones_like", "full_like", "empty_like", "rand_like", "randn_like", "randint_like"]


# ----------------------------------------------------------------------------- constant values
def zeros(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return _made(np.zeros(_size("zeros", size), _dtype("zeros", dtype)), "zeros", device, requires_grad)


def ones(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return _made(np.ones(_size("ones", size), _dtype("ones", dtype)), "ones", device, requires_grad)


def empty(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Uninitialised values, as torch.empty (NumPy's np.empty)."""
    return _made(np.empty(_size("empty", size), _dtype("empty", dtype)), "empty", device, requires_grad)


def full(size, fill_value, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Every element fill_value; dtype from it when not given: bool, int64, or float32."""
    if dtype is None:
        dtype = _inferred("full", fill_value)
    return _made(np.full(_size("full", (size,)), fill_value, _dtype("full", dtype)), "full", device, requires_grad)


def eye(n: int, m: int | None = None, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """The n×m identity (m = n by default)."""
    rows, columns = _size("eye", (n, n if m is None else m))
    return _made(np.eye(rows, columns, dtype=_dtype("eye", dtype)), "eye", device, requires_grad)


# ----------------------------------------------------------------------------- ranges
def arange(start, end=None, step=1, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """start, start + step, … up to (not including) end: ⌈(end − start) / step⌉ values; int64 if all are ints."""
    if end is None:
        start, end = 0, start
    bounds = [_number("arange", name, v) for name, v in (("start", start), ("end", end), ("step", step))]
    start, end, step = bounds
    if step == 0:
        raise ValueError("arange: step must be nonzero")
    if (end - start) * step < 0:
        raise ValueError(f"arange: upper bound and lower bound inconsistent with step sign "
                         f"(start={start}, end={end}, step={step})")
    if dtype is None:
        dtype = int64 if all(isinstance(v, numbers.Integral) for v in bounds) else DEFAULT_FLOAT
    dtype = _dtype("arange", dtype)
    count = math.ceil((end - start) / step)
    if dtype.kind in "biu" and all(isinstance(v, numbers.Integral) for v in bounds):
        values = start + step * np.arange(count, dtype=np.int64)      # exact beyond 2**53
    else:
        values = start + step * np.arange(count, dtype=np.float64)    # in double, then cast, as PyTorch
    return _made(values.astype(dtype), "arange", device, requires_grad)


def linspace(start, end, steps: int, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """steps evenly spaced values from start to end, both included.

    Computed from both ends in double, as PyTorch: the first half start + i·δ, the second end − (steps−1−i)·δ.
    """
    steps = _count("linspace", "steps", steps)
    start, end = _number("linspace", "start", start), _number("linspace", "end", end)
    dtype = _dtype("linspace", dtype)
    i = np.arange(steps, dtype=np.float64)
    delta = (end - start) / (steps - 1) if steps > 1 else 0.0
    values = np.where(i < steps // 2, start + i * delta, end - (steps - 1 - i) * delta)
    if dtype.kind in "iu":
        values = np.trunc(values)
    return _made(values.astype(dtype), "linspace", device, requires_grad)


# ----------------------------------------------------------------------------- random
def rand(*size, generator: np.random.Generator | None = None, dtype=None, device=None,
         requires_grad: bool = False) -> Tensor:
    """Uniform on [0, 1)."""
    shape, dtype = _size("rand", size), _floating("rand", dtype)
    values = _generator("rand", generator).random(shape, dtype=_draw_dtype(dtype))
    return _made(values.astype(dtype, copy=False), "rand", device, requires_grad)


def randn(*size, generator: np.random.Generator | None = None, dtype=None, device=None,
          requires_grad: bool = False) -> Tensor:
    """Standard normal: mean 0, variance 1."""
    shape, dtype = _size("randn", size), _floating("randn", dtype)
    values = _generator("randn", generator).standard_normal(shape, dtype=_draw_dtype(dtype))
    return _made(values.astype(dtype, copy=False), "randn", device, requires_grad)


def randint(*args, size=None, generator: np.random.Generator | None = None, dtype=None, device=None,
            requires_grad: bool = False) -> Tensor:
    """randint(high, size) or randint(low, high, size): integers uniform on [low, high), int64 by default."""
    args = list(args)
    if size is None:
        if not args or not isinstance(args[-1], (tuple, list)):
            raise TypeError("randint: give size as a tuple: randint(high, size) or randint(low, high, size)")
        size = args.pop()
    if len(args) == 1:
        low, high = 0, args[0]
    elif len(args) == 2:
        low, high = args
    else:
        raise TypeError(f"randint: expected randint(high, size) or randint(low, high, size), got {len(args)} bounds")
    low, high = int(low), int(high)
    if low >= high:
        raise ValueError(f"randint: low must be below high, got low={low}, high={high}")
    dtype = _dtype("randint", int64 if dtype is None else dtype)
    values = _generator("randint", generator).integers(low, high, size=_size("randint", (size,)))
    return _made(values.astype(dtype), "randint", device, requires_grad)


# ----------------------------------------------------------------------------- _like
def zeros_like(input: Tensor, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return zeros(_shape(input), dtype=_like_dtype(input, dtype), device=device, requires_grad=requires_grad)


def ones_like(input: Tensor, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return ones(_shape(input), dtype=_like_dtype(input, dtype), device=device, requires_grad=requires_grad)


def empty_like(input: Tensor, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return empty(_shape(input), dtype=_like_dtype(input, dtype), device=device, requires_grad=requires_grad)


def full_like(input: Tensor, fill_value, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return full(_shape(input), fill_value, dtype=_like_dtype(input, dtype), device=device,
                requires_grad=requires_grad)


def rand_like(input: Tensor, *, generator: np.random.Generator | None = None, dtype=None, device=None,
              requires_grad: bool = False) -> Tensor:
    return rand(_shape(input), generator=generator, dtype=_like_dtype(input, dtype), device=device,
                requires_grad=requires_grad)


def randn_like(input: Tensor, *, generator: np.random.Generator | None = None, dtype=None, device=None,
               requires_grad: bool = False) -> Tensor:
    return randn(_shape(input), generator=generator, dtype=_like_dtype(input, dtype), device=device,
                 requires_grad=requires_grad)


def randint_like(input: Tensor, low: int = 0, high: int | None = None, *, generator: np.random.Generator | None = None,
                 dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """randint_like(x, high) or randint_like(x, low, high), with x's shape and dtype."""
    if high is None:
        low, high = 0, low
    return randint(low, high, _shape(input), generator=generator, dtype=_like_dtype(input, dtype), device=device,
                   requires_grad=requires_grad)


# ----------------------------------------------------------------------------- plumbing
def _made(array: np.ndarray, where: str, device, requires_grad: bool) -> Tensor:
    check_device(device, where)
    if requires_grad and array.dtype.kind != "f":
        raise RuntimeError(f"{where}: only floating point tensors can require gradients, got dtype {array.dtype}")
    array = array if array.flags.c_contiguous else array.copy()      # (ascontiguousarray makes 0-d 1-d)
    return from_numpy(array, requires_grad=bool(requires_grad))


def _size(where: str, size: tuple) -> tuple[int, ...]:
    """f(2, 3), f((2, 3)), f([2, 3]) and f(()) alike; every size a non-negative int."""
    if len(size) == 1 and isinstance(size[0], (tuple, list, Tensor, np.ndarray)):
        size = size[0]
        size = size.tolist() if isinstance(size, (Tensor, np.ndarray)) else size
    if isinstance(size, numbers.Integral):
        size = (size,)
    shape = []
    for n in size:
        if isinstance(n, (bool, np.bool_)) or not isinstance(n, (numbers.Integral, Tensor)):
            raise TypeError(f"{where}: sizes must be ints, got {n!r} of type {type(n).__name__} in {tuple(size)}")
        if int(n) < 0:
            raise RuntimeError(f"{where}: sizes must be non-negative, got {tuple(int(m) for m in size)}")
        shape.append(int(n))
    return tuple(shape)


def _dtype(where: str, dtype) -> np.dtype:
    return DEFAULT_FLOAT if dtype is None else as_dtype(dtype, where)


def _floating(where: str, dtype) -> np.dtype:
    dtype = _dtype(where, dtype)
    if dtype.kind != "f":
        raise TypeError(f"{where}: draws floating values; dtype {dtype} is not a floating dtype")
    return dtype


def _draw_dtype(dtype: np.dtype) -> np.dtype:
    """NumPy's generators draw float32 or float64; float16 is drawn as float32 and rounded."""
    return dtype if dtype in (np.float32, np.float64) else np.dtype(np.float32)


def _generator(where: str, generator) -> np.random.Generator:
    if STATE.recorder is not None:
        STATE.recorder.refuse(f"tg.{where} draws random numbers in Python, once, at recording; draw them "
                              "outside the step and pass them in (an op's own draws, as dropout's, are replayed)")
    if generator is None:
        return default_generator()
    if not isinstance(generator, np.random.Generator):
        raise TypeError(f"{where}: generator must be a numpy.random.Generator "
                        f"(np.random.default_rng(seed)), got {type(generator).__name__}")
    return generator


def _inferred(where: str, value) -> np.dtype:
    if isinstance(value, (bool, np.bool_)):
        return np.dtype(np.bool_)
    if isinstance(value, numbers.Integral):
        return int64
    if isinstance(value, numbers.Real):
        return DEFAULT_FLOAT
    raise TypeError(f"{where}: fill_value must be a number, got {type(value).__name__}")


def _number(where: str, name: str, value):
    if isinstance(value, Tensor):
        value = value.item()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{where}: {name} must be a number, got {value!r}")
    return value


def _count(where: str, name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"{where}: {name} must be a non-negative int, got {value!r}")
    return int(value)


def _shape(input) -> tuple[int, ...]:
    return tuple(input.shape) if isinstance(input, Tensor) else np.shape(input)


def _like_dtype(input, dtype):
    if dtype is not None:
        return dtype
    return input.dtype if isinstance(input, Tensor) else np.asarray(input).dtype
