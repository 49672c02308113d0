"""Progress reporting shared by the pipeline stages.

Stages report through the small :class:`Progress` protocol so that they do not depend on rich.
On a terminal the CLI uses rich bars; when output is not a terminal (batch logs) rich only prints
the final bar, so :class:`PlainProgress` writes a line every few seconds instead.
"""

from __future__ import annotations

import sys
import time
from typing import Protocol, TextIO


class Progress(Protocol):
    def start(self, label: str, total: int, unit: str) -> None: ...
    def advance(self, n: int) -> None: ...
    def finish(self) -> None: ...


def rate_text(done: int, seconds: float, unit: str) -> str:
    """``"120 atoms/s"``, or for less than one per second ``"14.2 s/stage"`` (never ``"0 stages/s"``);
    empty before the first unit is done."""
    if done <= 0 or seconds <= 0:
        return ""
    rate = done / seconds
    if rate >= 1:
        return f"{rate:.0f} {unit}/s"
    singular = unit[:-1] if unit.endswith("s") else unit
    return f"{seconds / done:.1f} s/{singular}"


class NullProgress:
    def start(self, label: str, total: int, unit: str) -> None:
        pass

    def advance(self, n: int) -> None:
        pass

    def finish(self) -> None:
        pass


class PlainProgress:
    """Periodic plain lines: ``label: done/total unit (rate unit/s)``."""

    def __init__(self, stream: TextIO | None = None, every_seconds: float = 10.0):
        self.stream = stream if stream is not None else sys.stderr
        self.every = every_seconds

    def start(self, label: str, total: int, unit: str) -> None:
        self.label, self.total, self.unit = label, total, unit
        self.done = 0
        self.printed = -1
        self.t0 = self.last = time.perf_counter()

    def _line(self) -> None:
        if self.done == self.printed:  # the periodic line already said it
            return
        self.printed = self.done
        rate = rate_text(self.done, time.perf_counter() - self.t0, self.unit)
        print(f"{self.label}: {self.done}/{self.total} {self.unit}" + (f" ({rate})" if rate else ""),
              file=self.stream, flush=True)

    def advance(self, n: int) -> None:
        self.done += n
        now = time.perf_counter()
        if now - self.last >= self.every:
            self.last = now
            self._line()

    def finish(self) -> None:
        self._line()


class RichProgress:
    """A rich bar per task, with rate."""

    def __init__(self, stream: TextIO | None = None):
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress as _Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._bars = _Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[unit]}"),
            TextColumn("[cyan]{task.fields[rate]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=Console(file=stream if stream is not None else sys.stderr),
        )
        self._task = None

    def start(self, label: str, total: int, unit: str) -> None:
        if self._task is None:
            self._bars.start()
        self._unit = unit
        self._t0 = time.perf_counter()
        self._done = 0
        self._task = self._bars.add_task(label, total=total, unit=unit, rate="")

    def advance(self, n: int) -> None:
        self._done += n
        self._bars.update(self._task, advance=n, rate=rate_text(self._done, time.perf_counter() - self._t0, self._unit))

    def finish(self) -> None:
        self._bars.refresh()

    def close(self) -> None:
        if self._task is not None:
            self._bars.stop()


def make_progress(enabled: bool | None = None, stream: TextIO | None = None) -> Progress:
    """Rich bars on a terminal, plain periodic lines otherwise; nothing when disabled. ``stream``:
    where they go (default ``sys.stderr``)."""
    if enabled is False:
        return NullProgress()
    stream = stream if stream is not None else sys.stderr
    if stream.isatty():
        return RichProgress(stream)
    return PlainProgress(stream)
