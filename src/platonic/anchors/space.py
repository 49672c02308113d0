"""The standardised, Kaiser-truncated PCA space in which anchors are chosen and judged."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

from platonic.anchors._validation import AnchorError, check_embeddings


class KaiserPCASpace(TransformerMixin, BaseEstimator):
    """Standardise, project on the principal components with eigenvalue > 1, optionally weight.

    With ``X̃`` the column-standardised data (zero mean, unit variance, population
    standard deviation; constant columns are left at zero), PCA gives eigenvalues
    ``λ_1 >= λ_2 >= ...`` of the sample covariance of ``X̃`` and loadings ``V``. Kaiser's
    rule keeps the ``m`` components with ``λ_j > 1``, i.e. those explaining more variance
    than one standardised input column. The coordinates are

    ``s_ij = (X̃ V)_ij · w_j``,  ``j = 1..m``,  with ``w_j = λ_j / Σ_l λ_l`` (the explained
    variance ratio) when ``weight_by_variance_ratio`` is true and ``w_j = 1`` otherwise.

    This is the feature space of DIRECT sampling (Qi et al. 2024, maml's
    ``PrincipalComponentAnalysis(weighting_PCs=True)`` after a ``StandardScaler``). At least
    one component always passes the rule unless every column is constant: the eigenvalues
    of ``X̃`` sum to ``p · n/(n-1)`` for ``p`` non-constant columns, so the largest is > 1.

    The rule ranks directions by variance, not by how well they separate groups: a
    direction that separates two small groups can have ``λ < 1`` and be dropped, and the
    groups then overlap in this space (measured case: ``DIRECTSampler``, "Limitation").

    Parameters
    ----------
    weight_by_variance_ratio : bool
        Multiply each kept component by its explained-variance ratio.

    Attributes
    ----------
    n_components_ : int
        Number ``m`` of components kept by Kaiser's rule.
    explained_variance_ : ndarray of shape (m,)
        Their eigenvalues ``λ_j``.
    explained_variance_ratio_ : ndarray of shape (m,)
        Their explained-variance ratios.
    scaler_, pca_ : fitted scikit-learn ``StandardScaler`` and ``PCA``.
    """

    def __init__(self, weight_by_variance_ratio: bool = True):
        self.weight_by_variance_ratio = weight_by_variance_ratio

    def fit(self, X: np.ndarray, y: None = None) -> "KaiserPCASpace":
        # float64 throughout: float32 input would make scores (and tie-breaks) precision-bound.
        data = check_embeddings(X).astype(np.float64, copy=False)
        if data.shape[0] < 2:
            raise AnchorError(f"PCA needs at least 2 rows, got n_samples = {data.shape[0]}")
        self.n_features_in_ = data.shape[1]
        self.scaler_ = StandardScaler().fit(data)
        if not np.any(self.scaler_.var_ > 0):
            raise AnchorError("X has no variance: every column is constant, so no principal component exists")
        standardised = self.scaler_.transform(data)
        # svd_solver="full": every eigenvalue is needed for Kaiser's rule, and it is deterministic.
        self.pca_ = PCA(svd_solver="full").fit(standardised)
        n_kept = int(np.count_nonzero(self.pca_.explained_variance_ > 1.0))
        if n_kept == 0:
            raise AnchorError(
                "no principal component has eigenvalue > 1 (standardised data with variance only at "
                "rounding level)"
            )
        self.n_components_ = n_kept
        self.explained_variance_ = self.pca_.explained_variance_[:n_kept]
        self.explained_variance_ratio_ = self.pca_.explained_variance_ratio_[:n_kept]
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        check_is_fitted(self, "pca_")
        data = check_embeddings(X).astype(np.float64, copy=False)
        if data.shape[1] != self.n_features_in_:
            # scikit-learn's wording (its estimator checks match on it)
            raise AnchorError(f"X has {data.shape[1]} features, but KaiserPCASpace is expecting "
                              f"{self.n_features_in_} features as input (the space it was fitted on)")
        scores = self.pca_.transform(self.scaler_.transform(data))[:, : self.n_components_]
        if self.weight_by_variance_ratio:
            scores *= self.explained_variance_ratio_
        return scores
