"""The study configuration: what `platonic run` does, read from TOML and validated.

A study file has one table per pipeline stage; every key is optional and falls back to the
default below, so ``platonic run`` with no file is the default study::

    [dataset]            # which structures
    name = "mp20"        # mp20, mp20-full, or a path to any ASE-readable structure file
    split = "all"        # all, train, val, test (MP-20 only)
    n = 500              # reproducible subsample of n structures; "all" for every structure
    seed = 0

    [models]
    names = ["default"]  # registry names, "default" = every offline model + the random control
    device = "cpu"

    [extract]
    engine = "inprocess" # inprocess, or ray: shards as tasks of Ray actors (the ray extra)
    address = "local"    # ray only: "local" starts a cluster here; "auto" or "ray://host:port" joins one
    workers = 0          # ray only: actors per model, 0 = as many as the cluster's CPUs (GPUs) allow

    [anchors]
    reference = "chgnet-0.3.0"
    method = "direct"    # direct, random, fps
    k = 100
    seed = 0
    sweep = true         # K sweep 3..400
    diversity = true     # DIRECT vs random diversity table

    [compare]
    metrics = ["procrustes", "cka", "mknn", "ot", "superscore", "gfre", "gfrd", "lfre"]
    spaces = ["raw", "unified"]
    k = 10               # mutual-kNN neighbours
    mknn_queries = 10000 # mKNN averaged over this many seeded query atoms (neighbours among all); 0: every atom
    ot_samples = 2000
    ot_repeats = 3
    twonn_atoms = 20000  # 0 skips the intrinsic dimension
    lfre_atoms = 1000    # LFRE test atoms, element-stratified (the paper's 1,000)
    permutations = 5     # permutation-null draws (Procrustes, CKA, mKNN, SuperScore); 0: none
    centred = true       # also the unified space centred per model (headline OT and SuperScore)
    exclude_same_structure = true   # mKNN ignores neighbours from the query atom's own structure
    seed = 0

    [analyse]
    chemistry = true     # element maps, group coherence, trajectories, cumulant gains
    arithmetic = true    # material / polymorph / reaction embeddings (Table 1)
    reference = "chgnet-0.3.0"   # the model c-sim, stitching and norm ratios are measured against
    maps = true          # anchors on the reference map, unified maps vs K (DIRECT vs random), Table S2
    norms = true         # embedding-norm scaling across materials (Table S3)
    seed = 0

    [diagnose]
    control = true       # the random-weight control against the trained models
    equivariance = true  # two-NN vs spglib's equivalent atoms (tightest stable symprec per structure)
    equivariance_groups = 6            # the most frequent space groups scored (0: every one that qualifies)
    equivariance_min_structures = 2    # structures with equivalent atoms a space group needs to be scored
    rotation = true      # random rotations of BaCeO3
    rotations = 10
    drift = true         # CHGNet 0.3.0 -> r2SCAN, SevenNet-0 -> MF-0
    dimers = true        # Cu-Cu and Au-Au E(r) per checkpoint (part of drift)
    atypical = true      # structures far from the cross-model consensus
    top = 20
    seed = 0

Unknown tables or keys and values of the wrong type or range are errors naming the key, the
value and the file; nothing is ignored.
"""

from __future__ import annotations

import copy
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from platonic.errors import PlatonicError

SYMMETRIC = ["procrustes", "cka", "mknn", "ot", "superscore"]
ASYMMETRIC = ["gfre", "gfrd", "lfre"]

DEFAULTS: dict[str, dict[str, Any]] = {
    "dataset": {"name": "mp20", "split": "all", "n": 500, "seed": 0},
    "models": {"names": ["default"], "device": "cpu"},
    "extract": {"engine": "inprocess", "address": "local", "workers": 0},
    "anchors": {"reference": "chgnet-0.3.0", "method": "direct", "k": 100, "seed": 0, "sweep": True,
                "diversity": True},
    "compare": {"metrics": SYMMETRIC + ASYMMETRIC, "spaces": ["raw", "unified"], "k": 10, "mknn_queries": 10000,
                "ot_samples": 2000,
                "ot_repeats": 3, "twonn_atoms": 20000, "lfre_atoms": 1000, "permutations": 5, "centred": True,
                "exclude_same_structure": True, "seed": 0},
    "analyse": {"chemistry": True, "arithmetic": True, "reference": "chgnet-0.3.0", "seed": 0, "maps": True,
                "norms": True},
    "diagnose": {"control": True, "equivariance": True, "equivariance_groups": 6, "equivariance_min_structures": 2,
                 "rotation": True, "rotations": 10, "drift": True, "dimers": True, "atypical": True, "top": 20,
                 "seed": 0},
}

CHOICES: dict[tuple[str, str], tuple[str, ...]] = {
    ("dataset", "split"): ("all", "train", "val", "test"),
    ("models", "device"): ("cpu", "cuda"),
    ("extract", "engine"): ("inprocess", "ray"),
    ("anchors", "method"): ("direct", "random", "fps"),
}
LIST_CHOICES: dict[tuple[str, str], tuple[str, ...]] = {
    ("compare", "metrics"): tuple(SYMMETRIC + ASYMMETRIC),
    ("compare", "spaces"): ("raw", "unified"),
}
MINIMUM: dict[tuple[str, str], int] = {
    ("dataset", "n"): 1, ("anchors", "k"): 2, ("compare", "k"): 1, ("compare", "mknn_queries"): 0, ("compare", "ot_samples"): 2,
    ("compare", "ot_repeats"): 1, ("compare", "twonn_atoms"): 0, ("compare", "lfre_atoms"): 10, ("compare", "permutations"): 0,
    ("diagnose", "rotations"): 1, ("diagnose", "top"): 1,
    ("diagnose", "equivariance_groups"): 0, ("diagnose", "equivariance_min_structures"): 1,
}


class ConfigError(PlatonicError, ValueError):
    """A study file or override that cannot be used; the message names the key and value."""


@dataclass(frozen=True)
class StudyConfig:
    """A validated study: ``sections[table][key]``, every key present."""

    sections: dict[str, dict[str, Any]]

    def __getitem__(self, table: str) -> dict[str, Any]:
        return self.sections[table]

    def to_toml(self) -> str:
        """The effective configuration as TOML (what ``platonic run --print-config`` shows)."""
        lines = []
        for table, values in self.sections.items():
            lines.append(f"[{table}]")
            lines += [f"{key} = {_toml_value(value)}" for key, value in values.items()]
            lines.append("")
        return "\n".join(lines)


def _toml_value(value: Any) -> str:
    if value is None:
        return '"all"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return "[" + ", ".join(_toml_value(v) for v in value) + "]"


def _check(table: str, key: str, value: Any, where: str) -> Any:
    default = DEFAULTS[table][key]
    name = f"{where}[{table}].{key} = {value!r}"
    if (table, key) == ("dataset", "n") and value in ("all", None):
        return None
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{name}: expected true or false")
    elif isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{name}: expected an integer" + (' or "all"' if key == "n" else ""))
        if value < MINIMUM.get((table, key), 0):
            raise ConfigError(f"{name}: must be >= {MINIMUM.get((table, key), 0)}")
    elif isinstance(default, str):
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{name}: expected a non-empty string")
        if (table, key) in CHOICES and value not in CHOICES[table, key]:
            raise ConfigError(f"{name}: choose one of {', '.join(CHOICES[table, key])}")
    elif isinstance(default, list):
        if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
            raise ConfigError(f"{name}: expected a non-empty list of strings")
        allowed = LIST_CHOICES.get((table, key))
        bad = [v for v in value if allowed and v not in allowed]
        if bad:
            raise ConfigError(f"{name}: unknown {bad}; choose from {', '.join(allowed)}")
        if len(set(value)) != len(value):
            raise ConfigError(f"{name}: repeated entries")
    return value


def make_config(overrides: dict[str, dict[str, Any]] | None = None, where: str = "") -> StudyConfig:
    """Defaults updated by ``overrides`` (same shape as the TOML file), validated."""
    sections = copy.deepcopy(DEFAULTS)
    for table, values in (overrides or {}).items():
        if table not in DEFAULTS:
            raise ConfigError(f"{where}unknown table [{table}]; the tables are {', '.join(DEFAULTS)}")
        if not isinstance(values, dict):
            raise ConfigError(f"{where}[{table}] must be a table, got {values!r}")
        for key, value in values.items():
            if key not in DEFAULTS[table]:
                raise ConfigError(f"{where}unknown key [{table}].{key}; [{table}] has {', '.join(DEFAULTS[table])}")
            sections[table][key] = _check(table, key, value, where)
    if sections["dataset"]["n"] == "all":
        sections["dataset"]["n"] = None
    return StudyConfig(sections)


def load_config(path: str | Path | None, overrides: dict[str, dict[str, Any]] | None = None) -> StudyConfig:
    """Read a study file (None: the defaults), then apply command-line ``overrides``."""
    merged: dict[str, dict[str, Any]] = {}
    if path is not None:
        path = Path(path)
        try:
            merged = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise ConfigError(f"{path}: no such study file") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{path}: not a study file (not UTF-8 text)") from None
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read the study file: {exc.strerror or exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
        make_config(merged, where=f"{path}: ")
    for table, values in (overrides or {}).items():
        merged.setdefault(table, {}).update(values)
    return make_config(merged, where=f"{path}: " if path else "")
