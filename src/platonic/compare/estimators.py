"""The two scikit-learn estimators of the reconstruction measures: the total-variance scaler and
the two-fold cross-validated ridge (the scikit-matter protocol; maths in :mod:`platonic.compare.reconstruction`)."""

from __future__ import annotations

from typing import Protocol

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, TransformerMixin
from sklearn.model_selection import KFold
from sklearn.utils.validation import check_is_fitted, validate_data

from ._validation import MetricInputError

#: scikit-matter's seed for the train/test split and the CV folds.
SPLIT_SEED = 0x5F3759DF
DEFAULT_ALPHAS = np.geomspace(1e-9, 0.9, 20)


class Scaler(Protocol):
    def fit(self, X: np.ndarray) -> object: ...
    def transform(self, X: np.ndarray) -> np.ndarray: ...


class Regressor(Protocol):
    def fit(self, X: np.ndarray, Y: np.ndarray) -> object: ...
    def predict(self, X: np.ndarray) -> np.ndarray: ...


def _validated(estimator: BaseEstimator, X: object, y: object = "no_validation", *, reset: bool, min_rows: int = 1,
               **kwargs):
    """``sklearn.utils.validation.validate_data`` (finite, 2-D, float64, feature count), its
    ValueError re-raised as :class:`MetricInputError` with the same message."""
    if not isinstance(y, str):
        kwargs["y_numeric"] = True
    try:
        return validate_data(estimator, X, y, reset=reset, dtype=np.float64, ensure_min_samples=min_rows, **kwargs)
    except ValueError as error:
        raise MetricInputError(str(error)) from error


class TotalVarianceScaler(TransformerMixin, BaseEstimator):
    r"""Centre columns and divide by :math:`\sqrt{\sum_j \mathrm{Var}_j}` (one scalar for all columns).

    After scaling the training rows have :math:`\frac1n\|X\|_F^2 = 1`, which bounds the
    error of the zero map by 1. Raises on data with no variance.
    """

    def fit(self, X: np.ndarray, y: object = None) -> TotalVarianceScaler:
        X = _validated(self, X, reset=True, min_rows=2)  # y is ignored
        self.mean_ = X.mean(axis=0)
        total_variance = float(((X - self.mean_) ** 2).mean(axis=0).sum())
        if total_variance <= 1e-12:
            raise MetricInputError("cannot scale a matrix with zero total variance")
        self.scale_ = np.sqrt(total_variance)
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        check_is_fitted(self, ["mean_", "scale_"])
        X = _validated(self, X, reset=False)
        return (X - self.mean_) / self.scale_


class Ridge2FoldCV(RegressorMixin, BaseEstimator):
    r"""Linear regression without intercept, singular-value cutoff chosen by 2-fold CV.

    For a cutoff :math:`c`, the fit is the truncated-SVD pseudo-inverse solution
    :math:`W = V_m S_m^{-1} U_m^\top Y` keeping the m singular values :math:`s > c`
    (and above the floor ``max(X.shape) * eps``).
    Candidate cutoffs are :math:`c = \alpha\, s_{\max}` for each ``alpha`` (relative
    to the largest singular value of the two folds). The training rows are split in
    two folds (``KFold(2, shuffle=True, random_state)``); each alpha is scored by
    the root-mean-square error per target column, averaged over columns and over the
    two directions (fit on one fold, predict the other); the first best alpha is refit
    on all rows. This is the behaviour of scikit-matter's ``Ridge2FoldCV`` with
    ``alpha_type="relative"``, ``regularization_method="cutoff"``.

    Parameters
    ----------
    alphas : 1-D array of relative cutoffs in [0, 1), or None for scikit-matter's
        reconstruction-measure grid ``np.geomspace(1e-9, 0.9, 20)``
    random_state : seed of the 2-fold split (default scikit-matter's 0x5F3759DF)

    Attributes
    ----------
    coef_ : array of shape (n_features, n_targets), or (n_features,) for a 1-D target;
        predictions are ``X @ coef_``
    alpha_ : the chosen relative alpha
    cv_losses_ : CV loss for each alpha
    """

    def __init__(self, alphas: np.ndarray | None = None, random_state: int | None = SPLIT_SEED) -> None:
        self.alphas = alphas
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _alphas(self) -> np.ndarray:
        alphas = DEFAULT_ALPHAS if self.alphas is None else np.asarray(self.alphas, dtype=float)
        if alphas.ndim != 1 or alphas.size == 0 or np.any(alphas < 0) or np.any(alphas >= 1):
            raise MetricInputError(f"alphas must be a non-empty 1-D array of relative values in [0, 1), got {self.alphas!r}")
        return alphas

    def fit(self, X: np.ndarray, y: np.ndarray) -> Ridge2FoldCV:
        # 2-fold CV needs two rows in each fold
        X, y = _validated(self, X, y, reset=True, min_rows=4, multi_output=True)
        coef, self.alpha_, self.cv_losses_ = TwoFoldCutoffSolver(X, self._alphas(), self.random_state).solve(
            y[:, None] if y.ndim == 1 else y)
        self.coef_ = coef[:, 0] if y.ndim == 1 else coef
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        check_is_fitted(self, ["coef_"])
        X = _validated(self, X, reset=False)
        return X @ self.coef_


#: Rows per block of :func:`_rmse_by_rank`: a 1,024 x 128 float64 residual (1 MB) stays in cache
#: through every rank's update and sum of squares.
RESIDUAL_BLOCK_ROWS = 1024


def _rmse_by_rank(Y: np.ndarray, basis: np.ndarray, coefficients: np.ndarray, ranks: list[int],
                  n_rows: int | None = None) -> dict[int, float]:
    """Mean over columns of the RMS residual of ``Y - basis[:, :m] @ coefficients[:m]``, for each m of
    ``ranks``, over ``n_rows`` rows (default: Y's; more when Y and basis are the coordinates of a
    larger row set in its orthonormal factor, as in :mod:`platonic.compare.nested_fits`). The residual is updated from one rank to the next (one product over all the
    directions in total, instead of one per rank), block of rows by block of rows, so that each
    rank's update and sum of squares reads a block held in cache instead of the whole residual
    again (at full MP-20 size those passes over memory, not the products, were the cost). The values
    equal the direct ones to rounding (the sums of squares are added in blocks)."""
    wanted = sorted(set(ranks))
    squares = np.zeros((len(wanted), Y.shape[1]))
    for start in range(0, Y.shape[0], RESIDUAL_BLOCK_ROWS):
        rows = slice(start, start + RESIDUAL_BLOCK_ROWS)
        residual = np.array(Y[rows], dtype=np.float64, copy=True)
        done = 0
        for index, m in enumerate(wanted):
            if m > done:
                residual -= basis[rows, done:m] @ coefficients[done:m]
                done = m
            squares[index] += np.einsum("ij,ij->j", residual, residual)
    rms = np.sqrt(squares / (Y.shape[0] if n_rows is None else n_rows)).mean(axis=1)
    return {m: float(value) for m, value in zip(wanted, rms)}


class TwoFoldCutoffSolver:
    """The source side of :class:`Ridge2FoldCV`, factored once and solved for many targets.

    Everything that depends only on X (the 2-fold split, the SVD of each fold and of all rows,
    the fold projections) is computed here once; :meth:`solve` then costs a few products with Y.
    A model x model matrix of GFRE/GFRD reuses one solver per source model for every target
    (:class:`platonic.compare.global_fits.GlobalFits`); ``Ridge2FoldCV.fit`` runs through this
    class too. Each fold's CV residual is computed once per number of kept directions, updated from
    one number to the next (:func:`_rmse_by_rank`).
    """

    def __init__(self, X: np.ndarray, alphas: np.ndarray, random_state: int | None) -> None:
        self.X = X
        self.alphas = alphas
        self.floor = max(X.shape) * np.finfo(X.dtype).eps
        self.folds = next(KFold(n_splits=2, shuffle=True, random_state=random_state).split(X))
        fold_1, fold_2 = self.folds
        self.svd_1 = np.linalg.svd(X[fold_1], full_matrices=False)
        self.svd_2 = np.linalg.svd(X[fold_2], full_matrices=False)
        self.largest = max(self.svd_1[1][0], self.svd_2[1][0])
        # Projections reused by every alpha and target: prediction = (X_other V_m / s_m) (U_m^T Y_fold).
        self.a_2 = self._scaled(X[fold_2] @ self.svd_1[2].T, self.svd_1[1])  # predicts fold 2 from fold 1's fit
        self.a_1 = self._scaled(X[fold_1] @ self.svd_2[2].T, self.svd_2[1])
        self._svd_all: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def _scaled(self, projection: np.ndarray, singular_values: np.ndarray) -> np.ndarray:
        # columns of singular values at or below the floor are never kept: left at zero, not divided by ~0
        return np.divide(projection, singular_values, out=np.zeros_like(projection),
                         where=singular_values > self.floor)

    def _kept(self, singular_values: np.ndarray, cutoff: float) -> int:
        return int(np.sum(singular_values > max(cutoff, self.floor)))

    def solve(self, Y: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
        """(coef of shape (n_features, n_targets), chosen alpha, CV loss per alpha) for a 2-D target Y."""
        fold_1, fold_2 = self.folds
        u_y_1, u_y_2 = self.svd_1[0].T @ Y[fold_1], self.svd_2[0].T @ Y[fold_2]
        cutoffs = self.alphas * self.largest
        # fold 2 is predicted from fold 1's first m_1 directions, fold 1 from fold 2's first m_2
        m_1 = [self._kept(self.svd_1[1], c) for c in cutoffs]
        m_2 = [self._kept(self.svd_2[1], c) for c in cutoffs]
        rmse_2 = _rmse_by_rank(Y[fold_2], self.a_2, u_y_1, m_1)
        rmse_1 = _rmse_by_rank(Y[fold_1], self.a_1, u_y_2, m_2)
        losses = np.array([0.5 * (rmse_1[b] + rmse_2[a]) for a, b in zip(m_1, m_2)])
        best = int(np.argmin(losses))
        if self._svd_all is None:
            self._svd_all = np.linalg.svd(self.X, full_matrices=False)
        u, s, vt = self._svd_all
        m = self._kept(s, self.alphas[best] * self.largest)
        coef = (vt[:m].T / s[:m]) @ (u[:, :m].T @ Y)
        return coef, float(self.alphas[best]), losses
