"""Centred second moments in feature space, computed in row chunks.

Procrustes and CKA both reduce to products of centred feature matrices
(``A_c^T B_c``, ``A_c^T A_c``). Centring a copy of a 282,847 x 128 float64 matrix
costs 290 MB per model; centring chunk by chunk keeps the extra memory at
``chunk_rows x d`` while the product is still one BLAS call per chunk.
"""

from __future__ import annotations

import numpy as np

#: Rows per chunk: 65,536 x 128 float64 is 64 MB.
DEFAULT_CHUNK_ROWS = 65_536


def centred_cross_product(
    A: np.ndarray,
    B: np.ndarray,
    mean_a: np.ndarray | None = None,
    mean_b: np.ndarray | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> np.ndarray:
    """Return ``(A - mean_a)^T (B - mean_b)`` in float64, summing over row chunks."""
    mean_a = A.mean(axis=0, dtype=np.float64) if mean_a is None else mean_a
    mean_b = B.mean(axis=0, dtype=np.float64) if mean_b is None else mean_b
    product = np.zeros((A.shape[1], B.shape[1]))
    for start in range(0, A.shape[0], chunk_rows):
        stop = start + chunk_rows
        product += (A[start:stop] - mean_a).T @ (B[start:stop] - mean_b)
    return product


class CentredStats:
    """Per-matrix quantities reused by every pair a matrix takes part in.

    Attributes
    ----------
    mean : column means, shape (d,)
    gram : centred feature Gram matrix ``A_c^T A_c``, shape (d, d)
    squared_norm : ``||A_c||_F^2`` (the trace of ``gram``)
    """

    def __init__(self, A: np.ndarray, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> None:
        self.mean = A.mean(axis=0, dtype=np.float64)
        self.gram = centred_cross_product(A, A, self.mean, self.mean, chunk_rows)
        self.squared_norm = float(np.trace(self.gram))
