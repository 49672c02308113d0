"""`platonic analyse` and `platonic diagnose` end to end on real models (the shared real store)."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest
from typer.testing import CliRunner

from platonic.cli import app

runner = CliRunner()


def _invoke(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.slow
def test_analyse_then_diagnose_from_the_cli(real_store, tmp_path):
    store = tmp_path / "store"
    shutil.copytree(real_store.store.root, store)
    _invoke("anchors", "--store", str(store), "--k", "20", "--no-diversity", "--no-sweep")
    _invoke("project", "--store", str(store))
    _invoke("compare", "--store", str(store), "--metrics", "procrustes,cka,mknn,ot,superscore", "--spaces", "unified",
            "--ot-samples", "200", "--ot-repeats", "2", "--twonn-atoms", "0")
    # without the chemistry tables the control still reports its agreement and says coherence was skipped
    _invoke("diagnose", "--store", str(store), "--no-equivariance", "--no-rotation", "--no-drift", "--no-atypical")
    verdict = pd.read_csv(store / "results" / "diagnose" / "control_verdict.csv")
    assert "group coherence skipped: no group_coherence.csv" in verdict["verdict"].iloc[0]

    _invoke("analyse", "--store", str(store), "--reference", "chgnet-0.3.0")
    analyse = store / "results" / "analyse"
    coherence = pd.read_csv(analyse / "group_coherence.csv")
    assert set(coherence["model"]) == set(real_store.store.models())
    wide = pd.read_csv(analyse / "arithmetic_wide.csv")
    assert len(wide) >= 6

    output = _invoke("diagnose", "--store", str(store), "--no-dimers", "--rotations", "2", "--top", "5")
    diagnose = store / "results" / "diagnose"
    verdict = pd.read_csv(diagnose / "control_verdict.csv")
    assert verdict["control"].tolist() == ["mace-dummy"] and "mace-dummy" in output
    assert bool(verdict["coherence_at_chance"].iloc[0]), verdict["verdict"].iloc[0]
    agreement = pd.read_csv(diagnose / "control_agreement.csv")
    assert (agreement["ratio"] < 1).all(), agreement  # the control agrees with trained models less than they do
    for name in ("equivariance_two_nn.csv", "rotation_models.csv", "drift_summary.csv", "atypical_top.csv",
                 "control.png", "rotation.png", "drift_displacement.png", "atypical.png"):
        assert (diagnose / name).exists(), name
    assert len(pd.read_csv(diagnose / "atypical_top.csv")) == 5
