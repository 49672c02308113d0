"""SevenNet (Park et al. 2024): SevenNet-0 (11Jul2024), SevenNet-l3i5 and SevenNet-MF-0.

Embedding: the input of ``reduce_input_to_hidden``, read by a forward pre-hook. After the last
interaction block SevenNet keeps only scalar (l = 0) channels, so this is the invariant node feature
that feeds the atomic-energy readout. The pass is energy-free: ``force_output`` (autograd of the
energy) is removed from the module list. MF-0 is multi-fidelity: its ``modality`` (``"PBE"`` or
``"R2SCAN"``) is an input and part of the model name (``sevennet-mf-0`` = PBE,
``sevennet-mf-0-r2scan`` = R2SCAN).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ase import Atoms

from platonic.models._graph_batch import HookedForward
from platonic.models._provenance import package_folder, package_versions
from platonic.models.base import EmbeddingModel, Variant, sha256_file

# sevenn pretrained name -> checkpoint inside sevenn/pretrained_potentials (as sevenn._const has them),
# so the registry can locate weights without importing sevenn (and torch).
CHECKPOINTS = {
    "7net-0": "SevenNet_0__11Jul2024/checkpoint_sevennet_0.pth",
    "7net-l3i5": "SevenNet_l3i5/checkpoint_l3i5.pth",
    "7net-mf-0": "SevenNet_MF_0/checkpoint_sevennet_mf_0.pth",
}
# registry name -> modality of the multi-fidelity checkpoint (None for single-fidelity ones)
MODALITIES = {"sevennet-mf-0": "PBE", "sevennet-mf-0-r2scan": "R2SCAN"}


class PreHookForward(HookedForward):
    """Embedding and energy of SevenNet-built models (SevenNet, HIENet): one batched forward whose
    pre-hook on ``reduce_input_to_hidden`` stores the node features in ``self._captured``."""

    def _use_energy_only(self, model) -> None:
        """Keep ``model`` as ``self.model`` for the batched energy-only pass: ``force_output``
        (autograd of the energy) removed, batch mode, on this device, in eval mode, with the pre-hook."""
        model.delete_module_by_key("force_output")
        model.set_is_batch_data(True)
        self.model = model.to(self.device).eval()
        self._captured = None
        self.model._modules["reduce_input_to_hidden"].register_forward_pre_hook(self._capture)

    def _capture(self, module, inputs) -> None:
        self._captured = inputs[0][module.key_input]

    def _energy_of(self, output) -> np.ndarray:
        return output["inferred_total_energy"].cpu().numpy()


class SevenNetModel(PreHookForward, EmbeddingModel):
    """A SevenNet checkpoint run in batch mode without its force module."""

    family = "SevenNet"
    distribution, import_name = "sevenn", "sevenn"
    order = 20
    layer = "reduce_input_to_hidden (input)"
    dim = 128
    equivariant = True
    mirror = "not invariant"
    variants = {
        "sevennet-0": Variant("7net-0", "MPtrj (PBE/PBE+U)", variant="7net-0"),
        "sevennet-l3i5": Variant("7net-l3i5", "MPtrj (PBE/PBE+U)", variant="7net-l3i5"),
        "sevennet-mf-0": Variant("7net-mf-0", "MPtrj + MP r2SCAN, multi-fidelity; PBE head", variant="7net-mf-0 (PBE)"),
        "sevennet-mf-0-r2scan": Variant(
            "7net-mf-0", "MPtrj + MP r2SCAN, multi-fidelity; R2SCAN head", variant="7net-mf-0 (R2SCAN)", default=False
        ),
    }
    drift_pairs = (("sevennet-0", "sevennet-mf-0"),)
    invariance_tolerance = 1e-5

    @classmethod
    def weights_path(cls, name: str) -> Path:
        folder = package_folder("sevenn", "pip install 'platonic[offline]'")
        return folder / "pretrained_potentials" / CHECKPOINTS[cls.variants[name].weights]

    def __init__(self, name: str = "sevennet-0", device: str = "cpu"):
        super().__init__(device)
        if name not in self.variants:
            raise ValueError(f"unknown SevenNet variant {name!r}; choose from {sorted(self.variants)}")
        from sevenn.util import load_checkpoint

        path = self.weights_path(name)
        checkpoint = load_checkpoint(str(path))
        self.cutoff = float(checkpoint.config["cutoff"])
        self.type_map = dict(checkpoint.config["_type_map"])
        self.modality = MODALITIES.get(name)
        self._checkpoint = checkpoint
        model = checkpoint.build_model()
        self._use_energy_only(model)
        self.card = self._card(
            name,
            weights_source=str(path),
            weights_sha256=sha256_file(path),
            package_versions=package_versions("sevenn", "e3nn"),
            notes="not invariant under improper rotations (mirror images): see the parity diagnostic",
        )

    @property
    def supported_numbers(self) -> frozenset[int]:
        return frozenset(int(z) for z in self.type_map)

    def _batch(self, structures: list[Atoms]):
        from sevenn.atom_graph_data import AtomGraphData
        from sevenn.train.dataload import unlabeled_atoms_to_graph
        from torch_geometric.data import Batch

        graphs = [AtomGraphData.from_numpy_dict(unlabeled_atoms_to_graph(a, self.cutoff)) for a in structures]
        if self.modality is not None:
            # Batched multi-fidelity inputs carry their modality per graph (the model's modal map).
            for graph in graphs:
                graph["data_modality"] = self.modality
        return Batch.from_data_list(graphs).to(self.device)

    def calculator(self):
        from sevenn.calculator import SevenNetCalculator

        model = self._checkpoint.build_model()
        if self.modality is not None:
            model.prepare_modal_deploy(self.modality)
        return SevenNetCalculator(model=model, file_type="model_instance", device=self.device, modal=self.modality)
