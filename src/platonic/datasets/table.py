"""The atom table: one row per atom of a dataset, in the dataset's atom order.

Its row index is the shared row index of every model's embedding matrix, so that anchors
and comparisons refer to "the same atoms for every model".
"""

from __future__ import annotations

import warnings
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd
import spglib
from ase.data import chemical_symbols
from pymatgen.core import Composition

from platonic.datasets.dataset import Dataset

DEFAULT_SYMPREC = 0.1
_CHUNK = 500

ATOM_TABLE_COLUMNS = (
    "row",
    "structure_index",
    "structure_id",
    "atom_index",
    "Z",
    "element",
    "formula",
    "spacegroup_number",
    "equivalent_class",
    "wyckoff",
    "spglib_ok",
    "split",
)


def _reduced_formula(numbers: np.ndarray, cache: dict[tuple[int, ...], str]) -> str:
    elements, counts = np.unique(numbers, return_counts=True)
    key = tuple(np.concatenate([elements, counts]).tolist())
    if key not in cache:
        with warnings.catch_warnings():
            # pymatgen orders by electronegativity and warns that noble gases have none;
            # the order it then uses is still deterministic, which is all a label needs.
            warnings.filterwarnings("ignore", message="No Pauling electronegativity")
            composition = Composition({chemical_symbols[z]: int(c) for z, c in zip(elements, counts)})
            cache[key] = composition.reduced_formula
    return cache[key]


SymmetryResult = tuple[int, np.ndarray, list[str]] | None


def _symmetry(
    cell: tuple[np.ndarray, np.ndarray, np.ndarray] | None, symprec: float
) -> SymmetryResult:
    """Space-group number, equivalent atoms and Wyckoff letters, or None when spglib fails."""
    if cell is None:
        return None
    with warnings.catch_warnings():
        # spglib warns and returns None on failure; the caller reports it in spglib_ok.
        warnings.simplefilter("ignore")
        found = spglib.get_symmetry_dataset(cell, symprec=symprec)
    if found is None:
        return None
    return int(found.number), np.asarray(found.equivalent_atoms), list(found.wyckoffs)


def _symmetry_many(
    cells: list[tuple[np.ndarray, np.ndarray, np.ndarray] | None], symprec: float
) -> list[SymmetryResult]:
    return [_symmetry(cell, symprec) for cell in cells]


def _map_symmetry(
    cells: list[tuple[np.ndarray, np.ndarray, np.ndarray] | None], symprec: float, n_jobs: int
) -> list[SymmetryResult]:
    if n_jobs == 1 or len(cells) < 2 * _CHUNK:
        return _symmetry_many(cells, symprec)
    chunks = [cells[start : start + _CHUNK] for start in range(0, len(cells), _CHUNK)]
    with ProcessPoolExecutor(max_workers=n_jobs) as pool:
        results = pool.map(_symmetry_many, chunks, [symprec] * len(chunks))
        return [found for chunk in results for found in chunk]


def atom_table(dataset: Dataset, symprec: float = DEFAULT_SYMPREC, n_jobs: int = 1) -> pd.DataFrame:
    """One row per atom of ``dataset``, in dataset order (structure by structure).

    Columns
    -------
    row: global atom index 0..N-1 (also the index), the row of every embedding matrix.
    structure_index, structure_id: the structure's position and id in the dataset.
    atom_index: index of the atom inside its structure.
    Z, element: atomic number and symbol.
    formula: reduced formula of the structure (pymatgen's ``reduced_formula``, e.g. ``"TiO2"``).
    spacegroup_number: international space-group number from spglib at ``symprec``.
    equivalent_class: spglib's ``equivalent_atoms``: the index (inside the structure) of the
        representative atom of this atom's symmetry orbit; atoms with equal values are
        symmetry-equivalent.
    wyckoff: Wyckoff letter from spglib.
    spglib_ok: False where spglib found no symmetry (e.g. a non-periodic structure or a
        spglib failure); those rows get ``spacegroup_number`` 0, ``equivalent_class`` equal to
        ``atom_index`` (every atom its own class) and ``wyckoff`` ``""``.
    split: the structure's split.

    Parameters
    ----------
    dataset:
        The structures.
    symprec:
        spglib's distance tolerance in Å (0.1 by default, loose enough for relaxed DFT
        structures: Materials Project itself reports space groups at 0.1).
        Symmetry uses the ``(cell, scaled positions, numbers)`` tuple of each structure.
    n_jobs:
        Processes for the spglib calls, which dominate the cost: spglib needs ~0.2 ms for a
        low-symmetry cell but ~7-30 ms for a cubic one, so all of MP-20 takes about a minute
        on one core.
    """
    if not symprec > 0:
        raise ValueError(f"symprec must be positive, got {symprec!r}")
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs < 1:
        raise ValueError(f"n_jobs must be a positive integer, got {n_jobs!r}")
    offsets = dataset.atom_offsets
    n_atoms = int(offsets[-1])
    counts = np.diff(offsets)
    numbers = np.empty(n_atoms, dtype=np.int64)
    spacegroups = np.zeros(len(dataset), dtype=np.int64)
    symmetry_ok = np.zeros(len(dataset), dtype=bool)
    equivalent = np.empty(n_atoms, dtype=np.int64)
    wyckoffs = np.empty(n_atoms, dtype=object)
    formulas = np.empty(len(dataset), dtype=object)
    formula_cache: dict[tuple[int, ...], str] = {}
    cells = []
    for index, atoms in enumerate(dataset.structures):
        numbers[offsets[index] : offsets[index + 1]] = atoms.numbers
        formulas[index] = _reduced_formula(atoms.numbers, formula_cache)
        periodic = atoms.pbc.all()
        cells.append((atoms.cell.array, atoms.get_scaled_positions(wrap=False), atoms.numbers) if periodic else None)
    for index, found in enumerate(_map_symmetry(cells, symprec, n_jobs)):
        start, stop = offsets[index], offsets[index + 1]
        if found is None:
            equivalent[start:stop] = np.arange(stop - start)
            wyckoffs[start:stop] = ""
            continue
        symmetry_ok[index] = True
        spacegroups[index], equivalent[start:stop], wyckoffs[start:stop] = found
    structure_of_atom = np.repeat(np.arange(len(dataset)), counts)
    table = pd.DataFrame(
        {
            "row": np.arange(n_atoms),
            "structure_index": structure_of_atom,
            "structure_id": pd.Categorical(np.asarray(dataset.ids, dtype=object)[structure_of_atom]),
            "atom_index": np.arange(n_atoms) - offsets[structure_of_atom],
            "Z": numbers,
            "element": pd.Categorical(np.asarray(chemical_symbols, dtype=object)[numbers]),
            "formula": pd.Categorical(formulas[structure_of_atom]),
            "spacegroup_number": spacegroups[structure_of_atom],
            "equivalent_class": equivalent,
            "wyckoff": pd.Categorical(wyckoffs),
            "spglib_ok": symmetry_ok[structure_of_atom],
            "split": pd.Categorical(np.asarray(dataset.splits, dtype=object)[structure_of_atom]),
        },
        columns=list(ATOM_TABLE_COLUMNS),
    )
    table.index = pd.RangeIndex(n_atoms, name="atom")
    return table
