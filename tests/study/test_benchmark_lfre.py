"""benchmarks/lfre.py as the README runs it (``--skip-default-threads``), on the tiny study's store."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "lfre.py"


def test_batched_lfre_beside_the_former_loop_and_scikit_matter(tiny_study):
    former = subprocess.run(["git", "-C", str(ROOT), "cat-file", "-e", "1668954"], capture_output=True)
    if former.returncode != 0:
        pytest.skip("the former implementation is read from git commit 1668954, absent from this clone")
    result, _ = tiny_study
    completed = subprocess.run([sys.executable, str(SCRIPT), "--store", str(result.store), "--source", "diep",
                                "--target", "chgnet-0.3.0", "--n-test", "20", "--k", "8", "--targets-per-source", "2",
                                "--skip-default-threads"], capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr
    rows = [line for line in completed.stdout.splitlines() if line.startswith("| ") and "---" not in line]
    assert any(row.startswith("| skmatter") for row in rows) and any(row.startswith("| former") for row in rows)
    agreement = completed.stdout.split("per atom: vs former ")[1]  # "5.3e-10, vs skmatter 5.3e-10"
    differences = agreement.split(",")[0], agreement.split("vs skmatter ")[1].split()[0]
    assert all(float(value) < 1e-8 for value in differences), completed.stdout
    assert "Traceback" not in completed.stderr
