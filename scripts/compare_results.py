"""Compare the results of two studies (before / after a refactor): every CSV and parquet table.

    python scripts/compare_results.py runs/before runs/after

Each ``results/`` table found under the first study is read from both and compared value for
value (``pandas.testing.assert_frame_equal`` with ``check_exact=True``: not a tolerance, the same
numbers). Prints one line per table (``same``, ``DIFFERENT: ...`` or ``missing``) and exits 1
when any differs or is missing. Columns that are wall-clock times (``seconds``, ``*_s``) are
left out: they measure the machine, not the code.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

TIMING = ("seconds", "wall_s", "cpu_s", "time_s")


def _read(path: Path) -> pd.DataFrame:
    table = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    return table.drop(columns=[c for c in table.columns if c in TIMING or c.endswith("_seconds")])


def compare(before: Path, after: Path) -> list[tuple[str, str]]:
    """(relative path, verdict) for every table under ``before``'s results folders."""
    verdicts = []
    tables = sorted(p for p in before.rglob("*") if p.suffix in (".csv", ".parquet") and "results" in p.parts)
    for path in tables:
        relative = path.relative_to(before)
        other = after / relative
        if not other.exists():
            verdicts.append((str(relative), "missing"))
            continue
        try:
            pd.testing.assert_frame_equal(_read(path), _read(other), check_exact=True)
        except AssertionError as difference:
            verdicts.append((str(relative), "DIFFERENT: " + " ".join(str(difference).split())[:300]))
        else:
            verdicts.append((str(relative), "same"))
    return verdicts


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__)
        return 2
    verdicts = compare(Path(argv[0]), Path(argv[1]))
    for name, verdict in verdicts:
        print(f"{verdict.split(':')[0]:>9}  {name}" + (f"  {verdict}" if verdict.startswith("DIFF") else ""))
    bad = [v for v in verdicts if v[1] != "same"]
    print(f"{len(verdicts) - len(bad)} of {len(verdicts)} tables identical")
    return 1 if bad or not verdicts else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
