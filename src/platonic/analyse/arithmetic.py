r"""Embedding arithmetic in the unified space: materials, polymorph differences, reactions.

This is the analogue of Table 1 of Li & Walsh ("Platonic representation of foundation
machine learning interatomic potentials"). Every quantity lives in the unified space of
:class:`~platonic.project.transform.PlatonicTransform`: an atom's embedding ``e`` by model
``m`` becomes ``z = cos(e, a_k^m)_{k=1..K}`` with ``a_k^m`` model ``m``'s embedding of
anchor atom ``k``. A structure that is not in the store is embedded by the model and mapped
by the same fitted transform (:class:`UnifiedSpace`).

Definitions (the paper's, with the choices it leaves open made explicit):

* **Material embedding** (paper Eq. 3): the centroid of the structure's atoms,
  :math:`\mathbf z_\mathrm{Mater} = \frac1N \sum_{i=1}^N \mathbf z_i`; its norm
  :math:`l = \|\mathbf z_\mathrm{Mater}\|_2`; its cross-model similarity
  ``c-sim`` :math:`= \cos(\mathbf z^{m}_\mathrm{Mater}, \mathbf z^{\mathrm{ref}}_\mathrm{Mater})`
  to a chosen reference model (MACE-large in the paper).
* **Polymorph difference**: :math:`\mathbf z_\mathrm{Morph} = \mathbf z_\mathrm{Mater}(P_1) -
  \mathbf z_\mathrm{Mater}(P_2)`; :math:`l_1, l_2` are the norms of the two *material*
  embeddings (Table 1's values, 1.5–6, are material norms, not difference norms);
  ``i-sim`` :math:`= \cos(\mathbf z_\mathrm{Mater}(P_1), \mathbf z_\mathrm{Mater}(P_2))` within
  one model; ``c-sim`` :math:`= \cos(\mathbf z^m_\mathrm{Morph}, \mathbf z^\mathrm{ref}_\mathrm{Morph})`.
  We also report :math:`l = \|\mathbf z_\mathrm{Morph}\|`, which the paper does not.
* **Reaction**: :math:`\mathbf z_\mathrm{React} = \sum_p \nu_p \mathbf v_p - \sum_r \nu_r \mathbf v_r`
  with the stoichiometric coefficients :math:`\nu` of a balanced reaction
  (:func:`~platonic.analyse.reaction.parse_reaction`) and :math:`\mathbf v_s` the vector of
  one formula unit of species :math:`s`. The paper writes
  :math:`\sum \mathbf z_\mathrm{products} - \sum \mathbf z_\mathrm{reactants}` "per formula unit"
  without saying how a material vector becomes a formula-unit vector, so this is the
  ``basis`` parameter:

  - ``"formula_unit"`` (default): :math:`\mathbf v_s = \frac{1}{n_\mathrm{fu}} \sum_{i \in
    \mathrm{cell}} \mathbf z_i = \bar{\mathbf z}_s \cdot N_s/n_\mathrm{fu}`, the sum over the
    atoms of one formula unit (``n_fu`` formula units in the cell,
    :func:`~platonic.analyse.reaction.formula_units`; :math:`N_s/n_\mathrm{fu}` atoms per formula
    unit). A balanced reaction conserves atoms, so a purely compositional embedding (each
    element one fixed vector) gives :math:`\mathbf z_\mathrm{React} = 0`: what remains is the
    change of chemical environment.
  - ``"material"`` (the paper's definition, from mean material vectors):
    :math:`\mathbf v_s = \mathbf z_\mathrm{Mater}(s)`, the mean over atoms.
    For BaO + TiO2 → BaTiO3 (all ν = 1) this is :math:`\bar{\mathbf z}_\mathrm{BaTiO_3} -
    \bar{\mathbf z}_\mathrm{BaO} - \bar{\mathbf z}_\mathrm{TiO_2}`, whose norm is about that of
    one material vector, as in the paper's Table 1 (:math:`l_\mathrm{React} \approx
    l_\mathrm{Mater}` for every model there), so this basis is the likelier reading of the
    paper's numbers.

  ``c-sim`` :math:`= \cos(\mathbf z^m_\mathrm{React}, \mathbf z^\mathrm{ref}_\mathrm{React})`.
* **Zero-shot stitched reaction**: reactant vectors from the reference model, product
  vectors from model ``m``: :math:`\mathbf z^{m}_\mathrm{React\text{-}stitch} = \sum_p \nu_p
  \mathbf v^m_p - \sum_r \nu_r \mathbf v^\mathrm{ref}_r`. ``c-sim`` compares it with the
  reference's un-stitched :math:`\mathbf z^\mathrm{ref}_\mathrm{React}` (so the reference row
  is 1, as in the paper); ``c-sim-own`` compares it with model ``m``'s own un-stitched
  :math:`\mathbf z^m_\mathrm{React}` (not in the paper).

**Centring** (``centring="dataset"``, not in the paper). Unified coordinates share a large
common component: every atom has positive cosines of similar size to most anchors, so all
material vectors of one model point almost the same way (CHGNet 0.3.0, K = 100 DIRECT anchors
on 500 MP-20 structures: the material vectors of BaO, rutile, Cu and BaCeO3 all have cosine
>= 0.999 with that of Na3MnCoNiO6), and a c-sim or i-sim near 1 then says little about the
material. With ``centring="dataset"`` every atom's ``z`` has the mean unified vector
:math:`\boldsymbol\mu_m` of all atoms of the store (per model) subtracted first: :math:`\mathbf z_i \to \mathbf z_i - \boldsymbol\mu_m`. The
material vector becomes :math:`\mathbf z_\mathrm{Mater} - \boldsymbol\mu_m`. Differences of
two material vectors, and reactions in the ``"formula_unit"`` basis (a balanced reaction
conserves atoms, so the :math:`\boldsymbol\mu_m` terms cancel), do not change; stitched
reactions do, since the two sides then carry different models' :math:`\boldsymbol\mu`:
centring removes the mismatch of the two models' common components.

**Reading the stitched numbers.** In the ``"material"`` basis two of the three vectors of
the stitched BaO + TiO2 → BaTiO3 come from the reference, so its c-sim to the reference's
reaction is near 1 for any product vector of similar size: the random-weight control scores
1.00 too (K = 100, 500 MP-20 structures). Without centring, in the ``"formula_unit"``
basis, the stitched vector is dominated by the difference of the two models' common
components (its norm is tens of times the un-stitched one). Compare every stitched value
with the control's, and with the same stitching with a random product
(:func:`platonic.analyse.arithmetic_null.reaction_stitch_null`); every c-sim has its
matched-vs-mismatched null in :mod:`platonic.analyse.arithmetic_null`.

A cosine involving a zero vector (e.g. the difference of a material with itself) is
undefined and reported as NaN.
"""

from __future__ import annotations

from dataclasses import dataclass
from platonic.errors import PlatonicError
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from ase import Atoms

from platonic.analyse.reaction import (
    Reaction,
    assign_structures,
    empirical_formula,
    formula_units,
    parse_reaction,
)
from platonic.datasets import Dataset, case_studies
from platonic.models import EmbeddingModel, load_model
from platonic.project.transform import PlatonicTransform, ProjectionError

BASES = ("formula_unit", "material")
#: How a table column names the reaction definition: ours (per formula unit) or the paper's.
BASIS_LABELS = {"formula_unit": " (per formula unit)", "material": " (mean material vectors)"}
CENTRINGS = ("none", "dataset")
#: The paper's Table 1 cases, by Materials Project id (shipped as case-study CIFs).
TABLE1_MATERIAL = "mp-1221227"  # Na3MnCoNiO6, Cm
TABLE1_POLYMORPHS = ("mp-1439", "mp-2657")  # TiO2 Pbcn (alpha-PbO2 type), TiO2 P4_2/mnm (rutile)
TABLE1_REACTION = "BaO + TiO2 -> BaTiO3"
TABLE1_REACTION_STRUCTURES = {"BaO": "mp-1342", "TiO2": "mp-2657", "BaTiO3": "mp-2998"}
TABLE_COLUMNS = ["case", "quantity", "centring", "model", "reference", "value", "structures", "basis", "n_anchors"]
_MP20_SPLITS = ("train_partial", "val", "test")


class EmbeddingArithmeticError(PlatonicError, ValueError):
    """Bad input to the embedding arithmetic: unknown model, structure or basis, bad vectors."""


# ---------------------------------------------------------------- structures


@dataclass(frozen=True)
class Material:
    """A structure with the id and provenance reported next to its numbers.

    Attributes
    ----------
    atoms : ase.Atoms
    id : str
        E.g. a Materials Project id.
    source : str
        Where the structure comes from, e.g. ``"MP-20 test (case-study CIF)"``, or a note that
        it is not in MP-20.
    """

    atoms: Atoms
    id: str
    source: str

    @property
    def formula(self) -> str:
        return empirical_formula(self.atoms)


def _case_study_materials() -> dict[str, Material]:
    dataset = case_studies()
    materials = {}
    for index, material_id in enumerate(dataset.ids):
        record = dataset.properties.iloc[index]
        split = str(record["mp20_split"])
        if split in _MP20_SPLITS:
            source = f"MP-20 {split} (case-study CIF)"
        else:
            source = f"{split}; CIF from {record['upstream_source']}"
        materials[material_id] = Material(dataset.structures[index], material_id, source)
    return materials


# ---------------------------------------------------------------- the unified space


class UnifiedSpace:
    """One fitted Platonic transform per model, and the models to embed new structures.

    A structure gets into model ``m``'s unified coordinates by embedding it with ``m``
    (:meth:`platonic.models.EmbeddingModel.embed`) and applying ``m``'s transform, fitted on
    ``m``'s raw embeddings of the anchor atoms. Models are loaded on first use, once.

    Parameters
    ----------
    transforms : mapping model name -> fitted :class:`PlatonicTransform`
        All with the same number of anchors K (the same anchor atoms).
    fingerprints : mapping model name -> str, optional
        The model fingerprint the anchors were embedded with (the store's
        ``card(model)["model_fingerprint"]``). A loaded model with another fingerprint (other
        weights or package versions) is refused, since its embeddings would not match the
        anchors' coordinates.
    centroids : mapping model name -> array of shape (K,), optional
        Each model's mean unified vector over a dataset, for ``centring="dataset"``
        (:meth:`from_store` computes it over all atoms of the store).
    catalogue : Dataset, optional
        Where string ids are looked up first (:meth:`resolve`); the shipped case studies
        (:func:`platonic.datasets.case_studies`) are searched after it.
    device : str
        Device the models are loaded on.
    """

    def __init__(
        self,
        transforms: Mapping[str, PlatonicTransform],
        fingerprints: Mapping[str, str] | None = None,
        centroids: Mapping[str, np.ndarray] | None = None,
        catalogue: Dataset | None = None,
        device: str = "cpu",
    ):
        if not transforms:
            raise EmbeddingArithmeticError("transforms is empty: give at least one model")
        widths = {name: getattr(transform, "n_anchors_", None) for name, transform in transforms.items()}
        unfitted = [name for name, width in widths.items() if width is None]
        if unfitted:
            raise EmbeddingArithmeticError(f"the transforms of {unfitted} are not fitted")
        if len(set(widths.values())) != 1:
            raise EmbeddingArithmeticError(f"every transform must have the same anchors, got K = {widths}")
        self.transforms = dict(transforms)
        self.fingerprints = dict(fingerprints or {})
        self.centroids = {name: np.asarray(vector, dtype=np.float64) for name, vector in (centroids or {}).items()}
        wrong = {name: vector.shape for name, vector in self.centroids.items() if vector.shape != (self.n_anchors,)}
        if wrong:
            raise EmbeddingArithmeticError(f"centroids must have shape ({self.n_anchors},), got {wrong}")
        self.catalogue = catalogue
        self.device = device
        self._models: dict[str, EmbeddingModel] = {}
        self._embeddings: dict[tuple[str, bytes], np.ndarray] = {}
        self._case_studies: dict[str, Material] | None = None

    @classmethod
    def from_store(
        cls,
        store,
        anchors: pd.DataFrame | np.ndarray,
        models: Sequence[str] | None = None,
        catalogue: Dataset | None = None,
        device: str = "cpu",
        centroids: bool = True,
    ) -> "UnifiedSpace":
        """Fit each model's transform on its stored embeddings of the anchor rows.

        Each model's centroid (for ``centring="dataset"``) is the mean unified vector of all
        atoms the model embedded in the store (rows of rejected structures are NaN and left
        out).

        Parameters
        ----------
        store : platonic.store.EmbeddingStore
        anchors : DataFrame with a ``row`` column (the anchor table of
            :func:`platonic.anchors.from_store.choose_anchors`) or a 1-D array of atom rows.
        models : default every model of the store.
        catalogue, device : see the class.
        centroids : compute each model's centroid (a pass over its whole matrix); False leaves
            ``centring="dataset"`` unavailable.

        Memory: one model's full embedding matrix at a time.
        """
        rows = np.asarray(anchors["row"] if isinstance(anchors, pd.DataFrame) else anchors)
        if rows.ndim != 1 or rows.size == 0 or not np.issubdtype(rows.dtype, np.integer):
            raise EmbeddingArithmeticError(f"anchors must give a non-empty 1-D array of integer rows, got {rows!r}")
        models = list(models) if models is not None else store.models()
        if not models:
            raise EmbeddingArithmeticError(f"{store.root}: the store has no models")
        transforms, fingerprints, centres = {}, {}, {}
        for model in models:
            raw = store.load(model)
            try:
                transforms[model] = PlatonicTransform(anchor_rows="all").fit(raw[rows])
            except ProjectionError as error:
                raise EmbeddingArithmeticError(f"{model}: cannot fit the transform on the anchor rows: {error}") from error
            if centroids:
                embedded = raw[np.isfinite(raw).all(axis=1)]
                centres[model] = transforms[model].transform(embedded).mean(axis=0, dtype=np.float64)
            fingerprints[model] = store.card(model)["model_fingerprint"]
        return cls(transforms, fingerprints=fingerprints, centroids=centres, catalogue=catalogue, device=device)

    @property
    def models(self) -> list[str]:
        return list(self.transforms)

    @property
    def n_anchors(self) -> int:
        return next(iter(self.transforms.values())).n_anchors_

    def model(self, name: str) -> EmbeddingModel:
        """The loaded model ``name`` (loaded on the first call, then reused)."""
        self._check_model(name)
        if name not in self._models:
            loaded = load_model(name, device=self.device)
            self._check_fingerprint(name, loaded.card.fingerprint)
            self._models[name] = loaded
        return self._models[name]

    def use_model(self, model: EmbeddingModel) -> EmbeddingModel:
        """Adopt an already loaded model (``model.card.name`` must be in the space), after the
        same fingerprint check as :meth:`model`; returns it."""
        name = model.card.name
        self._check_model(name)
        self._check_fingerprint(name, model.card.fingerprint)
        self._models[name] = model
        return model

    def _check_fingerprint(self, name: str, fingerprint: str) -> None:
        expected = self.fingerprints.get(name)
        if expected is not None and fingerprint != expected:
            raise EmbeddingArithmeticError(
                f"{name}: the loaded model has fingerprint {fingerprint}, the anchors were "
                f"embedded with {expected} (other weights or package versions); re-extract the store"
            )

    def _check_model(self, name: str) -> None:
        if name not in self.transforms:
            raise EmbeddingArithmeticError(f"model {name!r} is not in the unified space; it has {self.models}")

    def embed(self, structures: Sequence[Atoms], model: str) -> list[np.ndarray]:
        """Unified-space coordinates of every atom: one ``(n_atoms_i, K)`` float32 array per structure.

        Results are kept per model and structure content (atomic numbers, positions, cell,
        periodicity), so a structure used by several cases is embedded once; the arrays are
        returned read-only.
        """
        self._check_model(model)
        structures = list(structures)
        keys = [(model, _structure_key(atoms)) for atoms in structures]
        missing = {key: atoms for key, atoms in zip(keys, structures) if key not in self._embeddings}
        if missing:
            raw = self.model(model).embed(list(missing.values()))
            for key, array in zip(missing, raw):
                unified = self.transforms[model].transform(array)
                unified.flags.writeable = False
                self._embeddings[key] = unified
        return [self._embeddings[key] for key in keys]

    def resolve(self, item: "Atoms | str | Material") -> Material:
        """A :class:`Material` for an ``Atoms``, an id, or a :class:`Material` (returned as is).

        Ids are looked up in :attr:`catalogue` first, then among the shipped case studies.
        ``Atoms`` keep ``atoms.info["id"]`` as id when present.
        """
        if isinstance(item, Material):
            return item
        if isinstance(item, Atoms):
            return Material(item, str(item.info.get("id", empirical_formula(item))), "given as ase.Atoms")
        if not isinstance(item, str):
            raise EmbeddingArithmeticError(f"a structure must be ase.Atoms, an id or a Material, got {type(item).__name__}")
        if self.catalogue is not None and item in self.catalogue.ids:
            index = self.catalogue.ids.index(item)
            source = f"{self.catalogue.name} {self.catalogue.splits[index]}"
            return Material(self.catalogue.structures[index], item, source)
        if self._case_studies is None:
            self._case_studies = _case_study_materials()
        if item in self._case_studies:
            return self._case_studies[item]
        where = "the catalogue or " if self.catalogue is not None else ""
        raise EmbeddingArithmeticError(
            f"no structure {item!r} in {where}the case studies ({sorted(self._case_studies)}); "
            "pass ase.Atoms or build the space with a catalogue Dataset holding it"
        )

    def atom_vectors(
        self, item: "Atoms | str | Material", models: Sequence[str], centring: str = "none"
    ) -> dict[str, np.ndarray]:
        """Unified coordinates ``(n_atoms, K)`` of one structure's atoms for each model.

        ``centring="dataset"`` subtracts each model's centroid (see the module docstring).
        """
        _check_choice(centring, CENTRINGS, "centring")
        if centring == "dataset":
            lacking = [model for model in models if model not in self.centroids]
            if lacking:
                raise EmbeddingArithmeticError(f"no centroid for {lacking}: build the space with from_store or centroids=")
        atoms = self.resolve(item).atoms
        vectors = {model: self.embed([atoms], model)[0] for model in models}
        if centring == "dataset":
            return {model: z - self.centroids[model] for model, z in vectors.items()}
        return vectors


def _check_choice(value: str, choices: tuple[str, ...], name: str) -> None:
    if value not in choices:
        raise EmbeddingArithmeticError(f"{name} must be one of {choices}, got {value!r}")


def _structure_key(atoms: Atoms) -> bytes:
    """Everything a model's embedding depends on, as bytes (a dictionary key)."""
    parts = (atoms.numbers.astype("<i8"), atoms.positions.astype("<f8"), atoms.cell.array.astype("<f8"), atoms.pbc)
    return b"|".join(np.ascontiguousarray(part).tobytes() for part in parts)


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
    array = np.asarray(z, dtype=np.float64)
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
        raise EmbeddingArithmeticError(f"atom coordinates must be a non-empty (n_atoms, K) array, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise EmbeddingArithmeticError("atom coordinates contain NaN or inf")
    return array


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


# ---------------------------------------------------------------- Table 1 and its figure


def arithmetic_frame(
    space: UnifiedSpace,
    reference: str,
    models: Sequence[str] | None = None,
    material_structure: "Atoms | str | Material" = TABLE1_MATERIAL,
    polymorphs: tuple = TABLE1_POLYMORPHS,
    equation: str = TABLE1_REACTION,
    reaction_structures: Mapping[str, "Atoms | str | Material"] | None = None,
    basis: str | Sequence[str] = BASES,
    centrings: Sequence[str] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The Table 1 analogue as a long table, and the structures it used.

    Parameters
    ----------
    space, reference, models : as in :func:`material`.
    material_structure : the material case (default Na3MnCoNiO6, mp-1221227).
    polymorphs : ``(P1, P2)`` for ``z_Morph = z_Mater(P1) - z_Mater(P2)`` (default TiO2 Pbcn
        mp-1439, then rutile mp-2657).
    equation, reaction_structures : the reaction case (default BaO + TiO2 -> BaTiO3 with
        mp-1342, mp-2657, mp-2998).
    basis : reaction basis, or several (default both: ``"formula_unit"``, ours, and
        ``"material"``, the paper's mean material vectors; see the module docstring).
    centrings : which centrings to report (see the module docstring); default ``"none"``
        (the paper's numbers) and, when the space has centroids for every model, also
        ``"dataset"``.

    Returns
    -------
    table : DataFrame with columns ``case, quantity, centring, model, reference, value,
        structures, basis, n_anchors``, one row per model, quantity and centring. Cases and
        quantities: ``material`` (l, c_sim), ``polymorph`` (l1, l2, l, i_sim, c_sim),
        ``reaction`` (l, c_sim), ``reaction_stitched`` (l, c_sim, c_sim_own).
    structures : DataFrame ``role, id, formula, n_atoms, source``: what each case used and
        where it came from (e.g. that mp-1439 is not among the MP-20 rows).
    """
    reaction_structures = dict(TABLE1_REACTION_STRUCTURES if reaction_structures is None else reaction_structures)
    if len(polymorphs) != 2:
        raise EmbeddingArithmeticError(f"polymorphs must be a pair, got {polymorphs!r}")
    bases = [basis] if isinstance(basis, str) else list(dict.fromkeys(basis))
    for one in bases:
        _check_choice(one, BASES, "basis")
    models, reference = _models_with_reference(space, models, reference)
    if centrings is None:
        centrings = CENTRINGS if all(model in space.centroids for model in models) else ("none",)
    for centring in centrings:
        _check_choice(centring, CENTRINGS, "centring")
    used = {"material": space.resolve(material_structure), "polymorph P1": space.resolve(polymorphs[0]),
            "polymorph P2": space.resolve(polymorphs[1])}
    used.update({f"reaction {formula}": space.resolve(item) for formula, item in reaction_structures.items()})
    species = {formula: used[f"reaction {formula}"] for formula in reaction_structures}

    parts = []
    for centring in dict.fromkeys(centrings):
        one = material(space, used["material"], models, reference, centring)
        morph = difference(space, used["polymorph P1"], used["polymorph P2"], models, reference, centring)
        cases = [
            (one, "material", ["l", "c_sim"], f"{used['material'].formula}: {used['material'].id}", ""),
            (morph, "polymorph", ["l1", "l2", "l", "i_sim", "c_sim"],
             f"{used['polymorph P1'].id} - {used['polymorph P2'].id}", ""),
        ]
        for one_basis in bases:
            react = reaction(space, equation, species, models, reference, basis=one_basis, centring=centring)
            react_label = f"{react['reaction'].iloc[0]}: {react['structures'].iloc[0]}"
            cases += [
                (react[react["kind"] == "standard"], "reaction", ["l", "c_sim"], react_label, one_basis),
                (react[react["kind"] == "stitched"], "reaction_stitched", ["l", "c_sim", "c_sim_own"], react_label,
                 one_basis),
            ]
        for frame, case, quantities, label, case_basis in cases:
            parts.append(_long(frame, case, quantities, centring, label, case_basis))
    table = pd.concat(parts, ignore_index=True)
    table["n_anchors"] = space.n_anchors
    structures = pd.DataFrame(
        [{"role": role, "id": item.id, "formula": item.formula, "n_atoms": len(item.atoms), "source": item.source}
         for role, item in used.items()]
    )
    return table[TABLE_COLUMNS], structures


def _long(frame: pd.DataFrame, case: str, quantities: list[str], centring: str, structures: str,
          basis: str) -> pd.DataFrame:
    long = frame.melt(id_vars=["model", "reference"], value_vars=quantities, var_name="quantity", value_name="value")
    long.insert(0, "case", case)
    long["centring"] = centring
    long["structures"] = structures
    long["basis"] = basis
    # melt lists quantity by quantity; Table 1 reads model by model.
    model_order = {model: position for position, model in enumerate(frame["model"])}
    quantity_order = {quantity: position for position, quantity in enumerate(quantities)}
    keys = pd.DataFrame({"model": long["model"].map(model_order), "quantity": long["quantity"].map(quantity_order)})
    return long.loc[keys.sort_values(["model", "quantity"]).index].reset_index(drop=True)


def _column_names(table: pd.DataFrame) -> pd.Series:
    """``case:quantity``, with the reaction definition (``(per formula unit)`` ours, ``(mean material
    vectors)`` the paper's) and ``[centring-centred]`` for centred rows appended."""
    definition = table["basis"].fillna("").map(BASIS_LABELS).fillna("")
    suffix = table["centring"].map(lambda centring: "" if centring == "none" else f" [{centring}-centred]")
    return table["case"] + ":" + table["quantity"] + definition + suffix


def wide_table(table: pd.DataFrame) -> pd.DataFrame:
    """The long table of :func:`arithmetic_frame` laid out like the paper's Table 1.

    One row per model (in table order), one column per ``case:quantity`` (and centring,
    e.g. ``material:c_sim [dataset-centred]``).
    """
    missing = [column for column in ("case", "quantity", "centring", "model", "value") if column not in table.columns]
    if missing:
        raise EmbeddingArithmeticError(f"table lacks the columns {missing}: pass a table from arithmetic_frame")
    names = _column_names(table)
    wide = table.assign(column=names).pivot(index="model", columns="column", values="value")
    order = list(dict.fromkeys(names))
    return wide.reindex(index=list(dict.fromkeys(table["model"])), columns=order).rename_axis(columns=None).reset_index()


def plot_arithmetic(table: pd.DataFrame):
    """Figure of the Table 1 analogue: similarities as an annotated heatmap, norms as bars.

    Parameters
    ----------
    table : the long table of :func:`arithmetic_frame`.

    Returns
    -------
    matplotlib Figure (Agg-safe: nothing is shown). The heatmap shows every similarity of
    the table (c_sim, i_sim, c_sim_own; each centring); the bars show the norms without
    centring (the paper's l, l1, l2).
    """
    from matplotlib.figure import Figure

    wide = wide_table(table).set_index("model")
    is_similarity = table["quantity"].isin(["c_sim", "i_sim", "c_sim_own"])
    similarity = list(dict.fromkeys(_column_names(table[is_similarity])))
    norms = list(dict.fromkeys(_column_names(table[~is_similarity & (table["centring"] == "none")])))
    figure = Figure(figsize=(6 + 1.1 * len(similarity), 1.8 + 0.45 * len(wide)), layout="constrained")
    left, right = figure.subplots(1, 2, width_ratios=[len(similarity), max(len(norms) * 0.6, 3)])
    values = wide[similarity].to_numpy(dtype=float)
    image = left.imshow(values, cmap="RdBu", vmin=-1.0, vmax=1.0, aspect="auto")
    figure.colorbar(image, ax=left, shrink=0.8, label="cosine similarity")
    labels = [column.replace(":", "\n").replace(" [", "\n[") for column in similarity]
    left.set_xticks(range(len(similarity)), labels, fontsize=7)
    left.set_yticks(range(len(wide)), wide.index)
    for i, row in enumerate(values):
        for j, value in enumerate(row):
            label = f"{value:.2f}" if np.isfinite(value) else "n/a"
            left.text(j, i, label, ha="center", va="center", fontsize=8,
                      color="white" if np.isfinite(value) and abs(value) > 0.6 else "black")
    reference = table["reference"].iloc[0]
    left.set_title(f"similarities (c-sim vs {reference}; K = {table['n_anchors'].iloc[0]})", fontsize=10)
    positions = np.arange(len(wide))
    height = 0.8 / max(len(norms), 1)
    for offset, column in enumerate(norms):
        right.barh(positions - 0.4 + height * (offset + 0.5), wide[column].to_numpy(dtype=float), height=height,
                   label=column)
    right.set_yticks(positions, wide.index)
    right.invert_yaxis()
    right.set_xlabel("norm l")
    right.legend(fontsize=7, loc="best")
    bases = sorted({basis for basis in table["basis"].dropna() if basis})
    right.set_title(f"norms (reaction basis: {', '.join(bases)})", fontsize=10)
    return figure


def arithmetic_table(
    space: UnifiedSpace,
    reference: str,
    out_dir: str | Path,
    models: Sequence[str] | None = None,
    basis: str | Sequence[str] = BASES,
    material_structure: "Atoms | str | Material" = TABLE1_MATERIAL,
    polymorphs: tuple = TABLE1_POLYMORPHS,
    equation: str = TABLE1_REACTION,
    reaction_structures: Mapping[str, "Atoms | str | Material"] | None = None,
    centrings: Sequence[str] | None = None,
) -> dict[str, Path]:
    """Compute the Table 1 analogue for every model and write it (CLI entry point).

    Parameters
    ----------
    space : e.g. ``UnifiedSpace.from_store(store, anchor_table, models)``.
    reference : the model every c-sim is measured against, and the reactant model of the
        stitched reaction.
    out_dir : output directory (created).
    models : default every model of the space.
    basis : reaction basis, ``"formula_unit"`` or ``"material"``, or both (the default).
    material_structure, polymorphs, equation, reaction_structures, centrings : see
        :func:`arithmetic_frame` (default the paper's cases).

    Returns
    -------
    dict with the written files: ``"table"`` (``arithmetic.csv``, long: one row per model,
    quantity and centring), ``"wide"`` (``arithmetic_wide.csv``, Table 1 layout),
    ``"structures"`` (``arithmetic_structures.csv``, the structures used and their sources)
    and ``"figure"`` (``arithmetic.png``).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    table, structures = arithmetic_frame(
        space, reference, models=models, material_structure=material_structure, polymorphs=polymorphs,
        equation=equation, reaction_structures=reaction_structures, basis=basis, centrings=centrings,
    )
    paths = {
        "table": out_dir / "arithmetic.csv",
        "wide": out_dir / "arithmetic_wide.csv",
        "structures": out_dir / "arithmetic_structures.csv",
        "figure": out_dir / "arithmetic.png",
    }
    table.to_csv(paths["table"], index=False)
    wide_table(table).to_csv(paths["wide"], index=False)
    structures.to_csv(paths["structures"], index=False)
    plot_arithmetic(table).savefig(paths["figure"], dpi=150)
    return paths
