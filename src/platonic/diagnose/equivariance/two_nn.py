"""The two-NN equivariance test within structures (maths in :mod:`platonic.diagnose.equivariance`)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import pandas as pd
import spglib
from platonic.errors import PlatonicError
from platonic.validation import check_matrix

#: The space groups of the study: P6_3/mmc, Fm-3m, I4/mmm, Pm-3m.
STUDY_SPACEGROUPS: tuple[int, ...] = (194, 225, 139, 221)
DEFAULT_TOLERANCES: tuple[float, ...] = (1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2)
TOLERANCE_MODES = ("relative", "absolute")
_PAIR_CHUNK = 65536

PER_STRUCTURE_COLUMNS = [
    "structure_index", "structure_id", "formula", "tol", "threshold", "n_atoms", "n_pairs",
    "n_paired_atoms", "n_equivalent_atoms", "predicted_pairs", "true_pairs", "true_positive_pairs",
    "fraction", "expected_fraction", "precision", "recall",
]
_COUNT_COLUMNS = ["n_atoms", "n_pairs", "n_paired_atoms", "n_equivalent_atoms", "predicted_pairs", "true_pairs",
                  "true_positive_pairs"]
SUMMARY_COLUMNS = [
    "model", "space", "spacegroup_number", "spacegroup", "tol", "tolerance_mode", "scale", "threshold",
    "n_structures", "n_rejected_structures", "n_atoms", "n_pairs", "n_paired_atoms", "n_equivalent_atoms",
    "predicted_pairs", "true_pairs", "true_positive_pairs", "fraction", "expected_fraction",
    "mean_structure_fraction", "precision", "recall",
]


class EquivarianceInputError(PlatonicError, ValueError):
    """Bad input to the two-NN equivariance diagnostic."""


class EmptySpacegroupWarning(UserWarning):
    """A requested space group has no structure in the data: it is reported with zero counts."""


@lru_cache(maxsize=1)
def _spacegroup_symbols() -> dict[int, str]:
    symbols: dict[int, str] = {}
    for hall_number in range(1, 531):
        found = spglib.get_spacegroup_type(hall_number)
        symbols.setdefault(int(found.number), str(found.international_short))
    return symbols


def spacegroup_symbol(number: int) -> str:
    """Short Hermann-Mauguin symbol of a space-group number (``221`` -> ``"Pm-3m"``)."""
    return _spacegroup_symbols()[_check_spacegroup(number)]


def _check_spacegroup(number: object) -> int:
    if isinstance(number, bool) or not isinstance(number, (int, np.integer)) or not 1 <= number <= 230:
        raise EquivarianceInputError(f"space-group numbers are integers in 1..230, got {number!r}")
    return int(number)


def _check_tolerances(tolerances: Sequence[float]) -> np.ndarray:
    values = np.asarray(tolerances, dtype=float)
    if values.ndim != 1 or values.size == 0:
        raise EquivarianceInputError(f"tolerances must be a non-empty 1-D sequence, got {tolerances!r}")
    if not (np.isfinite(values).all() and (values >= 0).all()):
        raise EquivarianceInputError(f"tolerances must be finite and non-negative, got {values.tolist()}")
    if np.unique(values).size != values.size:
        raise EquivarianceInputError(f"tolerances must be distinct, got {values.tolist()}")
    return np.sort(values)


def _check_embeddings(embeddings: object, name: str = "embeddings") -> np.ndarray:
    """Floats kept as they are; NaN rows (rejected structures) allowed: they are left out later."""
    return check_matrix(embeddings, name, EquivarianceInputError, min_rows=0, dtype=(np.float64, np.float32),
                        finite=False)


def tolerance_scale(embeddings: np.ndarray, mode: str = "relative") -> float:
    """The scale σ that multiplies every tolerance: the RMS row norm of the finite rows, or 1.

    ``mode="relative"``: :math:`\\sigma = (\\frac1N \\sum_i \\lVert e_i \\rVert^2)^{1/2}` over the
    rows without NaN/inf; ``mode="absolute"``: σ = 1.
    """
    if mode not in TOLERANCE_MODES:
        raise EquivarianceInputError(f"tolerance_mode must be one of {TOLERANCE_MODES}, got {mode!r}")
    if mode == "absolute":
        return 1.0
    array = _check_embeddings(embeddings)
    finite = np.isfinite(array).all(axis=1)
    if not finite.any():
        raise EquivarianceInputError("embeddings have no finite row to take a scale from")
    squared = np.einsum("ij,ij->i", array[finite], array[finite], dtype=np.float64)
    scale = float(np.sqrt(squared.mean()))
    if scale == 0.0:
        raise EquivarianceInputError("every embedding is zero: a relative tolerance is undefined")
    return scale


def within_structure_pairs(structure: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All unordered pairs ``(first[p], second[p])`` of positions that share a structure label.

    Positions index ``structure``; a structure's atoms need not be contiguous. A structure of
    ``n`` atoms gives its ``n (n - 1) / 2`` pairs.
    """
    labels = np.asarray(structure)
    if labels.ndim != 1:
        raise EquivarianceInputError(f"structure labels must be 1-D, got shape {labels.shape}")
    order = np.argsort(labels, kind="stable")
    ordered = labels[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]]) if labels.size else np.empty(0, int)
    sizes = np.diff(np.r_[starts, labels.size])
    first, second = [np.empty(0, dtype=np.int64)], [np.empty(0, dtype=np.int64)]
    for size in np.unique(sizes[sizes > 1]):
        upper_i, upper_j = np.triu_indices(size, k=1)
        block_starts = starts[sizes == size][:, None]
        first.append(order[(block_starts + upper_i).ravel()])
        second.append(order[(block_starts + upper_j).ravel()])
    return np.concatenate(first), np.concatenate(second)


def pair_distances(embeddings: np.ndarray, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Euclidean distances ``||e[first] - e[second]||`` in float64, from differences, in chunks."""
    array = _check_embeddings(embeddings)
    out = np.empty(len(first), dtype=np.float64)
    for start in range(0, len(first), _PAIR_CHUNK):
        stop = start + _PAIR_CHUNK
        difference = array[first[start:stop]].astype(np.float64) - array[second[start:stop]]
        out[start:stop] = np.sqrt(np.einsum("ij,ij->i", difference, difference))
    return out


def nearest_other_distance(embeddings: np.ndarray, structure: np.ndarray) -> np.ndarray:
    """:math:`d_1` of every row: distance to the nearest other row with the same structure label.

    ``+inf`` for a row alone in its structure.
    """
    array = _check_embeddings(embeddings)
    labels = np.asarray(structure)
    if labels.shape != (array.shape[0],):
        raise EquivarianceInputError(f"structure labels have shape {labels.shape}, embeddings {array.shape[0]} rows")
    return _pairs_and_nearest(array, labels)[3]


def _pairs_and_nearest(array: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, ...]:
    """Within-structure pairs, their distances, and every row's nearest-other distance."""
    first, second = within_structure_pairs(labels)
    distance = pair_distances(array, first, second)
    nearest = np.full(array.shape[0], np.inf)
    np.minimum.at(nearest, first, distance)
    np.minimum.at(nearest, second, distance)
    return first, second, distance, nearest


def two_nn_equivalence(
    embeddings: np.ndarray,
    structure: np.ndarray,
    equivalent_class: np.ndarray,
    tolerances: Sequence[float] = DEFAULT_TOLERANCES,
    scale: float = 1.0,
) -> pd.DataFrame:
    """Per structure and tolerance: paired-atom fraction and pairwise precision/recall vs spglib.

    Parameters
    ----------
    embeddings : (n, d) array
        One row per atom; finite.
    structure : (n,) array
        Structure label of each row; pairs are only formed inside a structure.
    equivalent_class : (n,) array
        Symmetry class of each row inside its structure (spglib's ``equivalent_atoms``); two atoms
        of a structure are equivalent when their classes are equal.
    tolerances : sequence of float
        The τ values (distinct, non-negative; reported in ascending order); thresholds are
        ``τ * scale``.
    scale : float
        σ of the module docstring (see :func:`tolerance_scale`).

    Returns
    -------
    DataFrame
        One row per (structure, tol), columns ``structure, tol, threshold, n_atoms, n_pairs,
        n_paired_atoms, n_equivalent_atoms, predicted_pairs, true_pairs, true_positive_pairs,
        fraction, expected_fraction, precision, recall`` (definitions in the module docstring).
    """
    array = _check_embeddings(embeddings)
    labels, classes = np.asarray(structure), np.asarray(equivalent_class)
    for name, values in (("structure", labels), ("equivalent_class", classes)):
        if values.shape != (array.shape[0],):
            raise EquivarianceInputError(f"{name} has shape {values.shape}, embeddings have {array.shape[0]} rows")
    if array.shape[0] == 0:
        raise EquivarianceInputError("no atoms to score")
    if not np.isfinite(array).all():
        bad = np.flatnonzero(~np.isfinite(array).all(axis=1))
        raise EquivarianceInputError(f"{bad.size} embedding row(s) hold NaN or inf (first: position {int(bad[0])})")
    if not (np.isfinite(scale) and scale > 0):
        raise EquivarianceInputError(f"scale must be a positive finite number, got {scale!r}")
    tolerances = _check_tolerances(tolerances)

    structures, code = np.unique(labels, return_inverse=True)
    n_structures = structures.size
    first, second, distance, nearest = _pairs_and_nearest(array, code)
    truly_equivalent = classes[first] == classes[second]
    pair_structure = code[first]
    has_partner = np.zeros(array.shape[0], dtype=bool)
    has_partner[first[truly_equivalent]] = True
    has_partner[second[truly_equivalent]] = True

    def per_structure(flags: np.ndarray, owner: np.ndarray) -> np.ndarray:
        """How many True ``flags`` each structure owns."""
        return np.bincount(owner, weights=flags.astype(float), minlength=n_structures)

    n_atoms = np.bincount(code, minlength=n_structures)
    n_pairs = n_atoms * (n_atoms - 1) // 2
    true_pairs = per_structure(truly_equivalent, pair_structure)
    n_equivalent = per_structure(has_partner, code)
    blocks = []
    for tol in tolerances:
        threshold = tol * scale
        predicted = distance <= threshold
        paired = per_structure(nearest <= threshold, code)
        predicted_pairs = per_structure(predicted, pair_structure)
        true_positive = per_structure(predicted & truly_equivalent, pair_structure)
        with np.errstate(invalid="ignore", divide="ignore"):
            blocks.append(pd.DataFrame({
                "structure": structures,
                "tol": tol,
                "threshold": threshold,
                "n_atoms": n_atoms,
                "n_pairs": n_pairs,
                "n_paired_atoms": paired.astype(np.int64),
                "n_equivalent_atoms": n_equivalent.astype(np.int64),
                "predicted_pairs": predicted_pairs.astype(np.int64),
                "true_pairs": true_pairs.astype(np.int64),
                "true_positive_pairs": true_positive.astype(np.int64),
                "fraction": paired / n_atoms,
                "expected_fraction": n_equivalent / n_atoms,
                "precision": true_positive / predicted_pairs,
                "recall": true_positive / true_pairs,
            }))
    return pd.concat(blocks, ignore_index=True)
