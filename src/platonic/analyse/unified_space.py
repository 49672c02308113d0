r"""The unified space of a set of models, for structures that are not in the store.

A structure gets into model ``m``'s unified coordinates :math:`z_i = [\cos(e_i, a^m_k)]_k` by
embedding it with ``m`` and applying ``m``'s :class:`~platonic.project.transform.PlatonicTransform`,
fitted on ``m``'s stored embeddings of the anchor atoms (:class:`UnifiedSpace`). The embedding
arithmetic (:mod:`platonic.analyse.arithmetic`) and the rotation diagnostic
(:mod:`platonic.diagnose.rotation`) both work through it, so both refuse a loaded model whose
fingerprint is not the store's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from ase import Atoms

from platonic.analyse.reaction import empirical_formula
from platonic.datasets import Dataset, case_studies
from platonic.errors import PlatonicError
from platonic.models import EmbeddingModel
from platonic.models.cache import LoadedModels, loaded_models
from platonic.project.transform import PlatonicTransform, ProjectionError

#: ``"dataset"``: subtract each model's mean unified vector over the store (the arithmetic's centring).
CENTRINGS = ("none", "dataset")
_MP20_SPLITS = ("train_partial", "val", "test")


class EmbeddingArithmeticError(PlatonicError, ValueError):
    """Bad input to the unified space or the embedding arithmetic: unknown model, structure or basis, bad vectors."""


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
    loaded : LoadedModels, optional
        Where models are loaded from (once each): a study passes the one its stages share, so the
        arithmetic, rotation and dimer analyses load each model once in all.
    """

    def __init__(
        self,
        transforms: Mapping[str, PlatonicTransform],
        fingerprints: Mapping[str, str] | None = None,
        centroids: Mapping[str, np.ndarray] | None = None,
        catalogue: Dataset | None = None,
        device: str = "cpu",
        loaded: LoadedModels | None = None,
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
        self._loaded = loaded_models(loaded, device)
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
        loaded: LoadedModels | None = None,
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
        catalogue, device, loaded : see the class.
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
        return cls(transforms, fingerprints=fingerprints, centroids=centres, catalogue=catalogue, device=device,
                   loaded=loaded)

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
            loaded = self._loaded.get(name)
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
