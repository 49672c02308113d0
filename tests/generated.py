"""Generated inputs shared by tests in several folders: small rattled crystals and study files.

Importable as ``generated`` (``tests/conftest.py`` puts this folder on ``sys.path``; the tests run
with ``--import-mode=importlib``, which does not).
"""

from __future__ import annotations

from pathlib import Path

#: (formula, ase.build.bulk lattice, lattice constant in Å) that the crystal sets cycle through
KINDS = (("Cu", "fcc", 3.6), ("NaCl", "rocksalt", 5.6), ("Si", "diamond", 5.4), ("MgO", "rocksalt", 4.2))


def rattled_crystals(n: int, *, amount: float, layers: int = 2, kinds=KINDS, prefix: str = "c",
                     name: str = "crystals"):
    """A dataset of ``n`` crystals cycling through ``kinds``: the k-th is repeated ``1 + k % layers``
    times along c and rattled by ``amount`` Å (seed k); ids ``<prefix><k>``."""
    from ase.build import bulk

    from platonic.datasets import from_structures

    structures = []
    for k in range(n):
        formula, lattice, a0 = kinds[k % len(kinds)]
        atoms = bulk(formula, lattice, a=a0).repeat((1, 1, 1 + k % layers))
        atoms.rattle(amount, seed=k)
        structures.append(atoms)
    return from_structures(structures, ids=[f"{prefix}{k}" for k in range(n)], name=name)


def copper_cells(path: Path, n: int = 4, element: str = "Cu") -> Path:
    """``n`` cubic fcc cells of ``element`` (a = 3.55 + 0.03 i Å), rattled off the fcc space group
    (as a relaxed sample would be), written to ``path`` (any format ase writes)."""
    from ase.build import bulk
    from ase.io import write

    frames = []
    for i in range(n):
        atoms = bulk(element, "fcc", a=3.55 + 0.03 * i, cubic=True)
        atoms.rattle(0.05, seed=i)
        frames.append(atoms)
    write(path, frames)
    return path


def study_file(tmp_path: Path, data: Path, models: list[str], reference: str, metrics=("procrustes", "cka"),
               **tables) -> Path:
    """A quick study file (``tmp_path/study.toml``) on the structure file ``data``: K = 4 anchors on
    ``reference``, ``metrics`` in the unified space, no sweep, arithmetic or rotation; ``tables``
    override entries table by table."""
    from platonic.study.config import make_config

    config = {
        "dataset": {"name": str(data), "n": "all"},
        "models": {"names": models},
        "anchors": {"reference": reference, "k": 4, "sweep": False, "diversity": False},
        "compare": {"metrics": list(metrics), "spaces": ["unified"], "twonn_atoms": 0},
        "analyse": {"reference": reference, "arithmetic": False},
        "diagnose": {"rotation": False},
    }
    for table, values in tables.items():
        config[table] |= values
    path = tmp_path / "study.toml"
    path.write_text(make_config(config).to_toml())
    return path
