"""Keep the memory of freed large arrays in the process instead of handing it back to the kernel.

glibc serves every allocation above its mmap threshold (at most 32 MB) with a fresh ``mmap`` and
gives it back with ``munmap`` when freed, so each new temporary array of that size is faulted in and
zeroed by the kernel again, page by page (and, with transparent huge pages, may wait for memory
compaction). The metric stages allocate and free such arrays thousands of times (a float64 copy of
a 347,602 x 128 embedding is 356 MB): in the full-MP-20 study the kernel's share was 823 of 5,618
CPU seconds. :func:`reuse_freed_memory` tells glibc to serve large blocks from the heap and to keep
freed heap memory for the next allocation (``mallopt(M_MMAP_MAX, 0)``, ``mallopt(M_TRIM_THRESHOLD,
2 GiB - 1)``). It changes no number, only where the bytes come from; resident memory can stay up to
the trim threshold above what is in use. The command line calls it once per invocation; a Python
caller running a long study can call it too. On a C library without ``mallopt`` it does nothing
and says so in its return value.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

logger = logging.getLogger(__name__)

#: glibc's malloc.h parameter numbers.
M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4
#: Free memory at the top of the heap kept for reuse (mallopt takes a C int).
TRIM_THRESHOLD = 2**31 - 1


def reuse_freed_memory() -> bool:
    """Serve large allocations from the heap and keep freed memory (glibc); True if both were set."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        logger.debug("no mallopt in this C library: large arrays keep being mapped and unmapped")
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
