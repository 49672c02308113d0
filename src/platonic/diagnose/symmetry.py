r"""The symmetry ground truth of the equivariance diagnostic, at the tolerance each structure supports.

spglib finds the symmetry of a structure up to a distance tolerance ``symprec``. Too loose, and
a slightly distorted crystal gets the symmetry of its ideal parent (a P4mm perovskite with
0.01 Å displacements is Pm-3m at 0.1 Å): atoms that the structure does *not* make equivalent
are called equivalent, and an exactly invariant model, which tells them apart, loses recall.
Too tight, and rounding noise in the stored coordinates breaks symmetries the crystal has.

**Rule** (:func:`symmetry_sweep`). Each structure is analysed at every tolerance of a sweep,
ascending (default :data:`DEFAULT_SYMPRECS`, :math:`10^{-5} \dots 10^{-1}` Å). The ground truth
is the *tightest stable* symmetry: the first tolerance :math:`t_i` whose space group equals that
at the next looser tolerance :math:`t_{i+1}` (the group holds over a decade, so it is not a
noise artefact of that one tolerance); its space group and spglib ``equivalent_atoms`` are the
truth. A structure whose group changes at every step has no stable tolerance: it keeps the
loosest tolerance's analysis and is flagged ``stable = False``. A structure spglib cannot
analyse (non-periodic) has space group 0 and every atom its own class, as in the atom table.

**Space groups scored** (:func:`select_spacegroups`): those present in the ground truth with at
least ``min_structures`` structures that hold a pair of equivalent atoms (only those can score a
recall), the ``top`` most frequent of them (``top=None``: all). None qualifying is a
:class:`~platonic.errors.NotApplicableError`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
import spglib
from ase import Atoms

from platonic.errors import NotApplicableError
from platonic.progress import NullProgress, Progress

DEFAULT_SYMPRECS: tuple[float, ...] = (1e-5, 1e-4, 1e-3, 1e-2, 1e-1)
DEFAULT_TOP = 6
DEFAULT_MIN_STRUCTURES = 2


def _cell(atoms: Atoms) -> tuple | None:
    """spglib's (lattice, fractional positions, numbers), or None for a non-periodic structure."""
    if not atoms.pbc.all():
        return None
    return atoms.cell.array, atoms.get_scaled_positions(wrap=False), atoms.numbers


def _analyse(cell: tuple | None, n_atoms: int, symprec: float) -> tuple[int, np.ndarray]:
    """Space group and equivalent atoms at one tolerance (0 and every atom alone where spglib fails)."""
    alone = (0, np.arange(n_atoms))
    if cell is None:
        return alone
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # spglib warns and returns None on failure
        found = spglib.get_symmetry_dataset(cell, symprec=symprec)
    if found is None:
        return alone
    return int(found.number), np.asarray(found.equivalent_atoms, dtype=np.int64)


def _sweep_batch(cells: list[tuple[tuple | None, int]], tolerances: np.ndarray) -> list[tuple[dict, np.ndarray]]:
    """The rule of the module docstring for a batch of structures: (row without its index, classes)."""
    found = []
    for cell, n_atoms in cells:
        analyses = []
        for tolerance in tolerances:  # looser tolerances cannot change the choice once a pair agrees
            analyses.append(_analyse(cell, n_atoms, float(tolerance)))
            if len(analyses) >= 2 and analyses[-1][0] == analyses[-2][0]:
                break
        chosen, stable = tightest_stable([group for group, _ in analyses])
        found.append(({"symprec": float(tolerances[chosen]), "spacegroup_number": analyses[chosen][0],
                       "stable": stable, "sweep": ">".join(str(group) for group, _ in analyses)},
                      analyses[chosen][1]))
    return found


def tightest_stable(spacegroups: Sequence[int]) -> tuple[int, bool]:
    """Index of the tightest stable tolerance in a sweep (ascending), and whether one exists.

    The first ``i`` with ``spacegroups[i] == spacegroups[i + 1]``; without one, the last index
    and ``False``. A one-tolerance sweep is its own answer (stable).
    """
    groups = list(spacegroups)
    if not groups:
        raise ValueError("an empty sweep has no tolerance")
    if len(groups) == 1:
        return 0, True
    for index in range(len(groups) - 1):
        if groups[index] == groups[index + 1]:
            return index, True
    return len(groups) - 1, False


#: Structures per task of a parallel sweep (a few seconds of spglib each).
SWEEP_BATCH = 1000


def symmetry_sweep(structures: Sequence[Atoms], symprecs: Sequence[float] = DEFAULT_SYMPRECS,
                   progress: Progress | None = None, n_jobs: int | None = None) -> tuple[pd.DataFrame, np.ndarray]:
    """The ground truth of every structure by the rule of the module docstring.

    ``n_jobs``: worker processes (joblib's convention: None is 1, -1 every core). The structures
    go in batches of :data:`SWEEP_BATCH`; each structure's analysis is the same in any process,
    so the result does not depend on ``n_jobs``. ``progress``: advanced batch by batch.

    Returns
    -------
    per_structure : DataFrame, one row per structure: ``structure_index, symprec`` (the chosen
        tolerance), ``spacegroup_number``, ``stable``, ``sweep`` (the space groups at the
        tolerances analysed, tight to loose: ``"99>221>221"``; the sweep stops at the first two
        that agree, as looser ones cannot change the choice: about 2 spglib calls per MP-20
        structure instead of 5).
    equivalent_class : (n_atoms,) int array, spglib's ``equivalent_atoms`` at each structure's
        chosen tolerance, structure after structure.
    """
    from joblib import Parallel, delayed, effective_n_jobs

    tolerances = np.asarray(symprecs, dtype=float)
    if tolerances.ndim != 1 or tolerances.size == 0 or not (tolerances > 0).all() \
            or not (np.diff(tolerances) > 0).all():
        raise ValueError(f"symprecs must be positive and strictly ascending, got {list(symprecs)}")
    if not len(structures):
        raise ValueError("no structures to analyse")
    cells = [(_cell(atoms), len(atoms)) for atoms in structures]
    batches = [cells[start:start + SWEEP_BATCH] for start in range(0, len(cells), SWEEP_BATCH)]
    workers = min(effective_n_jobs(n_jobs), len(batches))
    progress = progress or NullProgress()
    progress.start("symmetry sweep", total=len(structures), unit="structures")
    if workers > 1:
        done = Parallel(n_jobs=workers, return_as="generator")(delayed(_sweep_batch)(b, tolerances) for b in batches)
    else:
        done = (_sweep_batch(batch, tolerances) for batch in batches)
    found = []
    for batch in done:
        found += batch
        progress.advance(len(batch))
    progress.finish()
    rows = [{"structure_index": index, **row} for index, (row, _) in enumerate(found)]
    return pd.DataFrame(rows), np.concatenate([classes for _, classes in found])


def ground_truth_table(atom_table: pd.DataFrame, structures: Sequence[Atoms] | None,
                       symprecs: Sequence[float] = DEFAULT_SYMPRECS, progress: Progress | None = None,
                       n_jobs: int | None = None) -> pd.DataFrame:
    """The atom table with ``spacegroup_number`` and ``equivalent_class`` at each structure's tightest
    stable tolerance (``structures`` in atom-table order), plus ``symprec``, ``stable``,
    ``spacegroup_number_loose`` (the table's own label) and ``ground_truth`` (how it was found).

    ``structures=None`` keeps the table's own labels (``ground_truth`` says so): a store alone does not
    hold the structures. ``n_jobs``: see :func:`symmetry_sweep`.
    """
    table = atom_table.copy()
    table["spacegroup_number_loose"] = table["spacegroup_number"]
    if structures is None:
        table["symprec"], table["stable"] = np.nan, False
        table["ground_truth"] = "atom table (spglib at the store's symprec, 0.1 Å by default)"
        return table
    structures = list(structures)
    sizes = table.groupby("structure_index", sort=True).size().to_numpy()
    if len(structures) != len(sizes) or not np.array_equal(sizes, [len(atoms) for atoms in structures]):
        raise ValueError(f"the structures ({len(structures)}) do not match the atom table ({len(sizes)} structures)")
    per_structure, classes = symmetry_sweep(structures, symprecs, progress, n_jobs)
    code = table["structure_index"].to_numpy()
    order = np.searchsorted(np.unique(code), code)
    table["spacegroup_number"] = per_structure["spacegroup_number"].to_numpy()[order]
    table["equivalent_class"] = classes
    table["symprec"] = per_structure["symprec"].to_numpy()[order]
    table["stable"] = per_structure["stable"].to_numpy()[order]
    table["ground_truth"] = "spglib, tightest stable symprec of " + ", ".join(f"{t:g}" for t in symprecs) + " Å"
    return table


def select_spacegroups(table: pd.DataFrame, top: int | None = DEFAULT_TOP,
                       min_structures: int = DEFAULT_MIN_STRUCTURES) -> list[int]:
    """The space groups to score: present with >= ``min_structures`` structures holding an equivalent
    pair, the ``top`` most frequent (ties by group number); raises NotApplicableError if none."""
    if top is not None and (isinstance(top, bool) or top < 1):
        raise ValueError(f"top must be a positive integer or None, got {top!r}")
    known = table[table["spacegroup_number"] > 0]
    per_structure = known.groupby("structure_index", sort=True).agg(
        spacegroup_number=("spacegroup_number", "first"),
        paired=("equivalent_class", lambda classes: classes.nunique() < classes.size))
    counts = per_structure[per_structure["paired"]].groupby("spacegroup_number").size()
    counts = counts[counts >= min_structures]
    if counts.empty:
        raise NotApplicableError(
            f"no space group has {min_structures} or more structures with symmetry-equivalent atoms "
            f"(structures with an equivalent pair per group: {per_structure[per_structure['paired']].groupby('spacegroup_number').size().to_dict()})"
        )
    ranked = counts.reset_index(name="n").sort_values(["n", "spacegroup_number"], ascending=[False, True])
    return [int(number) for number in ranked["spacegroup_number"].head(top if top is not None else len(ranked))]
