"""keep_freed_memory(): let the C allocator reuse a training step's arrays instead of page-faulting them back.

Every step allocates the same large arrays again (im2col columns, activations, gradients). By
default glibc hands freed memory at the top of its heap back to the operating system once more than
about twice the largest recent allocation is free, and the next step faults those pages back in,
each one zero-filled by the kernel. On config B of tools/bench.py that is ~4,000 page faults and
close to half of the step. This module only changes the allocator when asked: importing tinygraph
changes nothing.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import sys

# glibc's mallopt() parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD_MAX = 32 * 2**20      # glibc refuses larger values on 64-bit systems


def keep_freed_memory(megabytes: int = 1024) -> bool:
    """Keep up to `megabytes` of freed memory in the process for reuse, instead of returning it to the OS.

    Sets glibc's trim threshold to `megabytes`, and its mmap threshold to 32 MB so that arrays up
    to that size come from the reusable heap (larger ones are still mapped and unmapped each time).
    The cost is resident memory: up to `megabytes` stays allocated after the arrays are freed.
    Affects the whole process (NumPy, PyTorch, everything), like the MALLOC_TRIM_THRESHOLD_ and
    MALLOC_MMAP_THRESHOLD_ environment variables. Returns False, changing nothing, where the C
    library is not glibc (macOS, Windows, musl).
    """
    if not isinstance(megabytes, int) or isinstance(megabytes, bool) or megabytes < 0:
        raise ValueError(f"keep_freed_memory: megabytes must be a non-negative int, got {megabytes!r}")
    mallopt = _glibc_mallopt()
    if mallopt is None:
        return False
    trim = min(megabytes * 2**20, 2**31 - 1)          # mallopt takes a C int
    return bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_MAX)) and bool(mallopt(_M_TRIM_THRESHOLD, trim))


def _glibc_mallopt():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        gnu_get_libc_version = libc.gnu_get_libc_version     # only glibc has it
    except (OSError, AttributeError):
        return None
    del gnu_get_libc_version
    mallopt = libc.mallopt
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return mallopt
