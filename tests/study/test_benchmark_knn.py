"""benchmarks/knn.py as the README runs it: the leaf search beside scikit-learn on a real store."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "knn.py"


def run_script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=600)


def test_every_model_and_space_gets_a_row_with_the_same_neighbours(tiny_study):
    result, _ = tiny_study
    completed = run_script("--store", str(result.store), "--queries", "25")
    assert completed.returncode == 0, completed.stderr
    rows = [line.split("|")[1:-1] for line in completed.stdout.splitlines() if line.startswith("| ") and "---" not in line]
    body = [[cell.strip() for cell in row] for row in rows[1:]]
    assert {(row[0], row[1]) for row in body} == {(m, s) for m in ("chgnet-0.3.0", "diep")
                                                  for s in ("raw", "unified", "unified-centred")}
    for row in body:
        # the same neighbours as scikit-learn's brute force, up to rows at tied distances
        # (symmetry-equivalent atoms have identical embeddings; each search orders those its own way)
        assert row[8] == "100.00%" or float(row[9]) <= 1e-12, row
        assert float(row[3]) >= 0 and float(row[4].split()[0]) >= 0 and row[5].endswith("x"), row
    assert "all searches: scikit-learn" in completed.stdout


def test_an_unknown_space_is_named(tiny_study):
    result, _ = tiny_study
    completed = run_script("--store", str(result.store), "--spaces", "raw,latent")
    assert completed.returncode != 0
    assert "unknown spaces ['latent']" in completed.stderr


def test_chosen_models_and_spaces_only(tiny_study):
    result, _ = tiny_study
    completed = run_script("--store", str(result.store), "--models", "diep", "--spaces", "unified", "--queries", "10")
    assert completed.returncode == 0, completed.stderr
    body = [line for line in completed.stdout.splitlines() if line.startswith("| diep")]
    assert len(body) == 1 and "| unified |" in body[0]
