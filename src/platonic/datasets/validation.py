"""Checks every loader applies to every structure before it enters a :class:`Dataset`.

A structure is rejected, with the first reason found, when it

1. has no atoms;
2. has a non-finite position;
3. has a degenerate cell along its periodic directions: the volume spanned by the periodic
   cell vectors, ``sqrt(det(C_p C_pᵀ))`` (``|det C|`` when fully periodic), is below
   ``MIN_CELL_VOLUME`` (1e-6 Å^d) or below ``MIN_CELL_SINE`` (1e-6) times the product of
   their lengths (vectors linearly dependent up to rounding);
4. has two atoms closer than ``min_distance`` (0.5 Å by default), counting periodic images,
   including an atom and its own image (a cell too small along some direction).

The distance check is exact for every distance below the cutoff, periodic images included.
Small structures are checked all pairs against all lattice translations that can matter
(vectorised, fast); larger ones by k-d tree neighbour search (``scipy.spatial.cKDTree``, one
query per lattice translation) whose memory grows linearly with the number of atoms, so a cell of thousands of atoms is
checked in well under a second.
"""

from __future__ import annotations

import functools
import itertools

import numpy as np
from ase import Atoms

DEFAULT_MIN_DISTANCE = 0.5
MIN_CELL_VOLUME = 1e-6
# Pair-image distances above which k-d trees are used: the all-pairs arrays then stay
# under ~30 MB, and below it the all-pairs search is ~10x faster (no Python-level setup).
ALL_PAIRS_LIMIT = 2**17
# Lattice translations above which the cell is Minkowski-reduced first (~0.7 ms, so not for
# every structure: MP-20 cells need 27 or 125).
REDUCE_ABOVE_IMAGES = 125
MAX_IMAGES = 100_000
# |det C| / prod |c_i| below this: the periodic vectors are linearly dependent up to rounding.
MIN_CELL_SINE = 1e-6


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

    When a lattice vector is so much shorter than ``cutoff`` that more than ``MAX_IMAGES``
    translations would be needed, every atom overlaps its own image, and atom 0 and its
    image along the shortest vector are reported instead of the closest pair.

    Small structures (at most ``ALL_PAIRS_LIMIT`` pair-image distances, e.g. every MP-20
    structure) are checked all pairs at once (well under 1 ms); larger ones with k-d trees
    (``scipy.spatial.cKDTree``), whose memory is linear in the number of atoms.
    """
    if not cutoff > 0 or len(atoms) == 0:
        return None
    pbc = np.asarray(atoms.pbc, dtype=bool)
    raw_cell = np.asarray(atoms.cell, dtype=float)
    cell = _complete_cell(raw_cell, pbc) if pbc.any() else np.eye(3)
    reach = _image_reach(cell, pbc, cutoff)
    if np.prod(2 * reach + 1) > REDUCE_ABOVE_IMAGES:
        # A skewed basis needs many images even for a well-spaced lattice: reduce it first
        # (same lattice, so the same distances). A reduced basis needs many images only when
        # a lattice vector is much shorter than the cutoff, i.e. every atom overlaps itself.
        from ase.geometry import minkowski_reduce

        reduced, _ = minkowski_reduce(raw_cell, pbc=pbc)
        cell = _complete_cell(reduced, pbc)
        reach = _image_reach(cell, pbc, cutoff)
        if np.prod(2 * reach + 1) > MAX_IMAGES:
            shortest = float(np.linalg.norm(reduced[pbc], axis=1).min())
            return 0, 0, shortest
    shifts = _image_shifts(tuple(int(r) for r in reach))
    n_pairs = len(atoms) * (len(atoms) + 1) // 2
    if n_pairs * len(shifts) <= ALL_PAIRS_LIMIT:
        return _closest_pair_all_images(np.asarray(atoms.positions, dtype=float), cell, pbc, shifts, cutoff)
    return _closest_pair_tree(np.asarray(atoms.positions, dtype=float), cell, pbc, cutoff)


@functools.lru_cache(maxsize=64)
def _image_shifts(reach: tuple[int, int, int]) -> np.ndarray:
    """All lattice translations (in cell units) with ``|t_k| <= reach[k]`` (read-only, cached)."""
    shifts = np.array(list(itertools.product(*(range(-r, r + 1) for r in reach))), dtype=float)
    shifts.flags.writeable = False
    return shifts


def _image_reach(cell: np.ndarray, pbc: np.ndarray, cutoff: float) -> np.ndarray:
    """Translations that can bring two atoms within ``cutoff``, per axis.

    With fractional offsets wrapped into [-1/2, 1/2) on periodic axes, a translation ``t``
    can only if ``|t_k| <= ceil(r_c |b_k| + 1/2)``, ``b_k`` the rows of ``C^-T``.
    """
    if not pbc.any():
        return np.zeros(3, dtype=int)
    reciprocal_norms = np.linalg.norm(np.linalg.inv(cell).T, axis=1)
    return np.where(pbc, np.ceil(cutoff * reciprocal_norms + 0.5), 0).astype(int)


def _closest_pair_all_images(
    positions: np.ndarray, cell: np.ndarray, pbc: np.ndarray, shifts: np.ndarray, cutoff: float
) -> tuple[int, int, float] | None:
    first, second = np.triu_indices(len(positions))
    offsets = (positions[second] - positions[first]) @ np.linalg.inv(cell)
    offsets[:, pbc] -= np.round(offsets[:, pbc])
    distances = np.linalg.norm((offsets[:, None, :] + shifts[None, :, :]) @ cell, axis=2)
    distances[(first == second)[:, None] & ~shifts.any(axis=1)[None, :]] = np.inf
    pair, image = np.unravel_index(np.argmin(distances), distances.shape)
    closest = float(distances[pair, image])
    if closest < cutoff:
        return int(first[pair]), int(second[pair]), closest
    return None


def _closest_pair_tree(
    positions: np.ndarray, cell: np.ndarray, pbc: np.ndarray, cutoff: float
) -> tuple[int, int, float] | None:
    """Pairs within ``cutoff`` from k-d trees, one query per lattice translation.

    Positions are wrapped into the cell first, so fractional offsets lie in (-1, 1) and a
    translation ``t`` matters only if ``|t_k| <= ceil(r_c |b_k|) + 1``. Only pairs closer
    than the cutoff are ever held in memory.
    """
    from scipy.spatial import cKDTree

    if pbc.any():
        fractional = positions @ np.linalg.inv(cell)
        fractional[:, pbc] -= np.floor(fractional[:, pbc])
        positions = fractional @ cell
        reciprocal_norms = np.linalg.norm(np.linalg.inv(cell).T, axis=1)
        reach = np.where(pbc, np.ceil(cutoff * reciprocal_norms) + 1, 0).astype(int)
        shifts = itertools.product(*(range(-r, r + 1) for r in reach))
    else:
        shifts = [(0, 0, 0)]
    tree = cKDTree(positions)
    best: tuple[int, int, float] | None = None
    for shift in shifts:
        image = cKDTree(positions + np.asarray(shift, dtype=float) @ cell)
        pairs = tree.sparse_distance_matrix(image, cutoff, output_type="ndarray")
        if not any(shift):
            pairs = pairs[pairs["i"] != pairs["j"]]
        pairs = pairs[pairs["v"] < cutoff]
        if len(pairs):
            k = int(np.argmin(pairs["v"]))
            if best is None or pairs["v"][k] < best[2]:
                i, j = sorted((int(pairs["i"][k]), int(pairs["j"][k])))
                best = (i, j, float(pairs["v"][k]))
    return best


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
        lengths = np.linalg.norm(cell[np.asarray(atoms.pbc, dtype=bool)], axis=1)
        if volume < MIN_CELL_SINE * lengths.prod():
            return (
                f"degenerate cell (periodic volume {volume:.3g} for vectors of {lengths.round(3).tolist()} Å: "
                "linearly dependent up to rounding)"
            )
    pair = closest_pair(atoms, min_distance)
    if pair is not None:
        i, j, distance = pair
        what = f"atom {i} and its own periodic image" if i == j else f"atoms {i} and {j}"
        return f"overlapping atoms: {what} are {distance:.3f} Å apart (min_distance={min_distance:g})"
    return None
