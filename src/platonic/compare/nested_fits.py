r"""GFRE between column blocks of one feature matrix, each row set factored once.

The cumulant order gain (:func:`platonic.analyse.cumulants.cumulant_order_gain`) fits, for
k = 2 … N, the first (k−1)d columns of a structure-feature matrix F to its first kd columns and
to its k-th block: 2(N−1) :class:`~platonic.compare.estimators.Ridge2FoldCV` fits whose sources
and targets are all columns of one matrix. Every row set such a fit reads (the two CV folds, all
training rows, the test rows) holds F's columns in the span of its own thin QR factor,
:math:`F_R = Q_R T_R`, so every quantity of the fit is :math:`Q_R` times a small matrix:

* the source :math:`X_R = F_R[:, :p]/s_X` has the SVD :math:`(Q_R u) S V^\top`, where
  :math:`u S V^\top` is the SVD of the small :math:`T_R[:, :p]/s_X`;
* for a target :math:`Y_R = F_R[:, J]/s_Y`, :math:`U^\top Y_R = u^\top T_R[:, J]/s_Y`;
* a residual :math:`Y_R - X_R W = Q_R\,(T_R[:, J]/s_Y - T_R[:, :p] W/s_X)` has the column norms of
  the small matrix in brackets, since :math:`Q_R` has orthonormal columns.

So the rows enter only four triangular factors; each fit after that costs O(w³) for F's width w,
not O(n w²). The fit is :func:`platonic.compare.reconstruction.global_reconstruction_error`'s, step
for step: centring on the training means and one total-variance scale per source and per target
(:class:`~platonic.compare.estimators.TotalVarianceScaler`), the 2-fold split, the relative cutoff
grid, the singular-value floor ``max(n_train, p) * eps`` and the first-best rule of
:class:`~platonic.compare.estimators.Ridge2FoldCV`. The values agree with it to rounding (tested);
the sums are taken in another order, so not to the last bit.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.model_selection import KFold

from .estimators import Ridge2FoldCV, _rmse_by_rank
from ._validation import MetricInputError, check_matrix

Columns = slice | Sequence[int] | np.ndarray


class NestedFits:
    """GFRE from a column prefix of ``F`` to any set of its columns, on a fixed train/test split.

    Parameters
    ----------
    F : array (n_rows, w), finite
    train, test : row indices of the split (e.g. :func:`platonic.compare.reconstruction.default_split`)
    estimator : a :class:`Ridge2FoldCV` giving the alphas and the fold seed (default: its defaults)
    """

    def __init__(self, F: np.ndarray, train: np.ndarray, test: np.ndarray,
                 estimator: Ridge2FoldCV | None = None) -> None:
        model = Ridge2FoldCV() if estimator is None else estimator
        F = check_matrix(F, "F")
        train, test = np.asarray(train), np.asarray(test)
        if train.size < 4 or test.size < 1:
            raise MetricInputError(f"need at least 4 training rows (2 per CV fold) and 1 test row, got "
                                   f"{train.size} and {test.size}")
        self.alphas = model._alphas()
        rows = F[train]
        self.mean = rows.mean(axis=0)
        centred = rows - self.mean
        self.variance = (centred**2).mean(axis=0)  # per column; a block's total variance is a sum of these
        self.n_train, self.n_test, self.width = train.size, test.size, F.shape[1]
        fold_1, fold_2 = next(KFold(n_splits=2, shuffle=True, random_state=model.random_state).split(centred))
        self.fold_sizes = (fold_1.size, fold_2.size)
        triangular = lambda block: np.linalg.qr(block, mode="r")  # noqa: E731 - Q is never needed
        self.fold_factors = (triangular(centred[fold_1]), triangular(centred[fold_2]))
        self.train_factor = triangular(centred)
        self.test_factor = triangular(F[test] - self.mean)

    def _scale(self, columns: Columns, what: str) -> float:
        total = float(self.variance[columns].sum())
        if total <= 1e-12:
            raise MetricInputError(f"cannot scale the {what} columns: zero total variance")
        return np.sqrt(total)

    def gfre(self, width: int, target: Columns) -> float:
        """GFRE from columns ``[:width]`` to columns ``target`` (a slice or index array)."""
        if not 1 <= width <= self.width:
            raise MetricInputError(f"width must lie in [1, {self.width}], got {width}")
        s_x, s_y = self._scale(slice(0, width), "source"), self._scale(target, "target")
        floor = max(self.n_train, width) * np.finfo(np.float64).eps
        fits = [np.linalg.svd(factor[:, :width] / s_x, full_matrices=False) for factor in self.fold_factors]
        largest = max(s[0] for _, s, _ in fits)
        cutoffs = np.maximum(self.alphas * largest, floor)
        ranks, rmse = {}, {}
        # each fold predicted from the other's fit: residual Q_p (Y_p - X_p V_f S_f^-1 U_f^T Y_f), read in Q_p's frame
        for fitted, predicted in ((0, 1), (1, 0)):
            u, s, vt = fits[fitted]
            factor = self.fold_factors[predicted]
            kept = s > floor
            basis = np.zeros((factor.shape[0], s.size))
            basis[:, kept] = ((factor[:, :width] / s_x) @ vt[kept].T) / s[kept]
            coefficients = u.T @ (self.fold_factors[fitted][:, target] / s_y)
            ranks[fitted] = [int(np.sum(s > cutoff)) for cutoff in cutoffs]
            rmse[predicted] = _rmse_by_rank(factor[:, target] / s_y, basis, coefficients, ranks[fitted],
                                           self.fold_sizes[predicted])
        losses = np.array([0.5 * (rmse[0][m_1] + rmse[1][m_0]) for m_0, m_1 in zip(ranks[0], ranks[1])])
        best = int(np.argmin(losses))
        u, s, vt = np.linalg.svd(self.train_factor[:, :width] / s_x, full_matrices=False)
        m = int(np.sum(s > max(self.alphas[best] * largest, floor)))
        coef = (vt[:m].T / s[:m]) @ (u[:, :m].T @ (self.train_factor[:, target] / s_y))
        residual = self.test_factor[:, target] / s_y - (self.test_factor[:, :width] / s_x) @ coef
        return float(np.sqrt(np.sum(residual**2) / self.n_test))

