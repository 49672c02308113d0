"""CHGNet (Deng et al. 2023): 0.3.0, 0.2.0 and the r2SCAN fine-tune, weights from the chgnet wheel.

Embedding: the atom features that feed the readout MLP, i.e. the output of the last atom
convolution after ``readout_norm``. All three versions are read at the same place, the readout
input: in ``CHGNet._compute`` the last atom convolution is followed by ``readout_norm`` (a LayerNorm
in 0.3.0 and r2SCAN) and then the readout MLP. 0.2.0 was trained without ``readout_norm``
(``readout_norm=None``), so its readout reads the last convolution's output directly, which is
where its hook sits. Hooking ``atom_conv_layers[-1]`` in 0.3.0 too would give the same module name
but a tensor the readout never sees (before a per-atom normalisation with trained scale and shift),
so the module names differ and the position does not. ``return_atom_feas=True`` in CHGNet's own
API gives the features *before* the last convolution, which is not the readout input, hence the hook.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ase import Atoms

from platonic.models._provenance import package_folder, package_versions
from platonic.models.base import EmbeddingModel, UnsupportedStructureError, Variant, sha256_file

_MPTRJ = "MPtrj (PBE/PBE+U), 1.58M frames"

class CHGNetModel(EmbeddingModel):
    """A CHGNet checkpoint with a forward hook on the readout input."""

    family = "CHGNet"
    distribution = import_name = "chgnet"
    order = 10
    layer = "readout_norm (output)"
    dim = 64
    mirror = "invariant"
    variants = {
        "chgnet-0.3.0": Variant("0.3.0/chgnet_0.3.0_e29f68s314m37.pth.tar", _MPTRJ, variant="0.3.0"),
        "chgnet-0.2.0": Variant(
            "0.2.0/chgnet_0.2.0_e30f77s348m32.pth.tar", _MPTRJ, variant="0.2.0",
            # The layer string is part of the store fingerprint: kept as first written.
            layer="atom_conv_layers[-1] (raw)",
            notes="the readout input, as in 0.3.0 and r2SCAN: 0.2.0 has no readout_norm, so its readout MLP "
            "reads the last atom convolution's output directly",
        ),
        "chgnet-r2scan": Variant(
            "r2scan/chgnet_r2scan_transfer_learning_e15f36s161m23.pth.tar",
            "MP r2SCAN (transfer learning from CHGNet 0.3.0 on MPtrj)", variant="r2scan",
        ),
    }
    drift_pairs = (("chgnet-0.3.0", "chgnet-r2scan"),)
    invariance_tolerance = 2e-5

    @classmethod
    def weights_path(cls, name: str) -> Path:
        return package_folder("chgnet", "pip install 'platonic[offline]'") / "pretrained" / cls.variants[name].weights

    def __init__(self, name: str = "chgnet-0.3.0", device: str = "cpu"):
        super().__init__(device)
        if name not in self.variants:
            raise ValueError(f"unknown CHGNet variant {name!r}; choose from {sorted(self.variants)}")
        from chgnet.model import CHGNet

        path = self.weights_path(name)
        self.model = CHGNet.load(model_name=self.variants[name].variant, use_device=device, verbose=False).eval()
        # An atom with no neighbour within the cutoff has no meaningful embedding: refuse the structure.
        self.model.graph_converter.set_isolated_atom_response("error")
        hooked = self.model.readout_norm if self.model.readout_norm is not None else self.model.atom_conv_layers[-1]
        self._captured = None
        hooked.register_forward_hook(self._capture)
        self.card = self._card(
            name,
            weights_source=str(path),
            weights_sha256=sha256_file(path),
            package_versions=package_versions("chgnet"),
            notes="; ".join(filter(None, [self.variants[name].notes,
                                          "crystal_fea of CHGNet is a sum over atoms; platonic pools with a mean"])),
        )

    def _capture(self, module, inputs, output) -> None:
        self._captured = output

    @property
    def supported_numbers(self) -> frozenset[int]:
        return frozenset(range(1, self.model.atom_embedding.embedding.num_embeddings + 1))

    def _graphs(self, structures: list[Atoms]) -> list:
        from pymatgen.io.ase import AseAtomsAdaptor

        convert = self.model.graph_converter
        graphs = []
        for atoms in structures:
            try:
                graphs.append(convert(AseAtomsAdaptor.get_structure(atoms)).to(self.device))
            except ValueError as exc:  # e.g. an atom with no neighbour within the graph cutoff
                raise UnsupportedStructureError(f"{self.card.name} graph: {exc}") from exc
        return graphs

    def _embed_batch(self, structures: list[Atoms]) -> list[np.ndarray]:
        import torch

        graphs = self._graphs(structures)
        with torch.inference_mode():
            self.model.forward(graphs, task="e")
        return self.take_captured(structures)

    def energy_forward(self, structures: list[Atoms]) -> np.ndarray:
        """Total energy (eV) of each structure from the package's own energy-only forward (graph
        building included): CHGNet predicts energy per atom (``is_intensive``), so ``E = N e``, as
        its calculator reports it. Isolated atoms (a dimer beyond the cutoff, one atom in a box) are
        accepted here as the calculator accepts them; only embeddings refuse them."""
        import torch

        convert = self.model.graph_converter
        response = convert.on_isolated_atoms
        convert.set_isolated_atom_response("ignore")
        try:
            graphs = self._graphs(structures)
        finally:
            convert.set_isolated_atom_response(response)
        with torch.inference_mode():
            energy = self.model.forward(graphs, task="e")["e"].cpu().numpy().astype(np.float64)
        return energy * np.array([len(a) for a in structures]) if self.model.is_intensive else energy

    def calculator(self):
        from chgnet.model.dynamics import CHGNetCalculator

        import copy

        # CHGNetCalculator switches its model's converter to warn on isolated atoms (dimers need that),
        # so it gets a copy: the embedding model keeps refusing them.
        return CHGNetCalculator(model=copy.deepcopy(self.model), use_device=self.device)
