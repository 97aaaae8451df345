"""Giving freed memory back to the operating system between large steps."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging

import pyarrow as pa

log = logging.getLogger(__name__)


@functools.cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name) if name else None
    except OSError:  # pragma: no cover - not glibc
        return None


def release_memory() -> None:
    """Return freed heap pages to the OS (glibc ``malloc_trim``; Arrow's unused memory).

    Cleaning millions of rows in threads leaves freed NumPy buffers in per-thread malloc
    arenas; without this the process keeps them, and the next source's peak adds up.
    """
    pa.default_memory_pool().release_unused()
    libc = _libc()
    trim = getattr(libc, "malloc_trim", None) if libc is not None else None
    if trim is not None:
        trim(0)
