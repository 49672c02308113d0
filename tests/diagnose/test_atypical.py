"""Atypical structures: material embeddings, the leave-one-out consensus score, the report."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from platonic.diagnose.atypical import (
    AtypicalInputError,
    atypical_tables,
    atypicality_scores,
    consensus_distances,
    material_embeddings,
    standardise_materials,
)
from platonic.study.writers import write_atypical


def _models(n_structures: int = 40, k: int = 12, noise: float = 0.05, seed: int = 0) -> dict[str, np.ndarray]:
    """Four models that agree on a shared structure map up to small independent noise."""
    rng = np.random.default_rng(seed)
    truth = rng.normal(size=(n_structures, k))
    return {f"m{i}": truth + noise * rng.normal(size=truth.shape) for i in range(4)}


def test_material_embedding_is_the_mean_of_the_structure_rows():
    rng = np.random.default_rng(1)
    index = np.array([0, 0, 1, 2, 2, 2, 1])
    z = rng.normal(size=(index.size, 3))
    materials = material_embeddings(z, index)
    for s in range(3):
        assert np.allclose(materials[s], z[index == s].mean(axis=0))
    z[3, 1] = np.nan  # structure 2 rejected by this model
    with_gap = material_embeddings(z, index, n_structures=4)
    assert np.isnan(with_gap[2]).all() and np.isnan(with_gap[3]).all()  # 3 has no atoms
    assert np.isfinite(with_gap[:2]).all()
    with pytest.raises(AtypicalInputError, match="structure_index"):
        material_embeddings(z, index[:-1])


def test_leave_one_out_median_distance_matches_a_direct_computation():
    materials = _models()
    table = consensus_distances(materials, statistic="median")
    names = list(materials)
    for model in names:
        others = np.stack([materials[m] for m in names if m != model])
        expected = np.linalg.norm(materials[model] - np.median(others, axis=0), axis=1)
        got = table[table["model"] == model].sort_values("structure_index")
        assert np.allclose(got["distance"], expected)
        assert np.allclose(got["normalised_distance"], expected / np.median(expected))


def test_a_planted_outlier_ranks_first():
    materials = _models()
    planted = 17
    rng = np.random.default_rng(3)
    materials["m2"][planted] = rng.normal(size=materials["m2"].shape[1])  # one model, one structure: noise
    scores, _ = atypicality_scores(materials)
    top = scores.iloc[0]
    assert top["structure_index"] == planted and top["rank"] == 1
    assert top["most_deviant_model"] == "m2"
    assert top["score"] > 2 * scores["score"].iloc[1]


def test_a_model_with_a_larger_spread_does_not_dominate():
    materials = _models(seed=4)
    rng = np.random.default_rng(5)
    # m0 disagrees with everyone everywhere, 100x more than the others: random, not atypical.
    materials["m0"] = materials["m0"] + 5.0 * rng.normal(size=materials["m0"].shape)
    planted = 8
    materials["m3"][planted] += 1.0  # a moderate, structure-specific disagreement of m3
    scores, distances = atypicality_scores(materials)
    assert scores.iloc[0]["structure_index"] == planted
    medians = distances.groupby("model")["normalised_distance"].median()
    assert np.allclose(medians, 1.0)


def test_scores_follow_structures_and_ignore_model_order():
    materials = _models(seed=6)
    scores, _ = atypicality_scores(materials)
    reversed_models = dict(reversed(list(materials.items())))
    again, _ = atypicality_scores(reversed_models)
    pd.testing.assert_series_equal(scores.set_index("structure_index")["score"],
                                   again.set_index("structure_index")["score"])
    order = np.random.default_rng(7).permutation(40)
    permuted, _ = atypicality_scores({m: a[order] for m, a in materials.items()})
    by_structure = scores.set_index("structure_index")["score"]
    assert np.allclose(permuted.set_index("structure_index")["score"].sort_index(), by_structure.loc[order].to_numpy())


def test_controls_are_reported_but_not_scored():
    materials = _models(seed=8)
    materials["dummy"] = np.random.default_rng(9).normal(size=materials["m0"].shape)
    scores, distances = atypicality_scores(materials, consensus_models=["m0", "m1", "m2", "m3"])
    dummy = distances[distances["model"] == "dummy"]
    assert not dummy["in_consensus"].any() and not dummy["in_score"].any()
    assert len(dummy) == 40 and np.isfinite(dummy["distance"]).all()
    without, _ = atypicality_scores({m: a for m, a in materials.items() if m != "dummy"})
    assert np.allclose(scores.set_index("structure_index")["score"].sort_index(),
                       without.set_index("structure_index")["score"].sort_index())


def test_standardising_removes_a_model_offset_and_scale():
    materials = _models(seed=10)
    shifted = dict(materials, m1=3.0 * materials["m1"] + 0.7)
    standard = standardise_materials(shifted)
    assert np.allclose(standard["m1"], standardise_materials(materials)["m1"])
    assert np.allclose(np.sqrt((standard["m0"] ** 2).sum(axis=1).mean()), 1.0)
    a, _ = atypicality_scores(materials)
    b, _ = atypicality_scores(shifted)
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-9)


def test_missing_structures_are_kept_with_fewer_terms():
    materials = _models(seed=11)
    materials["m1"][5] = np.nan
    for model in materials:
        materials[model][9] = np.nan
    scores, _ = atypicality_scores(materials)
    by_structure = scores.set_index("structure_index")
    assert by_structure.loc[5, "n_models"] == 3 and np.isfinite(by_structure.loc[5, "score"])
    assert by_structure.loc[9, "n_models"] == 0 and np.isnan(by_structure.loc[9, "score"])
    assert scores.iloc[-1]["structure_index"] == 9 and pd.isna(scores.iloc[-1]["rank"])
    assert sorted(scores["rank"].dropna()) == list(range(1, 40))


def test_input_errors():
    materials = _models()
    with pytest.raises(AtypicalInputError, match="at least two"):
        consensus_distances(materials, consensus_models=["m0"])
    with pytest.raises(AtypicalInputError, match="not among"):
        consensus_distances(materials, consensus_models=["m0", "nope"])
    with pytest.raises(AtypicalInputError, match="statistic"):
        consensus_distances(materials, statistic="mode")
    with pytest.raises(AtypicalInputError, match="one shape"):
        atypicality_scores({"a": np.zeros((3, 2)), "b": np.zeros((4, 2))})
    duplicates = {"a": materials["m0"], "b": materials["m0"], "c": materials["m0"], "d": materials["m1"]}
    with pytest.raises(AtypicalInputError, match="cannot be normalised"):
        atypicality_scores(duplicates, standardise=False)


def test_atypical_tables_written_on_real_models(real_store, tmp_path):
    paths = write_atypical(atypical_tables(real_store.store, real_store.unified, None, top=5), tmp_path)
    for path in paths.values():
        assert path.exists() and path.stat().st_size > 0
    ranking = pd.read_csv(paths["atypical_scores"])
    n_structures = len(real_store.dataset)
    assert sorted(ranking["structure_index"]) == list(range(n_structures))
    assert sorted(ranking["rank"]) == list(range(1, n_structures + 1))
    assert np.isfinite(ranking["score"]).all() and (ranking["score"] >= 0).all()
    assert ranking["score"].is_monotonic_decreasing
    assert set(ranking["structure_id"]) == set(real_store.dataset.ids)
    assert {"formula", "spacegroup_number", "n_atoms"} <= set(ranking.columns)
    assert len(pd.read_csv(paths["atypical_top"])) == 5
    distances = pd.read_csv(paths["atypical_distances"])
    # The random-weight control is measured against the consensus but takes no part in it.
    dummy = distances[distances["model"] == "mace-dummy"]
    assert len(dummy) == n_structures and not dummy["in_consensus"].any() and not dummy["in_score"].any()
    assert set(ranking["most_deviant_model"]) <= set(distances.loc[distances["in_score"], "model"])


def test_atypical_tables_are_data_and_the_writer_writes_exactly_them(real_store, tmp_path, monkeypatch):
    from io import StringIO

    from matplotlib.figure import Figure

    from platonic.diagnose.atypical import atypical_tables, plot_atypical
    from platonic.study.writers import write_atypical

    monkeypatch.chdir(tmp_path)
    tables = atypical_tables(real_store.store, real_store.unified, None, top=5)
    assert list(tmp_path.iterdir()) == []  # computing writes nothing
    assert isinstance(plot_atypical(tables.ranking, tables.distances, top=tables.top), Figure)
    paths = write_atypical(tables, tmp_path / "out")
    assert sorted(p.name for p in paths.values()) == sorted(p.name for p in (tmp_path / "out").iterdir())
    for name, table in (("atypical_scores", tables.ranking), ("atypical_top", tables.ranking.head(5)),
                        ("atypical_distances", tables.distances)):
        as_written = pd.read_csv(StringIO(table.to_csv(index=False)))
        pd.testing.assert_frame_equal(pd.read_csv(paths[name]), as_written, check_exact=True)
