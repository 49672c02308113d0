"""Orb (Rhodes et al. 2025, orb-models): Orb-v3 checkpoints read by path, ``orb:/path/to/file.ckpt``.

Orb's native checkpoint is a ``state_dict`` (``torch.save``), with no record of its architecture: the
architecture is the orb-models builder whose name starts the file name, as Orbital Materials name
their releases (``orb-v3-conservative-inf-omat-20250404.ckpt`` is built by
``orb_models.forcefield.pretrained.orb_v3_conservative_inf_omat``). ``orb:<name>`` (a name of
``ORB_PRETRAINED_MODELS`` rather than a file) lets orb-models download the release itself, where
there is a network.

Embedding: ``node_features``, the output of the message-passing trunk (``model``, a MoleculeGNS:
5 attention-gated interaction layers, 256 wide), which is the input of the energy head::

    E = std * MLP(mean_i h_i) + mean + sum_i ref(Z_i) [+ ZBL pair repulsion]

(``heads.energy`` pools the node features by a mean, then an MLP; Li & Walsh read the same 256-wide
node features). It is read by calling the trunk alone under ``inference_mode`` (no autograd, no
heads); the tests check that it equals what the full forward hands to ``heads.energy``.

Orb-v3 is **not rotation-invariant by construction**: edge features are real spherical harmonics
(l <= 3) of the edge directions fed to MLPs, and invariance is only learned (the paper's Fig. 5g:
Orb-v3 embeddings of a rotated BaCeO3 diverge). Odd-l harmonics change sign under inversion, so
mirror images are not invariant either. Translations, permutations and batching are exact.

Install (an optional extra): ``pip install 'platonic[orb]'`` (orb-models 0.5.5, the newest release
for Python 3.11; 0.6+ needs 3.12). Its ``cached_path`` dependency pins ``rich<14``.
"""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path

import numpy as np
from ase import Atoms

from platonic.errors import PlatonicError
from platonic.models._provenance import package_versions
from platonic.models.base import FileFamily, sha256_file

#: What the last word of a release name says about its training set.
TRAINING_SETS = {
    "omat": "OMat24 (PBE/PBE+U)",
    "mpa": "MPtrj + Alexandria (PBE/PBE+U)",
    "omol": "OMol25 (wB97M-V)",
}


class OrbFileError(PlatonicError, ValueError):
    """An Orb checkpoint that cannot be matched to an architecture or loaded."""


@contextlib.contextmanager
def _restore_matmul_precision():
    """orb-models sets the process-wide float32 matmul precision on load (and the default dtype, which
    :meth:`~platonic.models.base.FileFamily._loading` puts back); put it back."""
    import torch

    matmul = torch.get_float32_matmul_precision()
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(matmul)


def architecture_of(filename: str, names) -> str:
    """The longest of ``names`` that starts ``filename`` (``orb-v3-direct-20-omat`` before ``orb-v3-direct-20``)."""
    matches = [n for n in names if filename.lower().startswith(n.lower())]
    if not matches:
        raise OrbFileError(
            f"{filename}: an Orb checkpoint holds weights only, and its file name must start with the name of "
            f"its architecture ({', '.join(sorted(names))}); rename the file, e.g. "
            "orb-v3-conservative-inf-omat-mine.ckpt"
        )
    return max(matches, key=len)


class OrbModel(FileFamily):
    """The trunk node features of an Orb checkpoint (v3 conservative or direct; orb-models' v2 builders
    load through the same path, but no v2 file has been tried)."""

    family = "Orb"
    distribution, import_name = "orb-models", "orb_models"
    extra = "orb"
    optional = True
    order = 60
    layer = "model (MoleculeGNS) output node_features = input of heads.energy"
    dim = 256
    mirror = "not invariant"
    path_prefix = "orb"
    usage = "'orb:/path/to/orb-v3-...ckpt' or 'orb:<release name>'"
    file_error = OrbFileError
    file_licence = "see the checkpoint's licence (the orb-models package: Apache-2.0)"
    #: Not by construction (see the module docstring); the tests assert that rotations move it.
    rotation_invariant = False
    #: Translation, permutation and batch (rotations are not invariant, see the module docstring):
    #: measured <= 1.2e-6 relative on a random-weight v3 file (rotations 8e-2, mirror images 0.11).
    invariance_tolerance = 1e-5

    @classmethod
    def name_says(cls, target: str) -> dict:
        """Orbital Materials' file names end with the training set and say ``direct`` for a model
        whose forces are not the energy's gradient."""
        key = Path(target).name.lower()
        data = next((v for k, v in TRAINING_SETS.items() if f"-{k}" in key), "as documented with the file")
        return {"training_data": data, "conservative": "direct" not in key}

    def __init__(self, name: str, device: str = "cpu"):
        super().__init__(device)
        target = self._target(name)
        from orb_models.forcefield import pretrained

        builders = pretrained.ORB_PRETRAINED_MODELS
        path = self._local_file(target, target in builders, "an orb-models release")
        if path is not None:
            arch = architecture_of(path.name, builders)
            kwargs, digest, source = {"weights_path": str(path)}, sha256_file(path), str(path.resolve())
        else:
            arch, kwargs, digest, source = target, {}, None, f"orb-models release {target} (downloaded by orb-models)"
        with _restore_matmul_precision(), self._loading(f"{target} as {arch}"):
            # float32-highest: no TF32 on GPUs, so embeddings do not depend on the device's matmul mode.
            model = builders[arch](device=device, precision="float32-highest", compile=False, **kwargs)
        if digest is not None and arch.startswith("orb-v3"):
            self._check_complete(path, model, arch)
        self.model = self.frozen(model)
        self.architecture = arch
        self.system_config = self.model.system_config
        self.conservative_model = hasattr(self.model, "grad_forces_name")
        # AtomEmbedding holds max Z + 1 rows (row 0 unused); Orb-v3 has 118 elements.
        embedding = getattr(getattr(self.model.model, "atom_emb", None), "embeddings", None)
        self.max_z = int(embedding.num_embeddings) - 1 if embedding is not None else 118
        static = self.static_card(name)
        self.card = dataclasses.replace(
            static,
            dim=self._probe_width(),
            conservative=self.conservative_model,
            weights_source=source,
            weights_sha256=digest,
            package_versions=package_versions("orb-models", "torch"),
            notes=f"architecture {arch}; radius {self.system_config.radius} Å, at most "
            f"{self.system_config.max_num_neighbors} neighbours; not rotation-invariant by construction "
            "(spherical harmonics of edge directions in MLPs), nor under mirror images",
        )

    @staticmethod
    def _check_complete(path: Path, model, arch: str) -> None:
        """orb-models accepts a file that lacks a whole head (it loads the heads the file has and leaves
        the others at their random init, without a word): refuse such a file."""
        import torch

        keys = set(torch.load(path, map_location="cpu", weights_only=True))
        missing = sorted(set(model.state_dict()) - keys)
        if missing:
            raise OrbFileError(f"{path} is not a {arch} checkpoint: {len(missing)} of its weights are not in the file "
                               f"(e.g. {', '.join(missing[:3])}); name the file after its architecture")

    def _probe_width(self) -> int:
        """The node-feature width, from one forward on a dimer (which also shows the file runs)."""
        dimer = Atoms("H2", positions=[[0, 0, 0], [0, 0, 0.8]], cell=np.eye(3) * 10.0, pbc=True)
        try:
            return int(self._embed_batch([dimer])[0].shape[1])
        except Exception as exc:  # noqa: BLE001 - a file that loads but cannot run
            raise OrbFileError(f"{self.architecture}: loaded, but its forward pass failed: "
                               f"{type(exc).__name__}: {exc}") from exc

    @property
    def supported_numbers(self) -> frozenset[int]:
        return frozenset(range(1, self.max_z + 1))

    def _batch(self, structures: list[Atoms]):
        import torch
        from orb_models.forcefield.atomic_system import ase_atoms_to_atom_graphs
        from orb_models.forcefield.base import batch_graphs

        device = torch.device(self.device)
        return batch_graphs([ase_atoms_to_atom_graphs(a, system_config=self.system_config, device=device)
                             for a in structures])

    def _embed_batch(self, structures: list[Atoms]) -> list[np.ndarray]:
        import torch

        batch = self._batch(structures)
        with torch.inference_mode():
            features = self.model.model(batch)["node_features"]
        return self.split_rows(features, structures)

    def energy_forward(self, structures: list[Atoms]) -> np.ndarray:
        """The model's own batched ``predict`` (a conservative model differentiates for its forces)."""
        import torch

        with torch.enable_grad():
            out = self.model.predict(self._batch(structures))
        return out["energy"].detach().cpu().numpy()

    def calculator(self):
        from orb_models.forcefield.calculator import ORBCalculator

        return ORBCalculator(self.model, device=self.device)
