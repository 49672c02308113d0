r"""Linear centred kernel alignment (CKA), biased and unbiased, in O(N d^2).

With row-centred features :math:`X \in \mathbb{R}^{n \times d_x}`,
:math:`Y \in \mathbb{R}^{n \times d_y}` and linear kernels :math:`K = XX^\top`,
:math:`L = YY^\top`, Kornblith et al. (2019) define

.. math::

    \mathrm{CKA}(X, Y) = \frac{\mathrm{HSIC}(K, L)}{\sqrt{\mathrm{HSIC}(K, K)\,\mathrm{HSIC}(L, L)}}
                       = \frac{\|Y^\top X\|_F^2}{\|X^\top X\|_F\,\|Y^\top Y\|_F},

using :math:`\mathrm{tr}(KL) = \|X^\top Y\|_F^2`: only feature-space Gram products
are formed, never the :math:`n \times n` kernels.

**Unbiased variant** (``unbiased=True``). The biased HSIC is replaced by the unbiased
estimator of Song et al. (2012), used for CKA by Nguyen et al. (2021). With
:math:`\tilde K = K - \mathrm{diag}(K)` (zero diagonal) and likewise :math:`\tilde L`,

.. math::

    \mathrm{HSIC}_u(K, L) = \frac{1}{n(n-3)} \Big[ \mathrm{tr}(\tilde K \tilde L)
        + \frac{\mathbf 1^\top \tilde K \mathbf 1 \; \mathbf 1^\top \tilde L \mathbf 1}{(n-1)(n-2)}
        - \frac{2}{n-2}\, \mathbf 1^\top \tilde K \tilde L \mathbf 1 \Big].

Every term has an O(n d^2) form. Writing :math:`r_i = \|x_i\|^2` (the diagonal of K)
and :math:`s = X^\top \mathbf 1`:

* :math:`\mathrm{tr}(\tilde K \tilde L) = \|X^\top Y\|_F^2 - \sum_i r^X_i r^Y_i`
  (the full trace minus the diagonal terms),
* :math:`\mathbf 1^\top \tilde K \mathbf 1 = \|s\|^2 - \sum_i r_i`,
* :math:`\mathbf 1^\top \tilde K \tilde L \mathbf 1 = (\tilde K \mathbf 1)^\top (\tilde L \mathbf 1)`
  with :math:`\tilde K \mathbf 1 = X s - r`, an n-vector.

Features are centred first, as in Kornblith et al.'s feature-space code; the unbiased
estimate needs n >= 4.
"""

from __future__ import annotations

import numpy as np

from ._moments import DEFAULT_CHUNK_ROWS, CentredStats, centred_cross_product
from ._validation import MetricInputError, check_paired


def linear_cka(A: np.ndarray, B: np.ndarray, unbiased: bool = False) -> float:
    """Linear CKA of two row-matched embeddings (see module docstring).

    Parameters
    ----------
    A : array of shape (n_atoms, d_a)
    B : array of shape (n_atoms, d_b)
    unbiased : use the unbiased HSIC estimator (Song et al. 2012) instead of the biased one

    Returns
    -------
    float; in [0, 1] for the biased estimator, the unbiased one can be slightly negative
    """
    A, B = check_paired(A, B, min_rows=4 if unbiased else 2, dtypes=(np.float64, np.float32))
    if unbiased:
        kernel_a, kernel_b = LinearKernelStats(A), LinearKernelStats(B)
        cross = centred_cross_product(A, B, kernel_a.centred.mean, kernel_b.centred.mean)
        return unbiased_cka_from_moments(cross, kernel_a, kernel_b)
    stats_a, stats_b = CentredStats(A), CentredStats(B)
    cross = centred_cross_product(A, B, stats_a.mean, stats_b.mean)
    return cka_from_moments(cross, stats_a, stats_b)


def cka_from_moments(cross: np.ndarray, stats_a: CentredStats, stats_b: CentredStats) -> float:
    """Biased linear CKA from ``A_c^T B_c`` and each matrix's centred Gram matrix."""
    norm_a = np.linalg.norm(stats_a.gram)
    norm_b = np.linalg.norm(stats_b.gram)
    for name, norm in (("A", norm_a), ("B", norm_b)):
        if norm <= 0.0:
            raise MetricInputError(f"{name} has zero variance: every row is the same, CKA is undefined")
    return float(np.sum(cross**2) / (norm_a * norm_b))


class LinearKernelStats:
    """Per-matrix terms of the unbiased HSIC for the linear kernel of the centred rows.

    Attributes
    ----------
    centred : :class:`CentredStats` (mean, Gram matrix)
    n : number of rows
    row_sq_norms : ``r_i = ||x_i - mean||^2``, the diagonal of K
    zero_diag_row_sums : ``K~ 1 = X s - r``
    zero_diag_total : ``1^T K~ 1``
    """

    def __init__(self, A: np.ndarray, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> None:
        self.centred = CentredStats(A, chunk_rows)
        self.n = A.shape[0]
        self.row_sq_norms = np.empty(self.n)
        column_sums = np.zeros(A.shape[1])
        for start in range(0, self.n, chunk_rows):
            chunk = A[start : start + chunk_rows] - self.centred.mean
            self.row_sq_norms[start : start + chunk_rows] = np.einsum("ij,ij->i", chunk, chunk)
            column_sums += chunk.sum(axis=0)
        row_dot_sums = np.empty(self.n)
        for start in range(0, self.n, chunk_rows):
            chunk = A[start : start + chunk_rows] - self.centred.mean
            row_dot_sums[start : start + chunk_rows] = chunk @ column_sums
        self.zero_diag_row_sums = row_dot_sums - self.row_sq_norms
        self.zero_diag_total = float(column_sums @ column_sums - self.row_sq_norms.sum())

    def hsic(self, other: LinearKernelStats, cross: np.ndarray) -> float:
        """Unbiased HSIC between this kernel and ``other``; ``cross = X_c^T Y_c``."""
        n = self.n
        trace = float(np.sum(cross**2) - self.row_sq_norms @ other.row_sq_norms)
        totals = self.zero_diag_total * other.zero_diag_total / ((n - 1) * (n - 2))
        row_sums = 2.0 / (n - 2) * float(self.zero_diag_row_sums @ other.zero_diag_row_sums)
        return (trace + totals - row_sums) / (n * (n - 3))


def unbiased_cka_from_moments(cross: np.ndarray, kernel_a: LinearKernelStats, kernel_b: LinearKernelStats) -> float:
    """Unbiased linear CKA from ``A_c^T B_c`` and each matrix's :class:`LinearKernelStats`."""
    self_a = kernel_a.hsic(kernel_a, kernel_a.centred.gram)
    self_b = kernel_b.hsic(kernel_b, kernel_b.centred.gram)
    for name, value in (("A", self_a), ("B", self_b)):
        if value <= 0.0:
            raise MetricInputError(
                f"the unbiased HSIC of {name} with itself is {value:.3g} <= 0 "
                "(too few rows or no variance): unbiased CKA is undefined"
            )
    return float(kernel_a.hsic(kernel_b, cross) / np.sqrt(self_a * self_b))
