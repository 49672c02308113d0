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
value and the file; nothing is ignored. The keys, types, defaults, choices and bounds are those of
the typed schema, :mod:`platonic.study.schema` (one pydantic model per table); the listing above
is checked against it by the tests.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from platonic.errors import PlatonicError
from platonic.study.schema import ASYMMETRIC, DEFAULTS, SYMMETRIC, TABLES, choices, minimum

# The typed schema (platonic.study.schema) is the source; these views of it are kept for callers.
CHOICES: dict[tuple[str, str], tuple[str, ...]] = {
    (t, k): choices(t, k) for t in TABLES for k, v in DEFAULTS[t].items() if isinstance(v, str) and choices(t, k)}
LIST_CHOICES: dict[tuple[str, str], tuple[str, ...]] = {
    (t, k): choices(t, k) for t in TABLES for k, v in DEFAULTS[t].items() if isinstance(v, list) and choices(t, k)}
MINIMUM: dict[tuple[str, str], int] = {
    (t, k): minimum(t, k) for t in TABLES for k in DEFAULTS[t] if minimum(t, k) is not None}


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


def _reason(table: str, key: str, value: Any, errors: list[dict[str, Any]]) -> str:
    """What is wrong with ``[table].key = value``, from pydantic's errors on that key, in the
    words of the study file (true/false, an integer, one of the choices...)."""
    kinds = {error["type"] for error in errors}
    default = DEFAULTS[table][key]
    if "greater_than_equal" in kinds:
        return f"must be >= {minimum(table, key)}"
    if isinstance(default, bool):
        return "expected true or false"
    if isinstance(default, int):
        return "expected an integer" + (' or "all"' if (table, key) == ("dataset", "n") else "")
    allowed = choices(table, key)
    if isinstance(default, list):
        if isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
            bad = [value[error["loc"][1]] for error in errors if error["type"] == "literal_error"]
            if bad:
                return f"unknown {bad}; choose from {', '.join(allowed)}"
            if any("repeated entries" in error["msg"] for error in errors):
                return "repeated entries"
        return "expected a non-empty list of strings"
    if allowed and isinstance(value, str) and value:
        return f"choose one of {', '.join(allowed)}"
    return "expected a non-empty string"


def _validate_table(table: str, values: dict[str, Any], where: str) -> dict[str, Any]:
    """``values`` of ``[table]`` through its schema model: every key present (defaults filled)."""
    try:
        return TABLES[table].model_validate(values).model_dump()
    except ValidationError as exc:
        errors = exc.errors()
    unknown = [error["loc"][0] for error in errors if error["type"] == "extra_forbidden"]
    if unknown:
        raise ConfigError(f"{where}unknown key [{table}].{unknown[0]}; [{table}] has {', '.join(DEFAULTS[table])}")
    key = next(k for k in values if any(error["loc"][0] == k for error in errors))  # the file's first bad key
    value = values[key]
    reason = _reason(table, key, value, [error for error in errors if error["loc"][0] == key])
    raise ConfigError(f"{where}[{table}].{key} = {value!r}: {reason}")


def make_config(overrides: dict[str, dict[str, Any]] | None = None, where: str = "") -> StudyConfig:
    """Defaults updated by ``overrides`` (same shape as the TOML file), validated against the schema
    (:mod:`platonic.study.schema`)."""
    given = overrides or {}
    for table, values in given.items():
        if table not in TABLES:
            raise ConfigError(f"{where}unknown table [{table}]; the tables are {', '.join(TABLES)}")
        if not isinstance(values, dict):
            raise ConfigError(f"{where}[{table}] must be a table, got {values!r}")
    return StudyConfig({table: _validate_table(table, given.get(table, {}), where) for table in TABLES})


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
