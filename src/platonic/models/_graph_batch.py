"""The batched energy-only pass shared by potentials that take a PyG batch with one lattice and one
state vector per structure (matgl's PyG TensorNet, and DIEP, a PyG port of matgl's models)."""

from __future__ import annotations

import numpy as np
from ase import Atoms


class LatticeGraphForward:
    """Mixin for an :class:`~platonic.models.base.EmbeddingModel` with ``self.potential(batch,
    lattices, states)``, ``self.element_types`` and a forward hook that fills ``self._captured``.

    A model gives :meth:`_graphs`: per structure, its graph, its (3, 3) lattice and its state
    vector, as tensors; this stacks them into one batch on the model's device.
    """

    def _graphs(self, structures: list[Atoms]):
        raise NotImplementedError

    @property
    def supported_numbers(self) -> frozenset[int]:
        from ase.data import atomic_numbers

        return frozenset(atomic_numbers[e] for e in self.element_types)

    def _batch(self, structures: list[Atoms]):
        import torch
        from torch_geometric.data import Batch

        graphs, lattices, states = zip(*self._graphs(structures))
        batch = Batch.from_data_list(list(graphs)).to(self.device)
        return batch, torch.stack(lattices).to(self.device), torch.stack(states).to(self.device)

    def _forward(self, structures: list[Atoms]):
        import torch

        batch, lattices, states = self._batch(structures)
        with torch.inference_mode():
            return self.potential(batch, lattices, states)

    def _embed_batch(self, structures: list[Atoms]) -> list[np.ndarray]:
        self._forward(structures)
        return self.take_captured(structures)

    def energy_forward(self, structures: list[Atoms]) -> np.ndarray:
        """The potential's own batched energy-only forward (graph building included), for benchmarks."""
        return np.atleast_1d(self._forward(structures)[0].cpu().numpy())
