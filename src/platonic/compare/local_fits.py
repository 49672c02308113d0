r"""Batched local ridge fits for LFRE: factor the source once, score every target.

:func:`platonic.compare.reconstruction.pointwise_local_reconstruction_error` fits one
:class:`~platonic.compare.reconstruction.Ridge2FoldCV` per test point on its ``k`` nearest
training points. Everything that fit factorises (three SVDs: the two CV folds and all ``k``
rows) depends only on the source X; only the products with Y depend on the target. So
:class:`LocalFits` computes the factors of every neighbourhood once, batched, and
:meth:`LocalFits.errors` scores any number of targets from them with batched matrix
products. The result is the same as the per-point loop (to rounding), not an approximation.

Notation for one test point with centred neighbourhood :math:`X \in \mathbb{R}^{k\times d}`,
:math:`Y \in \mathbb{R}^{k\times d_Y}`, folds :math:`X_1, X_2` (``KFold(2)`` rows, the same for
every point since every neighbourhood has ``k`` rows), fold SVD :math:`X_1 = U_1 S_1 V_1^\top`:

* fitting on fold 1 with the first m singular triplets predicts fold 2 as
  :math:`P_m = \sum_{j<m} a_j b_j^\top` with :math:`a_j = X_2 v_j / s_j` (source) and
  :math:`b_j = Y_1^\top u_j` (target);
* the CV loss needs, for every m, the per-column residual :math:`\|y_c - P_m e_c\|^2`, which
  expands into :math:`\|y_c\|^2 + \sum_{j<m} D_{jc}` with
  :math:`D_{jc} = -2 (a_j^\top y_c) b_{jc} + 2 b_{jc} \sum_{l<j} G_{jl} b_{lc} + G_{jj} b_{jc}^2`,
  :math:`G = A^\top A` (source): one cumulative sum gives the loss of every cutoff at once;
* the chosen cutoff keeps m triplets of the full SVD :math:`X = U S V^\top`; the prediction
  for the test offset :math:`t = x - \bar x` is :math:`h_m^\top Y` with
  :math:`h_m = \sum_{j<m} (t^\top v_j / s_j)\, u_j` (source, precomputed for every m).

The expansion loses relative precision when a loss is tiny or two losses nearly tie; those
points (a few at most) are rescored with the direct residuals, as the per-point fit does,
so the chosen cutoff is the same.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
from sklearn.model_selection import KFold
from threadpoolctl import threadpool_limits

from ._validation import MetricInputError

#: Points whose best CV loss is within this fraction of the zero-map loss of another cutoff
#: (or whose best loss is below ``_TINY``) are rescored with the direct residuals.
_TIE = 1e-8
_TINY = 1e-6
_CHUNK = 128


def _chunks(n: int, size: int = _CHUNK) -> list[slice]:
    return [slice(start, min(start + size, n)) for start in range(0, n, size)]


def _map_chunks(function, n: int, n_jobs: int) -> None:
    """Run ``function(slice)`` over chunks of ``range(n)``, in ``n_jobs`` threads, BLAS single-threaded.

    Batched LAPACK on many small matrices is slower with a multi-threaded BLAS (threads spin on
    64 x 128 problems); one BLAS thread per chunk and chunks in parallel use the cores.
    """
    with threadpool_limits(1):
        if n_jobs == 1:
            for part in _chunks(n):
                function(part)
        else:
            with ThreadPoolExecutor(n_jobs) as pool:
                list(pool.map(function, _chunks(n)))


def _count_above(singular_values: np.ndarray, cutoffs: np.ndarray) -> np.ndarray:
    """For each point (row) and cutoff (column): how many singular values exceed it."""
    return (singular_values[:, None, :] > cutoffs[:, :, None]).sum(axis=2)


class LocalFits:
    """The Ridge2FoldCV factorisations of every test point's neighbourhood in one source.

    Parameters
    ----------
    X_train : array (n_train, d), the scaled source training rows
    X_test : array (n_test, d), the scaled source test rows
    neighbours : int array (n_test, k), training rows of each test point, nearest first
        (the order fixes the CV folds, as in the per-point fit)
    alphas : relative cutoffs of :class:`~platonic.compare.reconstruction.Ridge2FoldCV`
    random_state : seed of its 2-fold split
    n_jobs : threads over chunks of test points

    After construction, :meth:`errors` returns the local reconstruction error of each test
    point for any target; it holds about ``n_test * (1.5 k^2 + n_alphas * k)`` floats
    (190 MB at 1,000 points and k = 128).
    """

    def __init__(
        self,
        X_train: np.ndarray,
        X_test: np.ndarray,
        neighbours: np.ndarray,
        alphas: np.ndarray,
        random_state: int | None,
        n_jobs: int = 1,
    ) -> None:
        X_train = np.asarray(X_train, dtype=np.float64)
        X_test = np.asarray(X_test, dtype=np.float64)
        neighbours = np.asarray(neighbours)
        if neighbours.ndim != 2 or neighbours.shape[0] != X_test.shape[0]:
            raise MetricInputError(
                f"neighbours must have one row per test point ({X_test.shape[0]}), got shape {neighbours.shape}"
            )
        n_test, k = neighbours.shape
        if k < 4:
            raise MetricInputError(f"the 2-fold CV of each local fit needs at least 4 neighbours, got {k}")
        self.neighbours = neighbours
        self.alphas = np.asarray(alphas, dtype=float)
        self.fold_1, self.fold_2 = next(KFold(2, shuffle=True, random_state=random_state).split(np.empty((k, 1))))
        self.n_jobs = n_jobs
        d = X_train.shape[1]
        width = min(d, k + 1)  # columns after the reduction below
        r_1, r_2, r = min(self.fold_1.size, width), min(self.fold_2.size, width), min(k, width)
        self.floor = max(k, d) * np.finfo(np.float64).eps
        self.u_1 = np.empty((n_test, self.fold_1.size, r_1))
        self.u_2 = np.empty((n_test, self.fold_2.size, r_2))
        self.a_2 = np.empty((n_test, self.fold_2.size, r_1))  # fold 2 predicted from fold 1's fit
        self.a_1 = np.empty((n_test, self.fold_1.size, r_2))
        self.m_1 = np.empty((n_test, self.alphas.size), dtype=np.int64)  # triplets kept per point and alpha
        self.m_2 = np.empty_like(self.m_1)
        self.h = np.empty((n_test, self.alphas.size, k))  # test-point weights over the neighbours, per alpha

        def factor(part: slice) -> None:
            local = X_train[neighbours[part]]
            local_mean = local.mean(axis=1, keepdims=True)
            local = local - local_mean
            offset = X_test[part] - local_mean[:, 0]
            if d > k + 1:
                # Same singular values and products in the (k + 1)-dimensional span of the
                # neighbourhood and the test offset: R of the QR of [X^T | t] holds both.
                triangle = np.linalg.qr(np.concatenate([local, offset[:, None, :]], axis=1).transpose(0, 2, 1),
                                        mode="r")
                local, offset = triangle[:, :, :k].transpose(0, 2, 1), triangle[:, :, k]
            x_1, x_2 = local[:, self.fold_1], local[:, self.fold_2]
            u_1, s_1, vt_1 = np.linalg.svd(x_1, full_matrices=False)
            u_2, s_2, vt_2 = np.linalg.svd(x_2, full_matrices=False)
            self.u_1[part], self.u_2[part] = u_1, u_2
            self.a_2[part] = (x_2 @ vt_1.transpose(0, 2, 1)) / s_1[:, None, :]
            self.a_1[part] = (x_1 @ vt_2.transpose(0, 2, 1)) / s_2[:, None, :]
            u, s, vt = np.linalg.svd(local, full_matrices=False)
            cutoffs = np.maximum(self.alphas[None, :] * np.maximum(s_1[:, :1], s_2[:, :1]), self.floor)
            self.m_1[part], self.m_2[part] = _count_above(s_1, cutoffs), _count_above(s_2, cutoffs)
            weights = (vt @ offset[:, :, None])[:, :, 0] / s
            cumulative = np.zeros((u.shape[0], r + 1, k))
            np.cumsum(u * weights[:, None, :], axis=2, out=cumulative[:, 1:].transpose(0, 2, 1))
            self.h[part] = np.take_along_axis(cumulative, _count_above(s, cutoffs)[:, :, None], axis=1)

        _map_chunks(factor, n_test, n_jobs)
        self.g_2 = self.a_2.transpose(0, 2, 1) @ self.a_2
        self.g_1 = self.a_1.transpose(0, 2, 1) @ self.a_1

    def errors(self, Y_train: np.ndarray, Y_test: np.ndarray) -> np.ndarray:
        """Local reconstruction error :math:`\\|y_i - \\tilde y_i\\|` of each test point for target Y."""
        Y_train = np.asarray(Y_train, dtype=np.float64)
        Y_test = np.asarray(Y_test, dtype=np.float64)
        n_test = self.neighbours.shape[0]
        if Y_test.shape[0] != n_test:
            raise MetricInputError(f"Y_test has {Y_test.shape[0]} rows, the source has {n_test} test points")
        errors = np.empty(n_test)

        def score(part: slice) -> None:
            local = Y_train[self.neighbours[part]]
            local_mean = local.mean(axis=1, keepdims=True)
            local = local - local_mean
            y_1, y_2 = local[:, self.fold_1], local[:, self.fold_2]
            b_1 = self.u_1[part].transpose(0, 2, 1) @ y_1
            b_2 = self.u_2[part].transpose(0, 2, 1) @ y_2
            loss_2 = _fold_losses(self.a_2[part], self.g_2[part], b_1, y_2)  # fit on fold 1
            loss_1 = _fold_losses(self.a_1[part], self.g_1[part], b_2, y_1)
            rows = np.arange(part.stop - part.start)[:, None]
            losses = 0.5 * (np.take_along_axis(loss_1, self.m_2[part], axis=1)
                            + np.take_along_axis(loss_2, self.m_1[part], axis=1))
            best = self._choose(losses, part, loss_1[:, 0] + loss_2[:, 0], y_1, y_2, b_1, b_2)
            weights = self.h[part][rows[:, 0], best]
            predicted = local_mean[:, 0] + (weights[:, None, :] @ local)[:, 0]
            errors[part] = np.linalg.norm(Y_test[part] - predicted, axis=1)

        _map_chunks(score, n_test, self.n_jobs)
        return errors

    def _choose(
        self,
        losses: np.ndarray,
        part: slice,
        scale: np.ndarray,
        y_1: np.ndarray,
        y_2: np.ndarray,
        b_1: np.ndarray,
        b_2: np.ndarray,
    ) -> np.ndarray:
        """First alpha of least CV loss per point; near-ties and tiny losses rescored directly."""
        best = np.argmin(losses, axis=1)
        rows = np.arange(losses.shape[0])
        best_loss = losses[rows, best]
        m_1, m_2 = self.m_1[part], self.m_2[part]
        different = (m_1 != m_1[rows, best][:, None]) | (m_2 != m_2[rows, best][:, None])
        runner_up = np.where(different, losses, np.inf).min(axis=1)
        unsure = (runner_up - best_loss <= _TIE * scale) | (best_loss <= _TINY * scale)
        for i in np.flatnonzero(unsure):
            point = part.start + i
            direct = np.array([
                0.5 * (_direct_loss(self.a_1[point], b_2[i], y_1[i], m_2[i, a])
                       + _direct_loss(self.a_2[point], b_1[i], y_2[i], m_1[i, a]))
                for a in range(self.alphas.size)
            ])
            best[i] = int(np.argmin(direct))
        return best


def _fold_losses(a: np.ndarray, g: np.ndarray, b: np.ndarray, y: np.ndarray) -> np.ndarray:
    """CV loss (mean over columns of the RMS residual) of every truncation m = 0..r, batched.

    ``a`` (n, rows, r) and ``g = a^T a`` from the source, ``b`` (n, r, d_Y) the fitted fold's
    projected target, ``y`` (n, rows, d_Y) the predicted fold's target.
    """
    c = a.transpose(0, 2, 1) @ y
    lower = np.tril(g, -1) @ b
    diagonal = np.diagonal(g, axis1=1, axis2=2)[:, :, None]
    increments = b * (2.0 * (lower - c) + diagonal * b)
    squares = np.empty((a.shape[0], a.shape[2] + 1, y.shape[2]))
    squares[:, 0] = (y**2).sum(axis=1)
    np.cumsum(increments, axis=1, out=squares[:, 1:])
    squares[:, 1:] += squares[:, :1]
    return np.sqrt(np.maximum(squares, 0.0) / y.shape[1]).mean(axis=2)


def _direct_loss(a: np.ndarray, b: np.ndarray, y: np.ndarray, m: int) -> float:
    """The same loss for one point and one truncation, from the residuals themselves."""
    residual = y - a[:, :m] @ b[:m]
    return float(np.sqrt(np.mean(residual**2, axis=0)).mean())
