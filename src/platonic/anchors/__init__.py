"""Anchors: the K atom rows whose embeddings define the unified (Platonic) coordinates.

Anchors are row indices into the shared atom table, so the same atoms serve every model.
:func:`select_anchors` picks them on a reference model's embedding matrix with DIRECT
sampling (the default) or a baseline; :mod:`platonic.anchors.diversity` judges a set.
"""

from __future__ import annotations

import numpy as np

from platonic.anchors._validation import AnchorError, check_anchor_rows, check_embeddings
from platonic.anchors.baselines import distinct_random_anchors, farthest_point_anchors, random_anchors
from platonic.anchors.direct import DIRECTConvergenceError, DIRECTSampler
from platonic.anchors.diversity import anchor_diversity, diversity_table
from platonic.anchors.space import KaiserPCASpace
from platonic.validation import seed_alias

ANCHOR_METHODS = ("direct", "random", "fps")


@seed_alias
def select_anchors(X: np.ndarray, k: int, method: str = "direct", random_state: int = 0) -> np.ndarray:
    """Row indices of ``k`` anchors chosen on the embedding matrix ``X`` (atoms × features).

    ``method``: ``"direct"`` (:class:`DIRECTSampler`, anchors ordered by cluster),
    ``"random"`` (:func:`distinct_random_anchors`, in the order drawn) or ``"fps"``
    (:func:`farthest_point_anchors`, in the order picked).

    The chosen rows are checked to be distinct, non-zero vectors of ``X``; otherwise
    :class:`AnchorError`.
    """
    data = check_embeddings(X)
    if method == "direct":
        rows = DIRECTSampler(n_anchors=k, random_state=random_state).fit(data).anchors_
    elif method == "random":
        rows = distinct_random_anchors(data, k, random_state=random_state)
    elif method == "fps":
        rows = farthest_point_anchors(data, k, random_state=random_state)
    else:
        raise AnchorError(f"unknown anchor method {method!r}; choose one of {ANCHOR_METHODS}")
    return check_anchor_rows(data, rows)


__all__ = [
    "ANCHOR_METHODS",
    "AnchorError",
    "DIRECTConvergenceError",
    "DIRECTSampler",
    "KaiserPCASpace",
    "anchor_diversity",
    "diversity_table",
    "distinct_random_anchors",
    "farthest_point_anchors",
    "random_anchors",
    "select_anchors",
]
