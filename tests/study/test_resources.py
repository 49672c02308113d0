"""Per-stage peak memory: the high-water mark sees an allocation and a reset forgets it."""

from __future__ import annotations

import numpy as np
import pytest

from platonic.study import resources


def test_peak_sees_a_200_mib_allocation_and_a_reset_forgets_it():
    if resources.reset_peak() != "stage":
        pytest.skip("this kernel does not allow resetting the peak RSS (/proc/self/clear_refs)")
    before = resources.peak_rss_mib()
    block = np.ones(200 * 1024 * 1024 // 8)  # touched pages: 200 MiB resident
    del block
    peak = resources.peak_rss_mib()
    assert peak - before >= 190
    resources.reset_peak()
    assert resources.peak_rss_mib() < peak - 150
