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
The structure feature vector concatenates the orders, order-major:
``[f_1 (d columns), f_2 (d), …, f_N (d)]``.

**How much each order adds** (:func:`cumulant_order_gain`): the global feature reconstruction
error (:func:`platonic.compare.global_reconstruction_error`, scikit-matter's protocol) from the
features up to order k−1 to the features up to order k, for k = 2 … N. The target holds the
source's own columns (reconstructed exactly), so the error measures the part of order k, as a
fraction of the total variance of the target, that lower orders do not predict linearly: 0 means
order k adds nothing linear. ``gfre_to_order`` is the same to the order-k block alone.
"""

from __future__ import annotations

from math import comb
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from platonic.analyse._validation import finite_matrix
from platonic.compare import global_reconstruction_error
from platonic.errors import PlatonicError


class CumulantInputError(PlatonicError, ValueError):
    """Bad input to the cumulant features: shapes, offsets, orders or non-finite values."""


def _check_features(X: object) -> np.ndarray:
    return finite_matrix(X, "X", CumulantInputError)


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
    starts, counts = offsets[:-1], np.diff(offsets)[:, None]
    mean = np.add.reduceat(X, starts, axis=0) / counts
    centred = X - np.repeat(mean, counts.ravel(), axis=0)
    central = {1: np.zeros_like(mean)}
    power = centred
    for k in range(2, max_order + 1):
        power = power * centred
        central[k] = np.add.reduceat(power, starts, axis=0) / counts
    cumulants = np.empty((len(starts), max_order, X.shape[1]))
    cumulants[:, 0] = mean
    for k in range(2, max_order + 1):
        kappa = central[k].copy()
        for m in range(2, k - 1):
            kappa -= comb(k - 1, m - 1) * cumulants[:, m - 1] * central[k - m]
        cumulants[:, k - 1] = kappa
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


def cumulant_order_gain(
    X: np.ndarray,
    offsets: Sequence[int],
    max_order: int = 4,
    **gfre_options,
) -> pd.DataFrame:
    """GFRE from the structure features up to order k−1 to those up to order k, k = 2 … N.

    ``gfre_options`` go to :func:`platonic.compare.global_reconstruction_error` (``test_idx``,
    ``train_idx``, ``scaler``, ``estimator``); by default its 50/50 split of the structures.

    Returns
    -------
    DataFrame, one row per order k: ``order, gfre`` (up to k−1 → up to k), ``gfre_to_order``
    (up to k−1 → order k alone), ``n_structures, n_features_from, n_features_to``.
    """
    max_order = _check_order(max_order)
    if max_order < 2:
        raise CumulantInputError(f"the order gain needs max_order >= 2, got {max_order}")
    features = structure_features(X, offsets, max_order)
    d = features.shape[1] // max_order
    records = []
    for k in range(2, max_order + 1):
        source, target = features[:, : (k - 1) * d], features[:, : k * d]
        records.append({
            "order": k,
            "gfre": global_reconstruction_error(source, target, **gfre_options),
            "gfre_to_order": global_reconstruction_error(source, features[:, (k - 1) * d : k * d], **gfre_options),
            "n_structures": features.shape[0],
            "n_features_from": source.shape[1],
            "n_features_to": target.shape[1],
        })
    return pd.DataFrame(records)


def cumulant_gain_table(
    embeddings: Mapping[str, np.ndarray],
    offsets: Sequence[int],
    max_order: int = 4,
    space: str = "unified",
    **gfre_options,
) -> pd.DataFrame:
    """:func:`cumulant_order_gain` for every model; adds ``model`` and ``space`` columns."""
    if not isinstance(embeddings, Mapping) or not embeddings:
        raise CumulantInputError("embeddings must be a non-empty mapping of model name -> (n_atoms, d) array")
    tables = []
    for model, X in embeddings.items():
        gain = cumulant_order_gain(X, offsets, max_order, **gfre_options)
        gain.insert(0, "space", space)
        gain.insert(0, "model", model)
        tables.append(gain)
    return pd.concat(tables, ignore_index=True)
