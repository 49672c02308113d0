"""Forces of a trained model on DFT-relaxed structures: the physical reference of every real model.

MP-20 structures are relaxed with PBE(+U) in the Materials Project, so the DFT force on every atom
is close to zero and a correct potential predicts small forces there too. For a model and ``n``
validation structures (the ones whose elements it supports), every force component
``F_{i,alpha}`` (atom ``i``, Cartesian direction ``alpha``) is computed by the package's own ASE
calculator, and the summary is

    median |F| = median over all (i, alpha) of |F_{i,alpha}|,
    mean |F|   = (1 / 3N) sum_{i, alpha} |F_{i,alpha}|,

with ``N`` the number of atoms of the structures used. A model that loads but computes wrong (e.g.
TensorNet-MatPES under matgl 3.x/4.x) gives a median several times larger than a correct one.
Used by ``tests/models/test_forces.py`` (the acceptance bound) and ``benchmarks/forces.py`` (the table).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ForceSummary:
    """|F| components of one model on the relaxed structures it supports."""

    model: str
    structures: int
    atoms: int
    median: float
    mean: float


def relaxed_force_components(name: str, n: int = 50, seed: int = 0, split: str = "val") -> tuple[np.ndarray, int]:
    """Every |F_{i,alpha}| (eV/Å) of model ``name`` on ``n`` MP-20 ``split`` structures (those whose
    elements it supports), through its ASE calculator; also the number of structures used."""
    from platonic.datasets import load
    from platonic.models import load_model

    model = load_model(name)
    calculator = model.calculator()
    data = load("mp20", split=split, n=n, seed=seed)
    components = []
    for atoms in data.structures:
        if model.supported_numbers is not None and not set(int(z) for z in atoms.numbers) <= model.supported_numbers:
            continue
        atoms = atoms.copy()
        atoms.calc = calculator
        components.append(np.abs(np.asarray(atoms.get_forces(), dtype=np.float64)).ravel())
    if not components:
        return np.empty(0), 0
    return np.concatenate(components), len(components)


def force_summary(name: str, n: int = 50, seed: int = 0) -> ForceSummary:
    """:func:`relaxed_force_components` reduced to its median and mean (see the module docstring)."""
    components, used = relaxed_force_components(name, n, seed)
    if used == 0:
        return ForceSummary(name, 0, 0, float("nan"), float("nan"))
    return ForceSummary(name, used, components.size // 3, float(np.median(components)), float(components.mean()))
