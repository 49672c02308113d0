"""LeafSearch against a plain full-matrix search: same rows, same order, ties to the lower index."""

import numpy as np
import pytest

from platonic.compare import MetricInputError
from platonic.compare.leaf_search import LeafSearch


def full_matrix_neighbours(X: np.ndarray, Q: np.ndarray, k: int) -> np.ndarray:
    """Every distance from differences, then (distance, row index) order: the definition."""
    X, Q = np.asarray(X, dtype=np.float64), np.asarray(Q, dtype=np.float64)
    rows = np.arange(X.shape[0])
    return np.array([np.lexsort((rows, ((X - q) ** 2).sum(axis=1)))[:k] for q in Q])


def clustered(rng, n_clusters: int, per_cluster: int, d: int, spread: float) -> np.ndarray:
    centres = rng.standard_normal((n_clusters, d))
    return np.repeat(centres, per_cluster, axis=0) + spread * rng.standard_normal((n_clusters * per_cluster, d))


@pytest.mark.parametrize("leaf_size", [2, 16, 256])
@pytest.mark.parametrize("k", [1, 7, 40])
def test_clustered_rows_give_the_full_matrix_answer_and_prune(leaf_size, k):
    rng = np.random.default_rng(leaf_size + k)
    X = clustered(rng, 40, 50, 12, 0.05)
    Q = X[rng.choice(len(X), 150, replace=False)] + 0.01 * rng.standard_normal((150, 12))
    search = LeafSearch(leaf_size=leaf_size).fit(X)
    np.testing.assert_array_equal(search.kneighbors(Q, k), full_matrix_neighbours(X, Q, k))
    if leaf_size <= 16 and k <= 7:
        # tight clusters: most leaves are never opened, or the search is a slow brute force
        assert search.pairs_computed_ < 0.3


def test_float32_rows_are_searched_like_their_float64_values():
    rng = np.random.default_rng(1)
    X = clustered(rng, 20, 30, 9, 0.1).astype(np.float32)
    Q = X[:50] + np.float32(0.01)
    np.testing.assert_array_equal(LeafSearch(leaf_size=8).fit(X).kneighbors(Q, 5), full_matrix_neighbours(X, Q, 5))


def test_identical_rows_come_out_in_index_order_and_force_the_certified_fallback():
    rng = np.random.default_rng(2)
    base = rng.standard_normal((30, 5))
    X = np.concatenate([base, np.repeat(base[:3], 20, axis=0)])  # rows 0-2 have 20 more copies each
    rng.shuffle(X)
    Q = base[:3] + 1e-9
    search = LeafSearch(leaf_size=8, spare=2).fit(X)
    got = search.kneighbors(Q, 10)
    np.testing.assert_array_equal(got, full_matrix_neighbours(X, Q, 10))
    for row in got:
        assert np.all(np.diff(row) > 0)  # ten copies of one row: indices ascending
    # 21 equal rows straddle the 10th place: the kept list cannot be certified, a full scan answers
    assert search.n_full_scans_ == 3


def test_a_near_tie_beyond_rounding_is_resolved_by_distance_not_index():
    X = np.array([[1.0, 0.0], [1.0 + 1e-12, 0.0], [5.0, 5.0], [6.0, 6.0]])
    got = LeafSearch(leaf_size=2).fit(X[::-1]).kneighbors(np.array([[0.0, 0.0]]), 2)
    np.testing.assert_array_equal(got, [[3, 2]])  # reversed rows: the nearer one has the higher index


def test_k_equal_to_the_number_of_rows_sorts_every_row():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((37, 4))
    Q = rng.standard_normal((6, 4))
    np.testing.assert_array_equal(LeafSearch(leaf_size=4).fit(X).kneighbors(Q, 37), full_matrix_neighbours(X, Q, 37))


def test_results_do_not_depend_on_the_query_chunks():
    rng = np.random.default_rng(4)
    X = clustered(rng, 30, 40, 8, 0.2)
    Q = rng.standard_normal((300, 8))
    search = LeafSearch(leaf_size=32).fit(X)
    np.testing.assert_array_equal(search.kneighbors(Q, 6, chunk_rows=7), search.kneighbors(Q, 6))


def test_bad_input_is_named():
    search = LeafSearch().fit(np.ones((10, 3)) * np.arange(10)[:, None])
    with pytest.raises(MetricInputError, match="queries have 2 columns"):
        search.kneighbors(np.zeros((1, 2)), 1)
    with pytest.raises(MetricInputError, match="at most the number of reference rows"):
        search.kneighbors(np.zeros((1, 3)), 11)
    with pytest.raises(MetricInputError, match="leaf_size"):
        LeafSearch(leaf_size=1)
    with pytest.raises(MetricInputError, match="NaN or inf"):
        LeafSearch().fit(np.array([[0.0, np.nan], [1.0, 1.0]]))
