r"""Feature reconstruction measures (Goscinski et al. 2021, used for MLIPs by Malosso et al.).

How well does a linear map from embedding X reconstruct embedding Y? The signatures and
defaults follow scikit-matter 0.4.1's ``skmatter.metrics`` so that numbers agree, but the
code is our own and fixes two of its defects (below).

**Protocol (defaults).** Rows are split 50/50 into train and test
(``sklearn.model_selection.train_test_split`` with ``random_state=0x5F3759DF``).
Each of X and Y is centred and divided by the square root of its total variance
:math:`\sqrt{\sum_j \mathrm{Var}(x_{\cdot j})}`, both fitted on the training rows
(:class:`TotalVarianceScaler`), so the reconstruction error of a useless map is about 1.
The linear map is :class:`Ridge2FoldCV`: no intercept, regularisation by cutting off
singular values below :math:`\alpha\, s_{\max}`, α chosen by 2-fold CV over
``np.geomspace(1e-9, 0.9, 20)``.

* **GFRE** (global feature reconstruction error):
  :math:`\mathrm{GFRE}(X \to Y) = \sqrt{\frac{1}{n_\text{test}} \sum_{i \in \text{test}} \|y_i - x_i W\|^2}`,
  the RMS of the per-point errors. It is asymmetric: if Y is a linear function of
  two columns of X, GFRE(X→Y) ≈ 0 while GFRE(Y→X) is large.
* **GFRD** (global feature reconstruction distortion): how far the fitted linear map is
  from an orthogonal one. With :math:`\hat Y = XW` the ridge prediction and Q the
  orthogonal Procrustes solution mapping the training rows of X onto those of
  :math:`\hat Y`, both zero-padded to :math:`m = \max(d_X, d_Y)` columns,
  :math:`\mathrm{GFRD} = \sqrt{\frac{1}{n_\text{test}} \sum_i \|[\hat y_i, 0] - [x_i, 0]\,Q\|^2}`.
  scikit-matter compares the m-column orthogonal prediction with the :math:`d_Y`-column
  ridge prediction and crashes when :math:`d_X > d_Y` (its issue #269); here the ridge
  prediction is padded with zeros too, so the columns the orthogonal map sends outside
  Y's span count as distortion. For :math:`d_X \le d_Y` the two agree.
* **LFRE** (local feature reconstruction error): for each test point i, the
  ``n_local_points`` nearest training points in (scaled) X, a ridge map fitted on their
  centred coordinates, and :math:`\tilde y_i = \bar y + (x_i - \bar x) W^{(i)}`;
  LFRE is the RMS of :math:`\|y_i - \tilde y_i\|`. scikit-matter builds the dense
  test x train distance matrix (20 GB at 10^5 atoms); here neighbours come from a
  chunked exact search (:func:`platonic.compare.knn.nearest_rows`), so memory stays
  bounded. The cost is one small ridge fit per test point: pass a ``test_idx`` of a
  few thousand atoms on large data (Malosso et al. used 1,000 test atoms and
  ``n_local_points`` = the smaller feature dimension). The fits of all test points
  are batched and factored once per source (:mod:`platonic.compare.local_fits`).

**Why LFRE can exceed 1** (worse than predicting the mean, which scores about 1). With
k neighbours and :math:`d_X \ge k` features (the default k is the smaller width, so
k ≤ d_X always) every local fit is underdetermined, and two things let a few points
explode: (i) the cutoff grid stops at 0.9 s_max, so a local map always keeps at least its
top direction and a test point far from its neighbours (a rare element whose neighbours
are other elements) is extrapolated linearly, never reduced to the local mean; (ii) the
cutoff is chosen by CV on folds of k/2 rows (at most k/2 directions each) and then refit
on all k rows, where the smallest cutoff keeps up to k - 1 directions that no fold
validated, each divided by its small singular value. Measured on MP-20 (DIEP → random
MACE, 300 structures, 1,000 element-stratified atoms): LFRE 1.14, median point error 0.013, and the worst
1% of atoms (alpha = 1e-9, 62-63 directions kept) carry 85% of the squared error; one Pu
atom alone scores 31.7. The numbers are those of the skmatter protocol, kept for
comparability; :func:`platonic.compare.metric_matrix` writes the median and 99th
percentile beside every LFRE and flags values above 1 (:func:`lfre_above_one`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable

import numpy as np
from joblib import effective_n_jobs
from sklearn.base import clone
from sklearn.model_selection import train_test_split
from sklearn.utils import resample

from .estimators import DEFAULT_ALPHAS, SPLIT_SEED, Regressor, Ridge2FoldCV, Scaler, TotalVarianceScaler
from .global_fits import GlobalFits, distortions
from .knn import nearest_rows
from .local_fits import LocalFits
from ._validation import MetricInputError, check_matrix, check_positive_int

__all__ = [
    "DEFAULT_ALPHAS", "LFRE_TEST_ATOMS", "SPLIT_SEED", "Ridge2FoldCV", "TotalVarianceScaler", "default_split",
    "global_reconstruction_distortion", "global_reconstruction_error", "global_reconstruction_errors", "lfre_above_one", "lfre_test_rows",
    "local_errors_from_neighbours", "local_fits", "local_reconstruction_error",
    "pointwise_global_reconstruction_distortion", "pointwise_global_reconstruction_error",
    "pointwise_local_reconstruction_error",
]

Rows = np.ndarray | None  # row indices, or None for the default split / the complement

#: LFRE test atoms in the model x model matrix and the study (Malosso et al. used 1,000).
LFRE_TEST_ATOMS = 1000


def lfre_test_rows(test: np.ndarray, n: int, strata: np.ndarray | None = None, random_state: int | None = 0) -> np.ndarray:
    """``n`` of the ``test`` rows for LFRE (sorted), uniform or stratified by ``strata`` (e.g. element).

    Stratified allocation: when ``n`` is at least the number of labels, every label gets one
    row, and the other ``n - n_labels`` rows are shared in proportion to the labels' remaining
    counts by :func:`sklearn.utils.resample` (``stratify=``: floor of each share, largest
    remainders for the rest). Proportional allocation alone gives an element with fewer than
    about ``len(test) / n`` test atoms no row at all (and ``train_test_split(stratify=)``
    refuses labels with one row), so rare elements would drop out of the LFRE average. With
    fewer rows than labels the allocation is plain ``resample(stratify=)``.
    ``strata`` has one label per row of ``test``.
    """
    test = np.asarray(test)
    n = check_positive_int(n, "n")
    if n >= test.size:
        return np.sort(test)
    if strata is None:
        return np.sort(resample(test, n_samples=n, replace=False, random_state=random_state))
    strata = np.asarray(strata)
    if strata.shape != test.shape:
        raise MetricInputError(f"strata must have one label per test row ({test.size}), got shape {strata.shape}")
    labels = np.unique(strata)
    if n < labels.size:
        return np.sort(resample(test, n_samples=n, replace=False, stratify=strata, random_state=random_state))
    rng = np.random.default_rng(random_state)
    first_of_label = np.array([rng.choice(np.flatnonzero(strata == label)) for label in labels])
    rest = np.setdiff1d(np.arange(test.size), first_of_label)
    chosen = rest[:0]
    if n > labels.size:
        chosen = resample(rest, n_samples=n - labels.size, replace=False, stratify=strata[rest],
                          random_state=random_state)
    return np.sort(test[np.concatenate([first_of_label, chosen])])


def default_split(n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """scikit-matter's default 50/50 (train, test) row split with seed 0x5F3759DF."""
    train, test = train_test_split(
        np.arange(n_rows), test_size=0.5, train_size=0.5, random_state=SPLIT_SEED, shuffle=True
    )
    return train, test


def _check_indices(indices: object, n_rows: int, name: str) -> np.ndarray:
    array = np.asarray(indices)
    if array.ndim != 1 or array.size == 0 or not np.issubdtype(array.dtype, np.integer):
        raise MetricInputError(f"{name} must be a non-empty 1-D integer array")
    if array.min() < 0 or array.max() >= n_rows:
        raise MetricInputError(f"{name} must lie in [0, {n_rows}), got values outside")
    return array


def _resolve_inputs(
    X: np.ndarray,
    Y: np.ndarray,
    train_idx: np.ndarray | None,
    test_idx: np.ndarray | None,
    scaler: Scaler | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Validate, split and scale; returns (X_train, X_test, Y_train, Y_test)."""
    X = check_matrix(X, "X")
    Y = check_matrix(Y, "Y")
    if X.shape[0] != Y.shape[0]:
        raise MetricInputError(f"X and Y must have the same number of rows, got {X.shape[0]} and {Y.shape[0]}")
    n_rows = X.shape[0]
    if train_idx is None and test_idx is None:
        train_idx, test_idx = default_split(n_rows)
    elif train_idx is None:
        test_idx = _check_indices(test_idx, n_rows, "test_idx")
        train_idx = np.setdiff1d(np.arange(n_rows), test_idx)
    elif test_idx is None:
        train_idx = _check_indices(train_idx, n_rows, "train_idx")
        test_idx = np.setdiff1d(np.arange(n_rows), train_idx)
    train_idx = _check_indices(train_idx, n_rows, "train_idx")
    test_idx = _check_indices(test_idx, n_rows, "test_idx")
    template = TotalVarianceScaler() if scaler is None else scaler
    x_scaler = clone(template).fit(X[train_idx])
    y_scaler = clone(template).fit(Y[train_idx])
    return (
        x_scaler.transform(X[train_idx]),
        x_scaler.transform(X[test_idx]),
        y_scaler.transform(Y[train_idx]),
        y_scaler.transform(Y[test_idx]),
    )


def _root_mean_square(values: np.ndarray) -> float:
    return float(np.sqrt(np.mean(values**2)))


def _fitted_map(X: np.ndarray, Y: np.ndarray, train_idx: Rows, test_idx: Rows, scaler: Scaler | None,
                estimator: Regressor | None) -> tuple[Regressor, np.ndarray, np.ndarray, np.ndarray]:
    """What GFRE and GFRD share: split, scale, fit the linear map X -> Y on the training rows;
    returns (fitted map, X_train, X_test, Y_test), scaled."""
    X_train, X_test, Y_train, Y_test = _resolve_inputs(X, Y, train_idx, test_idx, scaler)
    model = Ridge2FoldCV() if estimator is None else estimator
    model.fit(X_train, Y_train)
    return model, X_train, X_test, Y_test


def pointwise_global_reconstruction_error(
        X: np.ndarray, Y: np.ndarray, train_idx: Rows = None, test_idx: Rows = None,
        scaler: Scaler | None = None, estimator: Regressor | None = None) -> np.ndarray:
    """Per-test-point errors :math:`\\|y_i - x_i W\\|` of the linear reconstruction of Y from X.

    Parameters
    ----------
    X : array (n_samples, d_x), the source; Y : array (n_samples, d_y), the target
    train_idx, test_idx : row indices; one given means the other is its complement,
        none given means the default 50/50 split (:func:`default_split`)
    scaler : fit/transform object applied separately to X and Y (fitted on train rows);
        default :class:`TotalVarianceScaler`
    estimator : fit/predict regressor; default :class:`Ridge2FoldCV`

    Returns
    -------
    array of shape (n_test,)
    """
    model, _, X_test, Y_test = _fitted_map(X, Y, train_idx, test_idx, scaler, estimator)
    return np.linalg.norm(Y_test - model.predict(X_test), axis=1)


def pointwise_global_reconstruction_distortion(
        X: np.ndarray, Y: np.ndarray, test_idx: Rows = None, train_idx: Rows = None,
        scaler: Scaler | None = None, estimator: Regressor | None = None) -> np.ndarray:
    """Per-test-point distance between the linear and the best orthogonal reconstruction.

    Parameters as in :func:`pointwise_global_reconstruction_error` (``test_idx`` comes first here,
    as in scikit-matter). Works for any feature counts (see the module docstring for the zero padding).
    """
    model, X_train, X_test, _ = _fitted_map(X, Y, train_idx, test_idx, scaler, estimator)
    return distortions(X_train, X_test, model.predict(X_train), model.predict(X_test))


def _root_mean_square_of(pointwise: Callable[..., np.ndarray], name: str, doc: str,
                         order: tuple[str, ...] | None = None) -> Callable[..., float]:
    """The global measure of a pointwise one: its RMS over the test points. It takes the pointwise
    function's parameters, in ``order`` where scikit-matter's global signature orders them otherwise
    (GFRE: ``test_idx`` before ``train_idx``)."""
    signature = inspect.signature(pointwise)
    if order is not None:
        signature = signature.replace(parameters=[signature.parameters[p] for p in order])
    signature = signature.replace(return_annotation="float")

    def measure(*args: object, **kwargs: object) -> float:
        bound = signature.bind(*args, **kwargs)
        return _root_mean_square(pointwise(**bound.arguments))

    measure.__signature__ = signature  # type: ignore[attr-defined]
    measure.__name__ = measure.__qualname__ = name
    measure.__doc__ = doc
    return measure


global_reconstruction_error = _root_mean_square_of(
    pointwise_global_reconstruction_error, "global_reconstruction_error",
    "GFRE(X → Y): RMS over test points of :func:`pointwise_global_reconstruction_error`.",
    order=("X", "Y", "test_idx", "train_idx", "scaler", "estimator"))
global_reconstruction_distortion = _root_mean_square_of(
    pointwise_global_reconstruction_distortion, "global_reconstruction_distortion",
    "GFRD(X → Y): RMS over test points of :func:`pointwise_global_reconstruction_distortion`.")


def global_reconstruction_errors(
    X: np.ndarray,
    targets: Iterable[np.ndarray],
    test_idx: np.ndarray | None = None,
    train_idx: np.ndarray | None = None,
) -> list[float]:
    """GFRE(X → Y) for every Y of ``targets``, with the default scaler and :class:`Ridge2FoldCV`.

    Each value equals :func:`global_reconstruction_error` (to rounding); the fit's dependence on X alone (the
    fold split and SVDs) is computed once for all targets
    (:class:`~platonic.compare.global_fits.GlobalFits`). ``targets`` may be a generator, so that only
    one target is held at a time.
    """
    fits = None
    values = []
    for Y in targets:
        X_train, X_test, Y_train, Y_test = _resolve_inputs(X, Y, train_idx, test_idx, None)
        fits = GlobalFits(X_train, X_test) if fits is None else fits
        values.append(fits.gfre(Y_train, Y_test))
    return values


def local_fits(
    X_train: np.ndarray,
    X_test: np.ndarray,
    neighbours: np.ndarray,
    estimator: Ridge2FoldCV | None = None,
    n_jobs: int | None = None,
) -> LocalFits:
    """Factor every test point's local :class:`Ridge2FoldCV` fit once (source only), for many targets.

    ``neighbours`` (n_test, k): training rows of each test point, nearest first. The returned
    :class:`~platonic.compare.local_fits.LocalFits` gives ``errors(Y_train, Y_test)`` for any
    target, equal to fitting ``estimator`` point by point. ``n_jobs``: threads (joblib's
    convention: None is 1, -1 all cores).
    """
    model = Ridge2FoldCV() if estimator is None else estimator
    return LocalFits(np.asarray(X_train, dtype=np.float64), np.asarray(X_test, dtype=np.float64), neighbours,
                     model._alphas(), model.random_state, n_jobs=effective_n_jobs(n_jobs))


def local_errors_from_neighbours(
    X_train: np.ndarray,
    X_test: np.ndarray,
    Y_train: np.ndarray,
    Y_test: np.ndarray,
    neighbours: np.ndarray,
    estimator: Regressor | None = None,
    n_jobs: int | None = None,
) -> np.ndarray:
    """Local reconstruction error of each test row given its training neighbours (scaled data).

    A :class:`Ridge2FoldCV` (the default) runs batched through :func:`local_fits`; any other
    fit/predict estimator is refitted point by point.
    """
    if estimator is None or type(estimator) is Ridge2FoldCV:
        return local_fits(X_train, X_test, neighbours, estimator, n_jobs).errors(Y_train, Y_test)
    errors = np.empty(X_test.shape[0])
    for i, local in enumerate(neighbours):
        local_x, local_y = X_train[local], Y_train[local]
        mean_x, mean_y = local_x.mean(axis=0), local_y.mean(axis=0)
        estimator.fit(local_x - mean_x, local_y - mean_y)
        predicted = mean_y + estimator.predict((X_test[i] - mean_x)[None, :])[0]
        errors[i] = np.linalg.norm(Y_test[i] - predicted)
    return errors


def pointwise_local_reconstruction_error(
    X: np.ndarray,
    Y: np.ndarray,
    n_local_points: int,
    test_idx: np.ndarray | None = None,
    train_idx: np.ndarray | None = None,
    scaler: Scaler | None = None,
    estimator: Regressor | None = None,
    n_jobs: int | None = None,
) -> np.ndarray:
    """Per-test-point local reconstruction errors :math:`\\|y_i - \\tilde y_i\\|`.

    Parameters
    ----------
    X, Y, test_idx, train_idx, scaler, estimator : as in :func:`pointwise_global_reconstruction_error`
    n_local_points : training neighbours (in scaled X) used for each local map;
        needs at least 4 for the 2-fold CV of the default estimator
    n_jobs : threads for the batched local fits (None: 1, -1: all cores)

    Returns
    -------
    array of shape (n_test,)
    """
    n_local_points = check_positive_int(n_local_points, "n_local_points")
    X_train, X_test, Y_train, Y_test = _resolve_inputs(X, Y, train_idx, test_idx, scaler)
    if n_local_points > X_train.shape[0]:
        raise MetricInputError(
            f"n_local_points ({n_local_points}) exceeds the number of training rows ({X_train.shape[0]})"
        )
    neighbours = nearest_rows(X_train, X_test, n_local_points)
    return local_errors_from_neighbours(X_train, X_test, Y_train, Y_test, neighbours, estimator, n_jobs)


def lfre_above_one(errors: np.ndarray) -> str:
    """The flag written where LFRE > 1 (worse than predicting the mean): how few atoms cause it.

    LFRE is an RMS, so a handful of local fits that extrapolate (see the module docstring)
    can lift it above 1 while the typical atom is reconstructed well; the flag gives the
    share of the squared error carried by the worst 1% of test atoms.
    """
    squares = np.sort(np.asarray(errors, dtype=float) ** 2)[::-1]
    worst = max(1, int(np.ceil(0.01 * squares.size)))
    share = squares[:worst].sum() / squares.sum()
    return (f"FLAG LFRE > 1 (worse than the mean): the worst {worst} of {squares.size} test atoms carry "
            f"{share:.0%} of the squared error (extrapolating local fits)")


local_reconstruction_error = _root_mean_square_of(
    pointwise_local_reconstruction_error, "local_reconstruction_error",
    "LFRE(X → Y): RMS over test points of :func:`pointwise_local_reconstruction_error`.")
