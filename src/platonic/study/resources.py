"""Peak resident memory per stage, for the manifest and the benchmark.

Linux keeps a process's high-water mark of resident memory (``VmHWM`` in ``/proc/self/status``);
writing ``5`` to ``/proc/self/clear_refs`` resets it to the current RSS (Linux >= 4.0), so reading it
after a stage gives that stage's own peak. Where the reset is not allowed the mark covers the
process since it started, and :func:`reset_peak` says so: the record carries that scope instead
of passing a cumulative peak off as the stage's.

The reset is process-wide: what ``getrusage`` and ``/usr/bin/time -v`` report as the peak of a
``platonic run`` is afterwards only the last stage's. The manifest's ``peak_rss_mib`` (the largest
stage peak of the run) is the run's peak.
"""

from __future__ import annotations

import resource
import sys
from pathlib import Path

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def reset_peak() -> str:
    """Start a new measurement; returns its scope, ``"stage"`` or ``"process"`` (no reset possible)."""
    try:
        _CLEAR_REFS.write_text("5")
        return "stage"
    except OSError:
        return "process"


def peak_rss_mib() -> float:
    """The high-water mark of resident memory in MiB since the last reset (or the process start)."""
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    # getrusage reports kilobytes on Linux and bytes on macOS, and is never reset
    scale = 1024.0 * 1024.0 if sys.platform == "darwin" else 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale
