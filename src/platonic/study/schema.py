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

    name: Text = Field("mp20", description="Dataset name (mp20, mp20-full) or a structure file.")
    split: Literal["all", "train", "val", "test"] = Field("all", description="MP-20 split.")
    # "all" (every structure) is kept as None, which --print-config writes back as "all"
    n: Annotated[int, Field(ge=1)] | Literal["all"] | None = Field(
        500, description="Structures to sample ('all': every one).")
    seed: int = Field(0, ge=0, description="Seed of the subsample.")

    @field_validator("n")
    @classmethod
    def _all_is_none(cls, value: Any) -> Any:
        return None if value == "all" else value


class ModelsTable(_Table):
    """``[models]``: registry names (``"default"``: every offline model + the random control)."""

    names: _names(Text) = Field(["default"], description="Model names or family:/path files; 'default': every "
                                "offline model and the controls.")
    device: Literal["cpu", "cuda"] = Field("cpu", description="Device the models run on.")


class ExtractTable(_Table):
    """``[extract]``: the extraction engine (``ray``: shards as tasks of Ray actors)."""

    engine: Literal["inprocess", "ray"] = Field("inprocess", description="Extraction engine; ray: shards as tasks of "
                                                "Ray actors (the ray extra).")
    address: Text = Field("local", description="Ray cluster to join ('auto', 'ray://host:10001'); 'local': start "
                          "one here.")
    workers: int = Field(0, ge=0, description="Ray actors per model, one loaded model each (0: one per CPU, or GPU).")


class AnchorsTable(_Table):
    reference: Text = Field("chgnet-0.3.0", description="Model whose embeddings pick the anchors.")
    method: Literal["direct", "random", "fps"] = Field("direct", description="Anchor selection.")
    k: int = Field(100, ge=2, description="Number of anchors K.")
    seed: int = Field(0, ge=0, description="Seed of the anchor selection.")
    sweep: bool = Field(True, description="Also run the K sweep 3..400 (convergence of the unified space).")
    diversity: bool = Field(True, description="Also tabulate anchor diversity, DIRECT vs random, seeds 0/42/12345.")


class CompareTable(_Table):
    metrics: _names(Metric) = Field(SYMMETRIC + ASYMMETRIC, description="Metrics to compute.")
    spaces: _names(Literal["raw", "unified"]) = Field(["raw", "unified"], description="Spaces to compare in.")
    k: int = Field(10, ge=1, description="Neighbours for mutual kNN.")
    mknn_queries: int = Field(10000, ge=0, description="Query atoms for mKNN, seeded (neighbours searched among "
                              "all); 0: every atom.")
    ot_samples: int = Field(2000, ge=2, description="Atoms in each OT subsample (stratified by element).")
    ot_repeats: int = Field(3, ge=1, description="OT subsamples (seeds seed, seed+1, ...): mean and std reported.")
    twonn_atoms: int = Field(20000, ge=0, description="Atoms (seeded subsample) for the TwoNN intrinsic dimension; "
                             "0 skips.")
    lfre_atoms: int = Field(1000, ge=10, description="LFRE test atoms, element-stratified draw from the test half "
                            "(the paper's 1,000).")
    permutations: int = Field(5, ge=0, description="Permutation-null draws for Procrustes, CKA, mKNN, SuperScore "
                              "(0: none).")
    centred: bool = Field(True, description="Also compare the unified clouds centred on their own means.")
    exclude_same_structure: bool = Field(True, description="mKNN ignores neighbours from the query's own structure.")
    seed: int = Field(0, ge=0, description="Seed of every subsample.")


class AnalyseTable(_Table):
    chemistry: bool = Field(True, description="Element maps, group coherence, trajectories, cumulant gains.")
    arithmetic: bool = Field(True, description="Material, polymorph and reaction embeddings (Table 1).")
    reference: Text = Field("chgnet-0.3.0", description="Model that c-sim and stitched reactions refer to.")
    seed: int = Field(0, ge=0, description="Seed of the permutation null and of the atoms drawn on the maps.")
    maps: bool = Field(True, description="Anchors on the reference map, unified maps vs K, DIRECT vs random "
                       "(Fig 2b, 3; Table S2).")
    norms: bool = Field(True, description="Embedding-norm scaling across materials (Table S3).")


class DiagnoseTable(_Table):
    control: bool = Field(True, description="The random-weight control against the trained models.")
    equivariance: bool = Field(True, description="Two-NN equivalence vs spglib's equivalent atoms.")
    equivariance_groups: int = Field(6, ge=0, description="Most frequent space groups scored for equivariance (0: "
                                     "every one that qualifies).")
    equivariance_min_structures: int = Field(2, ge=1, description="Structures a space group needs to be scored.")
    rotation: bool = Field(True, description="Embedding change under random rotations of BaCeO3.")
    rotations: int = Field(10, ge=1, description="Random rotations.")
    drift: bool = Field(True, description="Fine-tuning drift: CHGNet 0.3.0 -> r2SCAN, SevenNet-0 -> MF-0.")
    dimers: bool = Field(True, description="Cu-Cu and Au-Au dimer curves per checkpoint (with drift).")
    atypical: bool = Field(True, description="Structures far from the cross-model consensus.")
    top: int = Field(20, ge=1, description="Atypical structures listed.")
    seed: int = Field(0, ge=0, description="Seed of the rotations.")


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


def description(table: str, key: str) -> str:
    """What ``[table].key`` means, one sentence (the CLI options' help)."""
    return TABLES[table].model_fields[key].description or ""


def minimum(table: str, key: str) -> int | None:
    """The lower bound of an integer key (its ``ge``), None when it has none."""
    found = [v["minimum"] for v in _variants(table, key) if "minimum" in v]
    return int(found[0]) if found else None
