"""The process group: MPI's COMM_WORLD through mpi4py, started on first use.

    from tinygraph import distributed as dist
    dist.init()                                  # under `mpiexec -n 4 python train.py`
    dist.all_reduce(array, op="mean")            # in place, on every rank

mpi4py is imported only when one of these functions is first called, so `import tinygraph` never
loads MPI. Arrays move without copies when they are contiguous NumPy arrays (a Tensor's `.data`
is one). Collectives must be called in the same order on every rank, as MPI requires.
"""
from __future__ import annotations

import os
import sys
import time
from typing import Any

import numpy as np

INSTALL_HINT = "pip install 'tinygraph[dist]'"
# What launchers put in each process's environment: MPICH's Hydra, Open MPI, PMIx, Slurm.
LAUNCHER_SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "SLURM_NTASKS")

_mpi_module = None


class DistributedUnavailableError(RuntimeError):
    """mpi4py, or the MPI library it loads, is missing: install the dist extra."""


def _mpi():
    """mpi4py's MPI module, loaded (not yet initialised) on first use."""
    global _mpi_module
    if _mpi_module is None:
        try:
            import mpi4py
            mpi4py.rc.initialize = False      # init() starts MPI; is_available() only loads the library
            mpi4py.rc.finalize = True         # ... and mpi4py finalises it at exit once started
            from mpi4py import MPI
        except (ImportError, RuntimeError, OSError) as error:
            raise DistributedUnavailableError(
                f"tinygraph.distributed needs MPI through mpi4py ({type(error).__name__}: {error}); "
                f"install both with: {INSTALL_HINT}") from None
        _mpi_module = MPI
    return _mpi_module


def is_available() -> bool:
    """Whether mpi4py and an MPI library can be loaded (nothing is started)."""
    try:
        _mpi()
    except DistributedUnavailableError:
        return False
    return True


def is_initialized() -> bool:
    return _mpi_module is not None and _mpi_module.Is_initialized() and not _mpi_module.Is_finalized()


def launched_world_size() -> int:
    """How many processes the launcher (mpiexec, srun) started, read from the environment; 1 outside one.

    Reading the environment needs no MPI, so a command can decide whether to start it.
    """
    for name in LAUNCHER_SIZE_VARIABLES:
        value = os.environ.get(name, "")
        if value.isdigit():
            return int(value)
    return 1


def init() -> None:
    """Start MPI (once; later calls do nothing). With several processes, an exception that nobody
    catches on one rank aborts every rank, instead of leaving the others waiting in a collective."""
    MPI = _mpi()
    if not MPI.Is_initialized():
        MPI.Init_thread(MPI.THREAD_FUNNELED)     # tinygraph's own threads never call MPI
        if MPI.COMM_WORLD.Get_size() > 1:
            sys.excepthook = _abort_on_uncaught(sys.excepthook)


# How long a failing rank waits after writing its error before it aborts the job: the launcher
# forwards each rank's stderr through a pipe, and an abort that comes first can cut the message off.
ABORT_GRACE_SECONDS = 0.5


def _abort_on_uncaught(previous):
    def excepthook(kind, value, traceback):
        # The one line first, in one write, so it arrives even if the traceback after it is cut off.
        sys.stderr.write(f"tinygraph.distributed: rank {rank()} failed: {kind.__name__}: {value}\n")
        sys.stderr.flush()
        previous(kind, value, traceback)
        abort(1)
    return excepthook


def _world():
    init()
    return _mpi_module.COMM_WORLD


def rank() -> int:
    """This process's index, 0 .. world_size() - 1 (starts MPI if needed)."""
    return _world().Get_rank()


def world_size() -> int:
    """How many processes take part (starts MPI if needed)."""
    return _world().Get_size()


def _contiguous(array: Any, what: str) -> np.ndarray:
    data = getattr(array, "data", array) if not isinstance(array, np.ndarray) else array
    if not isinstance(data, np.ndarray):
        raise TypeError(f"{what}: expected a NumPy array or a tensor, got {type(array).__name__}")
    if not (data.flags.c_contiguous and data.flags.writeable):
        raise ValueError(f"{what}: the array must be C-contiguous and writable, since it is updated in place "
                         f"(use np.ascontiguousarray first)")
    return data


def all_reduce(array: Any, op: str = "sum") -> np.ndarray:
    """Replace `array` (a NumPy array or a tensor's data), on every rank, by the sum or the mean over ranks."""
    if op not in ("sum", "mean"):
        raise ValueError(f"all_reduce: op must be 'sum' or 'mean', got {op!r}")
    data = _contiguous(array, "all_reduce")
    if op == "mean" and data.dtype.kind not in "fc":
        raise TypeError(f"all_reduce: op='mean' needs a floating-point array, got {data.dtype}")
    comm = _world()
    comm.Allreduce(_mpi_module.IN_PLACE, data, op=_mpi_module.SUM)
    if op == "mean":
        data /= comm.Get_size()
    return data


def broadcast(array: Any, root: int = 0) -> np.ndarray:
    """Overwrite `array` on every rank with rank `root`'s values (same shape and dtype everywhere)."""
    data = _contiguous(array, "broadcast")
    comm = _world()
    if not 0 <= root < comm.Get_size():
        raise ValueError(f"broadcast: root {root} is not a rank of this world of {comm.Get_size()}")
    comm.Bcast(data, root=root)
    return data


def barrier() -> None:
    """Wait until every rank has reached this call."""
    _world().Barrier()


def abort(status: int = 1) -> None:
    """End every process of the job now with `status` (MPI_Abort); used when one rank fails."""
    sys.stdout.flush()
    sys.stderr.flush()
    time.sleep(ABORT_GRACE_SECONDS)              # let the launcher forward what this rank just wrote
    _world().Abort(status)


def start_allreduce(buffer: np.ndarray):
    """A non-blocking in-place sum of `buffer` over ranks; `.Wait()` on the returned request finishes it.

    The buffer must stay untouched until then (MPI reads and writes it in the background).
    """
    return _world().Iallreduce(_mpi_module.IN_PLACE, buffer, op=_mpi_module.SUM)
