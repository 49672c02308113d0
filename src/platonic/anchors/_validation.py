"""Input checks shared by the anchor samplers and the diversity measures."""

from __future__ import annotations

import numpy as np
from platonic.errors import PlatonicError
from platonic.validation import check_matrix


class AnchorError(PlatonicError, ValueError):
    """Bad input to anchor selection: wrong shape, non-finite values, or unusable anchors."""


def check_embeddings(X: np.ndarray, name: str = "X") -> np.ndarray:
    """``X`` as a finite 2-D float array (float32 kept, anything else float64); :class:`AnchorError`
    naming the first offending row otherwise (:func:`platonic.validation.check_matrix`)."""
    return check_matrix(X, name, AnchorError, dtype=(np.float64, np.float32))


def check_n_anchors(k: int, n_rows: int) -> int:
    """Check that ``1 <= k <= n_rows`` and return ``k`` as an int."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise AnchorError(f"the number of anchors must be an integer, got {k!r}")
    if k < 1:
        raise AnchorError(f"the number of anchors must be at least 1, got {k}")
    if k > n_rows:
        raise AnchorError(f"cannot choose {k} anchors from {n_rows} rows")
    return int(k)


def check_anchor_rows(X: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """Check that ``anchors`` index distinct, non-zero rows of ``X``; return them as int64.

    Anchors serve as directions in the cosine transform, so a zero row has no direction,
    and two anchors with identical vectors would give two identical unified coordinates.
    """
    rows = np.asarray(anchors)
    if rows.ndim != 1 or rows.size == 0:
        raise AnchorError(f"anchors must be a non-empty 1-D array of row indices, got shape {rows.shape}")
    if not np.issubdtype(rows.dtype, np.integer):
        raise AnchorError(f"anchors must be integer row indices, got dtype {rows.dtype}")
    rows = rows.astype(np.int64)
    if rows.min() < 0 or rows.max() >= X.shape[0]:
        raise AnchorError(f"anchor row indices must lie in [0, {X.shape[0]}), got {rows.min()}..{rows.max()}")
    if np.unique(rows).size != rows.size:
        raise AnchorError("anchors contain the same row index more than once")
    vectors = X[rows]
    zero = np.flatnonzero(~np.any(vectors != 0, axis=1))
    if zero.size:
        raise AnchorError(f"anchor row {int(rows[zero[0]])} is a zero vector: it has no direction")
    _, group, counts = np.unique(vectors, axis=0, return_inverse=True, return_counts=True)
    if np.any(counts > 1):
        same = rows[group.ravel() == np.flatnonzero(counts > 1)[0]]
        raise AnchorError(
            f"anchors include rows with identical embeddings (rows {int(same[0])} and {int(same[1])}); "
            "identical anchors give identical unified coordinates"
        )
    return rows
