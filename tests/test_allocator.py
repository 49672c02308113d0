"""reuse_freed_memory: after it, a large array freed and allocated again is not faulted in afresh."""

import resource
import sys

import numpy as np
import pytest

from platonic.allocator import reuse_freed_memory


def _faults_of_a_fresh_array(n_bytes: int) -> int:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    array = np.ones(n_bytes // 8)  # written in full: every page is touched
    del array
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt is glibc's")
def test_freed_large_blocks_are_reused_without_page_faults():
    assert reuse_freed_memory() is True
    n_bytes = 256 * 2**20  # far above glibc's largest mmap threshold (32 MiB)
    _faults_of_a_fresh_array(n_bytes)  # the heap grows once
    # 256 MiB in 4 KiB pages is 65,536 faults (128 in huge pages); reused heap memory needs none
    assert _faults_of_a_fresh_array(n_bytes) < 64
