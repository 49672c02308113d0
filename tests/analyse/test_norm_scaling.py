"""Embedding-norm scaling across materials (Table S3)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ortho_group

from platonic.analyse.norm_scaling import NormScalingError, material_norms, norm_scaling, norm_scaling_tables
from platonic.project import PlatonicTransform
from platonic.study.writers import write_norm_scaling


@pytest.fixture
def materials():
    rng = np.random.default_rng(5)
    ids = np.repeat(np.arange(40), rng.integers(1, 9, size=40))
    reference = rng.normal(size=(ids.size, 16)) + rng.normal(size=16)
    other = np.abs(rng.normal(size=(ids.size, 10)))
    return ids, {"ref": reference, "scaled": 3.0 * reference @ ortho_group.rvs(16, random_state=1), "other": other}


def test_material_norm_is_the_norm_of_the_structure_mean(materials):
    ids, raw = materials
    norms = material_norms(raw, ids).set_index(["model", "structure_id"])["norm"]
    for s in (0, 17, 39):
        assert norms["other", s] == pytest.approx(np.linalg.norm(raw["other"][ids == s].mean(axis=0)))


def test_a_scaled_rotated_copy_scales_by_exactly_c_in_raw_space_and_not_at_all_in_unified(materials):
    ids, raw = materials
    anchors = np.arange(0, 60, 6)
    unified = {m: PlatonicTransform(anchor_rows="all").fit(X[anchors]).transform(X) for m, X in raw.items()}
    table = norm_scaling(pd.concat([material_norms(raw, ids).assign(space="raw"),
                                    material_norms(unified, ids).assign(space="unified")]), "ref")
    row = table.set_index(["space", "model"])
    assert row.loc[("raw", "scaled"), "median_ratio"] == pytest.approx(3.0)
    assert row.loc[("raw", "scaled"), "ratio_cv"] == pytest.approx(0.0, abs=1e-12)
    assert row.loc[("raw", "scaled"), "spearman"] == pytest.approx(1.0)
    assert row.loc[("unified", "scaled"), "median_ratio"] == pytest.approx(1.0, abs=1e-6)
    assert row.loc[("raw", "ref"), ["median_ratio", "ratio_q05", "ratio_q95"]].tolist() == [1.0, 1.0, 1.0]
    assert row.loc[("raw", "other"), "ratio_cv"] > 0.01


def test_rejected_structures_are_left_out_and_bad_input_is_named(materials):
    ids, raw = materials
    raw = dict(raw)
    raw["other"] = raw["other"].copy()
    raw["other"][ids == 3] = np.nan
    norms = material_norms(raw, ids)
    assert 3 not in set(norms[norms.model == "other"]["structure_id"])
    assert norm_scaling(norms, "ref")["n_materials"].eq(39).all()
    with pytest.raises(NormScalingError, match="reference 'nope'"):
        norm_scaling(norms, "nope")
    with pytest.raises(NormScalingError, match="must have"):
        material_norms({"x": raw["ref"][:5]}, ids)


def test_tables_written_on_a_real_store(real_store, tmp_path):
    models = ["chgnet-0.3.0", "sevennet-0", "diep"]
    paths = write_norm_scaling(norm_scaling_tables(real_store.store, real_store.unified, models, "chgnet-0.3.0"), tmp_path)
    table = pd.read_csv(paths["norm_scaling"])
    assert set(table["space"]) == {"unified", "raw"} and len(table) == 6
    assert (table[table.model == "chgnet-0.3.0"]["ratio_cv"] == 0).all()
    wide = pd.read_csv(paths["norm_scaling_materials"])
    assert list(wide.columns[2:]) == models and len(wide) == 48
