"""The vectors of the embedding arithmetic and the per-model tables built from them: material,
polymorph difference and reaction (definitions in :mod:`platonic.analyse.arithmetic`)."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from ase import Atoms

from platonic.analyse.reaction import Reaction, assign_structures, formula_units, parse_reaction
from platonic.validation import check_matrix
from platonic.analyse.unified_space import EmbeddingArithmeticError, Material, UnifiedSpace, _check_choice

BASES = ("formula_unit", "material")


# ---------------------------------------------------------------- vector arithmetic


def material_vector(z: np.ndarray) -> np.ndarray:
    r"""Material embedding :math:`\mathbf z_\mathrm{Mater} = \frac1N\sum_i \mathbf z_i` (float64).

    Parameters
    ----------
    z : array of shape (n_atoms, K), the unified coordinates of one structure's atoms.
    """
    array = _check_atom_matrix(z)
    return array.mean(axis=0)


def formula_unit_vector(z: np.ndarray, n_formula_units: float) -> np.ndarray:
    r"""Vector of one formula unit: :math:`\frac{1}{n_\mathrm{fu}} \sum_i \mathbf z_i` (float64).

    Parameters
    ----------
    z : array of shape (n_atoms, K), the atoms of one cell.
    n_formula_units : number of formula units in that cell (> 0).
    """
    array = _check_atom_matrix(z)
    n_formula_units = float(n_formula_units)
    if not n_formula_units > 0:
        raise EmbeddingArithmeticError(f"n_formula_units must be positive, got {n_formula_units}")
    return array.sum(axis=0) / n_formula_units


def _check_atom_matrix(z: np.ndarray) -> np.ndarray:
    return check_matrix(z, "atom coordinates", EmbeddingArithmeticError, columns="K")


def cosine_similarity(u: np.ndarray, v: np.ndarray) -> float:
    r""":math:`\cos(\mathbf u, \mathbf v) = \mathbf u \cdot \mathbf v / (\|\mathbf u\| \|\mathbf v\|)`;
    NaN if either vector is zero (the angle is undefined)."""
    u, v = np.asarray(u, dtype=np.float64), np.asarray(v, dtype=np.float64)
    if u.ndim != 1 or u.shape != v.shape:
        raise EmbeddingArithmeticError(f"cosine needs two vectors of one length, got shapes {u.shape} and {v.shape}")
    norms = np.linalg.norm(u) * np.linalg.norm(v)
    if norms == 0.0:
        return float("nan")
    return float(np.clip(u @ v / norms, -1.0, 1.0))


def reaction_vector(
    reaction: Reaction,
    reactant_vectors: Mapping[str, np.ndarray],
    product_vectors: Mapping[str, np.ndarray],
) -> np.ndarray:
    r""":math:`\mathbf z_\mathrm{React} = \sum_p \nu_p \mathbf v_p - \sum_r \nu_r \mathbf v_r`.

    Parameters
    ----------
    reaction : a parsed reaction.
    reactant_vectors, product_vectors : formula as written in the reaction -> vector of one
        formula unit (or of the material, see the module docstring). Giving the two sides
        from different models is zero-shot stitching. A formula on both sides is looked
        up in the mapping of its side.
    """
    total = None
    for sign, side, vectors in ((-1.0, reaction.reactants, reactant_vectors), (1.0, reaction.products, product_vectors)):
        for species in side:
            if species.formula not in vectors:
                raise EmbeddingArithmeticError(f"no vector for {species.formula!r}; have {sorted(vectors)}")
            term = sign * float(species.coefficient) * np.asarray(vectors[species.formula], dtype=np.float64)
            if total is not None and term.shape != total.shape:
                raise EmbeddingArithmeticError(f"vector of {species.formula!r} has shape {term.shape}, others {total.shape}")
            total = term if total is None else total + term
    return total


# ---------------------------------------------------------------- per-model tables


def _models_with_reference(space: UnifiedSpace, models: Sequence[str] | None, reference: str | None) -> tuple[list[str], str]:
    models = list(models) if models is not None else space.models
    if not models:
        raise EmbeddingArithmeticError("models is empty")
    reference = models[0] if reference is None else reference
    for name in [reference, *models]:
        space._check_model(name)
    if reference not in models:
        models = [reference, *models]
    return list(dict.fromkeys(models)), reference


def material(
    space: UnifiedSpace,
    structure: "Atoms | str | Material",
    models: Sequence[str] | None = None,
    reference: str | None = None,
    centring: str = "none",
) -> pd.DataFrame:
    """Material embedding of one structure for each model: its norm and c-sim to ``reference``.

    Parameters
    ----------
    space : the unified space.
    structure : ``ase.Atoms``, an id (see :meth:`UnifiedSpace.resolve`) or a :class:`Material`.
    models : default every model of the space.
    reference : the model c-sim is measured against (default the first of ``models``);
        added to ``models`` if missing.
    centring : ``"none"`` (the paper) or ``"dataset"`` (see the module docstring).

    Returns
    -------
    DataFrame, one row per model: ``model, reference, structure, formula, n_atoms, source,
    l, c_sim``.
    """
    models, reference = _models_with_reference(space, models, reference)
    item = space.resolve(structure)
    vectors = {model: material_vector(z) for model, z in space.atom_vectors(item, models, centring).items()}
    return pd.DataFrame(
        [
            {"model": model, "reference": reference, "structure": item.id, "formula": item.formula,
             "n_atoms": len(item.atoms), "source": item.source, "l": float(np.linalg.norm(vector)),
             "c_sim": cosine_similarity(vector, vectors[reference])}
            for model, vector in vectors.items()
        ]
    )


def difference(
    space: UnifiedSpace,
    first: "Atoms | str | Material",
    second: "Atoms | str | Material",
    models: Sequence[str] | None = None,
    reference: str | None = None,
    centring: str = "none",
) -> pd.DataFrame:
    """Difference of two material embeddings (e.g. two polymorphs) for each model.

    ``z_Morph = z_Mater(first) - z_Mater(second)``; see the module docstring for the columns.
    Arguments as in :func:`material`; centring changes l1, l2 and i_sim, not the difference.

    Returns
    -------
    DataFrame, one row per model: ``model, reference, first, second, l1, l2, l, i_sim,
    c_sim`` (l1, l2 the material norms, l the difference norm).
    """
    models, reference = _models_with_reference(space, models, reference)
    one, two = space.resolve(first), space.resolve(second)
    vectors_one = {model: material_vector(z) for model, z in space.atom_vectors(one, models, centring).items()}
    vectors_two = {model: material_vector(z) for model, z in space.atom_vectors(two, models, centring).items()}
    differences = {model: vectors_one[model] - vectors_two[model] for model in models}
    return pd.DataFrame(
        [
            {"model": model, "reference": reference, "first": one.id, "second": two.id,
             "l1": float(np.linalg.norm(vectors_one[model])), "l2": float(np.linalg.norm(vectors_two[model])),
             "l": float(np.linalg.norm(differences[model])),
             "i_sim": cosine_similarity(vectors_one[model], vectors_two[model]),
             "c_sim": cosine_similarity(differences[model], differences[reference])}
            for model in models
        ]
    )


def reaction(
    space: UnifiedSpace,
    equation: "str | Reaction",
    structures: Mapping[str, "Atoms | str | Material"],
    models: Sequence[str] | None = None,
    reference: str | None = None,
    basis: str = "formula_unit",
    centring: str = "none",
) -> pd.DataFrame:
    """Reaction vector of each model, and the zero-shot stitched one (reactants from ``reference``).

    Parameters
    ----------
    space : the unified space.
    equation : e.g. ``"BaO + TiO2 -> BaTiO3"`` (parsed and balance-checked by
        :func:`~platonic.analyse.reaction.parse_reaction`) or a parsed :class:`Reaction`.
    structures : formula -> structure (``Atoms``, id or :class:`Material`) for every species;
        each structure's composition must be a multiple of its species' formula.
    models, reference : as in :func:`material`.
    basis : ``"formula_unit"`` or ``"material"`` (see the module docstring).
    centring : ``"none"`` or ``"dataset"`` (see the module docstring).

    Returns
    -------
    DataFrame, two rows per model (``kind`` = ``"standard"`` and ``"stitched"``):
    ``model, reference, reaction, basis, kind, l, c_sim, c_sim_own, structures``; ``c_sim`` is
    against the reference's standard vector, ``c_sim_own`` (stitched rows only, NaN on
    standard rows) against the model's own standard vector.
    """
    _check_choice(basis, BASES, "basis")
    models, reference = _models_with_reference(space, models, reference)
    parsed = parse_reaction(equation) if isinstance(equation, str) else equation
    assigned = {formula: space.resolve(item) for formula, item in assign_structures(parsed, structures).items()}
    compositions = {species.formula: species.composition for species in parsed.species}
    per_model: dict[str, dict[str, np.ndarray]] = {model: {} for model in models}
    for formula, item in assigned.items():
        n_formula_units = formula_units(item.atoms, compositions[formula], label=item.id)
        for model, z in space.atom_vectors(item, models, centring).items():
            per_model[model][formula] = (
                formula_unit_vector(z, n_formula_units) if basis == "formula_unit" else material_vector(z)
            )
    standard = {model: reaction_vector(parsed, vectors, vectors) for model, vectors in per_model.items()}
    stitched = {model: reaction_vector(parsed, per_model[reference], per_model[model]) for model in models}
    used = ", ".join(f"{formula}={item.id}" for formula, item in assigned.items())
    rows = []
    for model in models:
        common = {"model": model, "reference": reference, "reaction": str(parsed), "basis": basis}
        rows.append({**common, "kind": "standard", "l": float(np.linalg.norm(standard[model])),
                     "c_sim": cosine_similarity(standard[model], standard[reference]), "c_sim_own": float("nan"),
                     "structures": used})
        rows.append({**common, "kind": "stitched", "l": float(np.linalg.norm(stitched[model])),
                     "c_sim": cosine_similarity(stitched[model], standard[reference]),
                     "c_sim_own": cosine_similarity(stitched[model], standard[model]), "structures": used})
    return pd.DataFrame(rows)
