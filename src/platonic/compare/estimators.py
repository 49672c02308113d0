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
        alphas = self._alphas()
        # 2-fold CV needs two rows in each fold
        X, y = _validated(self, X, y, reset=True, min_rows=4, multi_output=True)
        Y = y[:, None] if y.ndim == 1 else y
        floor = max(X.shape) * np.finfo(X.dtype).eps
        fold_1, fold_2 = next(KFold(n_splits=2, shuffle=True, random_state=self.random_state).split(X))
        svd_1 = np.linalg.svd(X[fold_1], full_matrices=False)
        svd_2 = np.linalg.svd(X[fold_2], full_matrices=False)
        largest = max(svd_1[1][0], svd_2[1][0])
        # Projections reused by every alpha: prediction = (X_other V_m / s_m) (U_m^T Y_fold).
        u_y_1, x2_v1 = svd_1[0].T @ Y[fold_1], X[fold_2] @ svd_1[2].T
        u_y_2, x1_v2 = svd_2[0].T @ Y[fold_2], X[fold_1] @ svd_2[2].T

        def loss(cutoff: float) -> float:
            m_1 = int(np.sum(svd_1[1] > max(cutoff, floor)))
            m_2 = int(np.sum(svd_2[1] > max(cutoff, floor)))
            predicted_2 = (x2_v1[:, :m_1] / svd_1[1][:m_1]) @ u_y_1[:m_1]
            predicted_1 = (x1_v2[:, :m_2] / svd_2[1][:m_2]) @ u_y_2[:m_2]
            rmse_2 = np.sqrt(np.mean((Y[fold_2] - predicted_2) ** 2, axis=0)).mean()
            rmse_1 = np.sqrt(np.mean((Y[fold_1] - predicted_1) ** 2, axis=0)).mean()
            return float(0.5 * (rmse_1 + rmse_2))

        self.cv_losses_ = np.array([loss(alpha * largest) for alpha in alphas])
        best = int(np.argmin(self.cv_losses_))
        self.alpha_ = float(alphas[best])
        u, s, vt = np.linalg.svd(X, full_matrices=False)
        m = int(np.sum(s > max(alphas[best] * largest, floor)))
        coef = (vt[:m].T / s[:m]) @ (u[:, :m].T @ Y)
        self.coef_ = coef[:, 0] if y.ndim == 1 else coef
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        check_is_fitted(self, ["coef_"])
        X = _validated(self, X, reset=False)
        return X @ self.coef_
