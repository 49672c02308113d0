"""A whole study, stage by stage: wall time, CPU time and peak memory of `platonic run`.

Runs ``platonic run`` (the real command, in a subprocess) on a study file or ``--n``, then reads
what the run recorded in ``manifest.json``: per stage the wall seconds, this process's CPU seconds
(all its threads; worker processes of the Ray engine or of isolated environments are not in it)
and the stage's own peak RSS (the kernel's high-water mark, reset before each stage; see
:mod:`platonic.study.resources`). Also the load average before and after, since wall times on a
shared machine mean little without it: on a machine with other work, read the CPU column.

Writes the table as Markdown to stdout (and ``--markdown FILE``). Usage::

    python benchmarks/study.py --n 30 --out /tmp/quick          # the quick look
    python benchmarks/study.py --config runs/full3.toml --out runs/full3
    python benchmarks/study.py --out runs/default --reuse       # table of a finished run only
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path


def stage_table(manifest: dict) -> str:
    """Markdown table of the stages a manifest records (reused stages show when they were computed)."""
    lines = ["| stage | status | wall s | CPU s | peak RSS MiB | summary |", "|---|---|---|---|---|---|"]
    for stage in manifest["stages"]:
        cells = [stage["name"], stage.get("status", ""),
                 _number(stage.get("seconds"), 1), _number(stage.get("cpu_seconds"), 1),
                 _number(stage.get("peak_rss_mib"), 0), str(stage.get("summary", "")).replace("|", "/")[:80]]
        lines.append("| " + " | ".join(cells) + " |")
    ran = [s for s in manifest["stages"] if s.get("ran")]
    total_cpu = sum(s.get("cpu_seconds") or 0.0 for s in ran)
    lines.append(f"\nstudy total {_number(manifest.get('total_seconds'), 1)} s wall, {total_cpu:.1f} s CPU in the "
                 f"stages that ran; peak RSS {_number(manifest.get('peak_rss_mib'), 0)} MiB; "
                 f"{manifest['dataset'].get('structures')} structures, {manifest['dataset'].get('atoms')} atoms, "
                 f"{len(manifest['models'])} models")
    return "\n".join(lines)


def _number(value, digits: int) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="study file (TOML)")
    parser.add_argument("--n", help="structures (overrides the study file); 'all' for every one")
    parser.add_argument("--out", required=True, help="study directory")
    parser.add_argument("--reuse", action="store_true", help="do not run; tabulate the manifest in --out")
    parser.add_argument("--markdown", help="also write the table here")
    args = parser.parse_args(argv)
    out = Path(args.out)
    load_before = os.getloadavg()
    if not args.reuse:
        command = [sys.executable, "-m", "platonic.cli", "run", "--out", str(out), "--no-progress"]
        command += ["--config", args.config] if args.config else []
        command += ["--n", args.n] if args.n else []
        t0 = time.perf_counter()
        completed = subprocess.run(command)
        print(f"platonic run exited {completed.returncode} after {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        if completed.returncode not in (0, 1):  # 1: a stage failed; the manifest says which
            return completed.returncode
    manifest_path = out / "manifest.json"
    if not manifest_path.exists():
        print(f"{manifest_path}: no manifest (the study did not start)", file=sys.stderr)
        return 2
    table = stage_table(json.loads(manifest_path.read_text()))
    table += (f"\nload average (1 min) {load_before[0]:.2f} before, {os.getloadavg()[0]:.2f} after; "
              f"{os.cpu_count()} CPUs")
    print(table)
    if args.markdown:
        Path(args.markdown).write_text(table + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
