"""Tiny closed-form stand-ins for models and generated inputs, shared by the robustness tests.

``TinyModel`` embeds atom i as ``[Z_i, number of atoms within 3 Å]``: cheap, deterministic and
known exactly, so a test can check every stored row without loading real weights.
"""

from __future__ import annotations

import numpy as np
from generated import rattled_crystals
from platonic.models.base import EmbeddingModel, ModelCard


def tiny_card(name: str) -> ModelCard:
    return ModelCard(
        name=name, family="test", variant="1", layer="closed form", dim=2, equivariant=False,
        conservative=False, training_data="none", weights_source="none", licence="MIT", trained=False,
    )


def tiny_embedding(atoms) -> np.ndarray:
    from ase.neighborlist import neighbor_list

    first = neighbor_list("i", atoms, 3.0)
    return np.stack([atoms.numbers, np.bincount(first, minlength=len(atoms))], axis=1).astype(np.float32)


class TinyModel(EmbeddingModel):
    """``[Z, neighbours within 3 Å]`` per atom; with ``nan_for`` set, NaN rows for that element."""

    def __init__(self, name: str = "tiny", device: str = "cpu", nan_for: int | None = None, hold: str | None = None):
        super().__init__(device)
        self.card = tiny_card(name)
        self.nan_for = nan_for
        self.hold = hold

    def _embed_batch(self, structures):
        import os
        import time

        while self.hold is not None and os.path.exists(self.hold):  # the test decides when to go on
            time.sleep(0.05)
        out = []
        for atoms in structures:
            emb = tiny_embedding(atoms)
            if self.nan_for is not None:
                emb[atoms.numbers == self.nan_for] = np.nan
            out.append(emb)
        return out


def load_tiny(name: str, device: str = "cpu") -> TinyModel:
    """A ``load_model`` stand-in: ``tiny-nan-<Z>`` gives NaN rows for element Z; ``tiny-held``
    waits before each batch while the file named by ``$PLATONIC_TEST_HOLD`` exists."""
    import os

    if name.startswith("tiny-nan-"):
        return TinyModel(name, device, nan_for=int(name.rsplit("-", 1)[1]))
    if name == "tiny-held":
        return TinyModel(name, device, hold=os.environ["PLATONIC_TEST_HOLD"])
    if name.startswith("tiny"):
        return TinyModel(name, device)
    raise ValueError(f"unknown model {name!r} (only tiny* models in these tests)")


def small_crystals(n: int = 6):
    return rattled_crystals(n, amount=0.02)


def use_tiny(monkeypatch) -> None:
    """Let the CLI run the ``tiny*`` stand-ins: the loader answers them, and the CLI's check of
    model names (against the registry, before any work) passes them on to the real check."""
    from platonic.cli import _checks

    real_check = _checks.model_names
    monkeypatch.setattr("platonic.models.load_model", load_tiny)
    monkeypatch.setattr(_checks, "model_names",
                        lambda names, flag: real_check([n for n in names if not n.startswith("tiny")], flag))
