"""`platonic finetune-demo` from the command line: its options, its bad-input errors, and (slow) a small
end-to-end run in a subprocess, twice, to check the written outputs, a quiet console and that a seed
repeats the numbers exactly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from platonic.cli import app
from platonic.finetune.demo import DemoConfig

runner = CliRunner()
SRC = Path(__file__).resolve().parents[2] / "src"
SMALL = ["--n-cu", "8", "--n-replay", "4", "--epochs", "1", "--batch-size", "4", "--n-eval-per-element", "3",
         "--n-eval-other", "6", "--k", "6", "--supercell", "2"]


def _command_defaults() -> dict:
    import typer.main

    command = typer.main.get_command(app).commands["finetune-demo"]
    return {param.name: param.default for param in command.params}


def test_every_demo_setting_is_an_option_whose_default_is_the_real_demo():
    defaults = _command_defaults()
    settable = {f.name for f in fields(DemoConfig)} - {"parent", "labeller"}  # fixed: the demo's two models
    assert settable <= set(defaults), settable - set(defaults)
    for name in settable:
        assert defaults[name] == getattr(DemoConfig(), name), name


@pytest.mark.parametrize("flag, value, message", [("--n-cu", "2", "--n-cu 2: must be >= 4"),
                                                  ("--epochs", "0", "--epochs 0: must be >= 1"),
                                                  ("--k", "1", "--k 1: must be >= 2"),
                                                  ("--learning-rate", "0", "--learning-rate 0.0: must be > 0")])
def test_bad_settings_fail_before_any_model_loads(tmp_path, flag, value, message):
    result = runner.invoke(app, ["finetune-demo", "--out", str(tmp_path / "demo"), flag, value])
    assert result.exit_code == 2 and message in result.output
    assert not (tmp_path / "demo").exists()


def test_an_out_path_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    result = runner.invoke(app, ["finetune-demo", "--out", str(tmp_path / "file")])
    assert result.exit_code == 2 and "exists and is not a folder" in result.output


def _run(out: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "platonic.cli", "finetune-demo", "--out", str(out), *SMALL],
                          capture_output=True, text=True, env=env, timeout=1800)


@pytest.mark.slow
def test_small_demo_from_the_command_line_writes_its_outputs_quietly_and_repeats(tmp_path):
    first = _run(tmp_path / "a")
    assert first.returncode == 0, first.stderr
    out = tmp_path / "a"
    for name in ("outcome.csv", "displacement.csv", "norm_ratio.csv", "dimer_curves.csv", "dimer_minima.csv",
                 "phonon_bands.csv", "phonons.csv", "summary.json", "naive.pt", "replay.pt", "displacement.png",
                 "norm_ratio.png", "cu_au_map.png", "dimers.png", "phonons.png"):
        assert (out / name).stat().st_size > 0, name

    # the console: the stand-in labelling, one start and one end line per step, no third-party chatter
    assert "standing in for DFT, not DFT" in first.stderr and "standing in for DFT" in first.stdout
    steps = ("load labeller", "build and label data", "fine-tune naive", "fine-tune replay", "embed evaluation set",
             "dimer curves", "phonons")
    for step in steps:
        assert f"{step} ..." in first.stderr and f"{step}: " in first.stderr, step
    assert len(first.stderr.strip().splitlines()) == 2 * len(steps) + 2, first.stderr
    assert "CHGNet" not in first.stderr and "Warning" not in first.stderr
    assert "CHGNet v0.3.0 initialized" in (out / "third-party.log").read_text()

    outcome = pd.read_csv(out / "outcome.csv")
    assert list(outcome.columns) == ["model", "element", "dimer_r_eq", "dimer_well_depth", "lattice_constant",
                                     "phonon_min_frequency", "phonon_imaginary", "norm_ratio", "relative_to_global"]
    assert sorted(outcome["model"].unique()) == ["chgnet-0.3.0", "chgnet-0.3.0-ft-naive", "chgnet-0.3.0-ft-replay"]
    assert set(outcome["element"]) == {"Cu", "Au"} and len(outcome) == 6
    numbers = outcome.drop(columns=["model", "element", "phonon_imaginary"])
    parent = outcome["model"] == "chgnet-0.3.0"
    assert np.isfinite(numbers[~parent].to_numpy()).all()
    assert np.isfinite(numbers.loc[parent, ["dimer_r_eq", "dimer_well_depth", "lattice_constant", "phonon_min_frequency"]].to_numpy()).all()
    assert numbers.loc[parent, ["norm_ratio", "relative_to_global"]].isna().all().all()  # parent vs itself: not computed
    assert outcome["phonon_imaginary"].dtype == bool
    phonons = pd.read_csv(out / "phonons.csv")
    assert len(phonons) == 8 and "sevennet-0 (labeller)" in set(phonons["model"])  # 3 models + labeller, Cu and Au
    assert np.isfinite(phonons[["lattice_constant", "min_frequency", "max_frequency"]].to_numpy()).all()
    summary = json.loads((out / "summary.json").read_text())
    assert "standing in for DFT, not DFT" in summary["note"] and summary["data"]["cu_cells"] == 8
    assert summary["data"]["replay_structures"] == 4 and not summary["data"]["au_in_replay"]
    assert {s["step"] for s in summary["timings"]} == set(steps)

    # the same seed in another folder (nothing reused): the same numbers, to the last bit
    second = _run(tmp_path / "b")
    assert second.returncode == 0, second.stderr
    for name in ("outcome.csv", "displacement.csv", "norm_ratio.csv", "dimer_curves.csv", "phonon_bands.csv"):
        assert (out / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert json.loads((tmp_path / "b" / "summary.json").read_text())["training"] == summary["training"]
