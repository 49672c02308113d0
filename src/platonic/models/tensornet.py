"""TensorNet (Simeon & de Fabritiis 2023) trained on MatPES PBE and r2SCAN (Kaplan et al. 2025), run by matgl.

The weights ship inside platonic (``weights/matgl``, BSD-3-Clause, with the licence and a
``SHA256SUMS`` checked before every load): matgl's wheels carry none, and only matgl 2.0.4 computes
right with these files (3.0.5 and 4.1.2 load them silently and predict wrong forces), so any other
matgl version is refused.

Embedding: ``g.node_feat``, the output of the ``linear`` layer (384 -> 128) that follows
``out_norm``. After the last interaction block each atom's Cartesian tensor ``X`` is split into its
scalar, skew-symmetric and traceless-symmetric parts; their Frobenius norms (3 x 128) are
layer-normalised (``out_norm``) and mixed by ``linear``. That 128-wide vector is the input of the
atom-wise readout (``final_layer``, a gated MLP whose per-atom outputs are summed into the energy),
so it is the invariant node feature feeding the readout, read by a forward hook on ``linear``.

Mirror images: the models are built with ``equivariance_invariance_group="O(3)"``, so the tensors
are O(3)-equivariant and the norms invariant under improper rotations too (measured in the tests).
"""

from __future__ import annotations

import importlib.util
from importlib import metadata
from pathlib import Path

import numpy as np
from ase import Atoms

from platonic.errors import PlatonicError
from platonic.models._graph_batch import LatticeGraphForward
from platonic.models._provenance import package_versions
from platonic.models.base import EmbeddingModel, ModelCard, Variant, sha256_file

WEIGHTS = Path(__file__).parent / "weights" / "matgl"
#: The only matgl release checked to compute right with these files (see the module docstring).
MATGL_VERSION = "2.0.4"


class MatglError(PlatonicError, RuntimeError):
    """A matgl model folder or installation that cannot give correct TensorNet numbers."""


def verify_checksums(folder: Path, sums: Path = WEIGHTS / "SHA256SUMS") -> str:
    """Check every file of ``folder`` listed in ``sums`` (``sha256sum`` format, paths relative to
    the file's folder); return the checksum of ``model.pt``."""
    listed = {}
    for line in sums.read_text().splitlines():
        digest, rel = line.split(maxsplit=1)
        listed[(sums.parent / rel).resolve()] = digest
    mine = {path: digest for path, digest in listed.items() if path.parent == folder.resolve()}
    if not mine:
        raise MatglError(f"{sums} lists no file of {folder}")
    for path, digest in sorted(mine.items()):
        if not path.is_file():
            raise MatglError(f"{path} is missing (listed in {sums})")
        actual = sha256_file(path)
        if actual != digest:
            raise MatglError(f"{path}: sha256 {actual}, {sums} says {digest}; the file was changed or damaged")
    return mine[(folder / "model.pt").resolve()]


def _check_matgl_version() -> str:
    try:
        version = metadata.version("matgl")
    except metadata.PackageNotFoundError:
        raise ImportError("matgl is not installed: pip install --no-deps matgl==2.0.4 (see scripts/setup.sh)") from None
    if version != MATGL_VERSION:
        raise MatglError(
            f"matgl {version} is installed; only matgl {MATGL_VERSION} is known to compute right with the "
            f"TensorNet-MatPES files (3.0.5 and 4.1.2 load them and predict wrong forces without any error): "
            f"pip install --no-deps matgl=={MATGL_VERSION}"
        )
    return version


class TensorNetModel(LatticeGraphForward, EmbeddingModel):
    """A matgl TensorNet potential (PyG backend) with a forward hook on the readout input."""

    family = "TensorNet"
    distribution, import_name = "matgl", "matgl"
    extra = "matgl"
    order = 40
    layer = "linear (output = g.node_feat, the readout input)"
    dim = 128
    equivariant = True
    mirror = "invariant"
    path_prefix = "tensornet"
    variants = {
        "tensornet-matpes-pbe": Variant(
            "TensorNet-MatPES-PBE-v2025.1-PES", "MatPES v2025.1 PBE (391k frames: 300 K MD and MP ground states)",
            variant="MatPES-PBE-v2025.1",
        ),
        "tensornet-matpes-r2scan": Variant(
            "TensorNet-MatPES-r2SCAN-v2025.1-PES", "MatPES v2025.1 r2SCAN (the same structures, r2SCAN labels)",
            variant="MatPES-r2SCAN-v2025.1",
        ),
    }
    #: One architecture, one set of structures, two functionals, trained separately: not a
    #: fine-tune, a contrast beside CHGNet 0.3.0 -> r2SCAN.
    drift_pairs = (("tensornet-matpes-pbe", "tensornet-matpes-r2scan"),)
    invariance_tolerance = 2e-5

    @classmethod
    def installed(cls) -> bool:
        return importlib.util.find_spec("matgl") is not None

    @classmethod
    def weights_path(cls, name: str) -> Path:
        return WEIGHTS / cls.variants[name].weights

    @classmethod
    def licence(cls, name: str) -> str:
        return "BSD-3-Clause (matgl pretrained models; LICENSE in platonic/models/weights/matgl)"

    @classmethod
    def static_card(cls, name: str) -> ModelCard:
        if name in cls.variants:
            return super().static_card(name)
        return cls.path_card(name, "see the folder's licence", ("matgl",), dim=cls.dim,
                             training_data="as documented with the folder", mirror="unknown")

    def __init__(self, name: str = "tensornet-matpes-pbe", device: str = "cpu"):
        super().__init__(device)
        _check_matgl_version()
        if name in self.variants:
            folder = self.weights_path(name)
            digest = verify_checksums(folder)
        elif name.startswith("tensornet:"):
            folder = Path(name.removeprefix("tensornet:")).expanduser()
            if not (folder / "model.pt").is_file():
                raise MatglError(f"{folder} is not a matgl model folder (no model.pt)")
            digest = sha256_file(folder / "model.pt")
        else:
            raise ValueError(f"unknown TensorNet model {name!r}; choose from {sorted(self.variants)} or tensornet:/folder")
        self.folder = folder
        self.potential = self._load_potential(forces=False)
        network = self.potential.model
        if type(network).__name__ != "TensorNet":
            raise MatglError(f"{folder} holds a {type(network).__name__}, not a TensorNet")
        self.element_types = tuple(network.element_types)
        self.cutoff = float(network.cutoff)
        self._captured = None
        network.linear.register_forward_hook(self._capture)
        static = self.static_card(name)
        self.card = self._card(
            name,
            dim=int(network.linear.out_features),
            weights_source=str(folder),
            weights_sha256=digest,
            package_versions=package_versions("matgl", "torch_geometric"),
            notes=f"equivariance group {network.equivariance_invariance_group}; cutoff {self.cutoff} Å; "
            f"{len(network.layers)} interaction blocks; {static.notes}".rstrip("; "),
        )

    def _load_potential(self, forces: bool):
        import matgl
        import torch

        saved = torch.get_default_dtype()
        try:
            potential = matgl.load_model(self.folder)
        finally:
            torch.set_default_dtype(saved)
        potential.calc_forces = forces
        potential.calc_stresses = False
        potential.calc_hessian = False
        return potential.to(self.device).eval()

    def _capture(self, module, inputs, output) -> None:
        self._captured = output

    def _graphs(self, structures: list[Atoms]):
        import torch
        from matgl.ext._ase_pyg import Atoms2Graph

        convert = Atoms2Graph(self.element_types, self.cutoff)
        for atoms in structures:
            graph, lattice, state = convert.get_graph(atoms)
            # (3, 3) here, (1, 3, 3) in matgl's pymatgen path
            yield graph, torch.as_tensor(lattice).reshape(3, 3), torch.as_tensor(np.asarray(state), dtype=torch.float32)

    def calculator(self):
        from matgl.ext.ase import PESCalculator

        return PESCalculator(self._load_potential(forces=True))
