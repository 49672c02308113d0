"""Checks of a verb's input before any work starts: each ends the verb as bad input (exit 2) with a
message naming the flag and the reason. Verbs call them as ``checks.<name>`` (tests replace one)."""

from __future__ import annotations

from pathlib import Path

from platonic.cli._common import fail


def device(value: str, flag: str) -> None:
    """``cuda`` only where torch sees a GPU (else the models fail deep inside with a CUDA error)."""
    if value == "cuda":
        import torch

        if not torch.cuda.is_available():
            fail(f"{flag} cuda: torch sees no CUDA GPU on this machine (torch {torch.__version__}, "
                 f"built for CUDA {torch.version.cuda or 'none'}); use cpu")
    elif value != "cpu":
        fail(f"{flag} {value!r}: choose cpu or cuda")


def model_names(names: list[str], flag: str) -> None:
    """Every name is a registry model whose package and weights are found, or ``mace:<existing
    file>``, before any work starts."""
    from platonic.models import DEFAULT_MODELS, MODEL_NAMES, available_models

    cards = None
    for name in [m for n in names for m in (DEFAULT_MODELS if n == "default" else [n])]:
        if name in MODEL_NAMES:
            cards = cards or {row["name"]: row for row in available_models()}
            if not cards[name]["weights_found"]:
                fail(f"{flag} {name!r}: {cards[name].get('reason', 'weights not found')} "
                     "(`platonic models` lists what is found)")
            continue
        if name.startswith("mace:"):
            path = Path(name[len("mace:"):])
            if not path.is_file():
                fail(f"{flag} {name!r}: no MACE model file {path}")
            environment(name, flag)
            continue
        fail(f"{flag} {name!r}: unknown model; choose from {', '.join(MODEL_NAMES)} or mace:/path/to/file.model "
             "(`platonic models` lists them)")


def environment(name: str, flag: str) -> None:
    """A model that runs in an isolated environment needs it installed (the error names the command)."""
    from platonic.envs import IsolatedEnvironmentError
    from platonic.models import _isolated_environment, family_of

    env = _isolated_environment(family_of(name), name)
    if env is not None:
        try:
            env.require()
        except IsolatedEnvironmentError as exc:
            fail(f"{flag} {name!r}: {exc}")


def split_models(models: str) -> list[str]:
    """``--models a,b,c`` as a list of names (an empty list is refused)."""
    names = [m.strip() for m in models.split(",") if m.strip()]
    if not names:
        fail("--models is empty")
    return names


def open_store(store: Path):
    """The embedding store at ``store``, or bad input naming what is wrong with it."""
    from platonic.store import EmbeddingStore, StoreError

    try:
        return EmbeddingStore(store)
    except StoreError as exc:
        fail(str(exc))
    except (ValueError, KeyError, TypeError) as exc:  # a dataset.json that is not the store's
        fail(f"{store}: not a readable embedding store ({store / 'dataset.json'}: {type(exc).__name__}: {exc})")


def store_models(store: Path, models: str):
    """The store at ``store`` and the models a verb works on: ``all`` in it, or the ``--models`` list."""
    s = open_store(store)
    return s, (s.models() if models == "all" else split_models(models))


def out_folder(out: Path) -> None:
    """``--out`` is a folder or does not exist yet."""
    if out.exists() and not out.is_dir():
        fail(f"--out {out}: exists and is not a folder")


def integer(flag: str, value: str) -> int:
    """An integer option that also takes ``'all'`` (handled by the caller)."""
    try:
        return int(value)
    except ValueError:
        fail(f"{flag} {value!r}: expected an integer or 'all'")
