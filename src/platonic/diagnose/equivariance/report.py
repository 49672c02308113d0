"""The two-NN equivariance diagnostic on a store: :func:`equivariance_tables` (data);
:func:`platonic.study.writers.write_equivariance` writes it with :func:`plot_two_nn`'s figure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from platonic.diagnose.symmetry import (
    DEFAULT_MIN_STRUCTURES,
    DEFAULT_SYMPRECS,
    DEFAULT_TOP,
    ground_truth_table,
    select_spacegroups,
)
from platonic.errors import NotApplicableError
from platonic.progress import Progress
from .by_spacegroup import plot_two_nn, spacegroup_counts, summarise_two_nn, two_nn_by_spacegroup
from .two_nn import DEFAULT_TOLERANCES, EquivarianceInputError, _check_spacegroup


def _load_unified(value: np.ndarray | str | Path) -> np.ndarray:
    if isinstance(value, (str, Path)):
        return np.load(value, mmap_mode="r")
    return np.asarray(value)


def equivariance_tables(
    store,
    unified: Mapping[str, np.ndarray | str | Path] | None,
    models: Sequence[str],
    *,
    structures: Sequence | None = None,
    symprecs: Sequence[float] = DEFAULT_SYMPRECS,
    spacegroups: Sequence[int] | None = None,
    top: int | None = DEFAULT_TOP,
    min_structures: int = DEFAULT_MIN_STRUCTURES,
    tolerances: Sequence[float] = DEFAULT_TOLERANCES,
    tolerance_mode: str = "relative",
    progress: Progress | None = None,
    n_jobs: int | None = None,
) -> "EquivarianceTables":
    """The two-NN equivariance diagnostic on a store, as tables (:class:`EquivarianceTables`).

    Parameters
    ----------
    store : EmbeddingStore
        Raw embeddings and the atom table (space groups and spglib equivalence).
    unified : mapping model -> (n_atoms, K) array or .npy path, or None
        The unified-space matrices (``project_store`` output); None scores the raw space only.
    models : sequence of str
        Models to score; each must be in the store (and in ``unified`` when given).
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
    progress
        Optional :class:`~platonic.progress.Progress` for the symmetry sweep (one step per structure).
    n_jobs
        Processes for the symmetry sweep (:func:`platonic.diagnose.symmetry.symmetry_sweep`; None: 1).

    Returns
    -------
    EquivarianceTables
        ``ground_truth`` (per structure: the space group at 0.1 Å and at the chosen tolerance,
        the tolerance, whether it was stable), ``spacegroups`` (:func:`spacegroup_counts`),
        ``summary`` (:func:`summarise_two_nn`), ``structures`` (:func:`two_nn_by_spacegroup`).
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
    atom_table = ground_truth_table(store.atom_table(), structures, symprecs, progress=progress, n_jobs=n_jobs)
    ground_truth = atom_table.groupby("structure_index", sort=True).agg(
        structure_id=("structure_id", "first"), formula=("formula", "first"),
        spacegroup_number_loose=("spacegroup_number_loose", "first"), spacegroup_number=("spacegroup_number", "first"),
        symprec=("symprec", "first"), stable=("stable", "first"), ground_truth=("ground_truth", "first"),
    ).reset_index()
    if spacegroups is None:
        present = select_spacegroups(atom_table, top=top, min_structures=min_structures)
    else:
        wanted = [_check_spacegroup(number) for number in spacegroups]
        present = [number for number in wanted if (atom_table["spacegroup_number"] == number).any()]
        if not present:
            raise NotApplicableError(f"none of the space groups {wanted} occurs in the data (at the ground truth's "
                                     "tolerance)")
    counts = spacegroup_counts(atom_table, present)
    options = dict(spacegroups=present, tolerances=tolerances, tolerance_mode=tolerance_mode)
    per_structure = []
    for model in models:  # one model's matrices in memory at a time
        per_structure.append(two_nn_by_spacegroup({model: store.load(model)}, atom_table, space="raw", **options))
        if unified is not None:
            matrix = _load_unified(unified[model])
            per_structure.append(two_nn_by_spacegroup({model: matrix}, atom_table, space="unified", **options))
    structures = pd.concat(per_structure, ignore_index=True)
    summary = summarise_two_nn(structures)
    return EquivarianceTables(ground_truth, counts, summary, structures)


@dataclass(frozen=True)
class EquivarianceTables:
    """:func:`equivariance_tables`: ``ground_truth`` (``equivariance_ground_truth.csv``),
    ``spacegroups`` (``equivariance_spacegroups.csv``), ``summary`` (``equivariance_two_nn.csv``)
    and ``structures`` (``equivariance_two_nn_structures.csv``)."""

    ground_truth: pd.DataFrame
    spacegroups: pd.DataFrame
    summary: pd.DataFrame
    structures: pd.DataFrame
