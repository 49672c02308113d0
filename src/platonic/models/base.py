"""The one protocol every model adapter implements.

An adapter is to platonic what a ``Calculator`` is to ASE: many backends, one interface.
It turns a batch of ASE ``Atoms`` into per-atom, rotation-invariant embeddings taken at a
named layer (by default the last message-passing layer before the readout), and carries a
:class:`ModelCard` saying what that layer is and where the weights came from.
"""

from __future__ import annotations

import abc
import hashlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

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

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def fingerprint(self) -> str:
        """A hash of everything that determines the embedding values."""
        key = f"{self.name}|{self.layer}|{self.dim}|{self.weights_sha256}|{sorted(self.package_versions.items())}"
        return hashlib.sha256(key.encode()).hexdigest()[:16]


class UnsupportedStructureError(PlatonicError, ValueError):
    """A structure the model cannot embed (e.g. an element outside its training set)."""


class EmbeddingModel(abc.ABC):
    """Per-atom invariant embeddings from one pretrained (or random) MLIP.

    Subclasses set ``card`` in ``__init__`` and implement :meth:`_embed_batch`.
    The forward pass is embedding-only: no force or stress autograd, run under
    ``torch.inference_mode`` (or ``no_grad`` where the model's graph code needs it).
    """

    card: ModelCard
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

    @abc.abstractmethod
    def _embed_batch(self, structures: list[Atoms]) -> list[np.ndarray]:
        """Model-specific batched forward pass; inputs are already checked."""

    def calculator(self):
        """An ASE calculator with the same weights (energy at least), for dimer curves etc."""
        raise NotImplementedError(f"{self.card.name} has no calculator")


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()
