import numpy as np
import pytest

from platonic.compare import MetricInputError, knn_indices, mutual_knn, neighbourhood_agreement


def brute_force_neighbours(X, k):
    X = X / np.linalg.norm(X, axis=1, keepdims=True)
    distances = np.linalg.norm(X[:, None, :] - X[None, :, :], axis=2)
    np.fill_diagonal(distances, np.inf)
    return np.argsort(distances, axis=1)[:, :k]


def brute_force_mknn(A, B, k, score):
    values = []
    for a, b in zip(brute_force_neighbours(A, k), brute_force_neighbours(B, k)):
        shared = len(set(a) & set(b))
        values.append(shared / k if score == "overlap" else shared / len(set(a) | set(b)))
    return np.mean(values)


@pytest.fixture
def pair():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(300, 8))
    return A, A @ rng.normal(size=(8, 5)) + 0.5 * rng.normal(size=(300, 5))


def test_knn_indices_match_argsort(pair):
    A, _ = pair
    normalised = A / np.linalg.norm(A, axis=1, keepdims=True)
    np.testing.assert_array_equal(knn_indices(normalised, 7), brute_force_neighbours(A, 7))
    queries = np.array([3, 50, 299])
    np.testing.assert_array_equal(knn_indices(normalised, 7, queries), brute_force_neighbours(A, 7)[queries])


@pytest.mark.parametrize("score", ["jaccard", "overlap"])
def test_mutual_knn_matches_brute_force(pair, score):
    assert mutual_knn(*pair, k=10, score=score) == pytest.approx(brute_force_mknn(*pair, 10, score), abs=1e-12)


def test_overlap_exceeds_jaccard_and_identity_scores_one(pair):
    A, B = pair
    assert mutual_knn(A, B, score="overlap") > mutual_knn(A, B, score="jaccard")
    assert mutual_knn(A, 4.0 * A) == 1.0


def test_query_subsample_averages_exact_per_atom_terms(pair):
    A, B = pair
    full = brute_force_neighbours(A, 10), brute_force_neighbours(B, 10)
    rows = np.sort(np.random.default_rng(3).choice(300, size=50, replace=False))
    expected = neighbourhood_agreement(full[0][rows], full[1][rows])
    assert mutual_knn(A, B, n_queries=50, random_state=3) == pytest.approx(expected, abs=1e-12)


def test_self_is_excluded_even_among_duplicates():
    X = np.vstack([np.ones((5, 3)), np.random.default_rng(1).normal(size=(20, 3))])
    neighbours = knn_indices(X, 3)
    assert not np.any(neighbours == np.arange(25)[:, None])


def test_bad_inputs_raise(pair):
    A, B = pair
    with pytest.raises(MetricInputError, match="score"):
        mutual_knn(A, B, score="cosine")
    with pytest.raises(MetricInputError, match="smaller than the number of rows"):
        knn_indices(A, 300)
    with pytest.raises(MetricInputError, match="all zeros"):
        mutual_knn(np.vstack([np.zeros((1, 8)), A[1:]]), B)
