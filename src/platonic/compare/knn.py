r"""Mutual k-nearest-neighbour agreement (mKNN) of two embeddings.

For each query atom i, :math:`N_A(i)` is the set of its k nearest neighbours among
all rows of A (Euclidean distance after L2-normalising every row, so the order is
that of cosine similarity; the atom itself excluded), and likewise :math:`N_B(i)`.

* ``score="jaccard"`` (the Platonic-representation paper's definition):
  :math:`\frac{1}{|Q|}\sum_{i \in Q} |N_A(i) \cap N_B(i)| \,/\, |N_A(i) \cup N_B(i)|`
* ``score="overlap"`` (Huh et al. 2024's code):
  :math:`\frac{1}{|Q|}\sum_{i \in Q} |N_A(i) \cap N_B(i)| \,/\, k`

Since :math:`|N_A \cup N_B| = 2k - |N_A \cap N_B|`, overlap = 2J/(1+J) per atom:
the overlap score is always the larger one. Every table must say which one it shows.

Neighbours are exact (:class:`platonic.compare.leaf_search.LeafSearch`: BLAS products inside leaves
of a principal-axis tree, leaves pruned by the triangle inequality, the final order certified
against rounding; memory bounded by a few hundred MB whatever N). A brute search costs
:math:`|Q| \cdot N \cdot d`; the leaves compute 4-24 % of it on MP-20's unit-normalised embeddings.
With all N = 282,847 MP-20 atoms as queries a brute search would be ~8 min per model on 2 cores
(1.7e8 query-row pairs per second measured); ``n_queries`` then draws a uniform random subset Q of query atoms
(``numpy.random.default_rng(seed)``) whose neighbours are still searched among all
N rows, so each per-atom term is exact and only the average is estimated (its standard
error is about std/sqrt(|Q|)).

Ties (e.g. symmetry-equivalent atoms with identical embeddings) go to the lower row index: the
lists do not depend on how the search is split.

**Same-structure exclusion** (``groups``, e.g. the structure id of every atom). The
symmetry-equivalent copies of an atom in its own structure have (near-)identical embeddings in
every invariant model, so they fill each other's neighbour lists in every model alike and
inflate the agreement with something no model learned. With ``groups`` given, the neighbours
of atom i are its k nearest atoms *of other groups* (its own group, itself included, is
skipped). The search then asks for ``k + g`` rows, g the largest group, which is exact: at most
g of them can belong to the query's group.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from ._validation import MetricInputError, check_matrix, check_paired, check_positive_int
from platonic.validation import seed_alias

KnnScore = Literal["jaccard", "overlap"]


@seed_alias
def choose_query_rows(n_rows: int, n_queries: int | None, random_state: int = 0) -> np.ndarray:
    """Sorted row indices of the query atoms: all rows, or ``n_queries`` drawn without replacement."""
    if n_queries is None or n_queries >= n_rows:
        return np.arange(n_rows)
    n_queries = check_positive_int(n_queries, "n_queries")
    return np.sort(np.random.default_rng(random_state).choice(n_rows, size=n_queries, replace=False))


def nearest_rows(reference: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Exact Euclidean k nearest rows of ``reference`` for each row of ``queries`` (nearest first,
    ties by the lower row index).

    Unlike :func:`knn_indices` nothing is excluded: use it when queries and reference
    are different atoms (e.g. test rows searched among training rows).
    """
    reference = check_matrix(reference, "reference", min_rows=1, dtypes=(np.float64, np.float32))
    queries = check_matrix(queries, "queries", min_rows=1, dtypes=(np.float64, np.float32))
    if reference.shape[1] != queries.shape[1]:
        raise MetricInputError(
            f"reference and queries must have the same width, got {reference.shape[1]} and {queries.shape[1]}"
        )
    k = check_positive_int(k, "k")
    if k > reference.shape[0]:
        raise MetricInputError(f"k must be at most the number of reference rows ({reference.shape[0]}), got {k}")
    from .leaf_search import LeafSearch  # numba's import costs ~1 s: only a search pays it

    return LeafSearch().fit(reference).kneighbors(queries, k)


def knn_indices(X: np.ndarray, k: int, query_indices: np.ndarray | None = None,
                groups: np.ndarray | None = None) -> np.ndarray:
    """Exact Euclidean k nearest neighbours of rows of X among all rows, self excluded.

    Parameters
    ----------
    X : array of shape (n_rows, d); float32 input is searched in float32
    k : number of neighbours, 1 <= k < n_rows
    query_indices : rows whose neighbours are wanted (default: all rows)
    groups : optional label per row (e.g. structure id); neighbours sharing the query's label
        are excluded (see the module docstring)

    Returns
    -------
    int array of shape (n_queries, k): row indices of X, nearest first
    """
    X = check_matrix(X, "X", dtypes=(np.float64, np.float32))
    n_rows = X.shape[0]
    k = check_positive_int(k, "k")
    if k >= n_rows:
        raise MetricInputError(f"k must be smaller than the number of rows ({n_rows}), got {k}")
    queries = np.arange(n_rows) if query_indices is None else np.asarray(query_indices)
    if queries.ndim != 1 or not np.issubdtype(queries.dtype, np.integer):
        raise MetricInputError("query_indices must be a 1-D integer array")
    if queries.size and (queries.min() < 0 or queries.max() >= n_rows):
        raise MetricInputError(f"query_indices must lie in [0, {n_rows}), got values outside")

    if groups is not None:
        return _knn_other_groups(X, k, queries, groups)
    neighbours = nearest_rows(X, X[queries], k + 1)
    # The query itself is normally among its own k + 1 nearest rows; if more than k
    # exact duplicates hide it, every returned row is at distance 0 and the last is dropped.
    is_self = neighbours == queries[:, None]
    is_self[~is_self.any(axis=1), -1] = True
    return neighbours[~is_self].reshape(len(queries), k)


def _knn_other_groups(X: np.ndarray, k: int, queries: np.ndarray, groups: np.ndarray) -> np.ndarray:
    labels = np.asarray(groups)
    if labels.shape != (X.shape[0],):
        raise MetricInputError(f"groups must have one label per row ({X.shape[0]}), got shape {labels.shape}")
    _, codes, sizes = np.unique(labels, return_inverse=True, return_counts=True)
    available = X.shape[0] - sizes[codes[queries]]
    if queries.size and available.min() < k:
        worst = int(queries[np.argmin(available)])
        raise MetricInputError(
            f"row {worst} has only {int(available.min())} rows outside its group {labels[worst]!r}: k = {k} is too large"
        )
    n_search = min(X.shape[0], k + int(sizes.max()))
    neighbours = nearest_rows(X, X[queries], n_search)
    other = codes[neighbours] != codes[queries][:, None]
    # stable argsort keeps the distance order among the rows of other groups
    first = np.argsort(~other, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(neighbours, first, axis=1)


def l2_normalise_rows(X: np.ndarray) -> np.ndarray:
    """Rows of X divided by their Euclidean norm; raises on an all-zero row."""
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    zero_rows = np.flatnonzero(norms[:, 0] == 0.0)
    if zero_rows.size:
        raise MetricInputError(f"{zero_rows.size} rows are all zeros (first: row {zero_rows[0]}) and cannot be normalised")
    return X / norms


def neighbourhood_agreement(neighbours_a: np.ndarray, neighbours_b: np.ndarray, score: KnnScore = "jaccard") -> float:
    """Mean Jaccard index or overlap/k of two neighbour lists, row by row.

    Parameters
    ----------
    neighbours_a, neighbours_b : int arrays of shape (n_queries, k) for the same query atoms
    score : ``"jaccard"`` or ``"overlap"`` (see module docstring)
    """
    if score not in ("jaccard", "overlap"):
        raise MetricInputError(f"score must be 'jaccard' or 'overlap', got {score!r}")
    if neighbours_a.shape != neighbours_b.shape or neighbours_a.ndim != 2:
        raise MetricInputError(
            f"neighbour lists must be 2-D with equal shapes, got {neighbours_a.shape} and {neighbours_b.shape}"
        )
    k = neighbours_a.shape[1]
    shared = np.empty(neighbours_a.shape[0])
    # The k x k comparison per atom is done in row blocks to bound memory.
    block = max(1, 4_000_000 // (k * k))
    for start in range(0, neighbours_a.shape[0], block):
        a = neighbours_a[start : start + block]
        b = neighbours_b[start : start + block]
        shared[start : start + block] = (a[:, :, None] == b[:, None, :]).any(axis=2).sum(axis=1)
    if score == "overlap":
        return float(np.mean(shared / k))
    return float(np.mean(shared / (2 * k - shared)))


@seed_alias
def mutual_knn(
    A: np.ndarray,
    B: np.ndarray,
    k: int = 10,
    score: KnnScore = "jaccard",
    n_queries: int | None = None,
    random_state: int = 0,
    groups: np.ndarray | None = None,
) -> float:
    """Mutual k-NN agreement of two row-matched embeddings (see module docstring).

    Parameters
    ----------
    A : array of shape (n_atoms, d_a)
    B : array of shape (n_atoms, d_b)
    k : neighbours per atom (default 10)
    score : ``"jaccard"`` (paper) or ``"overlap"`` (Huh et al.)
    n_queries : average over this many random query atoms instead of all (None: all, exact)
    random_state : int seed or numpy Generator of the query draw (used only when ``n_queries`` < n_atoms)
    groups : optional label per atom (e.g. structure id): neighbours with the query's label are
        excluded in both embeddings

    Returns
    -------
    float in [0, 1]
    """
    A, B = check_paired(A, B, dtypes=(np.float64, np.float32))
    if score not in ("jaccard", "overlap"):
        raise MetricInputError(f"score must be 'jaccard' or 'overlap', got {score!r}")
    queries = choose_query_rows(A.shape[0], n_queries, random_state)
    neighbours_a = knn_indices(l2_normalise_rows(A), k, queries, groups)
    neighbours_b = knn_indices(l2_normalise_rows(B), k, queries, groups)
    return neighbourhood_agreement(neighbours_a, neighbours_b, score)
