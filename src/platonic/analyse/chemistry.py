"""The chemistry analysis of a study: element embeddings, group coherence, trajectories, cumulant gains.

:func:`chemistry_tables` runs :mod:`platonic.analyse.elements` and :mod:`platonic.analyse.cumulants`
on every model's unified (and optionally raw) matrix and returns the tables (:class:`ChemistryTables`),
:func:`chemistry_figures` draws them (:mod:`platonic.analyse.plots_chemistry`) and
:func:`platonic.study.writers.write_chemistry` writes both into ``results/analyse/``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from platonic.errors import NotApplicableError

from platonic.analyse.cumulants import (
    DEFAULT_MAX_ORDER,
    cumulant_gain_against_control,
    cumulant_gain_table,
    offsets_from_structure_index,
)
from platonic.analyse.elements import (
    COHERENCE_METRICS,
    ChemistryInputError,
    add_shared_pca,
    coherence_tables,
    element_table,
    element_trajectories,
)
from platonic.analyse.plots_chemistry import (
    plot_cumulant_gain,
    plot_element_map,
    plot_group_coherence,
    plot_periodic_table,
    plot_trajectories,
)
from platonic.progress import Progress
from platonic.store.on_demand import OnDemand
from platonic.validation import seed_alias

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _as_array(value: np.ndarray | str | Path) -> np.ndarray:
    return np.load(value) if isinstance(value, (str, Path)) else np.asarray(value)


@dataclass(frozen=True)
class ChemistryTables:
    """The chemistry analysis of :func:`chemistry_tables`: one tidy table per view.

    ``elements`` (element means, shared PCA), ``coherence`` (group coherence per model and space),
    ``per_group`` (silhouettes), ``trajectories``, ``gain`` (cumulant order gains) and
    ``gain_control`` (the gains read against the random-weight controls); ``models`` in order.
    """

    elements: pd.DataFrame
    coherence: pd.DataFrame
    per_group: pd.DataFrame
    trajectories: pd.DataFrame
    gain: pd.DataFrame
    gain_control: pd.DataFrame
    models: tuple[str, ...]


def chemistry_figures(tables: ChemistryTables) -> dict[str, Figure]:
    """The five chemistry figures (name -> Figure): ``element_map``, ``periodic_table``,
    ``trajectories_figure``, ``group_coherence_figure``, ``cumulant_gain_figure``."""
    models = list(tables.models)
    return {
        "element_map": plot_element_map(tables.elements, models),
        "periodic_table": plot_periodic_table(tables.elements, "cos_to_reference", models),
        "trajectories_figure": plot_trajectories(tables.trajectories, models),
        "group_coherence_figure": plot_group_coherence(tables.coherence),
        "cumulant_gain_figure": plot_cumulant_gain(tables.gain),
    }


@seed_alias
def chemistry_tables(
    unified: Mapping[str, np.ndarray | str | Path],
    atom_table: pd.DataFrame,
    *,
    raw: Mapping[str, np.ndarray] | None = None,
    models: Sequence[str] | None = None,
    reference: str | None = None,
    control: str | None = None,
    min_atoms: int = 5,
    metric: str = "euclidean",
    n_permutations: int = 200,
    max_order: int = DEFAULT_MAX_ORDER,
    random_state: int = 0,
    controls: Sequence[str] | None = None,
    progress: Progress | None = None,
) -> ChemistryTables:
    """Element embeddings, group coherence, trajectories and cumulant gains, as tables.

    Parameters
    ----------
    unified : model -> (n_atoms, K) unified matrix or its ``.npy`` path
        (:func:`platonic.project.from_store.project_store`); NaN rows are rejected structures
    atom_table : the store's atom table (columns ``element`` and ``structure_index``, rows in
        store order, each structure's rows contiguous)
    raw : optional model -> (n_atoms, d) raw embeddings (``store.load``): adds raw-space rows to
        the coherence and cumulant tables
    models : models to analyse (default: every key of ``unified``)
    reference : model for ``cos_to_reference`` and the trajectory step agreement (default: the
        first model)
    control : the random-weight model (e.g. ``"mace-dummy"``): flagged in the coherence table and
        left out of the shared-PCA fit
    min_atoms, metric, n_permutations, random_state : see :func:`platonic.analyse.elements.element_means`
        and :func:`platonic.analyse.elements.group_coherence`
    max_order : highest cumulant order of the structure features (8, as in Malosso et al.)
    controls : every untrained model (default ``[control]``): marked in the cumulant gain table and
        read against the trained models in ``cumulant_gain_control``
    progress : optional :class:`~platonic.progress.Progress`: the cumulant gain's model-spaces

    Only the structures every analysed model embedded (finite in every unified and raw matrix)
    are used, for every model alike; ``rows_used``/``rows_total`` columns say how many atoms.

    Returns
    -------
    :class:`ChemistryTables`.
    """
    models = list(unified) if models is None else list(models)
    if not models:
        raise ChemistryInputError("no model to analyse: unified is empty and no models were named")
    missing = sorted(set(models) - set(unified)) + sorted(set(models) - set(models if raw is None else raw))
    if missing:
        raise ChemistryInputError(f"models {missing} have no matrix (unified: {sorted(unified)}, "
                                  f"raw: {None if raw is None else sorted(raw)})")
    reference = models[0] if reference is None else reference
    for role, name in (("reference", reference), ("control", control)):
        if name is not None and name not in models:
            raise ChemistryInputError(f"{role} model {name!r} is not among the analysed models {models}")
    if metric not in COHERENCE_METRICS:
        raise ChemistryInputError(f"metric must be one of {COHERENCE_METRICS}, got {metric!r}")
    for column in ("element", "structure_index"):
        if column not in atom_table.columns:
            raise ChemistryInputError(f"the atom table has no {column!r} column")
    matrices = {m: _as_array(unified[m]) for m in models}
    # the raw matrices are read one at a time (a store's OnDemand loads each when asked), never all at once
    raw_matrices = OnDemand(raw.__getitem__, models, keep=1) if raw is not None else {}
    n_rows = len(atom_table)
    for name, array in ((name, source[name]) for source in (matrices, raw_matrices) for name in source):
        if array.ndim != 2 or array.shape[0] != n_rows:
            raise ChemistryInputError(f"{name}: matrix of shape {array.shape} does not have the atom table's {n_rows} rows")

    structure_index = atom_table["structure_index"].to_numpy()
    finite = np.ones(n_rows, dtype=bool)
    for source in (matrices, raw_matrices):
        for name in source:
            finite &= np.isfinite(source[name]).all(axis=1)
    # A structure counts only if every one of its atoms is embedded by every model.
    complete = pd.Series(finite).groupby(structure_index).transform("all").to_numpy()
    if not complete.any():
        raise ChemistryInputError("no structure is embedded by every analysed model")
    rows = np.flatnonzero(complete)
    elements = atom_table["element"].to_numpy()[rows]
    structures = structure_index[rows]
    offsets = offsets_from_structure_index(structures)
    used = {"rows_used": int(rows.size), "rows_total": n_rows}

    controls = [control] if controls is None and control is not None else list(controls or [])
    fit_models = [m for m in models if m != control and m not in controls] or models
    elements_table = element_table({m: matrices[m][rows] for m in models}, elements, min_atoms=min_atoms,
                                   structure_index=structures, reference=reference)
    elements_table = add_shared_pca(elements_table, fit_models=fit_models)
    options = {"metric": metric, "n_permutations": n_permutations, "random_state": random_state, "control": control}
    coherence, per_group = coherence_tables(elements_table, **options)
    coherence.insert(1, "space", "unified")
    per_group.insert(1, "space", "unified")
    coherence_parts, per_group_parts = [coherence], [per_group]
    for model, array in raw_matrices.items():
        raw_elements = element_table({model: array[rows]}, elements, min_atoms=min_atoms, structure_index=structures)
        raw_coherence, raw_per_group = coherence_tables(raw_elements, **{**options, "control": control if control == model else None})
        raw_coherence.insert(1, "space", "raw")
        raw_per_group.insert(1, "space", "raw")
        coherence_parts.append(raw_coherence)
        per_group_parts.append(raw_per_group)
    coherence = pd.concat(coherence_parts, ignore_index=True).assign(**used)
    per_group = pd.concat(per_group_parts, ignore_index=True)
    trajectories = element_trajectories(elements_table, reference=reference)

    # The order gain fits on half the structures; a small sample supports fewer orders than asked.
    n_structures = len(offsets) - 1
    if n_structures < 8:
        raise NotApplicableError(f"the cumulant order gain fits on half the structures and needs at least 8 "
                                 f"embedded by every model; the sample has {n_structures}")
    fit_order = min(max_order, n_structures // 2)
    gain = cumulant_gain_table(OnDemand(matrices.__getitem__, models, rows=rows, keep=1), offsets, fit_order, space="unified", controls=controls,
                               progress=progress)
    if raw_matrices:
        raw_gain = cumulant_gain_table(OnDemand(raw_matrices.__getitem__, models, rows=rows, keep=1), offsets, fit_order, space="raw", controls=controls,
                                       progress=progress)
        gain = pd.concat([gain, raw_gain], ignore_index=True)
    gain = gain.assign(**used, max_order_requested=max_order)
    gain_control = cumulant_gain_against_control(gain)

    return ChemistryTables(elements_table, coherence, per_group, trajectories, gain, gain_control, tuple(models))
