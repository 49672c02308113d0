"""The `platonic` command line on real data and a real model: extract, no-op re-run, kill -9 resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from typer.testing import CliRunner

from platonic.cli import app
from platonic.store import EmbeddingStore

runner = CliRunner()


def test_models_lists_every_adapter_as_json():
    result = runner.invoke(app, ["models", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    names = {r["name"] for r in rows}
    assert {"chgnet-0.3.0", "sevennet-mf-0", "diep", "mace-dummy"} <= names
    assert all({"dim", "layer", "training_data", "weights_found"} <= set(r) for r in rows)


def test_bad_inputs_are_clear_errors(tmp_path):
    result = runner.invoke(app, ["extract", "--models", "no-such-model", "--n", "3", "--out", str(tmp_path / "s")])
    assert result.exit_code == 2 and "unknown model" in result.output
    bad = tmp_path / "bad.extxyz"
    bad.write_text("2\nLattice=\"5 0 0 0 5 0 0 0 5\" Properties=species:S:1:pos:R:3 pbc=\"T T T\"\nCu 0 0 0\nCu 0.1 0 0\n")
    result = runner.invoke(app, ["extract", "--dataset", str(bad), "--models", "chgnet-0.3.0", "--out", str(tmp_path / "t")])
    assert result.exit_code == 2 and "bad.extxyz" in result.output
    result = runner.invoke(app, ["info", str(tmp_path / "nowhere")])
    assert result.exit_code == 2 and "not an embedding store" in result.output


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "platonic.cli", *args]


@pytest.mark.slow
def test_extract_rerun_noop_and_kill9_resume(tmp_path):
    out = tmp_path / "store"
    args = ["extract", "--dataset", "mp20", "--split", "val", "--n", "96", "--seed", "3",
            "--models", "chgnet-0.3.0", "--shard-size", "8", "--batch-atoms", "64", "--out", str(out), "--no-progress"]
    proc = subprocess.Popen(_cli(*args), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    shard_dir = out / "models" / "chgnet-0.3.0"
    deadline = time.time() + 300
    while time.time() < deadline and len(list(shard_dir.glob("shard-*.json"))) < 3:
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = len(list(shard_dir.glob("shard-*.json")))
    assert 3 <= done < 12, f"kill landed outside the run ({done} shards)"
    before = {p: p.stat().st_mtime_ns for p in shard_dir.glob("shard-*.json")}

    resumed = subprocess.run(_cli(*args), capture_output=True, text=True, check=True)
    assert "chgnet-0.3.0" in resumed.stdout  # the result table: stdout
    store = EmbeddingStore(out)
    assert store.is_complete("chgnet-0.3.0")
    written = [json.loads(p.read_text()) for p in shard_dir.glob("shard-*.json")]
    assert len(written) == 12
    assert all(p.stat().st_mtime_ns == t for p, t in before.items()), "finished shards were recomputed"

    fresh = tmp_path / "fresh"
    subprocess.run(_cli(*[a if a != str(out) else str(fresh) for a in args]), capture_output=True, check=True)
    np.testing.assert_array_equal(EmbeddingStore(fresh).load("chgnet-0.3.0"), store.load("chgnet-0.3.0"))

    mtimes = {p: p.stat().st_mtime_ns for p in shard_dir.iterdir()}
    chatter = (out / "third-party.log").read_text()  # where the models' own output goes
    assert "CHGNet v0.3.0 initialized" in chatter
    again = subprocess.run(_cli(*args), capture_output=True, text=True, check=True)
    assert {p: p.stat().st_mtime_ns for p in shard_dir.iterdir()} == mtimes, "a finished run rewrote files"
    assert (out / "third-party.log").read_text() == chatter, "a finished run loaded the model"
    assert "CHGNet v0.3.0 initialized" not in again.stdout + again.stderr
