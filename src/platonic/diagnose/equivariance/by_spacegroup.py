"""The two-NN test over the structures of chosen space groups, its summary and its figure."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .two_nn import (
    DEFAULT_TOLERANCES,
    _COUNT_COLUMNS,
    PER_STRUCTURE_COLUMNS,
    STUDY_SPACEGROUPS,
    SUMMARY_COLUMNS,
    EmptySpacegroupWarning,
    EquivarianceInputError,
    _check_embeddings,
    _check_spacegroup,
    _check_tolerances,
    spacegroup_symbol,
    tolerance_scale,
    two_nn_equivalence,
)


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
