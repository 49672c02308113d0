r"""Phonon dispersions of fcc metals from any ASE calculator (phonopy, finite displacements).

For each calculator the fcc lattice constant is relaxed first: the energy of the one-atom primitive
cell is scanned over ``a0 (1 + s)``, ``s`` in ``[-6 %, +6 %]``, and a parabola through the grid
minimum and its two neighbours gives :math:`a_{eq}` (a phonon calculation away from equilibrium
would show the strain, not the model). Then phonopy displaces one atom of a
``supercell`` x ``supercell`` x ``supercell`` supercell of the primitive cell by ``displacement`` Å
(fcc needs one displacement), builds the force constants from the calculator's forces, and
evaluates the bands along :math:`\Gamma`-X-W-K-:math:`\Gamma`-L.

A mode is *imaginary* when its frequency (phonopy reports imaginary frequencies as negative
numbers) is below ``-imaginary_tolerance`` THz; acoustic modes within ``gamma_window`` (in
reciprocal-lattice units) of :math:`\Gamma` are left out of the flag, since the acoustic sum rule
is only approximately met there by finite differences.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from ase.build import bulk

from platonic.errors import PlatonicError

#: Band path of the fcc Brillouin zone, fractional coordinates of the primitive reciprocal cell.
FCC_PATH = [("G", (0.0, 0.0, 0.0)), ("X", (0.5, 0.0, 0.5)), ("W", (0.5, 0.25, 0.75)), ("K", (0.375, 0.375, 0.75)),
            ("G", (0.0, 0.0, 0.0)), ("L", (0.5, 0.5, 0.5))]
#: Starting lattice constants (Å): experiment near room temperature.
FCC_LATTICE = {"Cu": 3.615, "Au": 4.078, "Ag": 4.086, "Al": 4.050, "Ni": 3.524, "Pt": 3.924, "Pd": 3.891}


class PhononError(PlatonicError, RuntimeError):
    """A phonon calculation that cannot be done: unknown element, no energy minimum in the scan."""


def fcc_lattice_constant(calculator: Any, element: str, a0: float | None = None, span: float = 0.06,
                         points: int = 13) -> tuple[float, bool]:
    """Lattice constant minimising the calculator's energy of fcc ``element``, and whether the
    minimum fell inside the scanned range (False: the grid edge is returned)."""
    a0 = FCC_LATTICE.get(element) if a0 is None else a0
    if a0 is None:
        raise PhononError(f"no starting lattice constant for {element!r}; pass a0")
    grid = a0 * (1 + np.linspace(-span, span, points))
    energies = []
    for a in grid:
        atoms = bulk(element, "fcc", a=float(a))
        atoms.calc = calculator
        energies.append(float(atoms.get_potential_energy()))
    energies = np.asarray(energies)
    i = int(np.argmin(energies))
    if i in (0, points - 1):
        return float(grid[i]), False
    c2, c1, _ = np.polyfit(grid[i - 1 : i + 2], energies[i - 1 : i + 2], 2)
    return float(-c1 / (2 * c2)) if c2 > 0 else float(grid[i]), True


def fcc_phonons(calculator: Any, element: str, a: float, supercell: int = 3, displacement: float = 0.01,
                points_per_segment: int = 30) -> pd.DataFrame:
    """Phonon bands of fcc ``element`` at lattice constant ``a``: one row per (q point, band) with
    ``segment`` (e.g. ``"G-X"``), ``distance`` (cumulative path length, 1/Å), ``q`` (fractional,
    as text), ``band`` and ``frequency`` (THz; negative = imaginary)."""
    from phonopy import Phonopy
    from phonopy.phonon.band_structure import get_band_qpoints_and_path_connections
    from phonopy.structure.atoms import PhonopyAtoms

    from ase import Atoms

    primitive = bulk(element, "fcc", a=float(a))
    unit = PhonopyAtoms(symbols=[element], cell=primitive.cell.array, scaled_positions=[[0.0, 0.0, 0.0]])
    phonon = Phonopy(unit, supercell_matrix=np.eye(3, dtype=int) * supercell, primitive_matrix=None)
    phonon.generate_displacements(distance=displacement)
    forces = []
    for cell in phonon.supercells_with_displacements:
        atoms = Atoms(cell.symbols, cell=cell.cell, scaled_positions=cell.scaled_positions, pbc=True)
        atoms.calc = calculator
        force = np.asarray(atoms.get_forces(), dtype=float)
        forces.append(force - force.mean(axis=0))  # drift of the total force: not physical
    phonon.forces = np.asarray(forces)
    phonon.produce_force_constants()
    labels = [name for name, _ in FCC_PATH]
    qpoints, connections = get_band_qpoints_and_path_connections([[q for _, q in FCC_PATH]], npoints=points_per_segment)
    phonon.run_band_structure(qpoints, path_connections=connections, labels=labels)
    bands = phonon.band_structure
    records = []
    for s, (qs, distances, frequencies) in enumerate(zip(bands.qpoints, bands.distances, bands.frequencies)):
        segment = f"{labels[s]}-{labels[s + 1]}"
        for q, d, row in zip(qs, distances, frequencies):
            for band, f in enumerate(row):
                records.append({"segment": segment, "distance": float(d), "q": " ".join(f"{x:.4f}" for x in q),
                                "q_norm": float(np.linalg.norm(q)), "band": band, "frequency": float(f)})
    return pd.DataFrame(records)


def imaginary_modes(bands: pd.DataFrame, imaginary_tolerance: float = 0.1, gamma_window: float = 0.05) -> dict:
    """Summary of one dispersion: ``min_frequency`` (THz) and where, ``max_frequency``,
    ``imaginary`` (any mode below ``-imaginary_tolerance`` outside ``gamma_window`` of Gamma),
    ``imaginary_fraction`` (share of those q points with an imaginary mode) and the segments hit."""
    away = bands[bands["q_norm"] > gamma_window]
    low = away.loc[away["frequency"].idxmin()]
    hit = away[away["frequency"] < -imaginary_tolerance]
    qpoints = away.groupby(["segment", "distance"]).ngroups
    return {"min_frequency": float(low["frequency"]), "min_at_segment": str(low["segment"]),
            "min_at_q": str(low["q"]), "max_frequency": float(bands["frequency"].max()),
            "imaginary": bool(len(hit)), "imaginary_fraction": float(hit.groupby(["segment", "distance"]).ngroups / qpoints),
            "imaginary_segments": " ".join(dict.fromkeys(hit["segment"]))}


def phonon_table(calculators: dict[str, Any], elements=("Cu", "Au"), supercell: int = 3,
                 imaginary_tolerance: float = 0.1) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Bands and a per-(model, element) summary (lattice constant, imaginary-mode flag) for every
    calculator and element."""
    bands, summary = [], []
    for model, calculator in calculators.items():
        for element in elements:
            a, inside = fcc_lattice_constant(calculator, element)
            part = fcc_phonons(calculator, element, a, supercell=supercell)
            part.insert(0, "element", element)
            part.insert(0, "model", model)
            bands.append(part)
            summary.append({"model": model, "element": element, "lattice_constant": a, "minimum_in_scan": inside,
                            **imaginary_modes(part, imaginary_tolerance)})
    return pd.concat(bands, ignore_index=True), pd.DataFrame(summary)


def plot_phonons(bands: pd.DataFrame, summary: pd.DataFrame):
    """One panel per element, one colour per model; imaginary modes show below the zero line."""
    from platonic.plotting import colormap, subplots

    elements = list(dict.fromkeys(bands["element"]))
    fig, axes = subplots(1, len(elements), figsize=(5.5 * len(elements), 4.0), squeeze=False)
    colours = dict(zip(dict.fromkeys(bands["model"]), colormap("tab10").colors))
    for ax, element in zip(axes[0], elements):
        part = bands[bands["element"] == element]
        for model, lines in part.groupby("model", sort=False):
            flag = summary[(summary.model == model) & (summary.element == element)].iloc[0]
            label = f"{model} (a = {flag['lattice_constant']:.3f} Å{', IMAGINARY' if flag['imaginary'] else ''})"
            for i, (_, band) in enumerate(lines.groupby(["segment", "band"], sort=False)):
                ax.plot(band["distance"], band["frequency"], color=colours[model], linewidth=0.9,
                        label=label if i == 0 else None)
        ticks = part.groupby("segment", sort=False)["distance"].agg(["min", "max"])
        edges = [ticks["min"].iloc[0]] + list(ticks["max"])
        names = [s.split("-")[0] for s in ticks.index] + [ticks.index[-1].split("-")[1]]
        for x in edges:
            ax.axvline(x, color="grey", linewidth=0.5)
        ax.set_xticks(edges, [("Γ" if n == "G" else n) for n in names])
        ax.axhline(0.0, color="black", linewidth=0.6)
        ax.set_ylabel("frequency (THz)")
        ax.set_title(f"fcc {element}")
        ax.legend(fontsize=6)
    fig.tight_layout()
    return fig
