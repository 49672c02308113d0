"""The one protocol every model adapter implements.

An adapter is to platonic what a ``Calculator`` is to ASE: many backends, one interface.
It turns a batch of ASE ``Atoms`` into per-atom, rotation-invariant embeddings taken at a
named layer (by default the last message-passing layer before the readout), and carries a
:class:`ModelCard` saying what that layer is and where the weights came from.

A family is one class (one file): its class attributes name its variants, the default study's
members, its drift pairs and its test tolerance; its class methods locate weights and write a
static card without importing the model package. The registry (:mod:`platonic.models`) is built
from these classes, plus any registered under the entry-point group ``platonic.models``.
"""

from __future__ import annotations

import abc
import contextlib
import dataclasses
import hashlib
import importlib.util
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import ClassVar, Sequence

import numpy as np
from ase import Atoms
from platonic.errors import PlatonicError


@dataclass(frozen=True)
class ModelCard:
    """Provenance and shape of one model's embedding.

    Attributes
    ----------
    name: registry name, e.g. ``"chgnet-0.3.0"``.
    family, variant: e.g. ``"CHGNet"``, ``"0.3.0"``.
    layer: where the embedding is read, in the model's own module names.
    dim: embedding width d.
    equivariant: whether the network carries equivariant (l > 0) features internally.
    conservative: whether forces are the gradient of the energy.
    training_data: e.g. ``"MPtrj (PBE/PBE+U)"``.
    weights_source: where the weights are read from (file path inside the wheel, or user file).
    licence: licence of the weights.
    trained: False for random-weight controls.
    weights_sha256: checksum of the weights file, when there is one.
    package_versions: versions of the packages the adapter ran with.
    mirror: behaviour of the embedding under improper rotations (mirror images, inversion):
        ``"invariant"``, ``"not invariant"`` (a pseudo-scalar channel, e.g. SevenNet) or ``"unknown"``.
    """

    name: str
    family: str
    variant: str
    layer: str
    dim: int
    equivariant: bool
    conservative: bool
    training_data: str
    weights_source: str
    licence: str
    trained: bool = True
    weights_sha256: str | None = None
    package_versions: dict[str, str] = field(default_factory=dict)
    notes: str = ""
    mirror: str = "unknown"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict, where: str = "card") -> "ModelCard":
        """The card written by :meth:`to_dict` (fields added since default; unknown keys are an error)."""
        names = {f.name for f in dataclasses.fields(cls)}
        required = {f.name for f in dataclasses.fields(cls)
                    if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}
        unknown, missing = sorted(set(data) - names), sorted(required - set(data))
        if unknown or missing:
            raise ModelCardError(f"{where}: not a model card (unknown keys {unknown}, missing keys {missing})")
        return cls(**data)

    @property
    def fingerprint(self) -> str:
        """A hash of everything that determines the embedding values."""
        key = f"{self.name}|{self.layer}|{self.dim}|{self.weights_sha256}|{sorted(self.package_versions.items())}"
        return hashlib.sha256(key.encode()).hexdigest()[:16]


class UnsupportedStructureError(PlatonicError, ValueError):
    """A structure the model cannot embed (e.g. an element outside its training set)."""


class ModelCardError(PlatonicError, ValueError):
    """A stored card that is not a :class:`ModelCard`."""


class UnknownModelError(PlatonicError, ValueError):
    """A model name that no registered family provides."""


@dataclass(frozen=True)
class Variant:
    """One registry name of a family: what its static card says before anything is loaded.

    ``layer``, ``dim``, ``equivariant`` and ``mirror`` may be left ``None`` to take the family's.
    ``weights`` is the family's own key for the weights (a file inside a wheel, a folder, a seed).
    """

    weights: str
    training_data: str
    variant: str = ""
    layer: str | None = None
    dim: int | None = None
    mirror: str | None = None
    trained: bool = True
    default: bool = True
    notes: str = ""


class EmbeddingModel(abc.ABC):
    """Per-atom invariant embeddings from one pretrained (or random) MLIP.

    Subclasses set ``card`` in ``__init__`` and implement :meth:`_embed_batch`.
    The forward pass is embedding-only: no force or stress autograd, run under
    ``torch.inference_mode`` (or ``no_grad`` where the model's graph code needs it).
    """

    card: ModelCard

    # ----- what the registry reads from the class (no import of the model package) -----
    #: Family name shown in tables, e.g. ``"CHGNet"``; a class without one is not registered.
    family: ClassVar[str] = ""
    #: registry name -> :class:`Variant`.
    variants: ClassVar[dict[str, Variant]] = {}
    #: ``prefix:/path`` loads a user's file of this family (``None``: no loading by path).
    path_prefix: ClassVar[str | None] = None
    #: The distribution that provides the model code (``pip install``) and its import name.
    distribution: ClassVar[str] = ""
    import_name: ClassVar[str] = ""
    #: The pyproject extra that installs it (``pip install 'platonic[<extra>]'``).
    extra: ClassVar[str] = "offline"
    #: Family defaults for the card.
    layer: ClassVar[str] = ""
    dim: ClassVar[int] = -1
    equivariant: ClassVar[bool] = False
    conservative: ClassVar[bool] = True
    mirror: ClassVar[str] = "unknown"
    #: Whether rotations leave the embedding unchanged by construction (the invariance tests assert
    #: it); ``False`` where the network only learns the symmetry (Orb, PET: the tests assert it moves).
    rotation_invariant: ClassVar[bool] = True
    #: (before, after) pairs of this family compared by the drift diagnostics (e.g. a fine-tune).
    drift_pairs: ClassVar[tuple[tuple[str, str], ...]] = ()
    #: Largest embedding change, relative to the largest |entry|, accepted by the invariance tests
    #: (rotation, translation, permutation, batch); about 5x the largest deviation measured.
    invariance_tolerance: ClassVar[float] = 1e-5
    #: An optional family (an extra outside ``scripts/setup.sh``) joins the default study only where installed.
    optional: ClassVar[bool] = False
    #: Order of the family in listings and in the default study (controls last).
    order: ClassVar[int] = 50
    #: The isolated virtual environment this family's models run in; ``None``: this process.
    #: A family whose pinned packages clash with the main environment names one here (e.g.
    #: ``"mace"``) and lists its pins in ``environment_requirements`` (e.g.
    #: ``("mace-torch==0.3.16", "e3nn==0.4.4")``); ``platonic env create <name>`` then makes
    #: ``.venvs/<name>/`` with ``torch==2.13.0``, those pins and platonic itself, and
    #: :func:`platonic.models.load_model` runs the model there as a worker process
    #: (:mod:`platonic.envs`) that streams embeddings back; the store is written as for any model.
    #: Families sharing an environment name must list the same requirements. Override
    #: :meth:`environment_of` to send only some names there.
    #: ``environment_python`` is the interpreter it is built on (e.g. ``"python3.12"``; ``None``: the one
    #: running platonic). The local CPU torch wheel is for CPython 3.11 only: elsewhere pip takes
    #: torch==2.13.0 from PyPI, the CUDA build with GBs of dependencies.
    environment: ClassVar[str | None] = None
    environment_requirements: ClassVar[tuple[str, ...]] = ()
    environment_python: ClassVar[str | None] = None

    @classmethod
    def installed(cls) -> bool:
        return bool(cls.import_name) and importlib.util.find_spec(cls.import_name) is not None

    @classmethod
    def environment_of(cls, name: str) -> str | None:
        """The isolated environment that runs ``name`` (default: the family's, for every name)."""
        return cls.environment

    @classmethod
    def weights_path(cls, name: str) -> Path | None:
        """Where the weights of ``name`` are read from, found without importing the package;
        ``None`` where there is no file (weights built from a seed)."""
        return None

    @classmethod
    def static_card(cls, name: str) -> ModelCard:
        """The card of ``name`` as far as it is known without loading anything (no checksum)."""
        from platonic.models._provenance import package_versions

        v = cls.variants[name]
        path = cls.weights_path(name) if cls.installed() else None
        try:
            licence = cls.licence(name)
        except Exception as exc:  # noqa: BLE001 - metadata of an absent package
            licence = f"unknown ({type(exc).__name__})"
        return ModelCard(
            name=name,
            family=cls.family,
            variant=v.variant or name,
            layer=v.layer or cls.layer,
            dim=v.dim if v.dim is not None else cls.dim,
            equivariant=cls.equivariant,
            conservative=cls.conservative,
            training_data=v.training_data,
            weights_source=str(path) if path is not None else v.weights,
            licence=licence,
            trained=v.trained,
            package_versions=package_versions(cls.distribution) if cls.distribution else {},
            notes=v.notes,
            mirror=v.mirror or cls.mirror,
        )

    @classmethod
    def licence(cls, name: str) -> str:
        """Licence of the weights of ``name`` (default: the distribution's declared licence)."""
        from platonic.models._provenance import licence_of

        return licence_of(cls.distribution)

    @classmethod
    def path_card(cls, name: str, licence: str, packages: tuple[str, ...], **fields) -> ModelCard:
        """The static card of a model named by its file, ``<path_prefix>:<target>``: the file name as
        variant, ``target`` as weights source, the width unknown (-1) until loaded, the family's layer,
        equivariance, conservativeness and mirror behaviour, and the versions of ``packages``; ``fields``
        replace any of these."""
        from platonic.models._provenance import package_versions

        target = name.removeprefix(f"{cls.path_prefix}:")
        card = dict(name=name, family=cls.family, variant=Path(target).name, layer=cls.layer, dim=-1,
                    equivariant=cls.equivariant, conservative=cls.conservative,
                    training_data="as documented with the file", weights_source=target, licence=licence,
                    package_versions=package_versions(*packages), mirror=cls.mirror)
        return ModelCard(**{**card, **fields})

    def _card(self, name: str, **changes) -> ModelCard:
        """The static card completed with what loading found (checksum, versions, ...)."""
        return dataclasses.replace(self.static_card(name), **changes)

    #: Atoms per forward pass. On CPU throughput falls as batches grow (the per-edge tensors leave the
    #: cache): 64 atoms ran 1.3-2.2x faster than 1024 for every family (benchmarks/batch_size.py).
    #: On a GPU, large batches are what fill the device.
    cpu_batch_atoms: int = 64
    gpu_batch_atoms: int = 4096

    def __init__(self, device: str = "cpu"):
        self.device = device

    @property
    def batch_atoms(self) -> int:
        """Default atoms per forward pass on this model's device."""
        return self.cpu_batch_atoms if self.device == "cpu" else self.gpu_batch_atoms

    @property
    def supported_numbers(self) -> frozenset[int] | None:
        """Atomic numbers the model was built for; ``None`` if unrestricted."""
        return None

    def check(self, atoms: Atoms) -> None:
        """Raise :class:`UnsupportedStructureError` with a reason if ``atoms`` cannot be embedded."""
        if len(atoms) == 0:
            raise UnsupportedStructureError("empty structure")
        supported = self.supported_numbers
        if supported is not None:
            missing = sorted({int(z) for z in atoms.numbers} - supported)
            if missing:
                from ase.data import chemical_symbols

                names = ", ".join(chemical_symbols[z] for z in missing)
                raise UnsupportedStructureError(f"{self.card.name} does not support element(s) {names}")

    def embed(self, structures: Sequence[Atoms]) -> list[np.ndarray]:
        """Embeddings of a batch: one float32 array of shape (len(atoms), dim) per structure.

        Row ``i`` of the ``j``-th array belongs to atom ``i`` of ``structures[j]``.
        """
        for atoms in structures:
            self.check(atoms)
        out = self._embed_batch(list(structures))
        if len(out) != len(structures):
            raise RuntimeError(f"{self.card.name}: {len(out)} outputs for {len(structures)} structures")
        result = []
        for atoms, emb in zip(structures, out):
            emb = np.asarray(emb, dtype=np.float32)
            if emb.shape != (len(atoms), self.card.dim):
                raise RuntimeError(
                    f"{self.card.name}: embedding shape {emb.shape}, expected {(len(atoms), self.card.dim)}"
                )
            result.append(emb)
        return result

    @staticmethod
    def split_rows(features, structures: list[Atoms]) -> list[np.ndarray]:
        """A batch's per-atom feature tensor (rows in structure order) as one float32 array per structure."""
        features = features.float().cpu().numpy() if hasattr(features, "cpu") else np.asarray(features, np.float32)
        bounds = np.cumsum([0] + [len(a) for a in structures])
        return [features[bounds[i] : bounds[i + 1]] for i in range(len(structures))]

    @staticmethod
    def frozen(model):
        """``model`` in eval mode with no parameter asking for gradients (an embedding needs none)."""
        model = model.eval()
        for p in model.parameters():
            p.requires_grad_(False)
        return model

    def take_captured(self, structures: list[Atoms]) -> list[np.ndarray]:
        """The features a forward hook stored in ``self._captured``, split per structure; clears the hook's slot."""
        captured, self._captured = self._captured, None
        return self.split_rows(captured, structures)

    @abc.abstractmethod
    def _embed_batch(self, structures: list[Atoms]) -> list[np.ndarray]:
        """Model-specific batched forward pass; inputs are already checked."""

    def energy_forward(self, structures: list[Atoms]) -> np.ndarray:
        """Total potential energy (eV) of each structure from the model's own batched energy-only
        forward (graph building included; no forces): the benchmarks time it, the dimer curves use it."""
        raise NotImplementedError(f"{self.card.name} has no energy forward")

    def calculator(self):
        """An ASE calculator with the same weights (energy at least), for dimer curves etc."""
        raise NotImplementedError(f"{self.card.name} has no calculator")


class FileFamily(EmbeddingModel):
    """A family whose models are files named by path, ``<path_prefix>:/path/to/file``, or releases its
    package downloads itself, ``<path_prefix>:<release>`` (Orb, MatterSim, PET): no registry names, so
    the static card is what the name says, and loading the file completes it (width, checksum, notes).

    A family sets ``path_prefix``, ``usage`` (how its names are written, for the error on a name
    without the prefix), ``file_error`` (what a file that does not load raises), ``file_licence`` and
    ``card_packages`` (the static card's licence, and the packages whose versions it lists besides
    ``distribution``); :meth:`name_says` adds what a file's name tells about it.
    """

    usage: ClassVar[str] = ""
    file_error: ClassVar[type[PlatonicError]] = PlatonicError
    file_licence: ClassVar[str] = "see the file's licence"
    card_packages: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def name_says(cls, target: str) -> dict:
        """Card fields that the file (or release) name ``target`` determines, e.g. its training data."""
        return {}

    @classmethod
    def static_card(cls, name: str) -> ModelCard:
        """What ``<path_prefix>:<target>`` says before the file is read (see :meth:`path_card`)."""
        target = name.removeprefix(f"{cls.path_prefix}:")
        packages = (cls.distribution, *cls.card_packages)
        return cls.path_card(name, cls.file_licence, packages, **cls.name_says(target))

    def _target(self, name: str) -> str:
        """The file or release that ``name`` names."""
        prefix = f"{self.path_prefix}:"
        if not name.startswith(prefix):
            raise UnknownModelError(f"unknown {self.family} model {name!r}; use {self.usage}")
        return name.removeprefix(prefix)

    def _local_file(self, target: str, is_release: bool, releases: str) -> Path | None:
        """The file ``target`` names (``~`` expanded), or ``None`` where it is a release the package
        fetches itself (``is_release``); neither is an error saying so (``releases``: what a release is)."""
        path = Path(target).expanduser()
        if path.is_file():
            return path
        if is_release:
            return None
        raise FileNotFoundError(f"{self.family} checkpoint {path} does not exist (nor is {target!r} {releases})")

    @contextlib.contextmanager
    def _loading(self, what: str):
        """Load ``what`` inside: a failure is a ``file_error`` naming it, and torch's default dtype, which
        the packages' loaders set process-wide, is put back (other models in the process rely on it)."""
        import torch

        dtype = torch.get_default_dtype()
        try:
            yield
        except Exception as exc:  # noqa: BLE001 - a damaged or foreign file, or no network for a release
            raise self.file_error(f"could not load {what}: {type(exc).__name__}: {exc}") from exc
        finally:
            torch.set_default_dtype(dtype)


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()
