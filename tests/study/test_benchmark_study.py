"""benchmarks/study.py as the README runs it: a study's stage table, from a new run or a finished one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "study.py"
STAGES = ("anchors", "sweep", "project", "compare", "analyse", "diagnose", "report")

# The tiny study of conftest.py, as a user's study file.
TINY_TOML = """
[dataset]
split = "val"
n = 14
seed = 2
[models]
names = ["chgnet-0.3.0", "diep"]
[anchors]
k = 8
[compare]
metrics = ["procrustes", "cka", "ot"]
spaces = ["unified"]
ot_samples = 40
ot_repeats = 2
twonn_atoms = 0
[analyse]
reference = "chgnet-0.3.0"
[diagnose]
rotations = 2
dimers = false
"""


def run_script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=900)


def assert_stage_table(table: str) -> None:
    rows = {line.split("|")[1].strip(): line for line in table.splitlines() if line.startswith("| ")}
    for stage in STAGES:
        cells = [cell.strip() for cell in rows[stage].split("|")[1:-1]]
        assert cells[1] == "done", rows[stage]
        assert float(cells[2].replace(",", "")) >= 0 and float(cells[4].replace(",", "")) > 0, rows[stage]
    assert "load average (1 min)" in table


def test_reuse_tabulates_a_finished_study(tiny_study, tmp_path):
    result, _ = tiny_study
    markdown = tmp_path / "table.md"
    completed = run_script("--out", str(result.out), "--reuse", "--markdown", str(markdown))
    assert completed.returncode == 0, completed.stderr
    assert_stage_table(completed.stdout)
    assert markdown.read_text() == completed.stdout
    assert "Traceback" not in completed.stderr


def test_reuse_without_a_study_says_so(tmp_path):
    completed = run_script("--out", str(tmp_path / "nothing"), "--reuse")
    assert completed.returncode == 2
    assert "no manifest" in completed.stderr and "Traceback" not in completed.stderr


@pytest.mark.slow
def test_a_study_file_runs_and_is_tabulated(tmp_path):
    config = tmp_path / "tiny.toml"
    config.write_text(TINY_TOML)
    completed = run_script("--config", str(config), "--out", str(tmp_path / "study"))
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "platonic run exited 0" in completed.stderr
    assert_stage_table(completed.stdout)
