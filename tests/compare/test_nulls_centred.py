"""Permutation nulls, same-structure mKNN exclusion and centred OT, against recomputation from scratch."""

import numpy as np
import ot as pot
import pytest

from platonic.compare import (
    MetricInputError,
    knn_indices,
    linear_cka,
    metric_matrix,
    mutual_knn,
    neighbourhood_agreement,
    permutation_null,
    procrustes_score,
    super_score,
)
from platonic.compare.knn import l2_normalise_rows
from platonic.compare.nulls import permuted_neighbours, query_preserving_permutations
from platonic.compare.ot import entropic_ot


@pytest.fixture(scope="module")
def related():
    rng = np.random.default_rng(0)
    latent = rng.normal(size=(240, 4))
    groups = np.repeat(np.arange(60), 4)  # 60 "structures" of 4 atoms
    A = latent @ rng.normal(size=(4, 6)) + 0.2 * rng.normal(size=(240, 6))
    B = np.tanh(latent @ rng.normal(size=(4, 6))) + 0.2 * rng.normal(size=(240, 6))
    return A, B, groups


def test_same_group_neighbours_are_excluded_exactly(related):
    A, _, groups = related
    X = l2_normalise_rows(A)
    distances = np.linalg.norm(X[:, None] - X[None], axis=2)
    distances[groups[:, None] == groups[None, :]] = np.inf
    expected = np.argsort(distances, axis=1, kind="stable")[:, :5]
    np.testing.assert_array_equal(knn_indices(X, 5, groups=groups), expected)
    queries = np.array([0, 7, 239])
    np.testing.assert_array_equal(knn_indices(X, 5, queries, groups), expected[queries])
    with pytest.raises(MetricInputError, match="one label per row"):
        knn_indices(X, 5, groups=groups[:10])
    with pytest.raises(MetricInputError, match="too large"):
        knn_indices(X[:8], 5, groups=groups[:8])


def test_symmetry_copies_inflate_mknn_and_exclusion_removes_them():
    # Each "structure" holds 4 identical copies of one environment in both models: with them
    # allowed, both models list the same 3 copies first whatever else they think.
    rng = np.random.default_rng(1)
    A = np.repeat(rng.normal(size=(80, 5)), 4, axis=0) + 1e-9 * rng.normal(size=(320, 5))
    B = np.repeat(rng.normal(size=(80, 5)), 4, axis=0) + 1e-9 * rng.normal(size=(320, 5))
    groups = np.repeat(np.arange(80), 4)
    assert mutual_knn(A, B, k=3) == 1.0
    assert mutual_knn(A, B, k=3, groups=groups) < 0.1


def test_mknn_null_equals_recomputed_neighbours_of_the_shuffled_model(related):
    A, B, groups = related
    table = metric_matrix({"a": A, "b": B}, ("mknn",), k=5, n_permutations=4, random_state=3, mknn_groups=groups,
                          include_diagonal=False)
    lists_a = knn_indices(l2_normalise_rows(A), 5, groups=groups)
    values = []
    for perm in query_preserving_permutations(240, np.arange(240), 4, random_state=3):
        # B's rows shuffled, each row keeping its structure label
        lists_b = knn_indices(l2_normalise_rows(B[perm]), 5, groups=groups[perm])
        values.append(neighbourhood_agreement(lists_a, lists_b))
    row = table.iloc[0]
    assert row["null_mean"] == pytest.approx(np.mean(values), abs=1e-12)
    assert row["null_std"] == pytest.approx(np.std(values, ddof=1), abs=1e-12)
    assert row["value"] > row["null_mean"] + 10 * row["null_std"]
    assert "same-structure neighbours excluded" in row["detail"] and "jaccard" in row["detail"]


def test_permuted_lists_with_a_query_subset(related):
    A, B, _ = related
    queries = np.sort(np.random.default_rng(2).choice(240, 60, replace=False))
    lists_b = knn_indices(l2_normalise_rows(B), 5, queries)
    for perm in query_preserving_permutations(240, queries, 3, random_state=1):
        assert set(perm[queries]) == set(queries)
        expected = knn_indices(l2_normalise_rows(B[perm]), 5, queries)
        np.testing.assert_array_equal(permuted_neighbours(lists_b, queries, perm), expected)


def test_procrustes_cka_and_superscore_nulls_match_the_generic_permutation_null(related):
    A, B, _ = related
    table = metric_matrix({"a": A, "b": B}, ("procrustes", "cka", "mknn", "ot", "superscore"), n_permutations=5,
                          random_state=7, ot_n_samples=120, ot_repeats=1, include_diagonal=False)
    row = table.drop_duplicates(["metric"]).set_index("metric")
    assert row.loc["procrustes", "null_mean"] == pytest.approx(permutation_null(procrustes_score, A, B, 5, 7)[0], abs=1e-12)
    assert row.loc["procrustes", "null_std"] == pytest.approx(permutation_null(procrustes_score, A, B, 5, 7)[1], abs=1e-12)
    assert row.loc["cka", "null_mean"] == pytest.approx(permutation_null(linear_cka, A, B, 5, 7)[0], abs=1e-12)
    supers = [super_score(procrustes_score(A, B[p]), mutual_knn(A, B[p]), row.loc["ot", "value"])
              for p in query_preserving_permutations(240, np.arange(240), 5, random_state=7)]
    assert row.loc["superscore", "null_mean"] == pytest.approx(np.mean(supers), abs=1e-12)
    assert np.isnan(row.loc["ot", "null_mean"])  # a row permutation leaves OT unchanged: no null
    # independent clouds sit inside their null
    rng = np.random.default_rng(9)
    noise = metric_matrix({"a": rng.normal(size=(240, 6)), "b": rng.normal(size=(240, 6))}, ("procrustes",),
                          n_permutations=20, include_diagonal=False).iloc[0]
    assert abs(noise["value"] - noise["null_mean"]) < 4 * noise["null_std"]


def _sinkhorn_divergence(X, Y, eps):
    solve = dict(method="sinkhorn_log", num_iter_max=20_000)
    return entropic_ot(X, Y, eps, **solve) - 0.5 * entropic_ot(X, X, eps, **solve) - 0.5 * entropic_ot(Y, Y, eps, **solve)


def test_centred_ot_of_a_translated_copy_is_zero_and_the_uncentred_value_is_exact():
    rng = np.random.default_rng(4)
    A = rng.normal(size=(90, 5)) * [1.0, 0.5, 0.3, 0.2, 0.1]
    C = np.tanh(A @ rng.normal(size=(5, 5)))
    shift = np.full(5, 0.8)
    table = metric_matrix({"a": A, "moved": A + shift, "c": C}, ("ot", "procrustes", "mknn", "superscore"),
                          ot_n_samples=90, ot_repeats=1, centred_space="unified-centred")
    value = table.set_index(["space", "model_a", "model_b", "metric"])["value"]
    assert abs(value["unified-centred", "a", "moved", "ot"]) < 1e-6
    assert value["unified-centred", "a", "moved", "superscore"] == pytest.approx(1.0, abs=1e-6)
    assert value["unified", "a", "moved", "ot"] > 0.1
    assert value["unified", "a", "moved", "mknn"] < 1.0  # cosine neighbours move with the offset
    for other in ("moved", "c"):
        Y = (A + shift if other == "moved" else C)
        Xc, Yc = A - A.mean(0), Y - Y.mean(0)
        eps = 0.05 * pot.dist(Xc, Yc).mean()
        centred = _sinkhorn_divergence(Xc, Yc, eps) / pot.dist(Xc, Yc).mean()
        uncentred = _sinkhorn_divergence(A, Y, eps) / pot.dist(A, Y).mean()
        assert value["unified-centred", "a", other, "ot"] == pytest.approx(centred, abs=1e-6)
        assert value["unified", "a", other, "ot"] == pytest.approx(uncentred, abs=1e-6)
    assert value["unified-centred", "a", "c", "procrustes"] == value["unified", "a", "c", "procrustes"]


def test_stacked_permuted_cross_products_equal_one_draw_at_a_time():
    from platonic.compare._moments import centred_cross_product
    from platonic.compare.nulls import permuted_cross_products

    rng = np.random.default_rng(3)
    A, B = rng.normal(2.0, 1.0, size=(40_000, 6)), rng.normal(-1.0, 0.5, size=(40_000, 4)).astype(np.float32)
    perms = [rng.permutation(40_000) for _ in range(3)]
    mean_a, mean_b = A.mean(axis=0), B.mean(axis=0, dtype=np.float64)
    stacked = permuted_cross_products(A, B, mean_a, mean_b, perms, chunk_rows=7_000)  # chunks not dividing the rows
    assert len(stacked) == 3
    for perm, product in zip(perms, stacked):
        np.testing.assert_allclose(product, centred_cross_product(A, B[perm], mean_a, mean_b), rtol=1e-10, atol=1e-9)
    assert permuted_cross_products(A, B, mean_a, mean_b, []) == []
