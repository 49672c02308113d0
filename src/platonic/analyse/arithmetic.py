r"""Embedding arithmetic in the unified space: materials, polymorph differences, reactions.

This is the analogue of Table 1 of Li & Walsh ("Platonic representation of foundation
machine learning interatomic potentials"). Every quantity lives in the unified space of
:class:`~platonic.project.transform.PlatonicTransform`: an atom's embedding ``e`` by model
``m`` becomes ``z = cos(e, a_k^m)_{k=1..K}`` with ``a_k^m`` model ``m``'s embedding of
anchor atom ``k``. A structure that is not in the store is embedded by the model and mapped
by the same fitted transform (:class:`UnifiedSpace`).

Definitions (the paper's, with the choices it leaves open made explicit):

* **Material embedding** (paper Eq. 3): the centroid of the structure's atoms,
  :math:`\mathbf z_\mathrm{Mater} = \frac1N \sum_{i=1}^N \mathbf z_i`; its norm
  :math:`l = \|\mathbf z_\mathrm{Mater}\|_2`; its cross-model similarity
  ``c-sim`` :math:`= \cos(\mathbf z^{m}_\mathrm{Mater}, \mathbf z^{\mathrm{ref}}_\mathrm{Mater})`
  to a chosen reference model (MACE-large in the paper).
* **Polymorph difference**: :math:`\mathbf z_\mathrm{Morph} = \mathbf z_\mathrm{Mater}(P_1) -
  \mathbf z_\mathrm{Mater}(P_2)`; :math:`l_1, l_2` are the norms of the two *material*
  embeddings (Table 1's values, 1.5–6, are material norms, not difference norms);
  ``i-sim`` :math:`= \cos(\mathbf z_\mathrm{Mater}(P_1), \mathbf z_\mathrm{Mater}(P_2))` within
  one model; ``c-sim`` :math:`= \cos(\mathbf z^m_\mathrm{Morph}, \mathbf z^\mathrm{ref}_\mathrm{Morph})`.
  We also report :math:`l = \|\mathbf z_\mathrm{Morph}\|`, which the paper does not.
* **Reaction**: :math:`\mathbf z_\mathrm{React} = \sum_p \nu_p \mathbf v_p - \sum_r \nu_r \mathbf v_r`
  with the stoichiometric coefficients :math:`\nu` of a balanced reaction
  (:func:`~platonic.analyse.reaction.parse_reaction`) and :math:`\mathbf v_s` the vector of
  one formula unit of species :math:`s`. The paper writes
  :math:`\sum \mathbf z_\mathrm{products} - \sum \mathbf z_\mathrm{reactants}` "per formula unit"
  without saying how a material vector becomes a formula-unit vector, so this is the
  ``basis`` parameter:

  - ``"formula_unit"`` (default): :math:`\mathbf v_s = \frac{1}{n_\mathrm{fu}} \sum_{i \in
    \mathrm{cell}} \mathbf z_i = \bar{\mathbf z}_s \cdot N_s/n_\mathrm{fu}`, the sum over the
    atoms of one formula unit (``n_fu`` formula units in the cell,
    :func:`~platonic.analyse.reaction.formula_units`; :math:`N_s/n_\mathrm{fu}` atoms per formula
    unit). A balanced reaction conserves atoms, so a purely compositional embedding (each
    element one fixed vector) gives :math:`\mathbf z_\mathrm{React} = 0`: what remains is the
    change of chemical environment.
  - ``"material"`` (the paper's definition, from mean material vectors):
    :math:`\mathbf v_s = \mathbf z_\mathrm{Mater}(s)`, the mean over atoms.
    For BaO + TiO2 → BaTiO3 (all ν = 1) this is :math:`\bar{\mathbf z}_\mathrm{BaTiO_3} -
    \bar{\mathbf z}_\mathrm{BaO} - \bar{\mathbf z}_\mathrm{TiO_2}`, whose norm is about that of
    one material vector, as in the paper's Table 1 (:math:`l_\mathrm{React} \approx
    l_\mathrm{Mater}` for every model there), so this basis is the likelier reading of the
    paper's numbers.

  ``c-sim`` :math:`= \cos(\mathbf z^m_\mathrm{React}, \mathbf z^\mathrm{ref}_\mathrm{React})`.
* **Zero-shot stitched reaction**: reactant vectors from the reference model, product
  vectors from model ``m``: :math:`\mathbf z^{m}_\mathrm{React\text{-}stitch} = \sum_p \nu_p
  \mathbf v^m_p - \sum_r \nu_r \mathbf v^\mathrm{ref}_r`. ``c-sim`` compares it with the
  reference's un-stitched :math:`\mathbf z^\mathrm{ref}_\mathrm{React}` (so the reference row
  is 1, as in the paper); ``c-sim-own`` compares it with model ``m``'s own un-stitched
  :math:`\mathbf z^m_\mathrm{React}` (not in the paper).

**Centring** (``centring="dataset"``, not in the paper). Unified coordinates share a large
common component: every atom has positive cosines of similar size to most anchors, so all
material vectors of one model point almost the same way (CHGNet 0.3.0, K = 100 DIRECT anchors
on 500 MP-20 structures: the material vectors of BaO, rutile, Cu and BaCeO3 all have cosine
>= 0.999 with that of Na3MnCoNiO6), and a c-sim or i-sim near 1 then says little about the
material. With ``centring="dataset"`` every atom's ``z`` has the mean unified vector
:math:`\boldsymbol\mu_m` of all atoms of the store (per model) subtracted first: :math:`\mathbf z_i \to \mathbf z_i - \boldsymbol\mu_m`. The
material vector becomes :math:`\mathbf z_\mathrm{Mater} - \boldsymbol\mu_m`. Differences of
two material vectors, and reactions in the ``"formula_unit"`` basis (a balanced reaction
conserves atoms, so the :math:`\boldsymbol\mu_m` terms cancel), do not change; stitched
reactions do, since the two sides then carry different models' :math:`\boldsymbol\mu`:
centring removes the mismatch of the two models' common components.

**Reading the stitched numbers.** In the ``"material"`` basis two of the three vectors of
the stitched BaO + TiO2 → BaTiO3 come from the reference, so its c-sim to the reference's
reaction is near 1 for any product vector of similar size: the random-weight control scores
1.00 too (K = 100, 500 MP-20 structures). Without centring, in the ``"formula_unit"``
basis, the stitched vector is dominated by the difference of the two models' common
components (its norm is tens of times the un-stitched one). Compare every stitched value
with the control's, and with the same stitching with a random product
(:func:`platonic.analyse.arithmetic_null.reaction_stitch_null`); every c-sim has its
matched-vs-mismatched null in :mod:`platonic.analyse.arithmetic_null`.

A cosine involving a zero vector (e.g. the difference of a material with itself) is
undefined and reported as NaN.
"""


from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from ase import Atoms

from platonic.analyse.arithmetic_vectors import (BASES, _models_with_reference, cosine_similarity, difference,
                                                 formula_unit_vector, material, material_vector, reaction,
                                                 reaction_vector)
from platonic.analyse.unified_space import CENTRINGS, EmbeddingArithmeticError, Material, UnifiedSpace, _check_choice

__all__ = [
    "BASES", "BASIS_LABELS", "CENTRINGS", "TABLE1_MATERIAL", "TABLE1_POLYMORPHS", "TABLE1_REACTION",
    "TABLE1_REACTION_STRUCTURES", "TABLE_COLUMNS", "ArithmeticTables", "EmbeddingArithmeticError", "Material",
    "UnifiedSpace", "arithmetic_frame", "arithmetic_tables", "cosine_similarity", "difference", "formula_unit_vector",
    "material", "material_vector", "plot_arithmetic", "reaction", "reaction_vector", "wide_table",
]

#: How a table column names the reaction definition: ours (per formula unit) or the paper's.
BASIS_LABELS = {"formula_unit": " (per formula unit)", "material": " (mean material vectors)"}
#: The paper's Table 1 cases, by Materials Project id (shipped as case-study CIFs).
TABLE1_MATERIAL = "mp-1221227"  # Na3MnCoNiO6, Cm
TABLE1_POLYMORPHS = ("mp-1439", "mp-2657")  # TiO2 Pbcn (alpha-PbO2 type), TiO2 P4_2/mnm (rutile)
TABLE1_REACTION = "BaO + TiO2 -> BaTiO3"
TABLE1_REACTION_STRUCTURES = {"BaO": "mp-1342", "TiO2": "mp-2657", "BaTiO3": "mp-2998"}
TABLE_COLUMNS = ["case", "quantity", "centring", "model", "reference", "value", "structures", "basis", "n_anchors"]


# ---------------------------------------------------------------- Table 1 and its figure


def arithmetic_frame(
    space: UnifiedSpace,
    reference: str,
    models: Sequence[str] | None = None,
    material_structure: "Atoms | str | Material" = TABLE1_MATERIAL,
    polymorphs: tuple = TABLE1_POLYMORPHS,
    equation: str = TABLE1_REACTION,
    reaction_structures: Mapping[str, "Atoms | str | Material"] | None = None,
    basis: str | Sequence[str] = BASES,
    centrings: Sequence[str] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The Table 1 analogue as a long table, and the structures it used.

    Parameters
    ----------
    space, reference, models : as in :func:`material`.
    material_structure : the material case (default Na3MnCoNiO6, mp-1221227).
    polymorphs : ``(P1, P2)`` for ``z_Morph = z_Mater(P1) - z_Mater(P2)`` (default TiO2 Pbcn
        mp-1439, then rutile mp-2657).
    equation, reaction_structures : the reaction case (default BaO + TiO2 -> BaTiO3 with
        mp-1342, mp-2657, mp-2998).
    basis : reaction basis, or several (default both: ``"formula_unit"``, ours, and
        ``"material"``, the paper's mean material vectors; see the module docstring).
    centrings : which centrings to report (see the module docstring); default ``"none"``
        (the paper's numbers) and, when the space has centroids for every model, also
        ``"dataset"``.

    Returns
    -------
    table : DataFrame with columns ``case, quantity, centring, model, reference, value,
        structures, basis, n_anchors``, one row per model, quantity and centring. Cases and
        quantities: ``material`` (l, c_sim), ``polymorph`` (l1, l2, l, i_sim, c_sim),
        ``reaction`` (l, c_sim), ``reaction_stitched`` (l, c_sim, c_sim_own).
    structures : DataFrame ``role, id, formula, n_atoms, source``: what each case used and
        where it came from (e.g. that mp-1439 is not among the MP-20 rows).
    """
    reaction_structures = dict(TABLE1_REACTION_STRUCTURES if reaction_structures is None else reaction_structures)
    if len(polymorphs) != 2:
        raise EmbeddingArithmeticError(f"polymorphs must be a pair, got {polymorphs!r}")
    bases = [basis] if isinstance(basis, str) else list(dict.fromkeys(basis))
    for one in bases:
        _check_choice(one, BASES, "basis")
    models, reference = _models_with_reference(space, models, reference)
    if centrings is None:
        centrings = CENTRINGS if all(model in space.centroids for model in models) else ("none",)
    for centring in centrings:
        _check_choice(centring, CENTRINGS, "centring")
    used = {"material": space.resolve(material_structure), "polymorph P1": space.resolve(polymorphs[0]),
            "polymorph P2": space.resolve(polymorphs[1])}
    used.update({f"reaction {formula}": space.resolve(item) for formula, item in reaction_structures.items()})
    species = {formula: used[f"reaction {formula}"] for formula in reaction_structures}

    parts = []
    for centring in dict.fromkeys(centrings):
        one = material(space, used["material"], models, reference, centring)
        morph = difference(space, used["polymorph P1"], used["polymorph P2"], models, reference, centring)
        cases = [
            (one, "material", ["l", "c_sim"], f"{used['material'].formula}: {used['material'].id}", ""),
            (morph, "polymorph", ["l1", "l2", "l", "i_sim", "c_sim"],
             f"{used['polymorph P1'].id} - {used['polymorph P2'].id}", ""),
        ]
        for one_basis in bases:
            react = reaction(space, equation, species, models, reference, basis=one_basis, centring=centring)
            react_label = f"{react['reaction'].iloc[0]}: {react['structures'].iloc[0]}"
            cases += [
                (react[react["kind"] == "standard"], "reaction", ["l", "c_sim"], react_label, one_basis),
                (react[react["kind"] == "stitched"], "reaction_stitched", ["l", "c_sim", "c_sim_own"], react_label,
                 one_basis),
            ]
        for frame, case, quantities, label, case_basis in cases:
            parts.append(_long(frame, case, quantities, centring, label, case_basis))
    table = pd.concat(parts, ignore_index=True)
    table["n_anchors"] = space.n_anchors
    structures = pd.DataFrame(
        [{"role": role, "id": item.id, "formula": item.formula, "n_atoms": len(item.atoms), "source": item.source}
         for role, item in used.items()]
    )
    return table[TABLE_COLUMNS], structures


def _long(frame: pd.DataFrame, case: str, quantities: list[str], centring: str, structures: str,
          basis: str) -> pd.DataFrame:
    long = frame.melt(id_vars=["model", "reference"], value_vars=quantities, var_name="quantity", value_name="value")
    long.insert(0, "case", case)
    long["centring"] = centring
    long["structures"] = structures
    long["basis"] = basis
    # melt lists quantity by quantity; Table 1 reads model by model.
    model_order = {model: position for position, model in enumerate(frame["model"])}
    quantity_order = {quantity: position for position, quantity in enumerate(quantities)}
    keys = pd.DataFrame({"model": long["model"].map(model_order), "quantity": long["quantity"].map(quantity_order)})
    return long.loc[keys.sort_values(["model", "quantity"]).index].reset_index(drop=True)


def _column_names(table: pd.DataFrame) -> pd.Series:
    """``case:quantity``, with the reaction definition (``(per formula unit)`` ours, ``(mean material
    vectors)`` the paper's) and ``[centring-centred]`` for centred rows appended."""
    definition = table["basis"].fillna("").map(BASIS_LABELS).fillna("")
    suffix = table["centring"].map(lambda centring: "" if centring == "none" else f" [{centring}-centred]")
    return table["case"] + ":" + table["quantity"] + definition + suffix


def wide_table(table: pd.DataFrame) -> pd.DataFrame:
    """The long table of :func:`arithmetic_frame` laid out like the paper's Table 1.

    One row per model (in table order), one column per ``case:quantity`` (and centring,
    e.g. ``material:c_sim [dataset-centred]``).
    """
    missing = [column for column in ("case", "quantity", "centring", "model", "value") if column not in table.columns]
    if missing:
        raise EmbeddingArithmeticError(f"table lacks the columns {missing}: pass a table from arithmetic_frame")
    names = _column_names(table)
    wide = table.assign(column=names).pivot(index="model", columns="column", values="value")
    order = list(dict.fromkeys(names))
    return wide.reindex(index=list(dict.fromkeys(table["model"])), columns=order).rename_axis(columns=None).reset_index()


def plot_arithmetic(table: pd.DataFrame):
    """Figure of the Table 1 analogue: similarities as an annotated heatmap, norms as bars.

    Parameters
    ----------
    table : the long table of :func:`arithmetic_frame`.

    Returns
    -------
    matplotlib Figure (Agg-safe: nothing is shown). The heatmap shows every similarity of
    the table (c_sim, i_sim, c_sim_own; each centring); the bars show the norms without
    centring (the paper's l, l1, l2).
    """
    from matplotlib.figure import Figure

    wide = wide_table(table).set_index("model")
    is_similarity = table["quantity"].isin(["c_sim", "i_sim", "c_sim_own"])
    similarity = list(dict.fromkeys(_column_names(table[is_similarity])))
    norms = list(dict.fromkeys(_column_names(table[~is_similarity & (table["centring"] == "none")])))
    figure = Figure(figsize=(6 + 1.1 * len(similarity), 1.8 + 0.45 * len(wide)), layout="constrained")
    left, right = figure.subplots(1, 2, width_ratios=[len(similarity), max(len(norms) * 0.6, 3)])
    values = wide[similarity].to_numpy(dtype=float)
    image = left.imshow(values, cmap="RdBu", vmin=-1.0, vmax=1.0, aspect="auto")
    figure.colorbar(image, ax=left, shrink=0.8, label="cosine similarity")
    labels = [column.replace(":", "\n").replace(" [", "\n[") for column in similarity]
    left.set_xticks(range(len(similarity)), labels, fontsize=7)
    left.set_yticks(range(len(wide)), wide.index)
    for i, row in enumerate(values):
        for j, value in enumerate(row):
            label = f"{value:.2f}" if np.isfinite(value) else "n/a"
            left.text(j, i, label, ha="center", va="center", fontsize=8,
                      color="white" if np.isfinite(value) and abs(value) > 0.6 else "black")
    reference = table["reference"].iloc[0]
    left.set_title(f"similarities (c-sim vs {reference}; K = {table['n_anchors'].iloc[0]})", fontsize=10)
    positions = np.arange(len(wide))
    height = 0.8 / max(len(norms), 1)
    for offset, column in enumerate(norms):
        right.barh(positions - 0.4 + height * (offset + 0.5), wide[column].to_numpy(dtype=float), height=height,
                   label=column)
    right.set_yticks(positions, wide.index)
    right.invert_yaxis()
    right.set_xlabel("norm l")
    right.legend(fontsize=7, loc="best")
    bases = sorted({basis for basis in table["basis"].dropna() if basis})
    right.set_title(f"norms (reaction basis: {', '.join(bases)})", fontsize=10)
    return figure


def arithmetic_tables(
    space: UnifiedSpace,
    reference: str,
    models: Sequence[str] | None = None,
    basis: str | Sequence[str] = BASES,
    material_structure: "Atoms | str | Material" = TABLE1_MATERIAL,
    polymorphs: tuple = TABLE1_POLYMORPHS,
    equation: str = TABLE1_REACTION,
    reaction_structures: Mapping[str, "Atoms | str | Material"] | None = None,
    centrings: Sequence[str] | None = None,
) -> "ArithmeticTables":
    """The Table 1 analogue for every model, as tables (:class:`ArithmeticTables`).

    Parameters
    ----------
    space : e.g. ``UnifiedSpace.from_store(store, anchor_table, models)``.
    reference : the model every c-sim is measured against, and the reactant model of the
        stitched reaction.
    models : default every model of the space.
    basis : reaction basis, ``"formula_unit"`` or ``"material"``, or both (the default).
    material_structure, polymorphs, equation, reaction_structures, centrings : see
        :func:`arithmetic_frame` (default the paper's cases).

    Returns
    -------
    :class:`ArithmeticTables`: ``table`` (long: one row per model, quantity and centring),
    ``wide`` (Table 1 layout), ``structures`` (the structures used and their sources).
    """
    table, structures = arithmetic_frame(
        space, reference, models=models, material_structure=material_structure, polymorphs=polymorphs,
        equation=equation, reaction_structures=reaction_structures, basis=basis, centrings=centrings,
    )
    return ArithmeticTables(table, wide_table(table), structures)


@dataclass(frozen=True)
class ArithmeticTables:
    """:func:`arithmetic_tables`: ``table`` (long), ``wide`` (Table 1 layout), ``structures``."""

    table: pd.DataFrame
    wide: pd.DataFrame
    structures: pd.DataFrame
