r"""Structure-level features from progressive cumulants of atom features (Malosso et al.).

For a structure with atoms :math:`i = 1 \dots n` and one feature column :math:`x_i`, the
features of order 1 … N are

.. math::

    f_1 = \kappa_1 = \frac1n \sum_i x_i, \qquad
    f_k = \operatorname{sign}(\kappa_k)\, |\kappa_k|^{1/k} \quad (k = 2 \dots N),

the signed k-th root bringing every cumulant back to the units of :math:`x`. The cumulants are
the **population** cumulants of the structure's atoms (the empirical distribution, divisor n,
not the unbiased k-statistics of :func:`scipy.stats.kstat`): with the central moments
:math:`\mu_k = \frac1n \sum_i (x_i - \kappa_1)^k`, for :math:`k \ge 2`

.. math::

    \kappa_k = \mu_k - \sum_{m=2}^{k-2} \binom{k-1}{m-1} \kappa_m\, \mu_{k-m},

the moment–cumulant recursion with :math:`\mu_1 = 0`; so :math:`\kappa_2 = \mu_2`,
:math:`\kappa_3 = \mu_3`, :math:`\kappa_4 = \mu_4 - 3\mu_2^2`. A structure whose atoms all have the
same features (one atom, or one symmetry class) has :math:`\kappa_k = 0` for every k ≥ 2.

**Cumulants that are zero up to rounding are set to zero.** The signed root magnifies rounding:
the odd cumulants of a two-atom structure vanish in exact arithmetic but come out near
:math:`10^{-16}` of their scale, and :math:`(10^{-16})^{1/7} \approx 5\times10^{-3}`, so at order 7
the feature would be rounding noise at half a percent of the scale, and would change with the
order of a sum. Each cumulant is therefore computed with a bound on its rounding error (the
mean's summation error carried into the centred values to first order, the products' and sums'
own rounding, both carried through the recursion, all with absolute values), and a cumulant
no larger than twice its bound is set to exactly 0.
The structure feature vector concatenates the orders, order-major:
``[f_1 (d columns), f_2 (d), …, f_N (d)]``.

**How much each order adds** (:func:`cumulant_order_gain`): the global feature reconstruction
error (:func:`platonic.compare.global_reconstruction_error`, scikit-matter's protocol: a ridge
fit with its cutoff chosen by 2-fold CV) from the features up to order k−1 to the features up
to order k, for k = 2 … N (N = 8 by default, as in Malosso et al.). The atom features are first
reduced to as many principal axes as keep every fit within the training structures
(:func:`cumulant_order_gain`). The target holds the
source's own columns (reconstructed exactly), so the error measures the part of order k, as a
fraction of the total variance of the target, that lower orders do not predict linearly: 0 means
order k adds nothing linear. ``gfre_to_order`` is the same to the order-k block alone.
:func:`cumulant_gain_against_control` reads each order's gain against the untrained control's:
a gain the control matches is a property of feature distributions, not of training.
"""

from __future__ import annotations

from math import comb
from collections.abc import Mapping, Sequence

import numba
import numpy as np
import pandas as pd

from platonic.validation import check_matrix
from platonic.compare import global_reconstruction_error
from platonic.compare.nested_fits import NestedFits
from platonic.compare.reconstruction import SPLIT_SEED
from platonic.errors import PlatonicError
from platonic.progress import NullProgress, Progress


_UNIT_ROUNDOFF = np.finfo(np.float64).eps / 2


class CumulantInputError(PlatonicError, ValueError):
    """Bad input to the cumulant features: shapes, offsets, orders or non-finite values."""


def _check_features(X: object) -> np.ndarray:
    return check_matrix(X, "X", CumulantInputError)


def _check_offsets(offsets: object, n_rows: int) -> np.ndarray:
    array = np.asarray(offsets)
    if array.ndim != 1 or array.size < 2 or not np.issubdtype(array.dtype, np.integer):
        raise CumulantInputError(f"offsets must be a 1-D integer array of length n_structures + 1, got {array!r}")
    if array[0] != 0 or array[-1] != n_rows:
        raise CumulantInputError(f"offsets must start at 0 and end at the number of rows ({n_rows}), got {array[0]} … {array[-1]}")
    empty = np.flatnonzero(np.diff(array) <= 0)
    if empty.size:
        raise CumulantInputError(f"offsets must increase strictly (no empty structure); structure {int(empty[0])} has "
                                 f"{int(array[empty[0] + 1] - array[empty[0]])} atoms")
    return array.astype(np.int64)


def _check_order(max_order: object) -> int:
    if isinstance(max_order, bool) or not isinstance(max_order, (int, np.integer)) or max_order < 1:
        raise CumulantInputError(f"max_order must be an integer >= 1, got {max_order!r}")
    return int(max_order)


def structure_cumulants(X: np.ndarray, offsets: Sequence[int], max_order: int = 4) -> np.ndarray:
    """Population cumulants κ_1 … κ_N of every feature over the atoms of every structure.

    Parameters
    ----------
    X : array (n_atoms, d), finite
    offsets : structure s owns rows ``offsets[s]:offsets[s + 1]`` (length n_structures + 1, as
        :attr:`platonic.datasets.Dataset.atom_offsets`); no structure may be empty
    max_order : N >= 1

    Returns
    -------
    array (n_structures, N, d); ``[:, k - 1]`` is κ_k (in the units of x to the power k).
    """
    X = _check_features(X)
    offsets = _check_offsets(offsets, X.shape[0])
    max_order = _check_order(max_order)
    sums = _structure_sums(X, offsets, max_order)
    binomials = np.array([[comb(k, m) for m in range(max_order + 1)] for k in range(max_order + 1)], dtype=np.float64)
    return _cumulants_from_sums(*sums, np.diff(offsets), binomials, _UNIT_ROUNDOFF)


@numba.njit(cache=True)
def _structure_sums(X, offsets, max_order):
    """Per structure: the column means, the sums of |x| (the mean's rounding bound), and the sums
    of the centred powers c^k (``sums[:, k - 1]``, k = 2 … N) and of |c|^k (``abs_sums[:, k - 1]``,
    k = 1 … N).

    One pass over the rows, each sum taken in row order from 0, the powers as repeated products,
    without a (rows x columns) array per order.
    """
    n_structures, d = offsets.size - 1, X.shape[1]
    mean = np.zeros((n_structures, d))
    abs_x = np.zeros((n_structures, d))
    sums = np.zeros((n_structures, max_order, d))
    abs_sums = np.zeros((n_structures, max_order, d))
    power = np.empty(d)
    centred = np.empty(d)
    for s in range(n_structures):
        lo, hi = offsets[s], offsets[s + 1]
        for i in range(lo, hi):
            for j in range(d):
                mean[s, j] += X[i, j]
                abs_x[s, j] += abs(X[i, j])
        for j in range(d):
            mean[s, j] /= hi - lo
        for i in range(lo, hi):
            for j in range(d):
                centred[j] = X[i, j] - mean[s, j]
                power[j] = centred[j]
                abs_sums[s, 0, j] += abs(centred[j])
            for k in range(1, max_order):
                for j in range(d):
                    power[j] *= centred[j]
                    sums[s, k, j] += power[j]
                    abs_sums[s, k, j] += abs(power[j])
    return mean, abs_x, sums, abs_sums


@numba.njit(cache=True)
def _cumulants_from_sums(mean, abs_x, sums, abs_sums, counts, binomials, u):
    """The moment-cumulant recursion with its rounding bounds (module docstring), per structure and
    column; a cumulant no larger than twice its bound becomes 0."""
    n_structures, max_order, d = sums.shape
    cumulants = np.empty((n_structures, max_order, d))
    absolute = np.empty(max_order + 1)
    central = np.zeros(max_order + 1)
    central_error = np.zeros(max_order + 1)
    errors = np.zeros(max_order + 1)
    for s in range(n_structures):
        n = counts[s]
        for j in range(d):
            # A centred value c is off by at most the mean's error E plus u|c|, so c^k by
            # k |c|^(k-1) (E + u|c|) to first order, and its mean by k (E a_(k-1) + u a_k), a_j the
            # mean of |c|^j; the powers and the sum add (k + n + 1) u a_k.
            mean_error = (n + 2) * u * abs_x[s, j] / n
            for k in range(1, max_order + 1):
                absolute[k] = abs_sums[s, k - 1, j] / n
            for k in range(2, max_order + 1):
                central[k] = sums[s, k - 1, j] / n
                central_error[k] = (k * (mean_error * absolute[k - 1] + u * absolute[k])
                                    + (k + n + 1) * u * absolute[k])
            cumulants[s, 0, j] = mean[s, j]
            for k in range(2, max_order + 1):
                kappa, error, magnitude = central[k], central_error[k], abs(central[k])
                for m in range(2, k - 1):
                    weight = binomials[k - 1, m - 1]
                    kappa_m, mu = cumulants[s, m - 1, j], central[k - m]
                    kappa -= weight * kappa_m * mu
                    error += weight * (errors[m] * (abs(mu) + central_error[k - m]) + abs(kappa_m) * central_error[k - m])
                    magnitude += weight * abs(kappa_m * mu)
                errors[k] = error + k * u * magnitude
                cumulants[s, k - 1, j] = 0.0 if abs(kappa) <= 2 * errors[k] else kappa
    return cumulants


def signed_root(cumulants: np.ndarray) -> np.ndarray:
    """``sign(κ_k) |κ_k|^(1/k)`` along axis 1 of a :func:`structure_cumulants` array (order k = index + 1)."""
    orders = np.arange(1, cumulants.shape[1] + 1)[None, :, None]
    return np.sign(cumulants) * np.abs(cumulants) ** (1.0 / orders)


def structure_features(X: np.ndarray, offsets: Sequence[int], max_order: int = 4) -> np.ndarray:
    """Structure features: mean, then signed k-th roots of the cumulants, concatenated order-major.

    Returns an array (n_structures, max_order * d) whose columns ``(k-1)*d : k*d`` hold order k
    (module docstring). Scaling X by c > 0 scales every feature by c; shifting X shifts only the
    mean block.
    """
    roots = signed_root(structure_cumulants(X, offsets, max_order))
    return roots.reshape(roots.shape[0], -1)


def offsets_from_structure_index(structure_index: Sequence[int]) -> np.ndarray:
    """Offsets (length n_structures + 1) of rows sorted by structure, from each row's structure id.

    Raises when the rows of one structure are not contiguous.
    """
    index = np.asarray(structure_index)
    if index.ndim != 1 or index.size == 0:
        raise CumulantInputError(f"structure_index must be a non-empty 1-D array, got shape {index.shape}")
    change = np.flatnonzero(index[1:] != index[:-1]) + 1
    starts = np.concatenate([[0], change])
    if np.unique(index[starts]).size != starts.size:
        raise CumulantInputError("the rows of each structure must be contiguous (sort the atom table by structure)")
    return np.concatenate([starts, [index.size]]).astype(np.int64)


DEFAULT_MAX_ORDER = 8


def _structure_split(n_structures: int, random_state: int) -> tuple[np.ndarray, np.ndarray]:
    """GFRE's 50/50 split of the structures (its seed, so the fit and the error use the same rows)."""
    from sklearn.model_selection import train_test_split

    if n_structures < 8:
        raise CumulantInputError(f"the order gain needs at least 8 structures (4 to train, 4 to test), got {n_structures}")
    train, test = train_test_split(np.arange(n_structures), test_size=0.5, random_state=random_state)
    return np.sort(train), np.sort(test)


def reduce_atom_features(X: np.ndarray, offsets: np.ndarray, train: np.ndarray, n_components: int) -> np.ndarray:
    """Project atom features on their first ``n_components`` principal axes, fitted on the training
    structures' atoms only (the test structures never shape the features they are scored on)."""
    from sklearn.decomposition import PCA

    if n_components >= X.shape[1]:
        return X
    rows = np.concatenate([np.arange(offsets[s], offsets[s + 1]) for s in train])
    return PCA(n_components=n_components, svd_solver="full").fit(X[rows]).transform(X)


def cumulant_order_gain(
    X: np.ndarray,
    offsets: Sequence[int],
    max_order: int = DEFAULT_MAX_ORDER,
    n_components: int | str | None = "auto",
    random_state: int = SPLIT_SEED,
    **gfre_options,
) -> pd.DataFrame:
    r"""GFRE from the structure features up to order k−1 to those up to order k, k = 2 … N.

    The regression is :func:`platonic.compare.global_reconstruction_error`'s regularised one
    (:class:`~platonic.compare.reconstruction.Ridge2FoldCV`, cutoff chosen by 2-fold CV) on a
    50/50 split of the structures. So that no fit has more features than training structures,
    the atom features are first reduced to their first p principal axes (fitted on the training
    structures' atoms): ``n_components="auto"`` takes the largest p with
    :math:`N p \le n_\mathrm{train}` (the widest target, all N orders, then fits within the
    training structures), capped at the feature count d, and with fewer training structures
    than N the highest order is lowered to their number (p = 1); an integer fixes p; ``None`` keeps
    all d features (the old behaviour, over-parametrised when :math:`(N-1) d > n_\mathrm{train}`).

    ``gfre_options`` go to :func:`platonic.compare.global_reconstruction_error` (``scaler``,
    ``estimator``).

    Returns
    -------
    DataFrame, one row per order k: ``order, gfre`` (up to k−1 → up to k), ``gfre_to_order``
    (up to k−1 → order k alone), ``n_structures, n_train, n_components, n_features_from,
    n_features_to``.
    """
    max_order = _check_order(max_order)
    if max_order < 2:
        raise CumulantInputError(f"the order gain needs max_order >= 2, got {max_order}")
    X = _check_features(X)
    offsets = _check_offsets(offsets, X.shape[0])
    train, test = _structure_split(len(offsets) - 1, random_state)
    if n_components == "auto":
        # fewer training structures than orders: stop at the order they can fit (the table shows it)
        max_order = min(max_order, len(train))
        n_components = min(X.shape[1], len(train) // max_order)
    elif n_components is None:
        n_components = X.shape[1]
    elif isinstance(n_components, bool) or not isinstance(n_components, (int, np.integer)) or n_components < 1:
        raise CumulantInputError(f'n_components must be "auto", None or a positive integer, got {n_components!r}')
    reduced = reduce_atom_features(X, offsets, train, int(n_components))
    features = structure_features(reduced, offsets, max_order)
    d = features.shape[1] // max_order
    options = {"train_idx": train, "test_idx": test, **gfre_options}
    # every source and target is a block of columns of `features`: each row set is factored once
    nested = None if gfre_options else NestedFits(features, train, test)
    records = []
    for k in range(2, max_order + 1):
        source, lower, block = (k - 1) * d, slice(0, k * d), slice((k - 1) * d, k * d)
        if nested is None:  # a caller's own scaler or estimator: one fit per target
            gain, gain_to_order = (global_reconstruction_error(features[:, :source], features[:, target], **options)
                                   for target in (lower, block))
        else:  # the same fits, the same numbers to rounding (platonic.compare.nested_fits)
            gain, gain_to_order = nested.gfre(source, lower), nested.gfre(source, block)
        records.append({
            "order": k,
            "gfre": gain,
            "gfre_to_order": gain_to_order,
            "n_structures": features.shape[0],
            "n_train": len(train),
            "n_components": d,
            "n_features_from": source,
            "n_features_to": k * d,
        })
    return pd.DataFrame(records)


def cumulant_gain_table(
    embeddings: Mapping[str, np.ndarray],
    offsets: Sequence[int],
    max_order: int = DEFAULT_MAX_ORDER,
    space: str = "unified",
    controls: Sequence[str] = (),
    progress: Progress | None = None,
    **options,
) -> pd.DataFrame:
    """:func:`cumulant_order_gain` for every model; adds ``model``, ``space`` and ``control`` columns
    (``control``: the model is one of ``controls``, the untrained models). ``progress``: one step
    per model (task ``cumulant gain (<space>)``)."""
    if not isinstance(embeddings, Mapping) or not embeddings:
        raise CumulantInputError("embeddings must be a non-empty mapping of model name -> (n_atoms, d) array")
    progress = progress or NullProgress()
    progress.start(f"cumulant gain ({space})", total=len(embeddings), unit="models")
    tables = []
    for model, X in embeddings.items():
        gain = cumulant_order_gain(X, offsets, max_order, **options)
        gain.insert(0, "control", model in set(controls))
        gain.insert(0, "space", space)
        gain.insert(0, "model", model)
        tables.append(gain)
        progress.advance(1)
    progress.finish()
    return pd.concat(tables, ignore_index=True)


def cumulant_gain_against_control(gain: pd.DataFrame, tolerance: float = 0.05) -> pd.DataFrame:
    """Per space and order: the trained models' mean gain beside each control's, and what it means.

    A gain (``gfre``) that the untrained control matches says that order k is not a linear
    function of the lower orders *for any* atom distribution, learnt or random: it measures the
    shape of per-structure feature distributions, not chemistry the training put there. The
    ``reading`` says so when the control's gain is within ``tolerance`` of the trained mean or
    above it.

    Returns
    -------
    DataFrame ``space, order, control, trained_mean, trained_min, trained_max, control_gfre,
    difference`` (trained mean − control) ``, reading``; empty without a control or a trained model.
    """
    needed = {"model", "space", "order", "gfre", "control"}
    if not needed <= set(gain.columns):
        raise CumulantInputError(f"the gain table lacks {sorted(needed - set(gain.columns))}: pass cumulant_gain_table's")
    rows = []
    for (space, order), part in gain.groupby(["space", "order"], sort=False):
        trained = part[~part["control"].astype(bool)]["gfre"]
        if trained.empty:
            continue
        for _, control in part[part["control"].astype(bool)].iterrows():
            difference = float(trained.mean() - control["gfre"])
            reading = ("the control gains as much: this order's gain reflects the spread of feature "
                       "distributions, not learnt chemistry" if difference <= tolerance else
                       "trained models gain more than the control")
            rows.append({"space": space, "order": int(order), "control": control["model"],
                         "trained_mean": float(trained.mean()), "trained_min": float(trained.min()),
                         "trained_max": float(trained.max()), "control_gfre": float(control["gfre"]),
                         "difference": difference, "reading": reading})
    return pd.DataFrame(rows, columns=["space", "order", "control", "trained_mean", "trained_min", "trained_max",
                                       "control_gfre", "difference", "reading"])
