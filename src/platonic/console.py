"""Keeping the console for platonic's own output while third-party packages load and run models.

CHGNet, MACE, SevenNet and DIEP print banners, accelerator notices and warnings (some from
Python, some from C++ through the process's file descriptors). Inside :func:`captured_chatter`
file descriptors 1 and 2, ``sys.stdout``/``sys.stderr``, Python warnings and the root logger all go
to a log file; platonic writes its own results and diagnostics to the streams the context yields,
which are the original terminal (or whatever stdout/stderr were on entry).
"""

from __future__ import annotations

import io
import logging
import os
import sys
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, TextIO


@dataclass
class Streams:
    """Where platonic's own output goes while chatter is captured, and where the chatter went."""

    stdout: TextIO
    stderr: TextIO
    log: Path | None = None

    def chatter_lines(self) -> int:
        """Lines of third-party output captured so far (0 when nothing was captured)."""
        if self.log is None or not self.log.exists():
            return 0
        with open(self.log, "rb") as handle:
            return sum(1 for _ in handle)


def _fd_of(stream: TextIO) -> int | None:
    try:
        return stream.fileno()
    except (AttributeError, OSError, io.UnsupportedOperation, ValueError):
        return None


def _keep(stream: TextIO, fd: int) -> TextIO:
    """``stream`` itself, or, when it writes to ``fd`` (about to be redirected), a new stream on a
    duplicate of ``fd`` taken now, which still reaches the original destination."""
    if _fd_of(stream) != fd:
        return stream
    stream.flush()
    encoding = getattr(stream, "encoding", None) or "utf-8"
    return os.fdopen(os.dup(fd), "w", buffering=1, encoding=encoding, errors="replace")


def _flush_c_stdio() -> None:
    """Flush C stdio buffers so that C-level output written inside lands in the log, not later."""
    try:
        import ctypes

        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError):
        pass


@contextmanager
def captured_chatter(log_path: str | Path | None, enabled: bool = True) -> Iterator[Streams]:
    """Send everything third-party code prints (file descriptors 1 and 2, ``sys.stdout``,
    ``sys.stderr``, warnings, logging) to ``log_path`` (appended to; None: discarded) while inside.

    Yields the :class:`Streams` on which platonic's own output still reaches the user. With
    ``enabled=False`` nothing is captured and the current ``sys.stdout``/``sys.stderr`` are yielded.
    """
    if not enabled:
        yield Streams(sys.stdout, sys.stderr)
        return
    log_path = Path(log_path) if log_path is not None else None
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
    sink = open(log_path if log_path is not None else os.devnull, "a", buffering=1, encoding="utf-8",
                errors="replace")
    saved_sys = sys.stdout, sys.stderr
    kept = Streams(_keep(sys.stdout, 1), _keep(sys.stderr, 2), log_path)
    saved_fds = {}
    for fd in (1, 2):
        try:
            saved_fds[fd] = os.dup(fd)
        except OSError:  # no such descriptor (a daemon without a terminal)
            continue
        os.dup2(sink.fileno(), fd)
    root = logging.getLogger()
    handler = logging.StreamHandler(sink)
    saved_handlers = root.handlers[:]
    root.handlers = [handler]
    sys.stdout = sys.stderr = sink
    try:
        with warnings.catch_warnings():
            warnings.showwarning = lambda message, category, filename, lineno, file=None, line=None: sink.write(
                warnings.formatwarning(message, category, filename, lineno, line))
            yield kept
    finally:
        _flush_c_stdio()
        sink.flush()
        sys.stdout, sys.stderr = saved_sys
        root.handlers = saved_handlers
        for fd, saved in saved_fds.items():
            os.dup2(saved, fd)
            os.close(saved)
        sink.close()
        for stream, original in ((kept.stdout, saved_sys[0]), (kept.stderr, saved_sys[1])):
            if stream is not original:
                stream.close()
