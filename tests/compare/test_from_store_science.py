"""compare_store on real embeddings: centred space, same-structure mKNN, self-mKNN, nulls, control
baseline, unified geometry and the TwoNN stability table, each against a direct recomputation."""

from __future__ import annotations

import numpy as np
import pytest

from platonic.compare import mutual_knn, procrustes_score
from platonic.compare.from_store import compare_store, intrinsic_dimensions, unified_geometry_table
from platonic.compare.geometry import unified_geometry
from platonic.compare.intrinsic import twonn_stability

MODELS = ["chgnet-0.3.0", "diep", "mace-dummy"]


@pytest.fixture(scope="module")
def table(real_store):
    return compare_store(real_store.store, real_store.unified, MODELS, ("procrustes", "cka", "mknn", "ot", "superscore"),
                         ("raw", "unified"), centred=True, exclude_same_structure=True, n_permutations=3,
                         ot_n_samples=200, ot_repeats=1)


def test_centred_space_self_mknn_and_nulls(real_store, table):
    groups = real_store.store.atom_table()["structure_index"].to_numpy()
    value = table.set_index(["space", "model_a", "model_b", "metric"])["value"]
    z = {m: real_store.z(m).astype(np.float64) for m in MODELS}
    assert value["unified-centred", "chgnet-0.3.0", "diep", "procrustes"] == pytest.approx(
        procrustes_score(z["chgnet-0.3.0"], z["diep"]), abs=1e-9)
    assert value["unified-centred", "chgnet-0.3.0", "diep", "mknn"] == pytest.approx(
        mutual_knn(z["chgnet-0.3.0"] - z["chgnet-0.3.0"].mean(0), z["diep"] - z["diep"].mean(0), groups=groups),
        abs=1e-12)
    assert value["raw", "chgnet-0.3.0", "diep", "mknn"] == pytest.approx(
        mutual_knn(real_store.raw("chgnet-0.3.0"), real_store.raw("diep"), groups=groups), abs=1e-12)
    for m in MODELS:
        assert value["raw->unified", m, m, "mknn_self"] == pytest.approx(
            mutual_knn(real_store.raw(m), real_store.z(m), groups=groups), abs=1e-12)
    similar = table[table.metric.isin(["procrustes", "cka", "mknn", "superscore"]) & table.space.isin(["raw", "unified"])]
    assert similar["null_mean"].notna().all() and (similar["null_std"] >= 0).all()


def test_control_baseline_uses_the_untrained_card(table):
    rows = table[(table.space == "unified") & (table.metric == "cka")].set_index(["model_a", "model_b"])
    expected = max(rows.loc[("chgnet-0.3.0", "mace-dummy"), "value"], rows.loc[("diep", "mace-dummy"), "value"])
    assert rows.loc[("chgnet-0.3.0", "diep"), "control_baseline"] == pytest.approx(expected)
    assert rows.loc[("chgnet-0.3.0", "diep"), "meaningful"] == (
        rows.loc[("chgnet-0.3.0", "diep"), "value"] > expected and rows.loc[("chgnet-0.3.0", "diep"), "clears_null"])
    assert rows.loc[("chgnet-0.3.0", "mace-dummy"), "meaningful"] is pd_na()


def pd_na():
    import pandas as pd

    return pd.NA


def test_geometry_and_intrinsic_tables(real_store):
    geometry = unified_geometry_table(real_store.store, real_store.unified, MODELS).set_index("model")
    own = unified_geometry(real_store.z("diep"))
    assert geometry.loc["diep", "mean_cosine"] == pytest.approx(own["mean_cosine"])
    assert geometry.loc["diep", "anchor_sd"] == pytest.approx(own["anchor_sd"])
    assert not geometry.loc["mace-dummy", "trained"] and geometry.loc["diep", "trained"]
    summary, curve = intrinsic_dimensions(real_store.store, real_store.unified, ["diep"], ["unified"], n_atoms=10**6)
    atoms = real_store.store.atom_table()
    n_classes = len(atoms[["structure_index", "equivalent_class"]].drop_duplicates())
    assert summary.iloc[0]["n_kept"] == n_classes < len(atoms)
    classes = atoms["structure_index"].to_numpy() * 1000 + atoms["equivalent_class"].to_numpy()
    direct, _ = twonn_stability(real_store.z("diep").astype(np.float64), classes=classes)
    assert summary.iloc[0]["estimate_at_reference_tol"] == pytest.approx(direct["estimate_at_reference_tol"])
    assert set(curve["kind"]) == {"tolerance", "subsample"}
