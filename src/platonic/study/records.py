"""What a study records of its stages, and the runner that reuses a stage whose key is unchanged.

Each stage's result sits beside two files in ``results/``: ``.<stage>.key`` (a hash of everything
the result depends on, written last, so an interrupted stage is redone) and ``.<stage>.record.json``
(seconds, summary, skips, peak memory and CPU seconds of the run that computed it, which a reuse
reports). :mod:`platonic.study.pipeline` decides the keys.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from platonic.errors import NotApplicableError, PlatonicError
from platonic.study import resources


@dataclass
class StageRecord:
    """One stage of a study. ``seconds``: how long the stage took when it was computed (for a reused
    stage, in the run that computed it; None if that run predates the record). ``skipped``: analyses
    of the stage that did not apply to the data, name -> reason. ``error``: type and message of a
    failure."""

    name: str
    key: str
    ran: bool
    seconds: float | None
    summary: str = ""
    status: str = "done"
    skipped: dict[str, str] = field(default_factory=dict)
    error: dict[str, str] | None = None
    peak_rss_mib: float | None = None
    peak_rss_scope: str | None = None
    cpu_seconds: float | None = None


class StudyFailed(PlatonicError, RuntimeError):
    """A stage of the study raised; the manifest and the report record what ran and the failure
    (a runtime failure: the command line exits with ``exit_code`` 1, not as bad input)."""

    exit_code = 1

    def __init__(self, out: Path, record: StageRecord):
        self.record = record
        super().__init__(f"stage {record.name} failed: {record.error['type']}: {record.error['message']}. "
                         f"{out / 'report.html'} and {out / 'manifest.json'} record what ran")


@dataclass
class StudyResult:
    out: Path
    store: Path
    records: list[StageRecord] = field(default_factory=list)

    def ran(self) -> list[str]:
        return [r.name for r in self.records if r.ran]

    def skipped(self) -> list[dict[str, str]]:
        """Every analysis (or whole stage) that did not apply to the data, with the reason."""
        return [{"stage": r.name, "analysis": name, "reason": reason} for r in self.records
                for name, reason in r.skipped.items()]

    def failure(self) -> dict[str, str] | None:
        return next(({"stage": r.name} | r.error for r in self.records if r.error), None)


def stage_key(*parts) -> str:
    """The first 16 hex digits of SHA-256 over the canonical JSON of ``parts`` (what a result depends on)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def failed_record(name: str, key: str, seconds: float, exc: BaseException) -> StageRecord:
    """The record of a stage that raised ``exc`` after ``seconds``."""
    return StageRecord(name, key, True, seconds, "failed", status="failed",
                       error={"type": type(exc).__name__, "message": str(exc)})


class StageRunner:
    """Runs one stage at a time under its key; ``log`` gets one line per stage (and per skip).

    ``work(skipped)`` computes the stage and returns a one-line summary; it records in the dict
    ``skipped`` the analyses that did not apply (name -> reason). Beside the key, a record
    (``.<stage>.record.json``: seconds, summary, skips) keeps what a reuse reports.
    """

    def __init__(self, results: Path, log: Callable[..., None], progress=None):
        self.results = results
        self.log = log
        self.progress = progress
        self.records: list[StageRecord] = []

    def _reusable(self, name: str, key: str, outputs: list[Path]) -> dict | None:
        key_file, record_file = self.results / f".{name}.key", self.results / f".{name}.record.json"
        if not (key_file.exists() and key_file.read_text() == key):
            return None
        record = json.loads(record_file.read_text()) if record_file.exists() else {}
        if record.get("status") != "skipped" and not all(p.exists() for p in outputs):
            return None
        return record

    def run(self, name: str, key: str, outputs: list[Path], work: Callable[[dict[str, str]], str]) -> None:
        previous = self._reusable(name, key, outputs)
        if previous is not None:
            record = StageRecord(name, key, False, previous.get("seconds"), previous.get("summary", "reused"),
                                 status="reused", skipped=previous.get("skipped", {}),
                                 peak_rss_mib=previous.get("peak_rss_mib"), peak_rss_scope=previous.get("peak_rss_scope"),
                                 cpu_seconds=previous.get("cpu_seconds"))
            self.records.append(record)
            self.log(f"{name}: up to date (reused)", stage=name, status="reused", seconds=record.seconds)
            self._log_skips(record)
            self._advance()
            return
        (self.results / f".{name}.key").unlink(missing_ok=True)
        skipped: dict[str, str] = {}
        scope = resources.reset_peak()
        t0, cpu0 = time.perf_counter(), time.process_time()
        try:
            summary, status = work(skipped), "done"
        except NotApplicableError as exc:
            summary, status, skipped = "not applicable", "skipped", skipped | {name: str(exc)}
        except Exception as exc:
            self.records.append(failed_record(name, key, time.perf_counter() - t0, exc))
            self.log(f"{name}: failed: {type(exc).__name__}: {exc}", stage=name, status="failed",
                     error=type(exc).__name__, error_message=str(exc))
            raise
        seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        peak = resources.peak_rss_mib()
        record = StageRecord(name, key, True, seconds, summary, status=status, skipped=skipped,
                             peak_rss_mib=peak, peak_rss_scope=scope, cpu_seconds=cpu)
        self.results.mkdir(parents=True, exist_ok=True)
        (self.results / f".{name}.record.json").write_text(
            json.dumps({"seconds": seconds, "summary": summary, "status": status, "skipped": skipped,
                        "peak_rss_mib": peak, "peak_rss_scope": scope, "cpu_seconds": cpu}))
        (self.results / f".{name}.key").write_text(key)
        self.records.append(record)
        self.log(f"{name}: {summary} ({seconds:.1f} s)", stage=name, status=status, seconds=seconds, summary=summary)
        self._log_skips(record)
        self._advance()

    def _log_skips(self, record: StageRecord) -> None:
        for analysis, reason in record.skipped.items():
            self.log(f"{record.name}: {analysis} skipped: {reason}", stage=record.name, status="skipped",
                     analysis=analysis, reason=reason)

    def _advance(self) -> None:
        if self.progress is not None:
            self.progress.advance(1)
