"""Baseline anchor samplers: uniform random rows and greedy farthest-point sampling."""

from __future__ import annotations

import numpy as np

from platonic.anchors._validation import AnchorError, check_embeddings, check_n_anchors
from platonic.anchors.space import KaiserPCASpace
from platonic.validation import seed_alias


@seed_alias
def random_anchors(n_rows: int, k: int, random_state: int = 0) -> np.ndarray:
    """``k`` distinct row indices drawn uniformly without replacement from ``range(n_rows)``.

    Returned in the order drawn (``numpy.random.default_rng(random_state).choice``).
    """
    if isinstance(n_rows, bool) or not isinstance(n_rows, (int, np.integer)) or n_rows < 1:
        raise AnchorError(f"n_rows must be a positive integer, got {n_rows!r}")
    k = check_n_anchors(k, int(n_rows))
    rng = np.random.default_rng(random_state)
    return rng.choice(int(n_rows), size=k, replace=False).astype(np.int64)


@seed_alias
def distinct_random_anchors(X: np.ndarray, k: int, random_state: int = 0) -> np.ndarray:
    """``k`` rows drawn uniformly at random among the rows of ``X``, skipping repeats.

    Rows are visited in the order of ``default_rng(random_state).permutation``; a row whose vector equals
    an already chosen one (symmetry-equivalent atoms embed identically) or is all zeros is passed
    over. This is uniform sampling of atoms conditioned on the anchors being distinct vectors, so
    the random baseline never fails on datasets with repeated rows.
    """
    data = check_embeddings(X)
    k = check_n_anchors(k, data.shape[0])
    seen: set[bytes] = set()
    rows: list[int] = []
    for i in np.random.default_rng(random_state).permutation(data.shape[0]):
        key = data[i].tobytes()
        if key in seen or not data[i].any():
            continue
        seen.add(key)
        rows.append(int(i))
        if len(rows) == k:
            return np.asarray(rows, dtype=np.int64)
    raise AnchorError(f"only {len(rows)} distinct non-zero rows, cannot pick {k} anchors")


@seed_alias
def farthest_point_anchors(X: np.ndarray, k: int, random_state: int = 0) -> np.ndarray:
    """Greedy farthest-point sampling in the weighted Kaiser PCA space of ``X``.

    With ``S`` the coordinates of :class:`~platonic.anchors.space.KaiserPCASpace` (the
    DIRECT feature space), the first anchor is a row drawn uniformly with ``random_state``; then

    ``a_{j+1} = argmax_i min_{l <= j} ||S_i − S_{a_l}||``  (ties: the lowest row index).

    Keeps one running minimum distance per row: ``O(n·k·m)`` time, ``O(n)`` extra memory.

    Raises :class:`AnchorError` when fewer than ``k`` distinct rows exist (the farthest
    remaining row would be at distance 0 from an anchor).
    """
    data = check_embeddings(X)
    k = check_n_anchors(k, data.shape[0])
    if data.shape[0] < 2:
        return np.zeros(1, dtype=np.int64)
    scores = KaiserPCASpace(weight_by_variance_ratio=True).fit_transform(data)
    rng = np.random.default_rng(random_state)
    anchors = np.empty(k, dtype=np.int64)
    anchors[0] = rng.integers(scores.shape[0])
    nearest_anchor_distance = np.linalg.norm(scores - scores[anchors[0]], axis=1)
    for j in range(1, k):
        farthest = int(np.argmax(nearest_anchor_distance))
        if nearest_anchor_distance[farthest] == 0.0:
            raise AnchorError(
                f"cannot choose {k} anchors: only {j} distinct rows exist in the standardised PCA space"
            )
        anchors[j] = farthest
        np.minimum(nearest_anchor_distance, np.linalg.norm(scores - scores[farthest], axis=1),
                   out=nearest_anchor_distance)
    return anchors
