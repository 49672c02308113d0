"""Fine-tuning data: Cu cells (strained, rattled, surfaces, vacancies), replay structures from MP-20,
labelled with energies and forces by a stand-in for DFT (another offline model).

Every cell is drawn from one ``numpy.random.default_rng(seed)``, so a seed fixes the data exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
from ase import Atoms
from ase.build import bulk, fcc100, fcc111

from platonic.errors import PlatonicError

CU_LATTICE = 3.61  # Å, fcc Cu near its PBE lattice constant (3.63); strains are drawn around it
#: Share of each kind of Cu cell in the fine-tuning set.
CU_KINDS = {"strained": 0.4, "rattled": 0.25, "surface": 0.2, "vacancy": 0.15}


class FinetuneDataError(PlatonicError, ValueError):
    """Bad input to the fine-tuning data: counts, sizes, a labeller that fails."""


@dataclass
class LabelledSet:
    """Structures with the labeller's energies (eV/atom) and forces (eV/Å)."""

    structures: list[Atoms]
    kinds: list[str]
    energies_per_atom: list[float] = field(default_factory=list)
    forces: list[np.ndarray] = field(default_factory=list)
    labeller: str = ""

    def __len__(self) -> int:
        return len(self.structures)

    def __add__(self, other: "LabelledSet") -> "LabelledSet":
        if self.labeller != other.labeller:
            raise FinetuneDataError(f"cannot mix labels of {self.labeller!r} and {other.labeller!r}")
        return LabelledSet(self.structures + other.structures, self.kinds + other.kinds,
                           self.energies_per_atom + other.energies_per_atom, self.forces + other.forces, self.labeller)

    def elements(self) -> set[str]:
        return {s for atoms in self.structures for s in atoms.get_chemical_symbols()}


def _strain(atoms: Atoms, rng: np.random.Generator, volumetric: float, shear: float) -> Atoms:
    eps = np.eye(3) * (1.0 + rng.uniform(-volumetric, volumetric))
    off = rng.uniform(-shear, shear, size=(3, 3))
    eps = eps + 0.5 * (off + off.T) - np.diag(np.diag(off))
    atoms = atoms.copy()
    atoms.set_cell(atoms.cell.array @ eps, scale_atoms=True)
    return atoms


def _rattle(atoms: Atoms, rng: np.random.Generator, sigma: float) -> Atoms:
    atoms = atoms.copy()
    atoms.positions += rng.normal(scale=sigma, size=atoms.positions.shape)
    return atoms


def cu_cells(n: int = 240, seed: int = 0) -> tuple[list[Atoms], list[str]]:
    """``n`` Cu cells: strained bulk (4-atom cubic cell, ±4 % volumetric and ±2 % shear strain,
    rattled by 0.03 Å), rattled bulk (8 atoms, 0.1 Å, ±2 % strain), surfaces ((111) or (100)
    slabs, 2x2x3 = 12 atoms, 6 Å vacuum each side, rattled 0.05 Å) and vacancies (16-atom cell
    with one atom removed, rattled 0.05 Å), in the proportions of :data:`CU_KINDS`."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < len(CU_KINDS):
        raise FinetuneDataError(f"n must be an integer >= {len(CU_KINDS)} (one cell of each kind), got {n!r}")
    rng = np.random.default_rng(seed)
    counts = {kind: max(1, int(round(share * n))) for kind, share in CU_KINDS.items()}
    counts["strained"] += n - sum(counts.values())
    cube = bulk("Cu", "fcc", a=CU_LATTICE, cubic=True)
    cells, kinds = [], []
    for _ in range(counts["strained"]):
        cells.append(_rattle(_strain(cube, rng, 0.04, 0.02), rng, 0.03))
    for _ in range(counts["rattled"]):
        cells.append(_rattle(_strain(cube.repeat((2, 1, 1)), rng, 0.02, 0.02), rng, 0.1))
    for i in range(counts["surface"]):
        build = fcc111 if i % 2 == 0 else fcc100
        slab = build("Cu", size=(2, 2, 3), a=CU_LATTICE * (1 + rng.uniform(-0.02, 0.02)), vacuum=6.0, periodic=True)
        cells.append(_rattle(slab, rng, 0.05))
    for _ in range(counts["vacancy"]):
        cell = cube.repeat((2, 2, 1))
        del cell[int(rng.integers(len(cell)))]
        cells.append(_rattle(_strain(cell, rng, 0.02, 0.01), rng, 0.05))
    for kind, count in counts.items():
        kinds += [kind] * count
    return cells, kinds


def replay_structures(n: int = 240, seed: int = 0, exclude: Sequence[str] = ("Cu",), max_atoms: int = 12,
                      split: str = "train") -> list[Atoms]:
    """``n`` MP-20 structures (``split``, seeded) with at most ``max_atoms`` atoms and none of the
    ``exclude`` elements: the "rest of the periodic table" replayed during fine-tuning."""
    from platonic.datasets import load

    data = load("mp20", split=split)
    excluded = set(exclude)
    order = np.random.default_rng(seed).permutation(len(data))
    chosen = []
    for i in order:
        atoms = data.structures[int(i)]
        if len(atoms) <= max_atoms and not excluded & set(atoms.get_chemical_symbols()):
            chosen.append(atoms.copy())
            if len(chosen) == n:
                return chosen
    raise FinetuneDataError(f"only {len(chosen)} MP-20 {split} structures with <= {max_atoms} atoms lack {sorted(excluded)}")


def label(structures: Sequence[Atoms], kinds: Sequence[str], calculator: Any, labeller: str) -> LabelledSet:
    """Energies per atom and forces of every structure from ``calculator`` (the stand-in for DFT)."""
    energies, forces = [], []
    for i, atoms in enumerate(structures):
        atoms = atoms.copy()
        atoms.calc = calculator
        try:
            energy = float(atoms.get_potential_energy())
            force = np.asarray(atoms.get_forces(), dtype=float)
        except Exception as exc:  # noqa: BLE001 - any calculator failure is reported with the structure
            raise FinetuneDataError(f"{labeller} failed on structure {i} ({atoms.get_chemical_formula()}): {exc}") from exc
        if not np.isfinite(energy) or not np.isfinite(force).all():
            raise FinetuneDataError(f"{labeller} gave non-finite labels for structure {i} ({atoms.get_chemical_formula()})")
        energies.append(energy / len(atoms))
        forces.append(force)
    return LabelledSet(list(structures), list(kinds), energies, forces, labeller)
