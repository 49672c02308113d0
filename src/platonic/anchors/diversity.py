"""How spread out an anchor set is: mean pairwise distance and silhouette (Table S1/S2)."""

from __future__ import annotations

import time
from typing import Iterable

import numpy as np
import pandas as pd
from scipy.spatial.distance import pdist
from sklearn.metrics import pairwise_distances_argmin, silhouette_score

from platonic.anchors._validation import AnchorError, check_anchor_rows, check_embeddings
from platonic.anchors.space import KaiserPCASpace
from platonic.validation import check_seed, seed_alias


@seed_alias
def anchor_diversity(
    X: np.ndarray,
    anchors: np.ndarray,
    *,
    weight_by_variance_ratio: bool = False,
    silhouette_sample_size: int = 10_000,
    random_state: int = 0,
) -> dict[str, float | int]:
    """Diversity of ``anchors`` (row indices) in the reference model's standardised PCA space.

    Both measures use the coordinates ``P`` of :class:`~platonic.anchors.space.KaiserPCASpace`
    fitted on all of ``X``: columns standardised, projected on the ``m`` principal
    components with eigenvalue > 1. By default the components are *not* weighted, so
    distances are in units of standard deviations of the data (set
    ``weight_by_variance_ratio=True`` for the space DIRECT clusters in).

    * ``mean_pairwise_distance`` = ``2/(K(K−1)) Σ_{k<l} ||P_{a_k} − P_{a_l}||₂``: mean
      Euclidean distance over the ``K(K−1)/2`` anchor pairs. Larger = anchors further apart.
    * ``silhouette``: every row is labelled by its nearest anchor (Euclidean in ``P``), i.e.
      the Voronoi partition the anchors induce; the silhouette score
      ``mean_i (b_i − a_i) / max(a_i, b_i)`` of that partition (``a_i``: mean distance of
      ``i`` to its own cell, ``b_i``: to the nearest other cell) is computed by
      ``sklearn.metrics.silhouette_score`` on ``min(n, silhouette_sample_size)`` rows
      drawn uniformly without replacement with ``random_state`` (the full silhouette costs ``O(n²)``).
      High = the anchors sit in separated groups; near 0 = they tile a continuous cloud.

    Returns a dict with ``mean_pairwise_distance``, ``silhouette``, ``n_anchors``,
    ``n_components``, ``n_silhouette_rows`` and ``random_state``.

    Raises :class:`AnchorError` for fewer than 2 anchors (no pair, no second cell), for
    anchors that are not distinct non-zero rows, or when the sample has a single cell.
    """
    random_state = check_seed(random_state, "random_state", AnchorError)  # written in the results
    data = check_embeddings(X)
    rows = check_anchor_rows(data, anchors)
    if rows.size < 2:
        raise AnchorError("anchor diversity needs at least 2 anchors")
    if silhouette_sample_size < 2:
        raise AnchorError(f"silhouette_sample_size must be >= 2, got {silhouette_sample_size}")
    space = KaiserPCASpace(weight_by_variance_ratio=weight_by_variance_ratio).fit(data)
    coordinates = space.transform(data)
    anchor_coordinates = coordinates[rows]

    mean_pairwise_distance = float(pdist(anchor_coordinates).mean())

    rng = np.random.default_rng(random_state)
    n_sample = min(data.shape[0], silhouette_sample_size)
    sample = np.sort(rng.choice(data.shape[0], size=n_sample, replace=False))
    cells = pairwise_distances_argmin(coordinates[sample], anchor_coordinates)
    n_cells = np.unique(cells).size
    if not 2 <= n_cells <= n_sample - 1:
        raise AnchorError(
            f"the silhouette needs 2..{n_sample - 1} occupied anchor cells in the sample, got {n_cells}"
        )
    silhouette = float(silhouette_score(coordinates[sample], cells))
    return {
        "mean_pairwise_distance": mean_pairwise_distance,
        "silhouette": silhouette,
        "n_anchors": int(rows.size),
        "n_components": int(space.n_components_),
        "n_silhouette_rows": int(n_sample),
        "seed": int(random_state),
    }


def diversity_table(
    X: np.ndarray,
    k: int,
    methods: Iterable[str] = ("direct", "random"),
    seeds: Iterable[int] = (0, 42, 12345),
    **diversity_options,
) -> pd.DataFrame:
    """Anchor diversity for each (method, seed): the paper's Table S1 comparison.

    For every method and seed, anchors are chosen by :func:`platonic.anchors.select_anchors`
    with that seed and judged by :func:`anchor_diversity` (the silhouette subsample uses the
    same seed). ``diversity_options`` go to :func:`anchor_diversity`.

    Returns one row per (method, seed) with columns ``method, seed, n_anchors,
    mean_pairwise_distance, silhouette, n_components, n_silhouette_rows, select_seconds``.
    """
    from platonic.anchors import select_anchors  # the package imports this module

    data = check_embeddings(X)
    records = []
    for method in methods:
        for seed in seeds:
            start = time.perf_counter()
            rows = select_anchors(data, k, method=method, random_state=seed)
            elapsed = time.perf_counter() - start
            measures = anchor_diversity(data, rows, random_state=seed, **diversity_options)
            records.append(
                {
                    "method": method,
                    "seed": int(seed),
                    "n_anchors": measures["n_anchors"],
                    "mean_pairwise_distance": measures["mean_pairwise_distance"],
                    "silhouette": measures["silhouette"],
                    "n_components": measures["n_components"],
                    "n_silhouette_rows": measures["n_silhouette_rows"],
                    "select_seconds": elapsed,
                }
            )
    return pd.DataFrame.from_records(records)
