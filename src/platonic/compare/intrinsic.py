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
the exact leaf search (:func:`platonic.compare.knn.nearest_rows`) for the two nearest neighbours,
with distances recomputed from differences.

:func:`twonn_stability` refits on many subsets of one cloud (merge tolerances, random subsamples).
It searches the cloud once (:class:`NeighbourLists`: every row's ``m`` nearest rows, distances
recomputed from differences) and answers each refit from those lists: the merge graph from the
candidate pairs within the tolerance, the two nearest kept rows from the first kept candidates.
A row whose list cannot answer exactly (``m`` rows within the largest tolerance, or fewer than
two kept rows among its candidates) is searched against the whole subset instead, so every fit
equals :func:`two_nn_dimension` on that subset (representatives of merged groups included: the
first row in the subset's order).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from sklearn.neighbors import NearestNeighbors

from .knn import nearest_rows
from ._validation import MetricInputError, check_fraction, check_matrix
from platonic.validation import seed_alias


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
    dimension, n_fitted = _fit_ratios(r1, r2, discard_fraction)
    return TwoNNResult(dimension=dimension, n_duplicates=int(n_duplicates), n_fitted=n_fitted)


def _fit_ratios(r1: np.ndarray, r2: np.ndarray, discard_fraction: float) -> tuple[float, int]:
    """The TwoNN slope from the first and second neighbour distances (module docstring)."""
    ratios = np.sort(r2 / r1)
    n = ratios.size
    n_fitted = int(np.floor(n * (1.0 - discard_fraction)))
    if n_fitted < 2:
        raise MetricInputError(f"only {n_fitted} points left to fit after discarding the top {discard_fraction:.0%}")
    log_ratio = np.log(ratios[:n_fitted])
    log_survival = -np.log(1.0 - np.arange(1, n_fitted + 1) / n)
    return float(log_ratio @ log_survival / (log_ratio @ log_ratio)), n_fitted


class NeighbourLists:
    """Every row's ``m`` nearest rows of ``X`` (itself included), by distances from differences.

    Searched once (:func:`~platonic.compare.knn.nearest_rows`, then re-sorted by the distances from
    differences); :meth:`two_nn` then
    answers :func:`two_nn_dimension` for any ordered subset of the rows and any merge tolerance
    up to ``max_tol`` (module docstring).
    """

    def __init__(self, X: np.ndarray, max_tol: float, m: int = 32, block: int = 2048):
        self.points = X
        n = X.shape[0]
        self.max_tol = float(max_tol)
        candidates = nearest_rows(X, X, min(m, n))
        distances = np.empty(candidates.shape)
        for start in range(0, n, block):
            part = slice(start, start + block)
            distances[part] = np.linalg.norm(X[candidates[part]] - X[part, None, :], axis=2)
        order = np.argsort(distances, axis=1, kind="stable")
        self.candidates = np.take_along_axis(candidates, order, axis=1)
        self.distances = np.take_along_axis(distances, order, axis=1)
        # A list whose farthest row lies within the largest tolerance may miss rows within it; the
        # slack covers the search's rounding (~1e-8 of the row norms in float64) at its boundary.
        slack = 1e-6 * float(np.sqrt((X**2).sum(axis=1).max()))
        self.complete = (self.distances[:, -1] > self.max_tol + slack) | (candidates.shape[1] == n)

    def _exact(self, row: int, among: np.ndarray) -> np.ndarray:
        return np.linalg.norm(self.points[among] - self.points[row], axis=1)

    def merge(self, rows: np.ndarray, tol: float) -> np.ndarray:
        """The rows kept by :func:`deduplicate_rows` on ``X[rows]`` (first of each group in ``rows``' order)."""
        if tol > self.max_tol:
            raise MetricInputError(f"tolerance {tol} above the lists' largest {self.max_tol}")
        n = self.points.shape[0]
        position = np.full(n, -1)
        position[rows] = np.arange(rows.size)
        near = (self.distances[rows] <= tol) & (position[self.candidates[rows]] >= 0)
        source, target = rows[np.nonzero(near)[0]], self.candidates[rows][near]
        extra_source, extra_target = [], []
        for row in rows[~self.complete[rows]]:
            within = rows[self._exact(row, rows) <= tol]
            extra_source.append(np.full(within.size, row))
            extra_target.append(within)
        if extra_source:
            source = np.concatenate([source, *extra_source])
            target = np.concatenate([target, *extra_target])
        graph = coo_matrix((np.ones(source.size), (position[source], position[target])), shape=(rows.size, rows.size))
        _, labels = connected_components(graph, directed=False)
        _, first = np.unique(labels, return_index=True)
        return rows[np.sort(first)]

    def two_nn(self, rows: np.ndarray, tol: float, discard_fraction: float = 0.1) -> TwoNNResult:
        """:func:`two_nn_dimension` of ``X[rows]`` with ``dedup_tol=tol``."""
        kept = self.merge(rows, tol)
        if kept.size < 3:
            raise MetricInputError(f"only {kept.size} distinct rows left after removing duplicates: need at least 3")
        is_kept = np.zeros(self.points.shape[0], dtype=bool)
        is_kept[kept] = True
        candidates, distances = self.candidates[kept], self.distances[kept]
        usable = is_kept[candidates] & (candidates != kept[:, None])
        # the first two usable candidates of every row, in distance order
        first_two = np.argsort(~usable, axis=1, kind="stable")[:, :2]
        found = np.take_along_axis(usable, first_two, axis=1).all(axis=1)
        r = np.take_along_axis(distances, first_two, axis=1)
        for i in np.flatnonzero(~found):
            others = kept[kept != kept[i]]
            d = self._exact(kept[i], others)
            r[i] = np.sort(np.partition(d, 1)[:2])
        dimension, n_fitted = _fit_ratios(r[:, 0], r[:, 1], discard_fraction)
        return TwoNNResult(dimension=dimension, n_duplicates=int(rows.size - kept.size), n_fitted=n_fitted)


#: relative merge tolerances of the sweep (x the RMS row norm): float noise up to 1e-3
DEFAULT_TOLERANCES = (1e-6, 1e-5, 1e-4, 1e-3)
#: subsample fractions of the stability curve
DEFAULT_FRACTIONS = (0.25, 0.5, 1.0)


def one_per_class(classes: np.ndarray) -> np.ndarray:
    """Sorted indices of the first row of every distinct label (e.g. one atom per spglib-equivalent set)."""
    _, first = np.unique(np.asarray(classes), return_index=True)
    return np.sort(first)


@seed_alias
def twonn_stability(
    X: np.ndarray,
    classes: np.ndarray | None = None,
    tolerances: tuple[float, ...] = DEFAULT_TOLERANCES,
    fractions: tuple[float, ...] = DEFAULT_FRACTIONS,
    repeats: int = 3,
    reference_tolerance: float = 1e-4,
    max_relative_spread: float = 0.1,
    random_state: int = 0,
) -> tuple[dict[str, object], list[dict[str, float]]]:
    """TwoNN with its stability checked; a number only where it plateaus.

    1. **Deduplicate by symmetry**: with ``classes`` (one label per row, e.g. structure id +
       spglib's Wyckoff-equivalence class) only one row per class is kept, so
       symmetry-equivalent atoms cannot supply the zero first-neighbour distances.
    2. **Tolerance sweep**: :func:`two_nn_dimension` with ``dedup_tol`` = each relative tolerance
       x the RMS row norm of the kept rows.
    3. **Subsample curve**: at ``reference_tolerance``, ``repeats`` seeded random subsets of each
       fraction of the kept rows (one draw at fraction 1).

    The estimate is **stable** when every tolerance of the sweep gives a value within
    ``max_relative_spread`` (default 10%) of their median and the mean over draws at every fraction
    is within the same relative distance of the full-sample value. Then ``dimension`` is the
    full-sample value at ``reference_tolerance``; otherwise it is NaN and ``verdict`` says
    "no stable estimate" with the reason.

    Returns
    -------
    (summary, curve) : summary dict (``dimension``, ``stable``, ``verdict``, ``n_rows``,
        ``n_kept``, ``tolerance_min``/``max`` estimates, ``subsample_min``/``max``), and the
        curve as a list of rows (``kind`` tolerance or subsample, ``relative_tol``, ``fraction``,
        ``draw``, ``dimension``, ``n_points``)
    """
    X = np.asarray(check_matrix(X, "X", min_rows=3, dtypes=(np.float64, np.float32)), dtype=np.float64)
    kept = np.arange(X.shape[0]) if classes is None else one_per_class(classes)
    if classes is not None and len(classes) != X.shape[0]:
        raise MetricInputError(f"classes must have one label per row ({X.shape[0]}), got {len(classes)}")
    points = X[kept]
    scale = float(np.sqrt((points**2).sum(axis=1).mean()))
    curve: list[dict[str, float]] = []
    on_all_rows: dict[float, TwoNNResult] = {}  # the full-sample fit at one tolerance serves the sweep and the curve

    lists = NeighbourLists(points, max_tol=max([*tolerances, reference_tolerance]) * scale)
    every_row = np.arange(points.shape[0])

    def fit_all_rows(tol: float) -> TwoNNResult:
        if tol not in on_all_rows:
            on_all_rows[tol] = lists.two_nn(every_row, tol * scale)
        return on_all_rows[tol]

    for tol in tolerances:
        result = fit_all_rows(tol)
        curve.append({"kind": "tolerance", "relative_tol": tol, "fraction": 1.0, "draw": 0,
                      "dimension": result.dimension, "n_points": points.shape[0] - result.n_duplicates})
    rng = np.random.default_rng(random_state)
    full = fit_all_rows(reference_tolerance).dimension
    subsample_means = {}
    for fraction in fractions:
        draws = 1 if fraction >= 1.0 else repeats
        values = []
        for draw in range(draws):
            size = max(3, int(round(fraction * points.shape[0])))
            if fraction >= 1.0:
                rows, result = every_row, fit_all_rows(reference_tolerance)
            else:
                rows = rng.choice(points.shape[0], size, replace=False)
                result = lists.two_nn(rows, reference_tolerance * scale)
            values.append(result.dimension)
            curve.append({"kind": "subsample", "relative_tol": reference_tolerance, "fraction": fraction, "draw": draw,
                          "dimension": result.dimension, "n_points": rows.size - result.n_duplicates})
        subsample_means[fraction] = float(np.mean(values))
    swept = np.array([row["dimension"] for row in curve if row["kind"] == "tolerance"])
    reasons = []
    if swept.size and np.abs(swept - np.median(swept)).max() > max_relative_spread * abs(np.median(swept)):
        reasons.append(f"varies {swept.min():.3g}-{swept.max():.3g} over merge tolerances "
                       f"{min(tolerances):g}-{max(tolerances):g}")
    drift = {f: m for f, m in subsample_means.items() if abs(m - full) > max_relative_spread * abs(full)}
    if drift:
        reasons.append("subsamples give " + ", ".join(f"{m:.3g} at {f:.0%}" for f, m in drift.items())
                       + f" vs {full:.3g} on all rows")
    stable = not reasons
    summary = {
        "dimension": full if stable else float("nan"),
        "estimate_at_reference_tol": full,
        "stable": stable,
        "verdict": f"stable: {full:.3g}" if stable else "no stable estimate: " + "; ".join(reasons),
        "n_rows": int(X.shape[0]),
        "n_kept": int(kept.size),
        "tolerance_min": float(swept.min()) if swept.size else float("nan"),
        "tolerance_max": float(swept.max()) if swept.size else float("nan"),
        "subsample_min": float(min(subsample_means.values())),
        "subsample_max": float(max(subsample_means.values())),
        "reference_tol": reference_tolerance,
        "max_relative_spread": max_relative_spread,
    }
    return summary, curve
