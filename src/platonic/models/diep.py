"""DIEP (PyTorch Geometric port) trained on MatPES r2SCAN, the released fold-1 model in the diep wheel.

Embedding: the node features after the last graph block (``gc_3``, 64 channels), which feed the
atom-wise readout. They are read by a forward hook on the last graph layer while the potential runs
an energy-only batched pass (forces, stresses and Hessian switched off).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from ase import Atoms

from platonic.models._graph_batch import LatticeGraphForward
from platonic.models._provenance import package_folder, package_versions
from platonic.models.base import EmbeddingModel, Variant, sha256_file


class DIEPModel(LatticeGraphForward, EmbeddingModel):
    """The released DIEP potential, run batched and energy-only."""

    family = "DIEP"
    distribution = import_name = "diep"
    order = 30
    layer = "graph_layers[-1] node_feat (gc_3)"
    dim = 64
    mirror = "invariant"
    variants = {"diep": Variant("diep_fold1", "MatPES r2SCAN (90/5/5 split, fold 1)", variant="fold1")}
    invariance_tolerance = 5e-5
    #: DIEP's bond features integrate over a 2-D grid per edge (edges x grid points tensors), so it
    #: is the most cache-bound: 32 atoms ran 4x faster than 1024 on CPU (benchmarks/batch_size.py).
    cpu_batch_atoms = 32

    @classmethod
    def model_dir(cls) -> Path:
        return package_folder("diep", "pip install 'platonic[offline]'") / "pretrained_models" / cls.variants["diep"].weights

    @classmethod
    def weights_path(cls, name: str = "diep") -> Path:
        return cls.model_dir() / "model.pt"

    def __init__(self, name: str = "diep", device: str = "cpu"):
        super().__init__(device)
        if name != "diep":
            raise ValueError(f"unknown DIEP variant {name!r}; choose 'diep'")
        from diep.graph.converters import Structure2Graph
        from diep.pretrained import load_potential

        directory = self.model_dir()
        self.potential = load_potential(directory, device=device, stress=False)
        self.potential.calc_forces = False
        self.potential.calc_hessian = False
        network = self.potential.model
        self.element_types = tuple(network.element_types)
        self.converter = Structure2Graph(element_types=self.element_types, cutoff=network.cutoff)
        self._captured = None
        network.graph_layers[-1].register_forward_hook(self._capture)
        provenance = json.loads((directory / "PROVENANCE.json").read_text())
        self.card = self._card(
            name,
            weights_source=str(directory),
            weights_sha256=sha256_file(directory / "model.pt"),
            package_versions=package_versions("diep", "torch_geometric"),
            notes=f"{provenance.get('description', '')}; rotation changes embeddings at exact bond-length "
            "ties (perfect cubic cells) through its triplet ordering",
        )

    def _capture(self, module, inputs, output) -> None:
        self._captured = output[1]

    def _graphs(self, structures: list[Atoms]):
        import torch
        from pymatgen.io.ase import AseAtomsAdaptor

        for atoms in structures:
            graph, lattice, state = self.converter.get_graph(AseAtomsAdaptor.get_structure(atoms))
            yield graph, lattice[0], torch.as_tensor(np.asarray(state))

    def calculator(self):
        from diep.pretrained import make_calculator

        return make_calculator(str(self.model_dir()), device=self.device, stress=False)
