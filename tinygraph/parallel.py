"""Split an op's work over the batch axis and run the parts on all CPU cores.

Op files hold only the math. An op whose inputs carry a batch axis declares it in one `Split`
(`split = Split(over="x")`), and `run_forward` / `run_backward` — called by `apply` and by the
engine — run its forward and backward rules on slices of the batch in parallel: each part gets
its own context, the output is the parts' outputs joined along axis 0, the gradient of a batched
input is joined the same way, and the gradient of an input shared by the whole batch (a weight)
is the sum of the parts' gradients, as weight sharing demands.

A rule never sees this module's arrays: it takes the memory of what it returns from
`output_array` / `gradient_array`, which are the buffer pool when it runs in one piece and its
part's rows of the joined result when it runs on a part, so every part writes in place.

NumPy releases the GIL inside ufunc loops, copies and matrix products, so Python threads that
work on disjoint slices of the batch really run at once — what PyTorch does with OpenMP. Each
part writes its own slice of the joined output, so results do not depend on the timing.

Small arrays run in the calling thread: handing work to a thread costs tens of microseconds.
While a large op runs (even in one part), BLAS is held to one thread per call (with
threadpoolctl, when installed), so parts that each multiply matrices do not oversubscribe the
cores, and no OpenBLAS thread is left spinning after a product; OpenBLAS's own threads gain
little on the many small per-sample products of a convolution anyway.
"""
from __future__ import annotations

import contextlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Callable

import numpy as np

from tinygraph import buffers

# From this many elements on, even one part runs with BLAS held to one thread: a product big enough
# for OpenBLAS to use its threads leaves them spinning for a while afterwards, and they would then
# compete with the parts of the next parallel op for the cores (measured; see docs/performance.md).
MIN_ELEMENTS_ONE_BLAS_THREAD = 1 << 14
# A declared op is split into parts of at least this much work each (Op.batch_work: elements).
MIN_ELEMENTS_TO_SPLIT = 1 << 18

_lock = threading.Lock()
_section = threading.Lock()        # one parallel section at a time, so the BLAS limit nests cleanly
_executor: ThreadPoolExecutor | None = None
_executor_size = 0
_workers: int | None = None
_blas_libraries: list | None = None     # threadpoolctl controllers of the loaded BLAS libraries
_blas_lock = threading.Lock()
_blas_users = 0                         # ops inside _one_blas_thread() right now, in all threads
_blas_saved: list = []                  # the BLAS thread counts to restore when the last one leaves


def workers() -> int:
    """How many parts a large op is split into: `set_num_threads`, else the CPUs this process may use."""
    global _workers
    if _workers is None:
        try:
            _workers = len(os.sched_getaffinity(0))
        except AttributeError:             # not Linux
            _workers = os.cpu_count() or 1
    return _workers


def set_num_threads(count: int) -> None:
    """Split large ops over at most `count` threads (1: everything in the calling thread).

    Like torch.set_num_threads; BLAS inside the ops runs one thread per part either way.
    """
    global _workers
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise ValueError(f"set_num_threads: count must be an int >= 1, got {count!r}")
    _workers = count


def get_num_threads() -> int:
    """How many threads large ops are split over (see `set_num_threads`)."""
    return workers()


def _pool() -> ThreadPoolExecutor:
    """The worker threads (the calling thread does one part itself), grown if set_num_threads asks."""
    global _executor, _executor_size
    with _lock:
        size = max(workers() - 1, 1)
        if _executor is None or _executor_size < size:
            if _executor is not None:
                _executor.shutdown(wait=False)
            _executor = ThreadPoolExecutor(max_workers=size, thread_name_prefix="tinygraph")
            _executor_size = size
        return _executor


def _blas() -> list:
    global _blas_libraries
    if _blas_libraries is None:
        try:
            from threadpoolctl import ThreadpoolController
            # NumPy's own BLAS only: another library's copy (PyTorch's, say) is not ours to change.
            _blas_libraries = [lib for lib in ThreadpoolController().lib_controllers
                               if lib.user_api == "blas" and "numpy" in lib.filepath]
        except ImportError:
            _blas_libraries = []
    return _blas_libraries


@contextlib.contextmanager
def _one_blas_thread():
    """BLAS at one thread while any large op runs, in any thread; the process's own count after.

    The BLAS thread count is one process-wide setting: only the main thread changes it, the
    outermost section saving it and restoring it (a per-call save and restore in several threads
    raced: a second thread saved the first one's 1 and put it back for good).
    """
    global _blas_users, _blas_saved
    if threading.current_thread() is not threading.main_thread():
        # OpenBLAS ignores a thread-count increase asked for by another thread once the main
        # thread has set it, so a restore from here could leave the process at one thread.
        yield
        return
    libraries = _blas()
    # Direct calls (not threadpoolctl's limit() context, which costs several times more): this runs per op.
    with _blas_lock:
        if _blas_users == 0:
            _blas_saved = [lib.get_num_threads() for lib in libraries]
            for lib in libraries:
                lib.set_num_threads(1)
        _blas_users += 1
    try:
        yield
    finally:
        with _blas_lock:
            _blas_users -= 1
            if _blas_users == 0:
                for lib, count in zip(libraries, _blas_saved):
                    lib.set_num_threads(count)


def _forget_pool_after_fork() -> None:
    # A forked child inherits the executor object but not its threads (and maybe a lock held by
    # one of them): start afresh.
    global _executor, _section, _blas_lock, _blas_users
    _executor = None
    _section = threading.Lock()
    _blas_lock = threading.Lock()
    _blas_users = 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_after_fork)


# ----------------------------------------------------------------- declared batch splits

class Split:
    """How an op's work may be split over the batch axis (axis 0): one declaration, read only here.

        split = Split(over="x")                          # relu, the pools: input x carries the batch
        split = Split(over="x", work=..., part_work_limit=1 << 19)     # conv2d

    over: the inputs whose axis 0 is a batch axis the output shares (sample n's output depends on
    their row n only; every other input, a weight, is shared by the whole batch, so its gradient is
    the sum of the parts'). work(*arrays): how much work these inputs make, in elements touched
    (decides how many parts pay off; default: the batched inputs' size). sliced(*arrays): which
    inputs to slice for these arrays, or None to run in one piece (default: the batched ones that
    have an axis 0). part_work_limit: at most this much work per part (None: no limit); an op whose
    rule makes scratch arrays in proportion to its batch (conv2d's windows) then runs as more parts
    than threads, each thread taking its share in turn, so the scratch stays small and warm in cache.
    """

    __slots__ = ("over", "work", "sliced", "part_work_limit")

    def __init__(self, over: str | tuple[str, ...], *, work: Callable[..., int] | None = None,
                 sliced: Callable[..., tuple[bool, ...] | None] | None = None, part_work_limit: int | None = None):
        self.over = (over,) if isinstance(over, str) else tuple(over)
        self.work, self.sliced, self.part_work_limit = work, sliced, part_work_limit

    def __repr__(self) -> str:
        return f"Split(over={self.over!r}, part_work_limit={self.part_work_limit!r})"


def output_array(shape: tuple[int, ...], dtype) -> np.ndarray:
    """Memory for the array a forward rule returns (out=output_array(...)): from the buffer pool, or,
    when the machinery runs the rule on one part of a batch, that part's rows of the joined output."""
    slot = getattr(_placement, "output", None)
    if slot is not None:
        _placement.output = None                    # one array per part: a second request is scratch
        rows = slot.rows(shape, dtype)
        if rows is not None:
            return rows
    return buffers.empty(shape, dtype)


def gradient_array(index: int, shape: tuple[int, ...], dtype) -> np.ndarray:
    """Memory for the gradient a backward rule returns for input `index`: from the buffer pool, or,
    when the machinery runs the rule on one part of a batch, that part's rows of the joined gradient."""
    slots = getattr(_placement, "gradients", None)
    if slots is not None and slots[index] is not None:
        slot, slots[index] = slots[index], None
        rows = slot.rows(shape, dtype)
        if rows is not None:
            return rows
    return buffers.empty(shape, dtype)


# Where output_array and gradient_array place the current thread's part (set around each part's rule).
_placement = threading.local()


class _Parts:
    """How forward ran split (kept on the op's Context for backward): the part boundaries, which inputs
    were sliced, and the shape and dtype of each sliced input."""

    __slots__ = ("bounds", "sliced", "inputs")

    def __init__(self, bounds: list[int], sliced: tuple[bool, ...], inputs: list):
        self.bounds, self.sliced, self.inputs = bounds, sliced, inputs


# Context.plan of an op that ran in one piece with BLAS held to one thread (its backward does too).
ONE_BLAS_THREAD = "one BLAS thread"


def _work(op, arrays) -> int:
    split = op.split
    if split.work is not None:
        return split.work(*arrays)
    work = 0
    for name, a in zip(op.arg_names, arrays):     # a loop: this runs for every declared op
        if a is not None and name in split.over:
            work += a.size
    return work


def _sliced(op, arrays) -> tuple[bool, ...] | None:
    split = op.split
    if split.sliced is not None:
        return split.sliced(*arrays)
    return tuple(name in split.over and a is not None and a.ndim > 0 for name, a in zip(op.arg_names, arrays))


def _split_plan(op, arrays) -> tuple[tuple[bool, ...], list[int]] | None | bool:
    """(which inputs are sliced, part boundaries); else True to run in one piece with BLAS held to one
    thread (work big enough to wake OpenBLAS's threads), False to just run it."""
    work = _work(op, arrays)
    limit = op.split.part_work_limit
    if (work < 2 * MIN_ELEMENTS_TO_SPLIT or workers() < 2) and (limit is None or work <= limit):
        return work >= MIN_ELEMENTS_ONE_BLAS_THREAD            # cheap arithmetic first: most ops are small
    sliced = _sliced(op, arrays)
    if not sliced or not any(sliced):
        return True
    lengths = {arrays[i].shape[0] for i, s in enumerate(sliced) if s}
    if len(lengths) != 1:
        return True
    (n,) = lengths
    parts = min(workers(), work // MIN_ELEMENTS_TO_SPLIT)
    if limit is not None:                  # more parts than threads: each thread takes its share in turn
        parts = max(parts, -(-work // limit))
    parts = min(parts, n)
    if parts < 2:
        return True
    return sliced, [n * i // parts for i in range(parts + 1)]


def run_forward(op, ctx, arrays: list, attrs: dict) -> np.ndarray:
    """op.forward(ctx, *arrays, **attrs), in parts over the batch when the op declares a Split."""
    plan = _split_plan(op, arrays) if op.split is not None else False
    if plan is False:
        return op.forward(ctx, *arrays, **attrs)
    if plan is True:
        ctx.plan = ONE_BLAS_THREAD
        with _one_blas_thread():
            return op.forward(ctx, *arrays, **attrs)
    sliced, bounds = plan
    contexts = [type(ctx)(ctx.needs_input_grad) for _ in bounds[1:]]
    joined = _Joined(bounds)               # made by the first part to ask for its output array

    def part(i: int) -> None:
        rows = slice(bounds[i], bounds[i + 1])
        inputs = [a[rows] if s else a for a, s in zip(arrays, sliced)]
        _placement.output = _Slot(joined, i)
        try:
            result = op.forward(contexts[i], *inputs, **attrs)
        finally:
            _placement.output = None
        joined.put(i, result)

    _in_parallel(part, len(contexts))
    # What forward set on the parts besides their saved values (stride, kernel, ...), on the whole
    # batch's context too, for a rule that runs on the whole batch (differentiable_backward). A value
    # that depends on the batch is the first part's: such a rule reads the batch from its inputs.
    for name, value in vars(contexts[0]).items():
        if name not in ("needs_input_grad", "saved"):
            setattr(ctx, name, value)
    ctx.parts = contexts
    ctx.plan = _Parts(bounds, sliced, [(a.shape, a.dtype) if s else None for a, s in zip(arrays, sliced)])
    ctx.saved = tuple(value for c in contexts for value in (c.saved or ()))
    return joined.array


def run_backward(op, ctx, grad_out: np.ndarray) -> tuple:
    """op.backward(ctx, grad_out), part by part when forward ran in parts."""
    plan = ctx.plan
    if plan is None:
        return op.backward(ctx, grad_out)
    if plan is ONE_BLAS_THREAD:
        with _one_blas_thread():
            return op.backward(ctx, grad_out)
    contexts, bounds, sliced = ctx.parts, plan.bounds, plan.sliced
    # δ of each batched input: one array of the input's shape and dtype, each part writing its rows
    # (a rule's gradient_array(i) is its rows; any other result is copied in by the part's thread).
    joined = [None if like is None else _Joined(bounds, buffers.empty(*like)) for like in plan.inputs]

    def part(i: int) -> tuple:
        _placement.gradients = [None if j is None else _Slot(j, i) for j in joined]
        try:
            grads = op.backward(contexts[i], grad_out[bounds[i]:bounds[i + 1]])
        finally:
            _placement.gradients = None
        for j, grad in zip(joined, grads):
            if j is not None and grad is not None:
                j.put(i, grad)
        return grads

    results = _in_parallel(part, len(contexts))
    grads = []
    for index, batched in enumerate(sliced):
        pieces = [r[index] for r in results]
        if any(p is None for p in pieces):
            grads.append(None)
        elif batched:
            grads.append(joined[index].array)
        else:                         # a weight shared by the whole batch: Σ over the parts
            grads.append(sum(pieces[1:], pieces[0]))
    return tuple(grads)


class _Joined:
    """The parts' results joined along axis 0: each part's rows written there by its rule (through
    output_array / gradient_array) or copied in by the part's own thread."""

    def __init__(self, bounds: list[int], array: np.ndarray | None = None):
        self.bounds = bounds
        self.array = array
        self._lock = threading.Lock()

    def rows(self, i: int, shape: tuple[int, ...], dtype) -> np.ndarray | None:
        """Part i's rows, if the part's array has this shape and dtype (the joined array made now if
        need be); None otherwise."""
        dtype = np.dtype(dtype)
        count = self.bounds[i + 1] - self.bounds[i]
        if len(shape) == 0 or shape[0] != count:
            return None
        with self._lock:
            if self.array is None:
                self.array = buffers.empty((self.bounds[-1],) + tuple(shape[1:]), dtype)
        if self.array.shape[1:] != tuple(shape[1:]) or self.array.dtype != dtype:
            return None
        return self.array[self.bounds[i]:self.bounds[i + 1]]

    def put(self, i: int, part) -> None:
        part = np.asarray(part)
        with self._lock:              # no part asked for its rows yet: the first to finish makes the array
            if self.array is None:
                self.array = buffers.empty((self.bounds[-1],) + part.shape[1:], part.dtype)
        rows = self.array[self.bounds[i]:self.bounds[i + 1]]
        if part.ctypes.data != rows.ctypes.data or part.shape != rows.shape:   # not written in place
            rows[...] = part


class _Slot:
    """Part i's place in a joined array, handed out once by output_array / gradient_array."""

    __slots__ = ("joined", "i")

    def __init__(self, joined: _Joined, i: int):
        self.joined, self.i = joined, i

    def rows(self, shape, dtype) -> np.ndarray | None:
        return self.joined.rows(self.i, tuple(shape), dtype)


def _in_parallel(work: Callable[[int], object], count: int) -> list:
    """[work(0), ..., work(count - 1)], on the pool's threads and this one, BLAS at one thread each.

    With more parts than threads, thread t runs parts t, t + threads, ... in turn.
    """
    threads = min(workers(), count)
    if threads < 2 or not _section.acquire(blocking=False):     # one thread, or another thread is mid-way
        with _one_blas_thread():
            return [work(i) for i in range(count)]
    try:
        results = [None] * count

        def share(first: int) -> None:
            for i in range(first, count, threads):
                results[i] = work(i)

        with _one_blas_thread():
            futures = [_pool().submit(share, t) for t in range(1, threads)]
            try:
                share(0)                               # the calling thread does its share too
            finally:
                wait(futures)                          # no part outlives the call, even on error
            for future in futures:
                future.result()                        # a part's exception, raised here
        return results
    finally:
        _section.release()
