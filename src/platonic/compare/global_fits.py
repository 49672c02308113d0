r"""GFRE and GFRD from one source to many targets, the source's factorisation computed once.

A model x model matrix fits :class:`~platonic.compare.estimators.Ridge2FoldCV` from every source
X to every target Y. Everything in that fit that depends on X alone (the 2-fold split, three
SVDs, the fold projections) is the same for every target, and at full MP-20 size (174k training
rows) it is most of the cost; :class:`GlobalFits` computes it once per source
(:class:`~platonic.compare.estimators.TwoFoldCutoffSolver`) and then solves each target with a
few matrix products. GFRE equals
:func:`platonic.compare.reconstruction.global_reconstruction_error` to rounding; GFRD comes from
Gram matrices (see :class:`GlobalFits` for why it agrees with
:func:`~platonic.compare.reconstruction.global_reconstruction_distortion` only to ~1e-5 where the
ridge map is rank-deficient). The maths is in :mod:`platonic.compare.reconstruction`.
"""

from __future__ import annotations

import numpy as np

from .estimators import Ridge2FoldCV, TwoFoldCutoffSolver


def orthogonal_map(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Orthogonal Q minimising ``||source Q - target||_F`` (equal widths): the polar factor of source^T target."""
    return polar_factor(source.T @ target)


def polar_factor(cross: np.ndarray) -> np.ndarray:
    """The orthogonal factor U V^T of a square matrix's SVD U S V^T."""
    u, _, vt = np.linalg.svd(cross)
    return u @ vt


def pad_columns(matrix: np.ndarray, width: int) -> np.ndarray:
    return np.pad(matrix, [(0, 0), (0, width - matrix.shape[1])])


def distortions(X_train: np.ndarray, X_test: np.ndarray, linear_train: np.ndarray, linear_test: np.ndarray) -> np.ndarray:
    """Per-test-point GFRD: the linear predictions against the best orthogonal map of X, both zero-padded
    to the larger width (:mod:`platonic.compare.reconstruction`)."""
    width = max(X_train.shape[1], linear_train.shape[1])
    linear_train, linear_test = pad_columns(linear_train, width), pad_columns(linear_test, width)
    rotation = orthogonal_map(pad_columns(X_train, width), linear_train)
    return np.linalg.norm(linear_test - pad_columns(X_test, width) @ rotation, axis=1)


class GlobalFits:
    r"""Ridge2FoldCV maps from one scaled source (train and test rows) to any scaled target.

    Per target, GFRE needs one residual :math:`Y_\text{test} - X_\text{test}W` (n_test x d_Y);
    GFRD none at the test rows' scale: with both sides zero-padded to :math:`m = \max(d_X, d_Y)`
    columns, :math:`[X, 0]^\top [XW, 0]` has :math:`X^\top X W` as its first d_X rows and zeros
    below, so the Procrustes rotation Q comes from the training Gram matrix, and the padded
    columns of X drop out of :math:`[X, 0] Q = X Q_{<d_X}`: every test distortion is
    :math:`\|x_i M\|` with :math:`M = [W, 0] - Q_{<d_X}`, and their mean square is
    :math:`\mathrm{tr}(M^\top X_\text{test}^\top X_\text{test} M) / n_\text{test}`, a sum of
    non-negative quadratic forms (no cancellation). Both Gram matrices are computed once per source.

    **GFRD is defined only up to rounding where the ridge map is rank-deficient.** When the CV
    cutoff keeps m < d_X directions (common in the unified space, whose K cosine columns are
    nearly collinear), :math:`X^\top X W` has rank m, and its polar factor is arbitrary on the
    null space: LAPACK picks a completion that moves with the last bits of the input. The same
    GFRD computed from the padded rows (:func:`distortions`) and from the Gram matrices here
    differed by up to 1.5e-5 (relative 1.4e-5) on the 500-structure study's unified space, and
    agree to 1e-10 on full-rank data (tested). Read GFRD to 4 digits, not more.

    Parameters
    ----------
    X_train, X_test : the source's scaled training and test rows (float64)
    estimator : a :class:`Ridge2FoldCV` giving the alphas and the fold seed (default: its defaults)
    """

    def __init__(self, X_train: np.ndarray, X_test: np.ndarray, estimator: Ridge2FoldCV | None = None) -> None:
        model = Ridge2FoldCV() if estimator is None else estimator
        self.X_train, self.X_test = X_train, X_test
        self.solver = TwoFoldCutoffSolver(X_train, model._alphas(), model.random_state)
        self._grams: tuple[np.ndarray, np.ndarray] | None = None

    def gfre(self, Y_train: np.ndarray, Y_test: np.ndarray) -> float:
        """GFRE of the map to the target Y: the RMS over the test rows of the per-point errors."""
        return self._gfre(self.solver.solve(Y_train)[0], Y_test)

    def _gfre(self, coef: np.ndarray, Y_test: np.ndarray) -> float:
        return float(np.sqrt(np.mean(np.sum((Y_test - self.X_test @ coef) ** 2, axis=1))))

    def gfre_and_gfrd(self, Y_train: np.ndarray, Y_test: np.ndarray) -> tuple[float, float]:
        """(GFRE, GFRD) of the map to the target Y: the RMS over the test rows of the per-point
        errors and distortions of :mod:`platonic.compare.reconstruction`."""
        coef, _, _ = self.solver.solve(Y_train)
        gfre = self._gfre(coef, Y_test)
        if self._grams is None:
            self._grams = (self.X_train.T @ self.X_train, self.X_test.T @ self.X_test)
        gram_train, gram_test = self._grams
        d_x, width = coef.shape[0], max(coef.shape)
        coef = pad_columns(coef, width)
        cross = np.zeros((width, width))
        cross[:d_x] = gram_train @ coef
        gap = coef - polar_factor(cross)[:d_x]
        square_sum = float(np.einsum("ij,ij->", gap, gram_test @ gap))
        return gfre, float(np.sqrt(max(square_sum, 0.0) / self.X_test.shape[0]))
