"""The typed schema of a study file: one pydantic model per table, the single source of every
key, its type, its default, its known choices and its bounds.

:mod:`platonic.study.config` validates a study file against it (and turns pydantic's errors into
messages naming the file, the key and the value); :data:`DEFAULTS` and ``--print-config`` come
from it; the CLI verbs take their option defaults from :data:`DEFAULTS`, so a verb run by hand
and ``platonic run`` start from the same settings.

Models are strict: ``k = "10"`` or ``sweep = 1`` are errors, not coerced, and unknown keys are
errors (``extra="forbid"``). Choices the package knows (splits, devices, anchor methods, metrics,
spaces) are ``Literal`` types; open sets (model names, dataset names or paths) are strings checked
by the stages.
"""

from __future__ import annotations

import functools
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, field_validator

Metric = Literal["procrustes", "cka", "mknn", "ot", "superscore", "gfre", "gfrd", "lfre"]
SYMMETRIC = ["procrustes", "cka", "mknn", "ot", "superscore"]
ASYMMETRIC = ["gfre", "gfrd", "lfre"]

Text = Annotated[str, StringConstraints(min_length=1)]


def _distinct(values: list[Any]) -> list[Any]:
    if len(set(values)) != len(values):
        raise ValueError("repeated entries")
    return values


def _names(item: Any) -> Any:
    return Annotated[list[item], Field(min_length=1), AfterValidator(_distinct)]


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, validate_default=False)


class DatasetTable(_Table):
    """``[dataset]``: which structures."""

    name: Text = "mp20"
    split: Literal["all", "train", "val", "test"] = "all"
    # "all" (every structure) is kept as None, which --print-config writes back as "all"
    n: Annotated[int, Field(ge=1)] | Literal["all"] | None = 500
    seed: Annotated[int, Field(ge=0)] = 0

    @field_validator("n")
    @classmethod
    def _all_is_none(cls, value: Any) -> Any:
        return None if value == "all" else value


class ModelsTable(_Table):
    """``[models]``: registry names (``"default"``: every offline model + the random control)."""

    names: _names(Text) = ["default"]
    device: Literal["cpu", "cuda"] = "cpu"


class ExtractTable(_Table):
    """``[extract]``: the extraction engine (``ray``: shards as tasks of Ray actors)."""

    engine: Literal["inprocess", "ray"] = "inprocess"
    address: Text = "local"
    workers: Annotated[int, Field(ge=0)] = 0


class AnchorsTable(_Table):
    reference: Text = "chgnet-0.3.0"
    method: Literal["direct", "random", "fps"] = "direct"
    k: Annotated[int, Field(ge=2)] = 100
    seed: Annotated[int, Field(ge=0)] = 0
    sweep: bool = True
    diversity: bool = True


class CompareTable(_Table):
    metrics: _names(Metric) = SYMMETRIC + ASYMMETRIC
    spaces: _names(Literal["raw", "unified"]) = ["raw", "unified"]
    k: Annotated[int, Field(ge=1)] = 10
    mknn_queries: Annotated[int, Field(ge=0)] = 10000
    ot_samples: Annotated[int, Field(ge=2)] = 2000
    ot_repeats: Annotated[int, Field(ge=1)] = 3
    twonn_atoms: Annotated[int, Field(ge=0)] = 20000
    lfre_atoms: Annotated[int, Field(ge=10)] = 1000
    permutations: Annotated[int, Field(ge=0)] = 5
    centred: bool = True
    exclude_same_structure: bool = True
    seed: Annotated[int, Field(ge=0)] = 0


class AnalyseTable(_Table):
    chemistry: bool = True
    arithmetic: bool = True
    reference: Text = "chgnet-0.3.0"
    seed: Annotated[int, Field(ge=0)] = 0
    maps: bool = True
    norms: bool = True


class DiagnoseTable(_Table):
    control: bool = True
    equivariance: bool = True
    equivariance_groups: Annotated[int, Field(ge=0)] = 6
    equivariance_min_structures: Annotated[int, Field(ge=1)] = 2
    rotation: bool = True
    rotations: Annotated[int, Field(ge=1)] = 10
    drift: bool = True
    dimers: bool = True
    atypical: bool = True
    top: Annotated[int, Field(ge=1)] = 20
    seed: Annotated[int, Field(ge=0)] = 0


#: table name -> its model, in the order of the study file.
TABLES: dict[str, type[_Table]] = {
    "dataset": DatasetTable, "models": ModelsTable, "extract": ExtractTable, "anchors": AnchorsTable,
    "compare": CompareTable, "analyse": AnalyseTable, "diagnose": DiagnoseTable,
}

#: table -> key -> default value (what ``platonic run`` with no study file does).
DEFAULTS: dict[str, dict[str, Any]] = {name: model().model_dump() for name, model in TABLES.items()}


@functools.cache
def _properties(table: str) -> dict[str, dict[str, Any]]:
    return TABLES[table].model_json_schema()["properties"]


def _variants(table: str, key: str) -> list[dict[str, Any]]:
    prop = _properties(table)[key]
    return [prop, *prop.get("anyOf", []), *([prop["items"]] if "items" in prop else [])]


def choices(table: str, key: str) -> tuple[str, ...] | None:
    """The allowed values of a ``Literal`` key (or of each entry of a list key); None for an open set.
    ``n``'s ``"all"`` is a spelling of "every structure", not a choice among others: left out."""
    found = [v["enum"] if "enum" in v else [v["const"]] for v in _variants(table, key) if "enum" in v or "const" in v]
    return tuple(found[0]) if found and (table, key) != ("dataset", "n") else None


def minimum(table: str, key: str) -> int | None:
    """The lower bound of an integer key (its ``ge``), None when it has none."""
    found = [v["minimum"] for v in _variants(table, key) if "minimum" in v]
    return int(found[0]) if found else None
