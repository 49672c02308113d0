"""Isolated virtual environments for model families whose pins clash with the main one.

Real MACE files need mace-torch 0.3.16 with e3nn 0.4.4; SevenNet 0.13 needs e3nn >= 0.5. Both
cannot live in one environment, so a family may declare an ``environment`` (a class attribute of
its model class, see :class:`platonic.models.base.EmbeddingModel`) and its pins. Such a model then
runs in ``<envs>/<name>/`` as a worker process (:mod:`platonic.envs.worker`) that loads it once and
streams per-atom embeddings back over a pipe (:mod:`platonic.envs.frames`); the parent wraps it in
:class:`platonic.envs.remote.IsolatedModel` and writes the store exactly as for an in-process model.

``<envs>`` is ``$PLATONIC_ENVS_DIR`` if set, else ``.venvs/`` of the source checkout platonic runs
from, else ``~/.local/share/platonic/envs``. One command creates an environment::

    platonic env create mace

which makes a venv and pip-installs ``torch==2.13.0`` (the local CPU wheel; an unpinned torch would
pull GBs of CUDA packages), the family's pinned packages, and this platonic without its
dependencies. A marker file records what was installed; an environment whose family's pins have
changed since is reported as outdated, and is not used.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from platonic.errors import PlatonicError

#: Always installed first: the CPU wheel this project pins (scripts/setup.sh installs the same).
TORCH_REQUIREMENT = "torch==2.13.0"
MARKER = ".platonic-env.json"


class IsolatedEnvironmentError(PlatonicError, RuntimeError):
    """An isolated environment that is unknown, missing, outdated, or could not be created."""


@dataclass(frozen=True)
class Environment:
    """One isolated environment: its name, what it installs, and the families that run in it."""

    name: str
    requirements: tuple[str, ...]
    families: tuple[str, ...]
    base_python: str | None = None  # the interpreter to build it on; None: the one running platonic

    @property
    def path(self) -> Path:
        return envs_dir() / self.name

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    @property
    def create_command(self) -> str:
        return f"platonic env create {self.name}"

    def status(self) -> str:
        """``"installed"``, ``"missing"`` or ``"outdated"`` (created with other pins)."""
        marker = self.path / MARKER
        if not self.python.exists() or not marker.is_file():
            return "missing"
        try:
            recorded = json.loads(marker.read_text())
        except (OSError, ValueError):
            return "outdated"
        return "installed" if recorded.get("requirements") == self.all_requirements() else "outdated"

    def installed(self) -> bool:
        return self.status() == "installed"

    def all_requirements(self) -> list[str]:
        return [TORCH_REQUIREMENT, *self.requirements]

    def require(self) -> Path:
        """The environment's python, or an error naming the command that creates it."""
        state = self.status()
        if state != "installed":
            why = "does not exist" if state == "missing" else "was created with other pins than its families now declare"
            raise IsolatedEnvironmentError(
                f"isolated environment {self.name!r} (for {', '.join(self.families)}) {why}: {self.path}; "
                f"create it with `{self.create_command}` (it installs {', '.join(self.all_requirements())})"
            )
        return self.python


def checkout_root() -> Path | None:
    """The source checkout platonic runs from (``src`` layout), or ``None`` for an installed wheel."""
    root = Path(__file__).resolve().parents[3]
    return root if (root / "pyproject.toml").is_file() and (root / "src" / "platonic").is_dir() else None


def envs_dir() -> Path:
    """Where isolated environments live (see the module docstring)."""
    if os.environ.get("PLATONIC_ENVS_DIR"):
        return Path(os.environ["PLATONIC_ENVS_DIR"]).expanduser()
    root = checkout_root()
    return root / ".venvs" if root is not None else Path.home() / ".local" / "share" / "platonic" / "envs"


def environments() -> dict[str, Environment]:
    """Every environment declared by a registered family; two families that name one environment
    with different requirements are an error."""
    from platonic.models import families

    found: dict[str, Environment] = {}
    for cls in families():
        if not cls.environment:
            continue
        reqs, base = tuple(cls.environment_requirements), cls.environment_python
        label = f"{cls.__module__}.{cls.__qualname__}"
        if cls.environment in found:
            env = found[cls.environment]
            if (env.requirements, env.base_python) != (reqs, base):
                raise IsolatedEnvironmentError(
                    f"environment {cls.environment!r}: {label} requires {list(reqs)} on {base or 'this python'} but "
                    f"{', '.join(env.families)} require {list(env.requirements)} on {env.base_python or 'this python'}")
            found[cls.environment] = Environment(env.name, reqs, (*env.families, cls.family), base)
        else:
            found[cls.environment] = Environment(cls.environment, reqs, (cls.family,), base)
    return found


def get(name: str) -> Environment:
    envs = environments()
    if name not in envs:
        raise IsolatedEnvironmentError(f"unknown environment {name!r}; declared: {', '.join(envs) or 'none'}")
    return envs[name]


def running_in(env: Environment) -> bool:
    """Whether this process is that environment's python (then its models run in-process)."""
    try:
        return Path(sys.prefix).resolve() == env.path.resolve()
    except OSError:
        return False


def create(name: str, *, python: str | None = None, source: Path | None = None,
           log: Callable[[str], None] = print) -> Path:
    """Create (or refresh) environment ``name``: a venv with torch, the family's pins and platonic.

    ``python``: the interpreter to base it on (default: the family's ``environment_python``, else
    the one running); ``source``: the platonic
    checkout to install editable (default: the one running). Returns the environment's folder.
    """
    env = get(name)
    source = Path(source) if source is not None else checkout_root()
    if source is None:
        raise IsolatedEnvironmentError(f"platonic is not running from a source checkout, so it cannot be installed "
                                       f"into {env.path}: pass the checkout with --source PATH")
    if not (source / "pyproject.toml").is_file():
        raise IsolatedEnvironmentError(f"--source {source}: not a platonic checkout (no pyproject.toml)")

    def run(args: list[str], what: str) -> None:
        log(f"{what}: {' '.join(map(str, args))}")
        done = subprocess.run([str(a) for a in args], capture_output=True, text=True)
        if done.returncode != 0:
            tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
            raise IsolatedEnvironmentError(f"creating environment {name!r} failed at {what} (exit {done.returncode}):\n{tail}")

    (env.path / MARKER).unlink(missing_ok=True)  # an interrupted creation must not look installed
    run([python or env.base_python or sys.executable, "-m", "venv", env.path], "venv")
    pip = [env.python, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    # One resolver run for torch and the pins, so that nothing replaces the pinned CPU torch.
    run([*pip, *env.all_requirements()], "packages")
    run([*pip, "--no-deps", "-e", source], "platonic")
    imports = sorted({cls.import_name for cls in _families_in(name) if cls.import_name})
    run([env.python, "-c", f"import platonic, {', '.join(['torch', *imports])}"], "import check")
    (env.path / MARKER).write_text(json.dumps({"requirements": env.all_requirements(), "source": str(source)}, indent=1))
    log(f"environment {name!r} ready: {env.path}")
    return env.path


def _families_in(name: str):
    from platonic.models import families

    return [cls for cls in families() if cls.environment == name]


__all__ = ["Environment", "IsolatedEnvironmentError", "TORCH_REQUIREMENT", "checkout_root", "create",
           "environments", "envs_dir", "get", "running_in"]
