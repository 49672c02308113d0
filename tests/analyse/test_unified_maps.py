"""Anchor map (Fig 2b), unified maps vs K (Fig 3, S2, S3) and the unified-space diversity (Table S2)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import pdist
from scipy.stats import ortho_group

from platonic.analyse.unified_maps import (MapInputError, anchor_map, maps_tables, unified_diversity_table,
                                           unified_maps)
from platonic.study.writers import write_maps


@pytest.fixture
def clouds():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(300, 12)) + 2.0
    rotated = 3.7 * a @ ortho_group.rvs(12, random_state=4)  # the same model up to rotation and scale
    other = np.tanh(a[:, :8] @ rng.normal(size=(8, 20))) + 0.5
    return {"a": a, "a_rotated": rotated, "other": other}


def test_anchor_map_places_anchors_on_the_map_and_more_anchors_cover_better(clouds):
    X = clouds["a"]
    nested = np.random.default_rng(0).permutation(len(X))
    sets = {"5": nested[:5], "20": nested[:20], "80": nested[:80], "all": np.arange(len(X))}
    anchors, coverage, background = anchor_map(X, sets)
    first = anchors[anchors["method"] == "20"]
    assert np.allclose(first[["pc1", "pc2"]].to_numpy(), background[nested[:20]])
    radius = coverage.set_index("method")["coverage_radius"]
    # nested sets: an atom's nearest anchor can only get closer; every atom an anchor -> 0
    assert radius["5"] >= radius["20"] >= radius["80"] >= radius["all"] == 0.0
    assert coverage.set_index("method").loc["all", "pc1_range_covered"] == 1.0


def test_unified_maps_share_axes_so_a_rotated_model_lands_on_the_same_points(clouds):
    anchors = {("direct", 10): np.arange(0, 100, 10), ("random", 4): np.array([5, 50, 150, 250])}
    rows = np.arange(40, 300)
    coordinates, summary = unified_maps(clouds, anchors, rows, fit_models=["a", "other"])
    for (method, k), part in coordinates.groupby(["method", "k"]):
        a = part[part.model == "a"][["pc1", "pc2"]].to_numpy()
        b = part[part.model == "a_rotated"][["pc1", "pc2"]].to_numpy()
        assert np.allclose(a, b, atol=1e-9)
    per = summary.set_index(["method", "k", "model"])
    assert np.allclose(per.xs("a", level="model"), per.xs("a_rotated", level="model"))
    assert set(summary["model"]) == set(clouds) and len(coordinates) == 2 * 3 * rows.size


def test_diversity_measures_match_their_definitions(clouds):
    from platonic.project import PlatonicTransform

    anchor_rows = np.arange(7, 70, 9)
    rows = np.arange(100, 260)
    _, summary = unified_maps(clouds, {("random", anchor_rows.size): anchor_rows}, rows)
    z = PlatonicTransform(anchor_rows="all").fit(clouds["other"][anchor_rows]).transform(clouds["other"][rows]).astype(float)
    row = summary.set_index("model").loc["other"]
    distances = pdist(z)
    n = rows.size
    assert row["mean_pairwise_distance"] == pytest.approx(distances.mean(), rel=1e-9)
    # mean squared pairwise distance = 2n/(n-1) * spread^2 (independent of how spread is computed)
    assert (distances**2).mean() == pytest.approx(2 * n / (n - 1) * row["spread"] ** 2, rel=1e-9)
    assert row["centroid_norm"] == pytest.approx(np.linalg.norm(z.mean(axis=0)))
    assert 0 < row["map_variance_fraction"] <= 1


def test_diversity_table_puts_direct_and_random_side_by_side(clouds):
    anchors = {("direct", 6): np.arange(6) * 40, ("random", 6): np.arange(6) * 7 + 3}
    _, summary = unified_maps(clouds, anchors, np.arange(300))
    table = unified_diversity_table(summary, 6)
    assert list(table["model"]) == list(clouds)
    ratio = table["mean_pairwise_distance_random"] / table["mean_pairwise_distance_direct"]
    assert np.allclose(table["mean_pairwise_distance_random_over_direct"], ratio)
    with pytest.raises(MapInputError, match="no maps at K = 9"):
        unified_diversity_table(summary, 9)


def test_bad_input_is_named(clouds):
    with pytest.raises(MapInputError, match="same rows"):
        unified_maps({"a": clouds["a"], "b": clouds["a"][:10]}, {("random", 3): np.arange(3)}, np.arange(5))
    with pytest.raises(MapInputError, match=r"anchors\[\('random', 3\)\] must lie in"):
        unified_maps(clouds, {("random", 3): np.array([0, 1, 999])}, np.arange(5))
    with pytest.raises(MapInputError, match="NaN"):
        anchor_map(np.full((5, 3), np.nan), {"x": [0, 1]})


def test_maps_tables_written_on_a_real_store(real_store, tmp_path):
    models = ["chgnet-0.3.0", "sevennet-0", "mace-dummy"]
    paths = write_maps(maps_tables(real_store.store, models, real_store.anchors, ks=(3, 8), n_points=150), tmp_path)
    table = pd.read_csv(paths["unified_diversity"])
    assert list(table["model"]) == models and set(table["k"]) == {20}
    summary = pd.read_csv(paths["unified_maps_summary"])
    assert set(summary["k"]) == {3, 8, 20} and set(summary["method"]) == {"direct", "random"}
    # the study's DIRECT anchors are reused as they are at the study's K
    drawn = pd.read_csv(paths["anchor_map"])
    assert sorted(drawn[drawn.method == "direct"]["row"]) == sorted(real_store.anchors["row"])
    assert all(p.exists() for p in paths.values())


def test_maps_are_bitwise_reproducible_where_sklearn_would_pick_a_randomised_svd():
    """PCA's automatic solver is a seedless randomised SVD above 500 rows: the maps pin the exact one."""
    X = np.random.default_rng(3).normal(size=(1500, 60))
    anchors = {"direct": np.arange(0, 1500, 50)}
    first, second = anchor_map(X, anchors), anchor_map(X.copy(), anchors)
    pd.testing.assert_frame_equal(first[0], second[0], check_exact=True)
    pd.testing.assert_frame_equal(first[1], second[1], check_exact=True)
    np.testing.assert_array_equal(first[2], second[2])
