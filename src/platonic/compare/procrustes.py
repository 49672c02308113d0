r"""Orthogonal Procrustes similarity of two embeddings, and a permutation null.

Both matrices are centred, scaled to unit Frobenius norm and zero-padded to the
same width. With :math:`Q^*` the orthogonal matrix minimising
:math:`\|A - BQ\|_F` (Schönemann 1966),

.. math::

    \mathrm{Score_{Procrustes}} = 1 - \frac{\|A - BQ^*\|_F^2}{\|A\|_F^2 + \|B\|_F^2}
                                = \|A^\top B\|_*,

the nuclear norm (sum of singular values) of the :math:`d_A \times d_B` matrix
:math:`A^\top B`: with unit norms :math:`\|A - BQ\|^2 = 2 - 2\,\mathrm{tr}(Q^\top B^\top A)`
and the trace is maximised by the polar factor of :math:`B^\top A`. Zero padding adds
zero singular values only, so no padding is materialised. The cost is one pass over the
rows plus a :math:`d_A \times d_B` SVD, so it runs at N = 282,847 in well under a second.

The score lies in [0, 1] and is 1 exactly when B is a rotated, reflected, translated or
scaled copy of A. Independent random data already scores well above 0 (about 0.17 for
n = 500, 20 dimensions), hence :func:`permutation_null`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ._moments import CentredStats, centred_cross_product
from ._validation import MetricInputError, check_paired, check_positive_int
from platonic.validation import seed_alias


def procrustes_score(A: np.ndarray, B: np.ndarray) -> float:
    """Procrustes similarity of two row-matched embeddings (see module docstring).

    Parameters
    ----------
    A : array of shape (n_atoms, d_a)
    B : array of shape (n_atoms, d_b), row i describing the same atom as in A

    Returns
    -------
    float in [0, 1]
    """
    A, B = check_paired(A, B, dtypes=(np.float64, np.float32))
    stats_a, stats_b = CentredStats(A), CentredStats(B)
    cross = centred_cross_product(A, B, stats_a.mean, stats_b.mean)
    return procrustes_from_moments(cross, stats_a, stats_b)


def procrustes_from_moments(cross: np.ndarray, stats_a: CentredStats, stats_b: CentredStats) -> float:
    """Procrustes score from ``A_c^T B_c`` and each matrix's centred statistics."""
    for name, stats in (("A", stats_a), ("B", stats_b)):
        if stats.squared_norm <= 0.0:
            raise MetricInputError(f"{name} has zero variance: every row is the same, Procrustes is undefined")
    nuclear_norm = np.linalg.svd(cross, compute_uv=False).sum()
    score = nuclear_norm / np.sqrt(stats_a.squared_norm * stats_b.squared_norm)
    # Rounding can push a perfect match a few ulps above 1.
    return float(min(score, 1.0))


@seed_alias
def permutation_null(
    metric: Callable[[np.ndarray, np.ndarray], float],
    A: np.ndarray,
    B: np.ndarray,
    n_permutations: int = 10,
    random_state: int = 0,
) -> tuple[float, float]:
    """Mean and standard deviation of ``metric(A, B[perm])`` over random row permutations.

    Shuffling the rows of B breaks the atom correspondence while keeping both
    marginal distributions, so the result is what ``metric`` gives for unrelated
    embeddings of the same shape and spread. Report it next to every score.

    Parameters
    ----------
    metric : callable ``metric(A, B) -> float``, e.g. :func:`procrustes_score`
    A, B : row-matched embeddings
    n_permutations : number of shuffles (>= 2 so that a spread exists)
    random_state : int seed or numpy Generator drawing the permutations

    Returns
    -------
    (mean, std) : std uses ``ddof=1``
    """
    if not callable(metric):
        raise MetricInputError(f"metric must be callable, got {metric!r}")
    A, B = check_paired(A, B, dtypes=(np.float64, np.float32))
    n_permutations = check_positive_int(n_permutations, "n_permutations", minimum=2)
    rng = np.random.default_rng(random_state)
    values = np.array([metric(A, B[rng.permutation(B.shape[0])]) for _ in range(n_permutations)])
    return float(values.mean()), float(values.std(ddof=1))
