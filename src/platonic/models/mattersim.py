"""MatterSim (Yang et al. 2024, mattersim): M3GNet-architecture checkpoints by path, ``mattersim:/path.pth``.

MatterSim's native checkpoint is the dictionary ``Potential.save`` writes (``model_name``,
``model_args``, ``model`` state dict, optimiser state ...); it is read by the package's own
``Potential.from_checkpoint``. ``mattersim:MatterSim-v1.0.0-1M`` (or ``-5M``) lets mattersim fetch a
release itself, where there is a network.

Embedding: the input of ``final``, by a forward pre-hook. M3GNet updates per-atom features through
``num_blocks`` graph convolutions (two- and three-body terms, both built from distances and angles);
the last block's atom features go into ``final``, a gated MLP giving one energy per atom::

    E = sum_i [ scale(Z_i) * final(h_i) + shift(Z_i) ]

so ``h_i`` (``units`` wide, read from the checkpoint's ``model_args``) is the invariant node feature
that feeds the readout. Every input is a distance or an angle, so the features are invariant
under rotations, translations and mirror images by construction.

mattersim's ``load_state_dict(strict=False)`` would let a file with missing weights run with random
ones; the adapter compares the file's keys with the network's and refuses such a file.

Install (an optional extra, not in ``scripts/setup.sh``): ``pip install 'platonic[mattersim]'`` then
``pip install --no-deps mattersim==1.2.3`` (the newest release for Python 3.11; 1.2.4+ needs 3.12).
mattersim declares torchaudio and torchvision (no release for torch 2.13: pip would replace the CPU
torch), and atomate2, mp-api, wandb, azure, phono3py that its training and workflow modules use;
the force field imports none of them. ``pip check`` lists them as missing.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
from ase import Atoms

from platonic.errors import PlatonicError
from platonic.models._graph_batch import HookedForward
from platonic.models._provenance import package_versions
from platonic.models.base import FileFamily, UnsupportedStructureError, sha256_file

#: Release names mattersim downloads itself (case as its server spells them).
RELEASES = ("MatterSim-v1.0.0-1M", "MatterSim-v1.0.0-5M")


class MatterSimFileError(PlatonicError, ValueError):
    """A MatterSim checkpoint that cannot be loaded, or loads incompletely."""


def _quiet_loguru() -> None:
    """mattersim logs every load and graph build through loguru at INFO: silence its records only."""
    from loguru import logger

    logger.disable("mattersim")


class MatterSimModel(HookedForward, FileFamily):
    """The atom features that feed M3GNet's per-atom energy MLP (``final``)."""

    family = "MatterSim"
    distribution, import_name = "mattersim", "mattersim"
    extra = "mattersim"
    optional = True
    order = 62
    layer = "final (input): atom features of the last graph convolution"
    dim = 128
    mirror = "invariant"
    path_prefix = "mattersim"
    usage = f"'mattersim:/path/to/file.pth' or 'mattersim:{RELEASES[0]}'"
    file_error = MatterSimFileError
    file_licence = "see the checkpoint's licence (the mattersim package: MIT)"
    #: Measured on a random-weight file: rotation 2.5e-7, mirror 2.7e-7, translation and permutation
    #: 1.3e-7, batch 7e-8.
    invariance_tolerance = 2e-6

    @classmethod
    def name_says(cls, target: str) -> dict:
        if target in RELEASES:
            return {"training_data": "MatterSim's own PBE/PBE+U data (see its release notes)"}
        return {}

    def __init__(self, name: str, device: str = "cpu"):
        super().__init__(device)
        target = self._target(name)
        from mattersim.forcefield.potential import Potential

        _quiet_loguru()
        path = self._local_file(target, target in RELEASES, f"one of {RELEASES}")
        if path is not None:
            digest, source = sha256_file(path), str(path.resolve())
        else:
            digest, source = None, f"MatterSim release {target} (downloaded by mattersim)"
        with self._loading(f"MatterSim checkpoint {target}"):
            potential = Potential.from_checkpoint(str(path) if digest else target, device=device,
                                                  load_training_state=False)
        if digest is not None:
            self._check_complete(path, potential.model)
        self.potential = potential
        self.model = self.frozen(potential.model)
        self.args = dict(self.model.model_args)
        self._captured = None
        self.model.final.register_forward_pre_hook(self._capture)
        self.card = dataclasses.replace(
            self.static_card(name),
            dim=int(self.args["units"]),
            weights_source=source,
            weights_sha256=digest,
            package_versions=package_versions("mattersim", "torch_geometric", "e3nn"),
            notes="M3GNet architecture: " + ", ".join(f"{k} {v}" for k, v in sorted(self.args.items())),
        )

    @staticmethod
    def _check_complete(path: Path, model) -> None:
        import torch

        checkpoint = torch.load(path, map_location="cpu", weights_only=True)  # as mattersim loads it
        missing = sorted(set(model.state_dict()) - set(checkpoint.get("model", {})))
        if missing:
            raise MatterSimFileError(f"{path}: {len(missing)} weights of the network are not in the file "
                                     f"(e.g. {', '.join(missing[:3])}); mattersim would run them with random values")

    def _capture(self, module, inputs) -> None:
        self._captured = inputs[0]

    @property
    def supported_numbers(self) -> frozenset[int]:
        return frozenset(range(1, int(self.args["max_z"]) + 1))

    def _batch(self, structures: list[Atoms]) -> dict:
        from mattersim.datasets.utils.build import build_dataloader
        from mattersim.forcefield.potential import batch_to_dict

        loader = build_dataloader(structures, cutoff=self.args["cutoff"],
                                  threebody_cutoff=self.args["threebody_cutoff"], batch_size=len(structures),
                                  only_inference=True, shuffle=False)
        batches = list(loader)
        if len(batches) != 1 or int(batches[0].num_graphs) != len(structures):
            raise UnsupportedStructureError(f"mattersim built {sum(int(b.num_graphs) for b in batches)} graphs "
                                            f"for {len(structures)} structures")
        return batch_to_dict(batches[0], device=self.device)

    def _energy_of(self, output) -> np.ndarray:
        return output.cpu().numpy()

    def calculator(self):
        from mattersim.forcefield.potential import MatterSimCalculator

        return MatterSimCalculator(potential=self.potential, device=self.device)
