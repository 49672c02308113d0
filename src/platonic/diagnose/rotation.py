r"""Rotation sensitivity: how far each atom's embedding moves when the structure is rotated.

A rotation :math:`R \in SO(3)` is applied to the cell vectors and the Cartesian positions
(rows: :math:`x \mapsto R x`), so fractional coordinates, and with them the crystal, are
unchanged. For atom :math:`i` the relative change of its embedding is

.. math::

    \delta_i(R) = \frac{\lVert e_i(Rx) - e_i(x) \rVert_2}{\lVert e_i(x) \rVert_2} .

An invariant model has :math:`\delta = 0` in exact arithmetic; in float32 it stays near float
precision (measured: :math:`10^{-7}` to :math:`10^{-5}`), while a model that reads Cartesian
directions moves by order one. ``scaled_max_abs_change`` is the measure of the adapter tests,
:math:`\max_k |e_{ik}(Rx) - e_{ik}(x)| / \max_{j,k} |e_{jk}(x)|` (largest entry change over the
largest entry of the structure's reference embedding).

Rotations are :meth:`scipy.spatial.transform.Rotation.random` (uniform on SO(3)) from a seed.
With ``improper=True`` each is composed with the inversion, :math:`x \mapsto -Rx` (determinant
−1), which tests invariance under O(3): a model whose scalar features depend on chirality passes
the proper rotations and fails these. Symmetry-equivalent atoms are often related by mirrors or
the inversion, so this is what :mod:`platonic.diagnose.equivariance` needs of a model.
Each rotated copy is embedded alone, as the reference is, so batching effects do not enter.
Given a fitted :class:`~platonic.project.PlatonicTransform` of the model, the same is measured
in the unified space, :math:`z_i = \cos(e_i, a_k)_k`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from ase import Atoms
from matplotlib.figure import Figure
from scipy.spatial.transform import Rotation
from platonic.errors import PlatonicError
from platonic.validation import check_seed, seed_alias

#: BaCeO3, Pnma, 20 atoms: a tilted perovskite with atoms on inversion centres (Ce), on mirror planes
#: (Ba, O1) and in general positions (O2).
DEFAULT_STRUCTURE = "mp-3187"
DEFAULT_N_ROTATIONS = 10
#: Largest relative change still called invariant: above every float32 deviation measured on the
#: offline models (at most ~4e-5), far below what a non-invariant feature shows (order 1).
DEFAULT_TOLERANCE = 1e-4

CHANGE_COLUMNS = ["model", "space", "rotation", "atom_index", "element", "relative_change", "max_abs_change",
                  "reference_norm", "reference_max_abs"]


class RotationInputError(PlatonicError, ValueError):
    """Bad input to the rotation-sensitivity diagnostic."""


def _check_count(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise RotationInputError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


@seed_alias
def random_rotations(n_rotations: int, random_state: int, improper: bool = False) -> np.ndarray:
    """``n_rotations`` matrices uniform on SO(3), shape ``(n_rotations, 3, 3)``.

    ``improper=True`` returns the same rotations times −1 (rotation followed by inversion,
    determinant −1), uniform on the improper half of O(3).
    """
    n_rotations = _check_count(n_rotations, "n_rotations")
    if isinstance(random_state, bool) or not isinstance(random_state, (int, np.integer)):
        raise RotationInputError(f"random_state must be an integer seed (rotations must be reproducible), got {random_state!r}")
    if not isinstance(improper, (bool, np.bool_)):
        raise RotationInputError(f"improper must be True or False, got {improper!r}")
    matrices = Rotation.random(n_rotations, random_state=int(random_state)).as_matrix().reshape(n_rotations, 3, 3)
    return -matrices if improper else matrices


def _check_rotation(rotation: object) -> np.ndarray:
    matrix = np.asarray(rotation, dtype=float)
    if matrix.shape != (3, 3):
        raise RotationInputError(f"a rotation is a 3x3 matrix, got shape {matrix.shape}")
    if not np.allclose(matrix @ matrix.T, np.eye(3), atol=1e-10):
        raise RotationInputError(f"not an orthogonal matrix: {matrix.tolist()}")
    return matrix


def rotate(atoms: Atoms, rotation: np.ndarray) -> Atoms:
    """A copy of ``atoms`` with cell and positions mapped by the orthogonal ``rotation``.

    Fractional coordinates are kept; an improper ``rotation`` (determinant −1) leaves a
    left-handed cell, which neighbour lists handle like any other.
    """
    matrix = _check_rotation(rotation)
    out = atoms.copy()
    out.set_cell(atoms.cell.array @ matrix.T, scale_atoms=False)
    out.positions = atoms.positions @ matrix.T
    return out


def relative_change(reference: np.ndarray, perturbed: np.ndarray) -> np.ndarray:
    """Per row, ``||perturbed - reference|| / ||reference||`` (float64).

    Raises :class:`RotationInputError` for a zero reference row, whose relative change is undefined.
    """
    ref, new = np.asarray(reference, dtype=np.float64), np.asarray(perturbed, dtype=np.float64)
    if ref.ndim != 2 or ref.shape != new.shape:
        raise RotationInputError(f"reference and perturbed must be 2-D of one shape, got {ref.shape} and {new.shape}")
    norms = np.linalg.norm(ref, axis=1)
    if (norms == 0).any():
        raise RotationInputError(f"reference rows {np.flatnonzero(norms == 0).tolist()} are zero: no relative change")
    return np.linalg.norm(new - ref, axis=1) / norms


def rotation_sensitivity(model, atoms: Atoms, rotations: np.ndarray, transform=None) -> pd.DataFrame:
    """Relative embedding change of every atom under every rotation, for one model.

    Parameters
    ----------
    model : EmbeddingModel
        Anything with ``embed(list_of_atoms)`` and ``card.name``.
    atoms : ase.Atoms
        The structure.
    rotations : (R, 3, 3) array
        Orthogonal matrices (e.g. :func:`random_rotations`).
    transform : PlatonicTransform, optional
        Fitted on this model's anchor embeddings; adds rows with ``space="unified"``.

    Returns
    -------
    DataFrame
        One row per (space, rotation, atom): ``model, space, rotation, atom_index, element,
        relative_change, max_abs_change`` (largest entry change of the atom),
        ``reference_norm`` and ``reference_max_abs`` (largest |entry| of the whole reference
        structure, the scale of ``scaled_max_abs_change`` in :func:`summarise_rotation`).
    """
    if not isinstance(atoms, Atoms) or len(atoms) == 0:
        raise RotationInputError(f"atoms must be a non-empty ase.Atoms, got {atoms!r}")
    matrices = np.asarray(rotations, dtype=float)
    if matrices.ndim != 3 or matrices.shape[0] == 0:
        raise RotationInputError(f"rotations must have shape (R, 3, 3) with R >= 1, got {matrices.shape}")
    reference = {"raw": model.embed([atoms])[0]}
    if transform is not None:
        reference["unified"] = transform.transform(reference["raw"])
    elements = atoms.get_chemical_symbols()
    blocks = []
    for index, matrix in enumerate(matrices):
        rotated = {"raw": model.embed([rotate(atoms, matrix)])[0]}
        if transform is not None:
            rotated["unified"] = transform.transform(rotated["raw"])
        for space, ref in reference.items():
            change = np.asarray(rotated[space], dtype=np.float64) - ref
            blocks.append(pd.DataFrame({
                "model": model.card.name,
                "space": space,
                "rotation": index,
                "atom_index": np.arange(len(atoms)),
                "element": elements,
                "relative_change": relative_change(ref, rotated[space]),
                "max_abs_change": np.abs(change).max(axis=1),
                "reference_norm": np.linalg.norm(np.asarray(ref, dtype=np.float64), axis=1),
                "reference_max_abs": float(np.abs(ref).max()),
            }))
    return pd.concat(blocks, ignore_index=True)[CHANGE_COLUMNS]


def _check_changes(changes: pd.DataFrame) -> pd.DataFrame:
    missing = [column for column in CHANGE_COLUMNS if column not in getattr(changes, "columns", [])]
    if missing:
        raise RotationInputError(f"changes lacks the columns {missing}: pass a rotation_sensitivity table")
    if changes.empty:
        raise RotationInputError("changes is empty")
    return changes


def summarise_rotation(
    changes: pd.DataFrame, tolerance: float = DEFAULT_TOLERANCE
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-atom and per-model summaries of :func:`rotation_sensitivity` tables.

    Returns
    -------
    per_atom : DataFrame
        ``model, space, atom_index, element, n_rotations, max_relative_change, median_relative_change``.
    per_model : DataFrame
        ``model, space, n_rotations, n_atoms, max_relative_change, median_relative_change,
        scaled_max_abs_change, tolerance, invariant``; ``invariant`` is
        ``max_relative_change <= tolerance``.
    """
    changes = _check_changes(changes)
    if not (np.isfinite(tolerance) and tolerance > 0):
        raise RotationInputError(f"tolerance must be a positive number, got {tolerance!r}")
    per_atom = (
        changes.groupby(["model", "space", "atom_index", "element"], sort=False)["relative_change"]
        .agg(n_rotations="size", max_relative_change="max", median_relative_change="median")
        .reset_index()
    )
    scaled = changes.assign(scaled=changes["max_abs_change"] / changes["reference_max_abs"])
    per_model = (
        scaled.groupby(["model", "space"], sort=False)
        .agg(
            n_rotations=("rotation", "nunique"),
            n_atoms=("atom_index", "nunique"),
            max_relative_change=("relative_change", "max"),
            median_relative_change=("relative_change", "median"),
            scaled_max_abs_change=("scaled", "max"),
        )
        .reset_index()
    )
    per_model["tolerance"] = tolerance
    per_model["invariant"] = per_model["max_relative_change"] <= tolerance
    return per_atom, per_model


def plot_rotation(changes: pd.DataFrame, tolerance: float = DEFAULT_TOLERANCE) -> Figure:
    """Relative change of every (atom, rotation) per model, log scale, coloured by element.

    One panel per space; the dashed line is ``tolerance``. Exact zeros (bitwise-equal
    embeddings) cannot sit on a log axis: they are drawn at the panel's floor, ``1e-12``,
    and counted in the title.
    """
    changes = _check_changes(changes)
    floor = 1e-12
    spaces = list(dict.fromkeys(changes["space"]))
    models = list(dict.fromkeys(changes["model"]))
    elements = list(dict.fromkeys(changes["element"]))
    colours = {element: f"C{index % 10}" for index, element in enumerate(elements)}
    figure = Figure(figsize=(1.0 + 0.9 * len(models), 3.6 * len(spaces)), layout="constrained")
    axes = figure.subplots(len(spaces), 1, squeeze=False)[:, 0]
    jitter = np.random.default_rng(0)  # fixed: the figure is reproducible
    for ax, space in zip(axes, spaces):
        in_space = changes[changes["space"] == space]
        for position, model in enumerate(models):
            for element in elements:
                chosen = (in_space["model"] == model) & (in_space["element"] == element)
                values = in_space.loc[chosen, "relative_change"]
                x = position + jitter.uniform(-0.3, 0.3, size=len(values))
                ax.scatter(x, np.maximum(values, floor), s=6, color=colours[element],
                           label=element if position == 0 else None, alpha=0.7)
        ax.axhline(tolerance, color="k", linestyle="--", linewidth=0.8, label=f"tolerance {tolerance:g}")
        ax.set_yscale("log")
        ax.set_xticks(range(len(models)), models, rotation=30, ha="right", fontsize=8)
        v = "z" if space == "unified" else "e"
        ax.set_ylabel(f"||{v}(Rx) − {v}(x)|| / ||{v}(x)||")
        zeros = int((in_space["relative_change"] == 0).sum())
        ax.set_title(f"{space} space" + (f" ({zeros} exact zeros drawn at {floor:g})" if zeros else ""), fontsize=9)
        ax.legend(fontsize=7, loc="upper left", ncols=min(len(elements) + 1, 6))
    figure.suptitle("Rotation sensitivity of per-atom embeddings", fontsize=10)
    return figure


def _structure(structure: str | Atoms) -> Atoms:
    if isinstance(structure, Atoms):
        return structure
    if isinstance(structure, str):
        from platonic.datasets import case_study

        return case_study(structure)
    raise RotationInputError(f"structure must be a case-study id or an ase.Atoms, got {type(structure).__name__}")


def _anchor_rows(anchors) -> np.ndarray:
    rows = anchors["row"] if isinstance(anchors, pd.DataFrame) else anchors
    rows = np.asarray(rows)
    if rows.ndim != 1 or rows.size == 0 or not np.issubdtype(rows.dtype, np.integer):
        raise RotationInputError(
            f"anchors must be an anchor table with a 'row' column or 1-D integer rows, got {rows!r}"
        )
    return rows.astype(np.int64)


def _transform_from_store(store, model, rows: np.ndarray):
    """The model's transform of the :class:`~platonic.analyse.unified_space.UnifiedSpace` of the store
    (which refuses a loaded model whose fingerprint is not the store's)."""
    from platonic.analyse.unified_space import EmbeddingArithmeticError, UnifiedSpace

    name = model.card.name
    space = UnifiedSpace.from_store(store, rows, [name], centroids=False)
    try:
        space.use_model(model)
    except EmbeddingArithmeticError as error:
        raise RotationInputError(str(error)) from error
    return space.transforms[name]


@seed_alias
def rotation_tables(
    models: Sequence[str | object],
    *,
    structure: str | Atoms = DEFAULT_STRUCTURE,
    n_rotations: int = DEFAULT_N_ROTATIONS,
    random_state: int = 0,
    improper: bool = False,
    tolerance: float = DEFAULT_TOLERANCE,
    store=None,
    anchors: pd.DataFrame | np.ndarray | None = None,
    device: str = "cpu",
    skipped: dict[str, str] | None = None,
    loaded=None,
) -> "RotationTables":
    """Measure rotation sensitivity of each model on one structure, as tables (:class:`RotationTables`).

    Parameters
    ----------
    models : sequence of model names or EmbeddingModel objects
        Names are loaded with :func:`platonic.models.load_model` on ``device``, one at a time
        (each freed before the next), or taken from ``loaded``.
    structure : case-study id or ase.Atoms
        Default BaCeO3 Pnma (``"mp-3187"``).
    n_rotations, random_state : int
        Number of random rotations and their seed (an int: it is written in the table).
    improper : bool
        Compose every rotation with the inversion (test O(3) instead of SO(3) invariance).
    tolerance : float
        Threshold on the largest relative change for the ``invariant`` flag.
    store, anchors : EmbeddingStore and anchor table (or rows), optional
        Both given: each model's anchors are its own stored embeddings of the anchor rows, and
        the unified space is measured too. The loaded model must be the checkpoint that filled
        the store (same fingerprint).
    loaded : :class:`platonic.models.cache.LoadedModels`, optional
        The models a study's stages share (each loaded once per study; they stay loaded).
    skipped : dict, optional
        Rotating a structure means running the model, so a name that cannot be loaded (embeddings
        imported with ``platonic import``, see :func:`platonic.models.runnable_models`) is left
        out with its reason, recorded here as ``"rotation (<model>)"`` (else warned about);
        :class:`~platonic.errors.NotApplicableError` when no model can run.

    Returns
    -------
    :class:`RotationTables`: ``changes`` (:func:`rotation_sensitivity`), ``atoms`` and ``models``
    (:func:`summarise_rotation`), and the ``tolerance``.
    """
    random_state = check_seed(random_state, "random_state", RotationInputError)  # written in the results
    if (store is None) != (anchors is None):
        raise RotationInputError("give both store and anchors for the unified space, or neither")
    models = list(models)
    if not models:
        raise RotationInputError("no models given")
    names = [m for m in models if isinstance(m, str)]
    if names:
        from platonic.models import runnable_models

        runnable = set(runnable_models(names, "rotation", store, skipped=skipped))
        models = [m for m in models if not isinstance(m, str) or m in runnable]
    atoms = _structure(structure)
    rotations = random_rotations(n_rotations, random_state, improper)
    rows = None if anchors is None else _anchor_rows(anchors)
    tables = []
    for entry in models:
        if isinstance(entry, str) and loaded is not None:
            model = loaded.get(entry)
        elif isinstance(entry, str):
            from platonic.models import load_model

            model = load_model(entry, device=device)
        else:
            model = entry
        transform = None if rows is None else _transform_from_store(store, model, rows)
        tables.append(rotation_sensitivity(model, atoms, rotations, transform))
        del model  # free the weights before the next model is loaded
    changes = pd.concat(tables, ignore_index=True)
    per_atom, per_model = summarise_rotation(changes, tolerance)
    per_model.insert(2, "structure", atoms.info.get("id", atoms.get_chemical_formula()))
    per_model.insert(3, "seed", random_state)
    per_model.insert(4, "improper", improper)
    return RotationTables(changes, per_atom, per_model, tolerance)


@dataclass(frozen=True)
class RotationTables:
    """:func:`rotation_tables`: ``changes`` (``rotation_changes.csv``), ``atoms``
    (``rotation_atoms.csv``), ``models`` (``rotation_models.csv``) and the ``tolerance`` of the
    ``invariant`` flag (:func:`plot_rotation` draws it)."""

    changes: pd.DataFrame
    atoms: pd.DataFrame
    models: pd.DataFrame
    tolerance: float
