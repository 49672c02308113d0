r"""Equivariance by two-NN: do symmetry-equivalent atoms get equal embeddings?

An invariant model maps atoms related by a symmetry operation of their crystal to the same
embedding. Within one structure, the distance from atom :math:`i` to its nearest *other* atom
of the same structure in embedding space,

.. math::

    d_1(i) = \min_{j \ne i,\; s(j) = s(i)} \lVert e_i - e_j \rVert_2 ,

is then zero when :math:`i` has a symmetry-equivalent partner (up to float precision and
to how exactly the stored structure is symmetric). A structure of one atom has no other atom:
:math:`d_1 = +\infty`.

Tolerance
---------
An atom is *paired* at tolerance :math:`\tau` when :math:`d_1(i) \le \tau\,\sigma`, and a pair
:math:`(i, j)` of one structure is *predicted equivalent* when
:math:`\lVert e_i - e_j \rVert \le \tau\,\sigma`. The scale :math:`\sigma` is

* ``"relative"`` (default): the RMS row norm of the model's matrix,
  :math:`\sigma = (\frac1N \sum_i \lVert e_i \rVert^2)^{1/2}` over all its finite rows (the
  whole matrix given, not only the selected space groups), so that raw spaces of different
  scale (CHGNet's ~3, SevenNet's ~20, the random MACE's ~4e-3) are compared on one footing;
* ``"absolute"``: :math:`\sigma = 1`, the tolerance in the space's own units.

The default sweep is :math:`\tau \in \{10^{-8}, \dots, 10^{-2}\}`. The embeddings are stored in
float32 (relative precision :math:`6 \times 10^{-8}` per entry), so a relative tolerance below
about :math:`10^{-7}` asks for bitwise-equal rows. Distances are computed in float64 from
differences (never from :math:`\lVert a\rVert^2 + \lVert b\rVert^2 - 2a\cdot b`, whose rounding
error near zero is larger than the smallest tolerances).

Scores
------
Per structure and tolerance:

* ``fraction``: paired atoms / atoms (the quantity of the study);
* ``expected_fraction``: atoms with at least one spglib-equivalent partner / atoms, the fraction
  a perfectly invariant model reaches;
* pairwise ``precision`` and ``recall`` against spglib's equivalence (``equivalent_class`` of the
  atom table): over the :math:`n(n-1)/2` unordered atom pairs of a structure, a pair is truly
  equivalent when both atoms have the same ``equivalent_class``; precision = true positives /
  predicted pairs (NaN without a predicted pair), recall = true positives / equivalent pairs
  (NaN without an equivalent pair).

The ground truth (:func:`equivariance_report`) is spglib's analysis at the tightest stable
tolerance of a ``symprec`` sweep per structure (:mod:`platonic.diagnose.symmetry`): at the
atom table's 0.1 Å a slightly distorted crystal takes its ideal parent's symmetry, and atoms
equivalent only within that tolerance would lower the recall of every model alike. The space
groups scored are those present in the data (:func:`~platonic.diagnose.symmetry.select_spacegroups`),
not a fixed list. :func:`summarise_two_nn` pools the counts over the structures of a space
group (micro averages), and also gives the plain mean of the per-structure fractions.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import spglib
from matplotlib.figure import Figure
from platonic.diagnose.symmetry import (
    DEFAULT_MIN_STRUCTURES,
    DEFAULT_SYMPRECS,
    DEFAULT_TOP,
    ground_truth_table,
    select_spacegroups,
)
from platonic.errors import NotApplicableError, PlatonicError

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
    array = np.asarray(embeddings)
    if array.ndim != 2 or array.shape[1] == 0:
        raise EquivarianceInputError(f"{name} must be a 2-D (atoms x features) array, got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.floating):
        raise EquivarianceInputError(f"{name} must hold floats, got dtype {array.dtype}")
    return array


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


def spacegroup_counts(atom_table: pd.DataFrame, spacegroups: Sequence[int] = STUDY_SPACEGROUPS) -> pd.DataFrame:
    """How many structures and atoms of ``atom_table`` lie in each requested space group.

    Columns: ``spacegroup_number, spacegroup, n_structures, n_atoms, n_structures_with_equivalent_atoms``.
    A group without structures is a row of zeros (and an :class:`EmptySpacegroupWarning`).
    Space groups are the table's spglib ``spacegroup_number`` (structures where spglib failed
    have 0 and are never selected).
    """
    table = _check_atom_table(atom_table)
    numbers = [_check_spacegroup(number) for number in spacegroups]
    if len(set(numbers)) != len(numbers) or not numbers:
        raise EquivarianceInputError(f"spacegroups must be distinct and non-empty, got {list(spacegroups)}")
    rows = []
    for number in numbers:
        selected = table[table["spacegroup_number"] == number]
        per_structure = selected.groupby("structure_index", observed=True)["equivalent_class"]
        with_partner = int((per_structure.nunique() < per_structure.size()).sum())
        rows.append({
            "spacegroup_number": number,
            "spacegroup": spacegroup_symbol(number),
            "n_structures": int(selected["structure_index"].nunique()),
            "n_atoms": len(selected),
            "n_structures_with_equivalent_atoms": with_partner,
        })
        if selected.empty:
            warnings.warn(
                f"no structure in space group {number} ({spacegroup_symbol(number)}): it is reported with zero counts",
                EmptySpacegroupWarning,
                stacklevel=2,
            )
    return pd.DataFrame(rows)


def _check_atom_table(atom_table: pd.DataFrame) -> pd.DataFrame:
    needed = ["structure_index", "structure_id", "formula", "spacegroup_number", "equivalent_class"]
    if not isinstance(atom_table, pd.DataFrame):
        raise EquivarianceInputError(f"atom_table must be a DataFrame, got {type(atom_table).__name__}")
    missing = [column for column in needed if column not in atom_table.columns]
    if missing:
        raise EquivarianceInputError(f"atom_table lacks the columns {missing} (use EmbeddingStore.atom_table())")
    return atom_table


def two_nn_by_spacegroup(
    matrices: Mapping[str, np.ndarray],
    atom_table: pd.DataFrame,
    *,
    space: str,
    spacegroups: Sequence[int] = STUDY_SPACEGROUPS,
    tolerances: Sequence[float] = DEFAULT_TOLERANCES,
    tolerance_mode: str = "relative",
) -> pd.DataFrame:
    """:func:`two_nn_equivalence` for each model on the structures of the chosen space groups.

    Parameters
    ----------
    matrices : mapping model -> (n_atoms, d) array
        Full matrices whose rows are the rows of ``atom_table`` (a store's raw matrices, or the
        unified ones). The tolerance scale is taken from the whole matrix.
    atom_table : DataFrame
        The store's atom table.
    space : str
        Label of the space (``"raw"``, ``"unified"``), copied into the table.

    Returns
    -------
    DataFrame
        One row per (model, structure, tol) with the columns of :func:`two_nn_equivalence` plus
        ``model, space, spacegroup_number, spacegroup, structure_id, formula, tolerance_mode,
        scale, scored``. A structure that the model rejected (a NaN row) is kept with
        ``scored=False`` and NaN scores.
    """
    table = _check_atom_table(atom_table)
    numbers = [_check_spacegroup(number) for number in spacegroups]
    tolerances = _check_tolerances(tolerances)
    if not isinstance(matrices, Mapping) or not matrices:
        raise EquivarianceInputError("matrices must be a non-empty mapping of model name to array")
    selected = table[table["spacegroup_number"].isin(numbers)]
    if selected.empty:
        raise EquivarianceInputError(f"no structure of the atom table is in the space groups {numbers}")
    rows = np.flatnonzero(table["spacegroup_number"].isin(numbers).to_numpy())
    structure_info = selected.groupby("structure_index", observed=True).agg(
        structure_id=("structure_id", "first"),
        formula=("formula", "first"),
        spacegroup_number=("spacegroup_number", "first"),
    )
    structure_info[["structure_id", "formula"]] = structure_info[["structure_id", "formula"]].astype(str)
    blocks = []
    for model, matrix in matrices.items():
        array = _check_embeddings(matrix, f"matrices[{model!r}]")
        if array.shape[0] != len(table):
            raise EquivarianceInputError(f"matrices[{model!r}] has {array.shape[0]} rows, the atom table {len(table)}")
        scale = tolerance_scale(array, tolerance_mode)
        chosen = np.asarray(array[rows])
        finite = np.isfinite(chosen).all(axis=1)
        structure = selected["structure_index"].to_numpy()
        rejected = np.unique(structure[~finite])
        keep = ~np.isin(structure, rejected)
        parts = []
        if keep.any():
            parts.append(two_nn_equivalence(
                chosen[keep], structure[keep], selected["equivalent_class"].to_numpy()[keep], tolerances, scale
            ).assign(scored=True))
        if rejected.size:
            parts.append(pd.DataFrame(
                [(s, tol) for s in rejected for tol in tolerances], columns=["structure", "tol"]
            ).assign(threshold=lambda frame: frame["tol"] * scale, scored=False))
        scores = pd.concat(parts, ignore_index=True).rename(columns={"structure": "structure_index"})
        scores = scores.join(structure_info, on="structure_index")
        scores["spacegroup"] = scores["spacegroup_number"].map(spacegroup_symbol)
        blocks.append(scores.assign(model=model, space=space, tolerance_mode=tolerance_mode, scale=scale))
    front = ["model", "space", "spacegroup_number", "spacegroup", "tolerance_mode", "scale", "scored"]
    out = pd.concat(blocks, ignore_index=True).reindex(columns=front + PER_STRUCTURE_COLUMNS)
    if not out["scored"].all():  # unscored rows have no counts: keep the count columns integer anyway
        out[_COUNT_COLUMNS] = out[_COUNT_COLUMNS].astype("Int64")
    return out.sort_values(
        ["model", "space", "spacegroup_number", "structure_index", "tol"], ignore_index=True
    )


def summarise_two_nn(per_structure: pd.DataFrame) -> pd.DataFrame:
    """Pool :func:`two_nn_by_spacegroup` rows by (model, space, space group, tol).

    Counts are summed over the scored structures; ``fraction``, ``expected_fraction``,
    ``precision`` and ``recall`` are ratios of the pooled counts (micro averages);
    ``mean_structure_fraction`` is the unweighted mean of the per-structure fractions;
    ``n_rejected_structures`` counts the structures the model could not embed.
    """
    keys = ["model", "space", "spacegroup_number", "spacegroup", "tol", "tolerance_mode", "scale", "threshold"]
    missing = [column for column in keys + ["scored"] + PER_STRUCTURE_COLUMNS if column not in per_structure.columns]
    if missing:
        raise EquivarianceInputError(f"per_structure lacks the columns {missing}: pass a two_nn_by_spacegroup table")
    counts = _COUNT_COLUMNS
    scored = per_structure[per_structure["scored"].astype(bool)]
    grouped = scored.groupby(keys, observed=True, sort=True)
    pooled = grouped[counts].sum().astype(np.int64)
    pooled["n_structures"] = grouped.size()
    pooled["mean_structure_fraction"] = grouped["fraction"].mean()
    rejected = per_structure[~per_structure["scored"].astype(bool)].groupby(keys, observed=True).size()
    pooled = pooled.join(rejected.rename("n_rejected_structures"), how="outer")
    pooled = pooled.fillna({column: 0 for column in counts + ["n_structures", "n_rejected_structures"]})
    pooled[counts + ["n_structures", "n_rejected_structures"]] = pooled[
        counts + ["n_structures", "n_rejected_structures"]
    ].astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        pooled["fraction"] = pooled["n_paired_atoms"] / pooled["n_atoms"]
        pooled["expected_fraction"] = pooled["n_equivalent_atoms"] / pooled["n_atoms"]
        pooled["precision"] = pooled["true_positive_pairs"] / pooled["predicted_pairs"]
        pooled["recall"] = pooled["true_positive_pairs"] / pooled["true_pairs"]
    return pooled.reset_index()[SUMMARY_COLUMNS]


def plot_two_nn(summary: pd.DataFrame) -> Figure:
    """Fraction, precision and recall against the tolerance, one column per space group.

    Lines are models (one colour each); raw space solid, unified space dashed. The fraction
    panels also show spglib's expected fraction (grey dotted): what an exactly invariant model
    reaches. Takes the table of :func:`summarise_two_nn`.
    """
    missing = [column for column in SUMMARY_COLUMNS if column not in summary.columns]
    if missing:
        raise EquivarianceInputError(f"summary lacks the columns {missing}: pass a summarise_two_nn table")
    if summary.empty:
        raise EquivarianceInputError("summary is empty: nothing to plot")
    groups = summary[["spacegroup_number", "spacegroup"]].drop_duplicates().sort_values("spacegroup_number")
    models = list(dict.fromkeys(summary["model"]))
    colours = {model: f"C{index % 10}" for index, model in enumerate(models)}
    styles = {"raw": "-", "unified": "--"}
    metrics = ("fraction", "precision", "recall")
    figure = Figure(figsize=(3.2 * len(groups) + 2.2, 7.5), layout="constrained")
    axes = figure.subplots(len(metrics), len(groups), sharex=True, sharey=True, squeeze=False)
    for column, group in enumerate(groups.itertuples(index=False)):
        in_group = summary[summary["spacegroup_number"] == group.spacegroup_number]
        for row, metric in enumerate(metrics):
            ax = axes[row, column]
            for (model, space), lines in in_group.groupby(["model", "space"], sort=False):
                lines = lines.sort_values("tol")
                ax.plot(lines["tol"], lines[metric], styles.get(space, ":"), color=colours[model], marker=".",
                        label=f"{model} ({space})")
            if metric == "fraction":
                ax.axhline(in_group["expected_fraction"].iloc[0], color="0.5", linestyle=":", label="spglib")
            ax.set_xscale("log")
            ax.set_ylim(-0.03, 1.03)
            if row == 0:
                n = int(in_group["n_structures"].max())
                ax.set_title(f"{group.spacegroup} ({group.spacegroup_number}), {n} structures", fontsize=9)
            if column == 0:
                ax.set_ylabel(metric)
            if row == len(metrics) - 1:
                mode = in_group["tolerance_mode"].iloc[0]
                ax.set_xlabel("tolerance τ" + (" (× RMS row norm)" if mode == "relative" else ""))
    handles, labels = axes[0, 0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside right upper", fontsize=7)
    figure.suptitle("Equivariance by two-NN: symmetry-equivalent atoms with equal embeddings", fontsize=10)
    return figure


def _load_unified(value: np.ndarray | str | Path) -> np.ndarray:
    if isinstance(value, (str, Path)):
        return np.load(value, mmap_mode="r")
    return np.asarray(value)


def equivariance_report(
    store,
    unified: Mapping[str, np.ndarray | str | Path] | None,
    models: Sequence[str],
    out_dir: str | Path,
    *,
    structures: Sequence | None = None,
    symprecs: Sequence[float] = DEFAULT_SYMPRECS,
    spacegroups: Sequence[int] | None = None,
    top: int | None = DEFAULT_TOP,
    min_structures: int = DEFAULT_MIN_STRUCTURES,
    tolerances: Sequence[float] = DEFAULT_TOLERANCES,
    tolerance_mode: str = "relative",
) -> dict[str, Path]:
    """Run the two-NN equivariance diagnostic on a store and write its tables and figure.

    Parameters
    ----------
    store : EmbeddingStore
        Raw embeddings and the atom table (space groups and spglib equivalence).
    unified : mapping model -> (n_atoms, K) array or .npy path, or None
        The unified-space matrices (``project_store`` output); None scores the raw space only.
    models : sequence of str
        Models to score; each must be in the store (and in ``unified`` when given).
    out_dir : path
        Output directory (created).
    structures : sequence of ase.Atoms, optional
        The store's structures in atom-table order (the study passes its dataset's): the ground
        truth is then the tightest stable symmetry of a ``symprecs`` sweep
        (:func:`platonic.diagnose.symmetry.ground_truth_table`); without them, the atom table's
        labels (spglib at 0.1 Å), and the ground-truth table says so.
    spacegroups : the groups to score; default those present
        (:func:`platonic.diagnose.symmetry.select_spacegroups` with ``top``, ``min_structures``).
        Given groups absent from the data are left out; if none is present, or none qualifies,
        :class:`~platonic.errors.NotApplicableError` says why (a study records it as skipped).
    tolerances, tolerance_mode
        As in :func:`two_nn_by_spacegroup`.

    Returns
    -------
    dict
        ``"ground_truth"``: ``equivariance_ground_truth.csv`` (per structure: the space group at
        0.1 Å and at the chosen tolerance, the tolerance, whether it was stable),
        ``"summary"``: ``equivariance_two_nn.csv`` (:func:`summarise_two_nn`), ``"structures"``:
        ``equivariance_two_nn_structures.csv`` (:func:`two_nn_by_spacegroup`), ``"spacegroups"``:
        ``equivariance_spacegroups.csv`` (:func:`spacegroup_counts`), ``"figure"``:
        ``equivariance_two_nn.png`` (:func:`plot_two_nn`).
    """
    models = list(models)
    if not models:
        raise EquivarianceInputError("no models given")
    absent = sorted(set(models) - set(store.models()))
    if absent:
        raise EquivarianceInputError(f"models {absent} are not in the store; it has {store.models()}")
    if unified is not None:
        absent = sorted(set(models) - set(unified))
        if absent:
            raise EquivarianceInputError(f"models {absent} have no unified matrix; given: {sorted(unified)}")
    atom_table = ground_truth_table(store.atom_table(), structures, symprecs)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"ground_truth": out / "equivariance_ground_truth.csv", "spacegroups": out / "equivariance_spacegroups.csv"}
    atom_table.groupby("structure_index", sort=True).agg(
        structure_id=("structure_id", "first"), formula=("formula", "first"),
        spacegroup_number_loose=("spacegroup_number_loose", "first"), spacegroup_number=("spacegroup_number", "first"),
        symprec=("symprec", "first"), stable=("stable", "first"), ground_truth=("ground_truth", "first"),
    ).reset_index().to_csv(paths["ground_truth"], index=False)
    if spacegroups is None:
        present = select_spacegroups(atom_table, top=top, min_structures=min_structures)
    else:
        wanted = [_check_spacegroup(number) for number in spacegroups]
        present = [number for number in wanted if (atom_table["spacegroup_number"] == number).any()]
        if not present:
            raise NotApplicableError(f"none of the space groups {wanted} occurs in the data (at the ground truth's "
                                     "tolerance)")
    counts = spacegroup_counts(atom_table, present)
    counts.to_csv(paths["spacegroups"], index=False)
    options = dict(spacegroups=present, tolerances=tolerances, tolerance_mode=tolerance_mode)
    per_structure = []
    for model in models:  # one model's matrices in memory at a time
        per_structure.append(two_nn_by_spacegroup({model: store.load(model)}, atom_table, space="raw", **options))
        if unified is not None:
            matrix = _load_unified(unified[model])
            per_structure.append(two_nn_by_spacegroup({model: matrix}, atom_table, space="unified", **options))
    structures = pd.concat(per_structure, ignore_index=True)
    summary = summarise_two_nn(structures)
    paths.update(
        summary=out / "equivariance_two_nn.csv",
        structures=out / "equivariance_two_nn_structures.csv",
        figure=out / "equivariance_two_nn.png",
    )
    summary.to_csv(paths["summary"], index=False)
    structures.to_csv(paths["structures"], index=False)
    plot_two_nn(summary).savefig(paths["figure"], dpi=150)
    return paths
