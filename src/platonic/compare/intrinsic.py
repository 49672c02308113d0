r"""Intrinsic dimension by the two-nearest-neighbour (TwoNN) estimator of Facco et al. (2017).

For each point, :math:`\mu = r_2 / r_1`, the ratio of its second to first
nearest-neighbour distance. If the density is locally uniform on a d-dimensional
manifold, :math:`\mu` is Pareto distributed, :math:`F(\mu) = 1 - \mu^{-d}`, so

.. math::

    -\log\big(1 - F(\mu)\big) = d \log \mu .

With the :math:`\mu_{(i)}` sorted ascending and the empirical :math:`F(\mu_{(i)}) = i/n`,
the points with the largest ``discard_fraction`` of :math:`\mu` (noise-dominated
tail) are dropped, and d is the least-squares slope through the origin of
:math:`y_i = -\log(1 - i/n)` against :math:`x_i = \log \mu_{(i)}`:
:math:`d = \sum x_i y_i / \sum x_i^2`.

Identical points give :math:`r_1 = 0` and an infinite :math:`\mu` (symmetry-equivalent
atoms of an invariant model are exactly such points), so points closer than
``dedup_tol`` (absolute Euclidean distance, in X's units) are merged first: every
connected group of such points keeps one representative. How many were removed is
returned with the estimate. Neighbour search is exact: a ball tree for the merge radius,
brute force for the two nearest neighbours, with distances recomputed from differences.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.sparse.csgraph import connected_components
from sklearn.neighbors import NearestNeighbors

from .knn import nearest_rows
from ._validation import MetricInputError, check_fraction, check_matrix


class TwoNNResult(NamedTuple):
    """Intrinsic dimension estimate and what it was computed on.

    dimension : the TwoNN estimate d
    n_duplicates : rows removed as duplicates of another row (within ``dedup_tol``)
    n_fitted : points in the straight-line fit (after removing duplicates and the discarded tail)
    """

    dimension: float
    n_duplicates: int
    n_fitted: int


def deduplicate_rows(X: np.ndarray, tol: float) -> np.ndarray:
    """Indices of one representative per group of rows linked by distances <= ``tol``."""
    # A ball tree measures differences directly; the brute-force expansion
    # |x|^2 + |y|^2 - 2 x.y has rounding errors of ~1e-7 |x| and would miss exact duplicates.
    graph = NearestNeighbors(radius=tol, algorithm="ball_tree").fit(X).radius_neighbors_graph(X, mode="connectivity")
    _, labels = connected_components(graph, directed=False)
    _, first_rows = np.unique(labels, return_index=True)
    return np.sort(first_rows)


def two_nn_dimension(X: np.ndarray, dedup_tol: float = 1e-8, discard_fraction: float = 0.1) -> TwoNNResult:
    """TwoNN intrinsic dimension of the rows of X (see module docstring).

    Parameters
    ----------
    X : array of shape (n_points, n_features)
    dedup_tol : rows at Euclidean distance <= dedup_tol are merged before the estimate (>= 0)
    discard_fraction : fraction of the largest ratios mu left out of the fit, in [0, 1)

    Returns
    -------
    :class:`TwoNNResult`
    """
    X = check_matrix(X, "X", min_rows=3)
    if not (np.isfinite(dedup_tol) and dedup_tol >= 0):
        raise MetricInputError(f"dedup_tol must be a finite number >= 0, got {dedup_tol!r}")
    discard_fraction = check_fraction(discard_fraction, "discard_fraction")
    kept = deduplicate_rows(X, dedup_tol)
    n_duplicates = X.shape[0] - kept.size
    if kept.size < 3:
        raise MetricInputError(f"only {kept.size} distinct rows left after removing duplicates: need at least 3")
    points = X[kept]
    neighbours = nearest_rows(points, points, 3)
    # Column 0 is the point itself, since duplicates are gone. Distances are recomputed
    # from differences, as the search's expanded form is imprecise for close pairs.
    r1 = np.linalg.norm(points[neighbours[:, 1]] - points, axis=1)
    r2 = np.linalg.norm(points[neighbours[:, 2]] - points, axis=1)
    ratios = np.sort(r2 / r1)
    n = ratios.size
    n_fitted = int(np.floor(n * (1.0 - discard_fraction)))
    if n_fitted < 2:
        raise MetricInputError(f"only {n_fitted} points left to fit after discarding the top {discard_fraction:.0%}")
    log_ratio = np.log(ratios[:n_fitted])
    log_survival = -np.log(1.0 - np.arange(1, n_fitted + 1) / n)
    dimension = float(log_ratio @ log_survival / (log_ratio @ log_ratio))
    return TwoNNResult(dimension=dimension, n_duplicates=int(n_duplicates), n_fitted=n_fitted)
