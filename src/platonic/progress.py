"""Progress reporting shared by the pipeline stages.

Stages report through the small :class:`Progress` protocol so that they do not depend on rich.
On a terminal the CLI uses rich bars; when output is not a terminal (batch logs) rich only prints
the final bar, so :class:`PlainProgress` writes a line every few seconds instead, with the rate
and the time left at that rate.

Tasks nest: ``start`` opens a task inside the open one, ``finish`` closes it and ``advance``
counts for the innermost open task. So a stage reports its own steps (``compare: 12/66
steps``) while the study's ``study stages`` task stays open around it. A task whose steps differ
widely in cost is started with ``estimate=False``: it shows its count and elapsed time but no rate
or time left, which an average over such steps would get wrong (the study's stages: after the
first three, 1.5 min in, their mean said "ETA 3 min" of a study with 40 min to go).
"""

from __future__ import annotations

import sys
import time
from typing import Protocol, TextIO


class Progress(Protocol):
    def start(self, label: str, total: int, unit: str, estimate: bool = True) -> None: ...
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


def eta_text(done: int, total: int, seconds: float) -> str:
    """Time left at the mean rate so far: ``"ETA 4 min"``, ``"ETA 35 s"``; empty before the first
    unit or after the last."""
    if done <= 0 or done >= total or seconds <= 0:
        return ""
    left = seconds / done * (total - done)
    return f"ETA {left / 60:.0f} min" if left >= 120 else f"ETA {left:.0f} s"


class NullProgress:
    def start(self, label: str, total: int, unit: str, estimate: bool = True) -> None:
        pass

    def advance(self, n: int) -> None:
        pass

    def finish(self) -> None:
        pass


class PlainProgress:
    """Periodic plain lines: ``label: done/total unit (rate, ETA)``."""

    def __init__(self, stream: TextIO | None = None, every_seconds: float = 10.0):
        self.stream = stream if stream is not None else sys.stderr
        self.every = every_seconds
        self._open: list[dict] = []

    def start(self, label: str, total: int, unit: str, estimate: bool = True) -> None:
        now = time.perf_counter()
        self._open.append({"label": label, "total": total, "unit": unit, "done": 0, "printed": -1, "t0": now,
                           "estimate": estimate})
        self.last = now

    def _line(self, task: dict) -> None:
        if task["done"] == task["printed"]:  # the periodic line already said it
            return
        task["printed"] = task["done"]
        seconds = time.perf_counter() - task["t0"]
        extra = ([text for text in (rate_text(task["done"], seconds, task["unit"]),
                                    eta_text(task["done"], task["total"], seconds)) if text]
                 if task["estimate"] else [f"{seconds / 60:.0f} min elapsed" if seconds >= 120 else f"{seconds:.0f} s elapsed"])
        print(f"{task['label']}: {task['done']}/{task['total']} {task['unit']}"
              + (f" ({', '.join(extra)})" if extra else ""), file=self.stream, flush=True)

    def advance(self, n: int) -> None:
        if not self._open:
            return
        self._open[-1]["done"] += n
        now = time.perf_counter()
        if now - self.last >= self.every:
            self.last = now
            self._line(self._open[-1])

    def finish(self) -> None:
        if self._open:
            self._line(self._open.pop())


class RichProgress:
    """A rich bar per task (nested tasks: one bar each), with rate and time left."""

    def __init__(self, stream: TextIO | None = None):
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress as _Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self._bars = _Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[unit]}"),
            TextColumn("[cyan]{task.fields[rate]}"),
            TimeElapsedColumn(),
            _time_left_column(),
            console=Console(file=stream if stream is not None else sys.stderr),
        )
        self._open: list[dict] = []
        self._started = False

    def start(self, label: str, total: int, unit: str, estimate: bool = True) -> None:
        if not self._started:
            self._bars.start()
            self._started = True
        self._open.append({"task": self._bars.add_task(label, total=total, unit=unit, rate="", estimate=estimate),
                           "unit": unit, "t0": time.perf_counter(), "done": 0, "estimate": estimate})

    def advance(self, n: int) -> None:
        if not self._open:
            return
        task = self._open[-1]
        task["done"] += n
        rate = rate_text(task["done"], time.perf_counter() - task["t0"], task["unit"]) if task["estimate"] else ""
        self._bars.update(task["task"], advance=n, rate=rate)

    def finish(self) -> None:
        if self._open:
            self._open.pop()
        self._bars.refresh()

    def close(self) -> None:
        if self._started:
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


def _time_left_column():
    from rich.progress import TimeRemainingColumn
    from rich.text import Text

    class TimeLeft(TimeRemainingColumn):
        """rich's time left, blank for a task started with ``estimate=False``."""

        def render(self, task):
            return super().render(task) if task.fields.get("estimate", True) else Text("")

    return TimeLeft()
