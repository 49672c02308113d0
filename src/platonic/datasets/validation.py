"""Checks every loader applies to every structure before it enters a :class:`Dataset`.

A structure is rejected, with the first reason found, when it

1. has no atoms;
2. has a non-finite position;
3. has a degenerate cell along its periodic directions: the volume spanned by the periodic
   cell vectors, ``sqrt(det(C_p C_pᵀ))`` (``|det C|`` when fully periodic), is below
   ``min_cell_volume`` (1e-6 Å^d);
4. has two atoms closer than ``min_distance`` (0.5 Å by default), counting periodic images,
   including an atom and its own image (a cell too small along some direction).

The distance check is a cell-list neighbour search (``ase.neighborlist``), exact for every
distance below the cutoff, periodic images included; its memory and time grow linearly with the
number of atoms, so a cell of thousands of atoms is checked in well under a second.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms

DEFAULT_MIN_DISTANCE = 0.5
MIN_CELL_VOLUME = 1e-6


def periodic_cell_volume(cell: np.ndarray, pbc: np.ndarray) -> float:
    """Volume (area, length) spanned by the periodic cell vectors; 1.0 when none is periodic."""
    periodic = np.asarray(cell, dtype=float)[np.asarray(pbc, dtype=bool)]
    if len(periodic) == 0:
        return 1.0
    gram_determinant = float(np.linalg.det(periodic @ periodic.T))
    return float(np.sqrt(max(gram_determinant, 0.0)))


def closest_pair(atoms: Atoms, cutoff: float) -> tuple[int, int, float] | None:
    """Find a pair of atoms (or an atom and its own image) closer than ``cutoff``.

    Returns ``(i, j, distance)`` with ``i <= j`` for the closest such pair, or ``None`` when
    every interatomic distance, periodic images included, is at least ``cutoff``.
    The periodic cell must be non-degenerate (see :func:`periodic_cell_volume`).
    Memory and time are linear in the number of atoms (a cell-list neighbour search).
    """
    from ase.neighborlist import primitive_neighbor_list

    if not cutoff > 0 or len(atoms) == 0:
        return None
    pbc = np.asarray(atoms.pbc, dtype=bool)
    cell = np.asarray(atoms.cell, dtype=float)
    if pbc.any():
        cell = _complete_cell(cell, pbc)
    first, second, distances = primitive_neighbor_list(
        "ijd", pbc, cell, np.asarray(atoms.positions, dtype=float), cutoff, self_interaction=False
    )
    if len(distances) == 0:
        return None
    closest = int(np.argmin(distances))
    i, j = sorted((int(first[closest]), int(second[closest])))
    return i, j, float(distances[closest])


def _complete_cell(cell: np.ndarray, pbc: np.ndarray) -> np.ndarray:
    """Replace the non-periodic cell vectors by an orthonormal basis of the complement.

    Non-periodic directions carry no translations, so any basis completing the periodic
    vectors gives the same distances; this one is always invertible, even when the
    stored non-periodic vectors are zero (as ASE leaves them for molecules and slabs).
    """
    if pbc.all():
        return cell
    _, _, right = np.linalg.svd(cell[pbc], full_matrices=True)
    completed = cell.copy()
    completed[~pbc] = right[int(pbc.sum()) :]
    return completed


def structure_problem(
    atoms: Atoms,
    min_distance: float = DEFAULT_MIN_DISTANCE,
) -> str | None:
    """Return why ``atoms`` is not a usable structure, or ``None`` when it passes every check.

    See the module docstring for the checks and their order.
    """
    if len(atoms) == 0:
        return "empty structure (no atoms)"
    positions = atoms.positions
    if not np.isfinite(positions).all():
        bad = int(np.flatnonzero(~np.isfinite(positions).all(axis=1))[0])
        return f"non-finite position for atom {bad}"
    if atoms.pbc.any():
        cell = np.asarray(atoms.cell, dtype=float)
        if not np.isfinite(cell).all():
            return "non-finite cell"
        volume = periodic_cell_volume(cell, atoms.pbc)
        if volume < MIN_CELL_VOLUME:
            return f"degenerate cell (periodic volume {volume:.3g} < {MIN_CELL_VOLUME:g})"
    pair = closest_pair(atoms, min_distance)
    if pair is not None:
        i, j, distance = pair
        what = f"atom {i} and its own periodic image" if i == j else f"atoms {i} and {j}"
        return f"overlapping atoms: {what} are {distance:.3f} Å apart (min_distance={min_distance:g})"
    return None
