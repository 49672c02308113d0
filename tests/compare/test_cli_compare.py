"""`platonic anchors` -> `project` -> `compare` end to end on real embeddings (the shared real store)."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from platonic.cli import app
from platonic.compare import procrustes_score
from platonic.project import PlatonicTransform

runner = CliRunner()


def test_anchors_project_compare_on_real_models(real_store, tmp_path):
    store = tmp_path / "store"
    shutil.copytree(real_store.store.root, store)
    result = runner.invoke(app, ["anchors", "--store", str(store), "--k", "16", "--no-diversity", "--no-sweep"])
    assert result.exit_code == 0, result.output
    anchors = pd.read_csv(store / "results" / "anchors.csv")
    assert len(anchors) == 16 and anchors["row"].is_unique

    result = runner.invoke(app, ["project", "--store", str(store)])
    assert result.exit_code == 0, result.output
    z = {m: np.load(store / "results" / "unified" / f"{m}.npy") for m in ("chgnet-0.3.0", "diep")}
    raw = real_store.raw("diep")
    expected = PlatonicTransform(anchor_rows="all").fit(raw[anchors["row"]]).transform(raw)
    np.testing.assert_allclose(z["diep"], expected, atol=1e-6)

    result = runner.invoke(app, ["compare", "--store", str(store), "--models", "chgnet-0.3.0,diep,mace-dummy",
                                 "--ot-samples", "200", "--ot-repeats", "2", "--twonn-atoms", "0"])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(store / "results" / "metrics.csv")
    assert set(table["space"]) == {"raw", "unified", "unified-centred", "raw->unified", "raw->unified-centred"}
    assert table[table.metric.isin(["procrustes", "cka", "mknn"])]["null_mean"].notna().all()
    assert "meaningful" in table.columns and (store / "results" / "unified_geometry.csv").exists()
    assert {"procrustes", "cka", "mknn", "gfre", "gfrd", "lfre"} <= set(table[table.space == "raw"]["metric"])
    assert {"ot", "superscore"} <= set(table[table.space == "unified"]["metric"])
    value = table.set_index(["space", "model_a", "model_b", "metric"])["value"]
    assert np.isclose(value["unified", "chgnet-0.3.0", "diep", "procrustes"],
                      procrustes_score(z["chgnet-0.3.0"], z["diep"]), atol=1e-9)
    ot = table[(table.metric == "ot") & (table.model_a != table.model_b)]
    assert (ot["n"] == 200).all() and ot["std"].notna().all() and ot["detail"].str.contains("stratified").all()
    assert (store / "results" / "figures").is_dir() and any((store / "results" / "figures").iterdir())


def test_compare_without_projection_is_a_clear_error(real_store, tmp_path):
    store = tmp_path / "store"
    shutil.copytree(real_store.store.root, store)
    result = runner.invoke(app, ["compare", "--store", str(store), "--spaces", "unified"])
    assert result.exit_code == 2 and "platonic project" in result.output
