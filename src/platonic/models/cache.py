"""Models loaded once per study: :class:`LoadedModels`, shared by the stages that run a model.

Three analyses after extraction run the models themselves: the embedding arithmetic (it embeds
Table 1's reaction structures, :class:`platonic.analyse.unified_space.UnifiedSpace`), the rotation
diagnostic and the dimer curves of the drift diagnostic. Each used to load its own copy of every
checkpoint (and the dimer curves a second one for an ASE calculator), so a study loaded a model up to
three times. ``platonic run`` now makes one :class:`LoadedModels` and hands it to the analyse and
diagnose stages; a stage run on its own (``platonic diagnose``) makes its own, so its analyses still
share each model.

Memory: the cache keeps every model it loaded until :meth:`LoadedModels.clear`; a trained MLIP's
weights are a few MB (CHGNet 0.4 M parameters, SevenNet-0 0.8 M), so holding the default study's
models costs less than re-reading them.
"""

from __future__ import annotations

from collections import Counter

from platonic.models.base import EmbeddingModel


class LoadedModels:
    """name -> the model loaded on ``device`` by :func:`platonic.models.load_model`, at the first
    request only; ``loads`` counts the loads per name (one each, by construction)."""

    def __init__(self, device: str = "cpu"):
        self.device = device
        self._models: dict[str, EmbeddingModel] = {}
        self.loads: Counter[str] = Counter()

    def get(self, name: str | EmbeddingModel) -> EmbeddingModel:
        """The model ``name`` (a model object is returned as it is, like ``load_model`` does)."""
        if isinstance(name, EmbeddingModel):
            return name
        if name not in self._models:
            # Looked up on the package at call time, so one patch of platonic.models.load_model
            # (tests, instrumentation) sees every load of every stage.
            from platonic import models

            self._models[name] = models.load_model(name, device=self.device)
            self.loads[name] += 1
        return self._models[name]

    def __contains__(self, name: object) -> bool:
        return name in self._models

    def names(self) -> list[str]:
        return list(self._models)

    def clear(self) -> None:
        """Forget every model (frees their weights once nothing else refers to them)."""
        self._models.clear()


def loaded_models(cache: LoadedModels | None, device: str = "cpu") -> LoadedModels:
    """``cache``, or a new one on ``device`` (for a stage or function called without one)."""
    if cache is not None and cache.device != device:
        from platonic.errors import PlatonicError

        raise PlatonicError(f"the shared models are loaded on {cache.device!r}, this stage asks for {device!r}")
    return cache if cache is not None else LoadedModels(device)
