"""Structure checks: the fast periodic distance search against ASE's neighbour list."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.neighborlist import neighbor_list

from platonic.datasets import structure_problem
from platonic.datasets.validation import closest_pair, periodic_cell_volume


def _random_cells(count: int, seed: int):
    rng = np.random.default_rng(seed)
    for _ in range(count):
        cell = np.diag(rng.uniform(2.0, 6.0, 3)) + rng.uniform(-2.5, 2.5, (3, 3))
        if abs(np.linalg.det(cell)) < 2.0:
            continue
        n = int(rng.integers(1, 8))
        pbc = rng.random(3) < 0.8
        yield Atoms(numbers=[1] * n, scaled_positions=rng.random((n, 3)), cell=cell, pbc=pbc)


def test_closest_pair_agrees_with_ase_neighbor_list():
    cutoff = 2.5
    checked = 0
    for atoms in _random_cells(150, seed=3):
        reference = neighbor_list("d", atoms, cutoff, self_interaction=False)
        found = closest_pair(atoms, cutoff)
        if reference.size == 0:
            assert found is None
        else:
            assert found is not None
            assert found[2] == pytest.approx(reference.min(), abs=1e-9)
            checked += 1
    assert checked > 50


def test_overlap_across_the_periodic_boundary_is_found():
    atoms = Atoms("H2", positions=[[0.05, 1, 1], [4.0 - 0.05, 1, 1]], cell=[4, 4, 4], pbc=True)
    reason = structure_problem(atoms)
    assert reason is not None and "0.100 Å" in reason
    atoms.pbc = False
    assert structure_problem(atoms) is None


def test_atom_too_close_to_its_own_image():
    atoms = Atoms("H", positions=[[0, 0, 0]], cell=[0.3, 5, 5], pbc=True)
    assert "its own periodic image" in structure_problem(atoms)


@pytest.mark.parametrize(
    ("atoms", "message"),
    [
        (Atoms(cell=[3, 3, 3], pbc=True), "empty structure"),
        (Atoms("H2", positions=[[0, 0, 0], [np.nan, 0, 0]], cell=[3, 3, 3], pbc=True), "non-finite position"),
        (Atoms("H", cell=[[1, 0, 0], [2, 0, 0], [0, 0, 1]], pbc=True), "degenerate cell"),
        (Atoms("H2", positions=[[0, 0, 0], [0.1, 0, 0]], cell=[5, 5, 5], pbc=True), "overlapping atoms"),
    ],
)
def test_reasons(atoms, message):
    assert message in structure_problem(atoms)


def test_min_distance_is_a_parameter():
    atoms = Atoms("H2", positions=[[0, 0, 0], [0.7, 0, 0]], cell=[5, 5, 5], pbc=True)
    assert structure_problem(atoms) is None
    assert "overlapping" in structure_problem(atoms, min_distance=0.8)


def test_slab_with_zero_vacuum_vector_is_valid():
    slab = Atoms("H2", positions=[[0, 0, 0], [1.5, 0, 3]], cell=[[3, 0, 0], [0, 3, 0], [0, 0, 0]], pbc=[True, True, False])
    assert periodic_cell_volume(slab.cell.array, slab.pbc) == pytest.approx(9.0)
    assert structure_problem(slab) is None
    slab.positions[1] = [0.1, 0, 0]
    assert "overlapping" in structure_problem(slab)
