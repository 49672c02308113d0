"""Model adapters, one file per family behind one interface (:class:`EmbeddingModel`).

Importing this package imports no torch and no model package: each adapter imports its backend
when it is loaded, so ``platonic models`` can list what is installed without loading weights.
"""

from __future__ import annotations

import importlib
import importlib.util

from platonic.models._provenance import licence_of
from platonic.models.base import EmbeddingModel, ModelCard, UnsupportedStructureError

# name -> module of its family
_FAMILIES = {
    "chgnet-0.3.0": "chgnet",
    "chgnet-0.2.0": "chgnet",
    "chgnet-r2scan": "chgnet",
    "sevennet-0": "sevennet",
    "sevennet-l3i5": "sevennet",
    "sevennet-mf-0": "sevennet",
    "sevennet-mf-0-r2scan": "sevennet",
    "diep": "diep",
    "mace-dummy": "mace",
}
_CLASSES = {"chgnet": "CHGNetModel", "sevennet": "SevenNetModel", "diep": "DIEPModel", "mace": "MACEModel"}
_PACKAGES = {"chgnet": "chgnet", "sevennet": "sevenn", "diep": "diep", "mace": "mace"}
_DISTRIBUTIONS = {"chgnet": "chgnet", "sevennet": "sevenn", "diep": "diep", "mace": "mace-torch"}

MODEL_NAMES: tuple[str, ...] = tuple(_FAMILIES)
#: The offline default: every model whose real weights ship in a wheel, plus the random control.
DEFAULT_MODELS: tuple[str, ...] = (
    "chgnet-0.3.0",
    "chgnet-0.2.0",
    "chgnet-r2scan",
    "sevennet-0",
    "sevennet-l3i5",
    "sevennet-mf-0",
    "diep",
    "mace-dummy",
)


def _family(name: str) -> str:
    if name.startswith("mace:"):
        return "mace"
    try:
        return _FAMILIES[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODEL_NAMES)} or mace:/path/to/file.model") from None


def load_model(name: str, device: str = "cpu") -> EmbeddingModel:
    """Load the adapter ``name`` (see :data:`MODEL_NAMES`, or ``mace:/path/to/file.model``) on ``device``."""
    family = _family(name)
    module = importlib.import_module(f"platonic.models.{family}")
    return getattr(module, _CLASSES[family])(name, device=device)


def available_models() -> list[dict]:
    """One static card per adapter, with its licence and whether its package and weights are found.

    Nothing is loaded or imported from the model packages (no torch): weights are located from the
    package's install folder and licences are read from the installed metadata.
    """
    rows = []
    for name in MODEL_NAMES:
        family = _FAMILIES[name]
        module = importlib.import_module(f"platonic.models.{family}")
        row = module.static_card(name)
        row.update(package=_DISTRIBUTIONS[family], default=name in DEFAULT_MODELS)
        if importlib.util.find_spec(_PACKAGES[family]) is None:
            row.update(licence="unknown: package not installed", weights_found=False)
            row["reason"] = f"package {_DISTRIBUTIONS[family]} not installed"
        elif family == "mace":
            row.update(licence=licence_of(_DISTRIBUTIONS[family]), weights_found=True)
            row["weights"] = "built from a seed (no file)"
        else:
            path = module.weights_path(name)
            row.update(licence=licence_of(_DISTRIBUTIONS[family]), weights_found=path.is_file(), weights=str(path))
            if not path.is_file():
                row["reason"] = f"weights file {path} missing"
        rows.append(row)
    return rows


__all__ = [
    "DEFAULT_MODELS",
    "MODEL_NAMES",
    "EmbeddingModel",
    "ModelCard",
    "UnsupportedStructureError",
    "available_models",
    "load_model",
]
