"""Dimer curves E(r) of homonuclear dimers under each checkpoint, and their minima (physics and
conventions in :mod:`platonic.diagnose.drift`).

Energies come from the loaded model's own batched energy-only forward
(:meth:`platonic.models.EmbeddingModel.energy_forward`: total energy in eV, no forces): the two
single atoms and every separation of one curve in one batch, from the model already loaded for the
study (:class:`platonic.models.cache.LoadedModels`). A dimer curve needs E(r) only; an ASE calculator
also differentiates for forces (the 49 s of backward passes a profile of ``platonic run --n 30``
found here) and most adapters' calculators load or copy a second model. A family without an energy
forward (a plugin's) uses its ASE calculator, built from the same loaded model, and its rows say so
(``energy_path``), with a warning.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from ase import Atoms
from ase.data import atomic_numbers

from ._checks import DEFAULT_BOX_LENGTH, DEFAULT_DISTANCES, EXPERIMENTAL_BOND_LENGTHS, MIN_IMAGE_GAP, DriftInputError


def dimer_atoms(
    element: str, distance: float, box_length: float = DEFAULT_BOX_LENGTH, partner: str | None = None
) -> Atoms:
    """Two atoms ``distance`` Å apart along x, centred in a periodic cubic box of side ``box_length``."""
    partner = element if partner is None else partner
    for symbol in (element, partner):
        if symbol not in atomic_numbers:
            raise DriftInputError(f"unknown element symbol {symbol!r}")
    centre = 0.5 * box_length
    positions = [[centre - 0.5 * distance, centre, centre], [centre + 0.5 * distance, centre, centre]]
    return Atoms([element, partner], positions=positions, cell=[box_length] * 3, pbc=True)


def _check_distances(distances: Any, box_length: float) -> np.ndarray:
    distances = np.asarray(distances, dtype=float)
    if distances.ndim != 1 or distances.size < 3 or not np.all(np.isfinite(distances)) or np.any(distances <= 0):
        raise DriftInputError(f"distances must be at least 3 finite positive values, got {distances.tolist()}")
    if np.any(np.diff(distances) <= 0):
        raise DriftInputError("distances must be strictly increasing")
    if box_length - distances.max() < MIN_IMAGE_GAP:
        raise DriftInputError(
            f"box_length {box_length} Å leaves less than {MIN_IMAGE_GAP} Å between an atom and its partner's "
            f"periodic image at r = {distances.max()} Å: use a box of at least {distances.max() + MIN_IMAGE_GAP} Å"
        )
    return distances


#: ``energy_path`` of rows computed by a model's energy-only forward, or by an ASE calculator.
ENERGY_FORWARD = "energy forward"
CALCULATOR = "ASE calculator"


def has_energy_forward(model: Any) -> bool:
    """Whether ``model`` (an :class:`~platonic.models.EmbeddingModel`) implements an energy-only forward."""
    from platonic.models.base import EmbeddingModel

    return isinstance(model, EmbeddingModel) and type(model).energy_forward is not EmbeddingModel.energy_forward


def energies(source: Any, structures: list[Atoms]) -> tuple[np.ndarray, str]:
    """Total energies (eV) of ``structures`` and how they were computed: one batched
    ``energy_forward`` of a model that has one, else ``source``'s ASE calculator structure by structure."""
    if has_energy_forward(source):
        values = np.asarray(source.energy_forward(structures), dtype=float).ravel()
        if values.shape != (len(structures),):
            raise DriftInputError(f"{source.card.name}: energy_forward gave {values.size} energies for "
                                  f"{len(structures)} structures")
        return values, ENERGY_FORWARD
    values = []
    for atoms in structures:
        atoms.calc = source
        values.append(float(atoms.get_potential_energy()))
    return np.array(values), CALCULATOR


def dimer_curve(
    source: Any,
    element: str,
    distances: Any = DEFAULT_DISTANCES,
    box_length: float = DEFAULT_BOX_LENGTH,
    partner: str | None = None,
) -> pd.DataFrame:
    """Energy of a dimer at each distance from one model or ASE calculator.

    Parameters
    ----------
    source : a loaded :class:`~platonic.models.EmbeddingModel` with an energy forward (one batch,
        no forces), or an ASE calculator (energy at least)
    element, partner : the two species (``partner`` defaults to ``element``: homonuclear)
    distances : increasing distances in Å
    box_length : side of the periodic cubic box in Å (see the module docstring)

    Returns
    -------
    DataFrame with ``dimer`` (e.g. ``"Cu-Cu"``), ``distance``, ``energy`` (eV),
    ``isolated_energy`` E(A) + E(B) (each atom alone in the same box), ``binding_energy`` =
    ``energy - isolated_energy`` and ``energy_path`` (:data:`ENERGY_FORWARD` or :data:`CALCULATOR`).
    """
    partner = element if partner is None else partner
    distances = _check_distances(distances, box_length)
    symbols = list(dict.fromkeys((element, partner)))
    singles = [Atoms([symbol], positions=[[0.5 * box_length] * 3], cell=[box_length] * 3, pbc=True)
               for symbol in symbols]
    dimers = [dimer_atoms(element, r, box_length, partner) for r in distances]
    values, path = energies(source, singles + dimers)
    single = dict(zip(symbols, values[: len(singles)]))
    isolated = float(single[element] + single[partner])
    curve = values[len(singles):]
    return pd.DataFrame(
        {
            "dimer": f"{element}-{partner}",
            "distance": distances,
            "energy": curve,
            "isolated_energy": isolated,
            "binding_energy": curve - isolated,
            "energy_path": path,
        }
    )


@functools.lru_cache(maxsize=None)
def checkpoint_calculator(model: str, device: str = "cpu") -> Any:
    """The ASE calculator of a registered checkpoint, built once per (model, device) and cached
    (for use outside the study; :func:`dimer_curves` runs the loaded model's energy forward)."""
    from platonic.models import load_model

    return load_model(model, device=device).calculator()


def dimer_source(model: Any) -> Any:
    """What :func:`dimer_curve` runs for a loaded model: the model itself when it has an energy
    forward, else (warned about) its ASE calculator, built from the same loaded weights."""
    if has_energy_forward(model):
        return model
    warnings.warn(f"{model.card.name}: the {model.card.family} adapter has no energy-only forward, so its dimer "
                  f"curves come from its ASE calculator (forces computed too; energy_path '{CALCULATOR}')",
                  stacklevel=3)
    return model.calculator()


def dimer_curves(
    models: Sequence[str],
    elements: Sequence[str] = ("Cu", "Au"),
    distances: Any = DEFAULT_DISTANCES,
    box_length: float = DEFAULT_BOX_LENGTH,
    device: str = "cpu",
    calculators: Mapping[str, Any] | None = None,
    loaded: Any = None,
) -> pd.DataFrame:
    """Homonuclear dimer curves of every element under every checkpoint.

    Each model is taken from ``loaded`` (a :class:`platonic.models.cache.LoadedModels`, e.g. the
    one a study's stages share; default a new one on ``device``), loaded there at most once, and run
    through :func:`dimer_source`. ``calculators`` (model -> ASE calculator or loaded model)
    overrides that for the models it names.

    Returns
    -------
    The :func:`dimer_curve` tables stacked, with a leading ``model`` column.
    """
    from platonic.models.cache import loaded_models

    distances = _check_distances(distances, box_length)
    calculators = dict(calculators or {})
    cache = None
    tables = []
    for model in models:
        if model in calculators:
            source = calculators[model]
        else:
            cache = cache or loaded_models(loaded, device)
            source = dimer_source(cache.get(model))
        for element in elements:
            table = dimer_curve(source, element, distances, box_length)
            table.insert(0, "model", model)
            tables.append(table)
    return pd.concat(tables, ignore_index=True)


def _parabola_vertex(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Vertex (x, y) of the parabola through three points; the middle point if it is not a minimum."""
    a, b, c = np.polyfit(x, y, 2)
    if a <= 0:
        return float(x[1]), float(y[1])
    vertex = -b / (2 * a)
    return float(vertex), float(c - b * b / (4 * a))


def dimer_minima(
    curves: pd.DataFrame, reference_bond_lengths: Mapping[str, float] = EXPERIMENTAL_BOND_LENGTHS
) -> pd.DataFrame:
    """Equilibrium distance and well depth of every (model, dimer) curve.

    Parameters
    ----------
    curves : output of :func:`dimer_curves` (or :func:`dimer_curve` with a ``model`` column)
    reference_bond_lengths : element -> experimental r_e in Å, matched to homonuclear dimers

    Returns
    -------
    DataFrame with ``model, dimer, r_eq, well_depth, min_at_grid_edge, binding_at_largest_r,
    experimental_r_e, r_eq_minus_experimental``. ``r_eq`` is the grid minimum of the binding
    energy refined by the parabola through it and its neighbours, ``well_depth`` = minus the
    binding energy there (eV, > 0 for a bound dimer). ``min_at_grid_edge`` flags a minimum on
    the first or last distance (purely repulsive or purely attractive in the scanned range: no
    refinement). ``binding_at_largest_r`` shows whether the curve has flattened.
    """
    needed = {"model", "dimer", "distance", "binding_energy"}
    if needed - set(curves.columns):
        raise DriftInputError(f"curves lacks column(s) {sorted(needed - set(curves.columns))}")
    records = []
    for (model, dimer), part in curves.groupby(["model", "dimer"], sort=False):
        part = part.sort_values("distance")
        r, e = part["distance"].to_numpy(), part["binding_energy"].to_numpy()
        i = int(np.argmin(e))
        at_edge = i in (0, r.size - 1)
        r_eq, e_min = (float(r[i]), float(e[i])) if at_edge else _parabola_vertex(r[i - 1 : i + 2], e[i - 1 : i + 2])
        first, second = dimer.split("-")
        reference = reference_bond_lengths.get(first, np.nan) if first == second else np.nan
        records.append(
            {
                "model": model,
                "dimer": dimer,
                "r_eq": r_eq,
                "well_depth": -e_min,
                "min_at_grid_edge": at_edge,
                "binding_at_largest_r": float(e[-1]),
                "experimental_r_e": reference,
                "r_eq_minus_experimental": r_eq - reference,
            }
        )
    return pd.DataFrame(records)
