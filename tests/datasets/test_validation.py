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


def _brute_force_closest(atoms: Atoms, cutoff: float) -> float:
    """Every pair against every lattice translation that can bring it within ``cutoff``.

    A translation t can bring two atoms within r_c only if |t_k| <= ceil(r_c |b_k|) + 1 on
    each periodic axis k, b_k the rows of C^-T (1/|b_k| the spacing of lattice planes).
    """
    import itertools

    pbc = np.asarray(atoms.pbc)
    cell = np.asarray(atoms.cell, dtype=float)
    if pbc.all():
        reach = np.ceil(cutoff * np.linalg.norm(np.linalg.inv(cell).T, axis=1)).astype(int) + 1
    else:
        reach = np.zeros(3, dtype=int)
        cell = np.where(pbc[:, None], cell, 0.0)
    best = np.inf
    for shift in itertools.product(*(range(-r, r + 1) for r in reach)):
        translation = np.asarray(shift, dtype=float) @ cell
        for i in range(len(atoms)):
            for j in range(len(atoms)):
                if i == j and not any(shift):
                    continue
                best = min(best, float(np.linalg.norm(atoms.positions[j] + translation - atoms.positions[i])))
    return best


@pytest.mark.parametrize("path", ["all pairs", "k-d tree"])
def test_closest_pair_agrees_with_brute_force_enumeration_of_images(path, monkeypatch):
    if path == "k-d tree":
        monkeypatch.setattr("platonic.datasets.validation.ALL_PAIRS_LIMIT", 0)
    cutoff = 2.5
    checked = 0
    for atoms in _random_cells(40, seed=11):
        if not (atoms.pbc.all() or not atoms.pbc.any()):
            continue
        reference = _brute_force_closest(atoms, cutoff)
        found = closest_pair(atoms, cutoff)
        if reference >= cutoff:
            assert found is None
        else:
            assert found is not None and found[2] == pytest.approx(reference, abs=1e-9)
            checked += 1
    assert checked > 10


MEMORY_SCRIPT = """
import resource
from ase.build import bulk
from platonic.datasets import structure_problem
atoms = bulk("NaCl", "rocksalt", a=5.64, cubic=True).repeat((9, 9, 9))
atoms.rattle(0.05, seed=0)
structure_problem(atoms[:64])
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
assert structure_problem(atoms) is None
print(len(atoms), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
"""


def test_validation_memory_is_linear_in_atoms():
    """A 5,832-atom cell: the all-pairs search needed ~30 GB; the k-d trees need a few MB."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT], capture_output=True, text=True, check=True)
    n_atoms, growth_kib = map(int, done.stdout.split())
    assert n_atoms == 5832 and growth_kib < 100 * 1024


def test_large_molecule_without_cell_uses_the_tree():
    rng = np.random.default_rng(0)
    grid = np.stack(np.meshgrid(*[np.arange(12) * 1.5] * 3), axis=-1).reshape(-1, 3)
    atoms = Atoms(numbers=[6] * len(grid), positions=grid + rng.uniform(-0.05, 0.05, grid.shape))
    assert structure_problem(atoms) is None
    atoms.positions[5] = atoms.positions[900] + [0.2, 0, 0]
    i, j, distance = closest_pair(atoms, 0.5)
    assert (i, j) == (5, 900) and distance == pytest.approx(0.2)
    atoms.positions[5] = atoms.positions[900]
    assert closest_pair(atoms, 0.5) == (5, 900, 0.0)


def test_a_skewed_basis_of_a_good_lattice_is_reduced_not_enumerated():
    """b = 100 a + (0, 3, 0): the raw basis would need ~10^4 images per pair; the lattice is
    simple cubic with a = 3 Å, so the closest pair is the body diagonal / 2."""
    skewed = Atoms("Cu2", positions=[[0, 0, 0], [1.5, 1.5, 1.5]], cell=[[3, 0, 0], [300, 3, 0], [0, 0, 3]], pbc=True)
    cubic = Atoms("Cu2", positions=[[0, 0, 0], [1.5, 1.5, 1.5]], cell=[3, 3, 3], pbc=True)
    assert closest_pair(skewed, 3.0) == pytest.approx(closest_pair(cubic, 3.0))
    assert closest_pair(skewed, 3.0)[2] == pytest.approx(np.sqrt(3) * 1.5)


def test_a_flat_cell_is_degenerate_even_above_the_absolute_volume():
    from ase.geometry import cellpar_to_cell

    flat = Atoms("NaCl", scaled_positions=[[0, 0, 0], [0.5, 0.5, 0.5]], cell=cellpar_to_cell([5.6] * 3 + [120] * 3), pbc=True)
    assert structure_problem(flat).startswith("degenerate cell (periodic volume")


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
