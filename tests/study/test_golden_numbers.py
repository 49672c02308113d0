"""The default study's numbers do not change: every number of every CSV the tiny study writes,
against a committed reference (``tests/study/golden/tiny_study_numbers.csv``).

Each CSV under the study's ``results/`` folder is flattened into (file, row key, column) -> value:

* value columns: numeric and boolean columns (a boolean is 0 or 1; a column of booleans with
  blanks, as ``clears_null`` of ``metrics.csv``, counts as boolean);
* the row key: the row's other (text) columns joined with ``|``, plus ``#i``, the row's position
  among the rows with the same text, so that a reordering of rows is not a failure but a changed
  value is; a changed text (a formula, a model, a note) is a missing row and an extra row.

Two values agree when ``numpy.isclose(expected, actual, rtol=1e-7, atol=1e-9)``, NaN equal to
NaN, except in the three arithmetic tables (below). A missing or extra file, column or row is a
failure that names it; the failure lists the first 20 differences.

Left out, because they legitimately vary between runs and machines (the CSVs hold no paths,
versions, host names or dates; those are in ``manifest.json``, which is not a table):

* every timing column (a name ending in ``seconds``, ``wall_s``, ``cpu_s`` or ``time_s``; today
  ``select_seconds`` of ``anchor_diversity.csv``): wall-clock time measures the machine, not the code;
* the parquet tables: ``metrics.parquet`` holds the numbers of ``metrics.csv``, and
  ``unified_maps.parquet`` the 2-D map coordinates (10,640 values) that ``unified_maps_summary.csv``
  and ``unified_diversity.csv`` summarise; kept out to keep the reference small;
* the unified matrices (``unified/*.npy``), which every compared metric reads.

Compared with a looser tolerance (``rtol=1e-3, atol=1e-5``): ``analyse/arithmetic.csv``,
``arithmetic_wide.csv`` and ``arithmetic_stitch_null.csv``. They embed the case-study crystals
(BaO, TiO2, BaTiO3, ...) with the float32 models in the study's process, and torch's thread
count changes the order of those float32 sums: the same study with ``OMP_NUM_THREADS=1`` and 2
threads gave these tables up to 1.9e-5 relative (6.6e-7 absolute) apart, since a polymorph or
reaction difference of two near-equal vectors magnifies the float32 rounding, while every other
table was bit-identical (and two runs at one thread count are bit-identical throughout). CI runs
the tests with every core, the reference comes from one thread.

The reference holds for the platform recorded beside it (``tiny_study_numbers.platform.json``:
CPU, core count, vector extensions, and the versions of the numerical packages); elsewhere the comparison is
skipped with what differs (:data:`PLATFORM`).

When a change of the numbers is intended (a fix of a metric, a new default), regenerate the
reference with ``python scripts/update_golden_numbers.py`` (it runs the same ``TINY_STUDY``
config of ``conftest.py`` into a temporary folder) and say in the commit message which numbers
changed and why. Never regenerate it to make this test pass after a refactor that should not
change any number: that is the failure this test is here to show.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from platonic.results import Results

REFERENCE = Path(__file__).parent / "golden" / "tiny_study_numbers.csv"
#: Where the reference was made: the numerical libraries' versions and the CPU. Another CPU or
#: another release of these may round differently, and a rounding difference can tip a discrete
#: choice (an anchor, a neighbour, a ridge cutoff); the comparison is then skipped, saying what
#: differs, rather than failing on something that is not a change of ours.
PLATFORM = REFERENCE.with_suffix(".platform.json")
NUMERICAL_PACKAGES = ("numpy", "scipy", "scikit-learn", "torch", "pot", "spglib", "chgnet", "matgl")
RTOL, ATOL = 1e-7, 1e-9
#: Tables whose numbers depend on torch's thread count (see the module docstring): (rtol, atol).
THREAD_DEPENDENT = {name: (1e-3, 1e-5) for name in ("analyse/arithmetic.csv", "analyse/arithmetic_wide.csv",
                                                     "analyse/arithmetic_stitch_null.csv")}
SHOWN = 20

#: Columns that measure the machine (wall-clock time), not the code.
TIMING = re.compile(r"(seconds|wall_s|cpu_s|time_s)$")

#: Pseudo rows of the reference file: a file's columns (value 1: a value column, 0: a key
#: column) and its number of rows, so that an empty table, a dropped key column or a
#: changed row count is seen too.
COLUMN_ROW, COUNT_ROW = "<column>", "<rows>"


@dataclass
class Table:
    """One flattened CSV: its key and value columns in file order, and row key -> column -> value."""

    keys: list[str] = field(default_factory=list)
    values: list[str] = field(default_factory=list)
    rows: dict[str, dict[str, float]] = field(default_factory=dict)
    n_rows: int = 0


def _is_boolean(column: pd.Series) -> bool:
    present = column.dropna()
    return len(present) > 0 and all(isinstance(v, (bool, np.bool_)) for v in present)


def flatten_table(frame: pd.DataFrame) -> Table:
    """``frame`` as a :class:`Table` (timing columns left out; see the module docstring)."""
    frame = frame.drop(columns=[c for c in frame.columns if TIMING.search(str(c))])
    table = Table(n_rows=len(frame))
    for name in frame.columns:
        column = frame[name]
        numeric = pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column)
        (table.values if numeric or _is_boolean(column) else table.keys).append(str(name))
    seen: dict[str, int] = {}
    for record in frame.to_dict("records"):
        text = "|".join("" if _missing(record[k]) else str(record[k]) for k in table.keys)
        seen[text] = seen.get(text, -1) + 1
        table.rows[f"{text}#{seen[text]}"] = {c: _number(record[c]) for c in table.values}
    return table


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _number(value) -> float:
    return math.nan if _missing(value) or value is pd.NA else float(value)


def flatten_results(results: Path) -> dict[str, Table]:
    """Every CSV under ``results`` (its path relative to ``results``) -> :class:`Table`."""
    return {path.relative_to(results).as_posix(): flatten_table(pd.read_csv(path))
            for path in sorted(results.rglob("*.csv"))}


def to_long(tables: dict[str, Table]) -> pd.DataFrame:
    """The reference file's layout: one line per (file, row, column, value), pseudo rows included."""
    lines = []
    for name, table in tables.items():
        lines.append((name, COUNT_ROW, "", float(table.n_rows)))
        lines += [(name, COLUMN_ROW, c, 0.0) for c in table.keys] + [(name, COLUMN_ROW, c, 1.0) for c in table.values]
        lines += [(name, row, c, v) for row, cells in table.rows.items() for c, v in cells.items()]
    return pd.DataFrame(lines, columns=["file", "row", "column", "value"])


def from_long(frame: pd.DataFrame) -> dict[str, Table]:
    """The inverse of :func:`to_long`."""
    tables: dict[str, Table] = {}
    for name, row, column, value in frame.itertuples(index=False):
        table = tables.setdefault(name, Table())
        if row == COUNT_ROW:
            table.n_rows = int(value)
        elif row == COLUMN_ROW:
            (table.values if value == 1.0 else table.keys).append(column)
        else:
            table.rows.setdefault(row, {})[column] = value
    return tables


def write_reference(tables: dict[str, Table], path: Path) -> None:
    # Python's repr of a float is the shortest text that reads back to the same float ("nan", "inf" too)
    frame = to_long(tables)
    frame["value"] = [repr(float(value)) for value in frame["value"]]
    frame.to_csv(path, index=False)


def read_reference(path: Path) -> dict[str, Table]:
    frame = pd.read_csv(path, dtype={"file": str, "row": str, "column": str, "value": float},
                        keep_default_na=False, na_values={"value": ["nan"]})
    return from_long(frame)


def compare_numbers(expected: dict[str, Table], actual: dict[str, Table]) -> list[str]:
    """Every difference of ``actual`` from ``expected``, one sentence each, in file order."""
    found = [f"missing file {name}" for name in expected if name not in actual]
    found += [f"extra file {name}" for name in actual if name not in expected]
    for name in sorted(set(expected) & set(actual)):
        found += _compare_table(name, expected[name], actual[name])
    return found


def _compare_table(name: str, expected: Table, actual: Table) -> list[str]:
    want, have = expected.keys + expected.values, actual.keys + actual.values
    found = [f"{name}: missing column {c!r}" for c in want if c not in have]
    found += [f"{name}: extra column {c!r}" for c in have if c not in want]
    found += [f"{name}: column {c!r} was a value column, now a text (key) column" for c in expected.values if c in actual.keys]
    found += [f"{name}: column {c!r} was a text (key) column, now a value column" for c in expected.keys if c in actual.values]
    if expected.n_rows != actual.n_rows:
        found.append(f"{name}: {actual.n_rows} rows, expected {expected.n_rows}")
    found += [f"{name}: missing row {row!r}" for row in expected.rows if row not in actual.rows]
    found += [f"{name}: extra row {row!r}" for row in actual.rows if row not in expected.rows]
    rtol, atol = THREAD_DEPENDENT.get(name, (RTOL, ATOL))
    for row, cells in expected.rows.items():
        for column, want in cells.items():
            have = actual.rows.get(row, {}).get(column)
            if have is not None and not np.isclose(want, have, rtol=rtol, atol=atol, equal_nan=True):
                found.append(f"{name}, row {row!r}, column {column!r}: expected {want!r}, got {have!r}")
    return found


def report(differences: list[str]) -> str:
    shown = "\n".join(differences[:SHOWN])
    more = f"\n... and {len(differences) - SHOWN} more" if len(differences) > SHOWN else ""
    return f"{len(differences)} differences from {REFERENCE.name}:\n{shown}{more}"


def platform_facts() -> dict[str, str]:
    """The CPU (model name and vector extensions), the architecture and :data:`NUMERICAL_PACKAGES`' versions."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    import os

    # the core count sets the default thread counts, and so the order of threaded sums
    facts = {"machine": platform.machine(), "cores": str(os.cpu_count())}
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    model = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), platform.processor())
    flags = next((line.split(":", 1)[1].split() for line in lines if line.startswith("flags")), [])
    facts["cpu"] = model
    facts["vector_extensions"] = " ".join(sorted(f for f in flags if f.startswith(("avx", "fma", "sse4"))))
    for package in NUMERICAL_PACKAGES:
        try:
            facts[package] = version(package)
        except PackageNotFoundError:
            facts[package] = "absent"
    return facts


def platform_differences(recorded: dict[str, str], here: dict[str, str]) -> dict[str, tuple]:
    """key -> (reference, here) for every fact that differs, a fact missing on either side included."""
    return {key: (recorded.get(key), here.get(key)) for key in sorted(set(recorded) | set(here))
            if recorded.get(key) != here.get(key)}


def test_the_platform_check_names_what_differs():
    here = platform_facts()
    assert {"machine", "cores", "cpu", "vector_extensions", *NUMERICAL_PACKAGES} <= set(here)
    assert platform_differences(here, dict(here)) == {}
    other = dict(here, numpy="0.1", cpu="another CPU")
    del other["cores"]
    assert platform_differences(other, here) == {"cores": (None, here["cores"]), "cpu": ("another CPU", here["cpu"]),
                                                 "numpy": ("0.1", here["numpy"])}


# --------------------------------------------------------------------------- the study
def test_the_tiny_study_gives_the_reference_numbers(tiny_study):
    import json

    differs = platform_differences(json.loads(PLATFORM.read_text()), platform_facts())
    if differs:
        pytest.skip(f"the reference numbers were made on another platform ({differs}: (reference, here)); "
                    "regenerate them with scripts/update_golden_numbers.py on this one to compare")
    result, _ = tiny_study
    actual = flatten_results(Results.of(result.store).root)
    differences = compare_numbers(read_reference(REFERENCE), actual)
    assert not differences, report(differences)


# --------------------------------------------------------------------------- the comparison
def _tables(**frames: pd.DataFrame) -> dict[str, Table]:
    return {f"{name}.csv": flatten_table(frame) for name, frame in frames.items()}


@pytest.fixture
def metrics():
    return pd.DataFrame({"model": ["a", "a", "b"], "metric": ["cka", "cka", "ot"], "value": [0.5, np.nan, 2.0],
                         "n": [10, 10, 12], "meaningful": [True, pd.NA, False], "select_seconds": [1.0, 2.0, 3.0]})


def test_flatten_keys_rows_by_text_and_position_and_drops_timings(metrics):
    table = flatten_table(metrics.astype({"meaningful": object}))
    assert table.keys == ["model", "metric"] and table.values == ["value", "n", "meaningful"]
    assert list(table.rows) == ["a|cka#0", "a|cka#1", "b|ot#0"]
    assert table.rows["b|ot#0"] == {"value": 2.0, "n": 12.0, "meaningful": 0.0}
    assert math.isnan(table.rows["a|cka#1"]["meaningful"])


def test_equal_within_tolerance_reordered_and_nan_pass(metrics):
    other = metrics.iloc[[2, 0, 1]].copy()
    other["value"] = other["value"] * (1 + 1e-9)
    other["select_seconds"] = 99.0  # a timing is not compared
    assert compare_numbers(_tables(metrics=metrics), _tables(metrics=other)) == []


def test_a_changed_value_a_missing_row_and_an_extra_column_are_named(metrics):
    changed = metrics.copy()
    changed.loc[2, "value"] = 2.0 * (1 + 1e-6)
    assert compare_numbers(_tables(m=metrics), _tables(m=changed)) == [
        f"m.csv, row 'b|ot#0', column 'value': expected 2.0, got {2.0 * (1 + 1e-6)!r}"]
    assert compare_numbers(_tables(m=metrics), _tables(m=metrics.drop(index=2))) == [
        "m.csv: 2 rows, expected 3", "m.csv: missing row 'b|ot#0'"]
    assert compare_numbers(_tables(m=metrics), _tables(m=metrics.assign(extra=1.0))) == ["m.csv: extra column 'extra'"]
    assert "m.csv: missing column 'metric'" in compare_numbers(_tables(m=metrics), _tables(m=metrics.drop(columns="metric")))
    assert "m.csv: column 'metric' was a text (key) column, now a value column" in compare_numbers(
        _tables(m=metrics), _tables(m=metrics.assign(metric=1.0)))
    assert compare_numbers(_tables(m=metrics, n=metrics), _tables(m=metrics)) == ["missing file n.csv"]
    assert compare_numbers(_tables(m=metrics.iloc[:0]), _tables(m=metrics.iloc[:0], n=metrics.iloc[:0])) == ["extra file n.csv"]


def test_a_nan_against_a_number_is_a_difference(metrics):
    filled = metrics.fillna({"value": 0.0})
    assert compare_numbers(_tables(m=metrics), _tables(m=filled)) == ["m.csv, row 'a|cka#1', column 'value': expected nan, got 0.0"]


def test_the_reference_file_round_trips_exactly(metrics, tmp_path):
    tables = _tables(m=metrics, empty=metrics.iloc[:0], tiny=pd.DataFrame({"x": [1e-300, np.inf, 0.1 + 0.2]}))
    path = tmp_path / "numbers.csv"
    write_reference(tables, path)
    again = read_reference(path)
    pd.testing.assert_frame_equal(to_long(again), to_long(tables), check_exact=True)
    assert again["tiny.csv"].rows["#2"]["x"] == 0.1 + 0.2 and again["tiny.csv"].rows["#1"]["x"] == np.inf
    assert again["empty.csv"].n_rows == 0 and again["empty.csv"].keys == tables["empty.csv"].keys
