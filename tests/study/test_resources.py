"""Per-stage peak memory: the high-water mark sees an allocation and a reset forgets it."""

from __future__ import annotations

import mmap

import numpy as np
import pytest

from platonic.study import resources


def test_peak_sees_a_200_mib_allocation_and_a_reset_forgets_it():
    if resources.reset_peak() != "stage":
        pytest.skip("this kernel does not allow resetting the peak RSS (/proc/self/clear_refs)")
    before = resources.peak_rss_mib()
    # A fresh anonymous mapping, not the heap: once a command has run in this process, the
    # allocator reuses freed heap pages that are already resident (platonic.allocator).
    mapping = mmap.mmap(-1, 200 * 1024 * 1024)
    pages = np.frombuffer(mapping, dtype=np.uint8)
    pages[:] = 1  # touched pages: 200 MiB resident
    del pages
    mapping.close()
    peak = resources.peak_rss_mib()
    assert peak - before >= 190
    resources.reset_peak()
    assert resources.peak_rss_mib() < peak - 150
