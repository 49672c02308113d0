"""The batched forward shared by adapters whose embedding a hook captures: one inference-mode pass
of the model's own network gives both the embedding and the energy (MatterSim, SevenNet, HIENet),
and its form for potentials that take a PyG batch with one lattice and one state vector per
structure (matgl's PyG TensorNet, and DIEP, a PyG port of matgl's models)."""

from __future__ import annotations

import numpy as np
from ase import Atoms


class HookedForward:
    """Mixin for an :class:`EmbeddingModel` whose embedding a hook stores in ``self._captured`` during
    one batched forward of the model's own network, run under ``torch.inference_mode``: the embedding
    is what the hook captured, the energy is read from the same forward's output.

    A model gives ``_batch`` (its input for a list of structures) and :meth:`_energy_of`; it overrides
    :meth:`_run` where its network is not called as ``self.model(batch)``.
    """

    def _run(self, batch):
        return self.model(batch)

    def _forward(self, structures: list[Atoms]):
        import torch

        batch = self._batch(structures)
        with torch.inference_mode():
            return self._run(batch)

    def _embed_batch(self, structures: list[Atoms]) -> list[np.ndarray]:
        self._forward(structures)
        return self.take_captured(structures)

    def _energy_of(self, output) -> np.ndarray:
        """The total energy (eV) per structure in the network's output."""
        raise NotImplementedError(f"{type(self).__name__} reads no energy from its forward")

    def energy_forward(self, structures: list[Atoms]) -> np.ndarray:
        """The network's own batched energy-only forward (graph building included), for benchmarks."""
        return self._energy_of(self._forward(structures))


class LatticeGraphForward(HookedForward):
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

    def _run(self, batch):
        graphs, lattices, states = batch
        return self.potential(graphs, lattices, states)

    def _energy_of(self, output) -> np.ndarray:
        return np.atleast_1d(output[0].cpu().numpy())
