"""Model x model metric tables for a whole store, in raw and unified space.

Rows used: the atoms every compared model embedded (rejected structures are NaN in a model and
excluded for all, so every pair rests on the same atoms). ``n_atoms`` optionally draws a seeded
subsample of those rows for every metric; the row count and seed are in every output row.
OT and SuperScore need a shared space, so in raw space (widths differ) they are skipped and the
table says so in its ``detail`` column rather than holding numbers that do not exist.

With ``centred=True`` the unified space is also compared with each model's cloud centred on its own
mean (space ``unified-centred``): the headline OT and SuperScore, since the un-centred ones mostly
measure the distance between the clouds' offsets. With ``exclude_same_structure=True`` mKNN skips
neighbours from the query atom's own structure. With raw and unified spaces both present, each
model's **self-mKNN** (its raw neighbourhoods vs its own unified ones, metric ``mknn_self``, space
``raw->unified``) is the ceiling a raw -> unified drop of a pair is read against: the transform
alone keeps only that share. Finally :func:`platonic.compare.baselines.significance` adds the
null and control-baseline verdict, the controls being the models whose card says ``trained =
false``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np
import pandas as pd

from ._validation import MetricInputError
from .baselines import significance
from .geometry import geometry_table
from .intrinsic import twonn_stability
from .knn import choose_query_rows, knn_indices, l2_normalise_rows, neighbourhood_agreement
from .matrix import ASYMMETRIC_METRICS, SYMMETRIC_METRICS, heatmap, metric_matrix
from platonic.plotting import subplots
from platonic.store.on_demand import OnDemand
from platonic.progress import NullProgress, Progress
from platonic.validation import check_seed, seed_alias

if TYPE_CHECKING:
    from matplotlib.figure import Figure

CENTRED_SPACE = "unified-centred"

RAW_ONLY_SHARED_WIDTH = ("ot", "superscore")


def _select_rows(valid: np.ndarray, n_atoms: int | None, random_state: int) -> np.ndarray:
    rows = np.flatnonzero(valid)
    if n_atoms is not None and n_atoms < rows.size:
        rows = np.sort(np.random.default_rng(random_state).choice(rows, size=n_atoms, replace=False))
    return rows


@seed_alias
def compare_store(
    store,
    unified: dict[str, Path] | None,
    models: Sequence[str] | None = None,
    metrics: Sequence[str] = SYMMETRIC_METRICS + ASYMMETRIC_METRICS,
    spaces: Sequence[str] = ("raw", "unified"),
    n_atoms: int | None = None,
    random_state: int = 0,
    ot_stratify: str | None = "element",
    centred: bool = False,
    exclude_same_structure: bool = False,
    progress: Progress | None = None,
    **options,
) -> pd.DataFrame:
    """Run :func:`metric_matrix` over the store's models in each space; returns one tidy table.

    ``unified``: model -> ``.npy`` written by :func:`platonic.project.from_store.project_store`.
    ``ot_stratify``: atom-table column whose labels stratify the OT subsamples (default: element,
    so every element keeps its share of the sample) and LFRE's test atoms (every element
    represented, :func:`~platonic.compare.reconstruction.lfre_test_rows`); None for uniform draws.
    ``centred``, ``exclude_same_structure``: see the module docstring. ``progress``: reports each
    space's steps (:func:`metric_matrix`).
    ``options`` go to :func:`metric_matrix` (k, mknn_score, n_queries, ot_n_samples, ot_repeats,
    n_permutations, ...).
    """
    random_state = check_seed(random_state, "random_state", MetricInputError)  # written in the results
    models = list(models or store.models())
    raw = OnDemand(store.load, models)  # each model loaded when a metric needs it: a few held at a time
    valid = store.common_rows(models)
    rows = _select_rows(valid, n_atoms, random_state)
    atoms = store.atom_table()
    if ot_stratify is not None:
        if ot_stratify not in atoms.columns:
            raise ValueError(f"ot_stratify: the atom table has no column {ot_stratify!r}; it has {list(atoms.columns)}")
        options["ot_strata"] = atoms[ot_stratify].to_numpy()[rows]
        options.setdefault("lfre_strata", options["ot_strata"])  # LFRE's test atoms: every element represented
    if exclude_same_structure:
        options["mknn_groups"] = atoms["structure_index"].to_numpy()[rows]
    tables = []
    neighbour_lists: dict[tuple[str, str], np.ndarray] = {}  # the matrix's k-NN lists, reused by self-mKNN
    for space in spaces:
        if space == "raw":
            # every row valid (the usual case): the loaded matrices themselves, not a second copy
            arrays = raw if rows.size == valid.size else OnDemand(store.load, models, rows=rows)
            widths = {store.model_card(m).dim for m in models}
            chosen = [m for m in metrics if m not in RAW_ONLY_SHARED_WIDTH] if len(widths) > 1 else list(metrics)
        elif space == "unified":
            if not unified:
                raise ValueError("unified space requested but no projected matrices given (run `platonic project`)")
            arrays = OnDemand(lambda m: np.load(unified[m], mmap_mode="r"), models, rows=rows)
            chosen = list(metrics)
        else:
            raise ValueError(f"unknown space {space!r}; choose raw or unified")
        centred_space = CENTRED_SPACE if centred and space == "unified" else None
        table = metric_matrix(arrays, chosen, space=space, random_state=random_state, centred_space=centred_space,
                              neighbour_lists=neighbour_lists, progress=progress, **options)
        table["rows_available"] = int(valid.sum())
        table["rows_used"] = int(rows.size)
        tables.append(table)
    if "mknn" in metrics and {"raw", "unified"} <= set(spaces):
        table = self_mknn(raw, unified, models, rows, centred=centred, random_state=random_state,
                          neighbour_lists=neighbour_lists,
                          **{key: options[key] for key in ("k", "mknn_score", "n_queries", "mknn_groups") if key in options})
        table["rows_available"] = int(valid.sum())
        table["rows_used"] = int(rows.size)
        tables.append(table)
    combined = pd.concat(tables, ignore_index=True)
    controls = [m for m in models if not store.model_card(m).trained]
    return significance(combined, controls)


@seed_alias
def self_mknn(raw: dict[str, np.ndarray], unified: dict[str, Path], models: Sequence[str], rows: np.ndarray,
              k: int = 10, mknn_score: str = "jaccard", n_queries: int | None = None,
              mknn_groups: np.ndarray | None = None, centred: bool = False, random_state: int = 0,
              neighbour_lists: dict[tuple[str, str], np.ndarray] | None = None) -> pd.DataFrame:
    """Each model's mKNN between its raw space and its own unified space (the transform's ceiling).

    Same neighbours, score, query atoms and exclusion rule as the matrix. With ``centred`` also
    against the centred unified cloud (space ``raw->unified-centred``). ``neighbour_lists``: the
    lists :func:`metric_matrix` found with the same settings, keyed by (space, model); a list
    missing there is searched here.
    """
    random_state = check_seed(random_state, "random_state", MetricInputError)  # written in the results
    queries = choose_query_rows(rows.size, n_queries, random_state)
    detail = f"{mknn_score}, k={k}" + (", same-structure neighbours excluded" if mknn_groups is not None else "")
    lists = {} if neighbour_lists is None else neighbour_lists
    records = []

    def neighbours(space: str, m: str, cloud) -> np.ndarray:
        if (space, m) not in lists:
            # the same dtypes as in metric_matrix, so that the lists (and their tie-breaks) are the matrix's
            lists[space, m] = knn_indices(l2_normalise_rows(cloud()), k, queries, mknn_groups)
        return lists[space, m]

    for m in models:
        own = neighbours("raw", m, lambda: raw[m][rows])
        Z = np.load(unified[m], mmap_mode="r")[rows]
        targets = [("unified", lambda: Z)] + ([(CENTRED_SPACE, lambda: Z - Z.mean(axis=0, dtype=np.float64))]
                                              if centred else [])
        for target, cloud in targets:
            space = "raw->" + target
            value = neighbourhood_agreement(own, neighbours(target, m, cloud), mknn_score)
            records.append({"model_a": m, "model_b": m, "metric": "mknn_self", "value": value, "std": np.nan,
                            "n": int(queries.size), "seed": random_state if queries.size < rows.size else None, "space": space,
                            "detail": detail + "; a model's raw neighbourhoods vs its own unified ones",
                            "null_mean": np.nan, "null_std": np.nan})
    return pd.DataFrame.from_records(records).astype({"n": "int64", "seed": "Int64"})


@dataclass(frozen=True)
class StoredGFRE:
    """The GFREs of a metric table and the store rows they were computed on.

    ``rows``: the atoms every compared model embedded (no subsample); ``values``: (space, source,
    target) -> GFRE. Another analysis on exactly these rows (same 50/50 split, same fit) gets the
    same numbers from here instead of refitting (:func:`platonic.diagnose.drift.drift_tables`).
    """

    rows: np.ndarray
    values: dict[tuple[str, str, str], float]

    def for_space(self, space: str) -> dict[tuple[str, str], float]:
        """(source, target) -> GFRE in one space."""
        return {(a, b): v for (s, a, b), v in self.values.items() if s == space}


def stored_gfre(store, table: pd.DataFrame) -> StoredGFRE | None:
    """The GFREs of ``table`` (a :func:`compare_store` result, e.g. read back from
    ``metrics.parquet``) with the rows they rest on, or None when it has none on every common row
    (a subsample, or GFRE not computed).

    The rows are recomputed from the store: the atoms every model of the table embedded.
    """
    gfre = table[(table["metric"] == "gfre") & (table["rows_used"] == table["rows_available"])]
    if gfre.empty:
        return None
    models = list(dict.fromkeys([*table["model_a"], *table["model_b"]]))
    missing = [m for m in models if m not in store.models()]
    if missing:
        return None
    rows = np.flatnonzero(store.common_rows(models))
    if rows.size != int(gfre["rows_used"].iloc[0]):
        return None  # the table is not this store's (the study's cache keeps them in step)
    return StoredGFRE(rows, {(r.space, r.model_a, r.model_b): float(r.value) for r in gfre.itertuples()})


def unified_geometry_table(store, unified: dict[str, Path], models: Sequence[str]) -> pd.DataFrame:
    """Offset and degeneracy of every model's unified cloud (:mod:`platonic.compare.geometry`),
    on the atoms every model embedded; ``trained`` from the model cards."""
    raw_valid = store.common_rows(models)
    table = geometry_table(OnDemand(lambda m: np.load(unified[m], mmap_mode="r"), models, rows=raw_valid, keep=1))
    table.insert(1, "trained", [bool(store.model_card(m).trained) for m in models])
    return table


@seed_alias
def intrinsic_dimensions(store, unified: dict[str, Path] | None, models: Sequence[str], spaces: Sequence[str],
                         n_atoms: int = 20000, random_state: int = 0, relative_tol: float = 1e-4,
                         symmetry_dedup: bool = True, progress: Progress | None = None
                         ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """TwoNN per model and space with its stability check (:func:`twonn_stability`).

    On one seeded subsample of the common rows; with ``symmetry_dedup`` one atom per spglib
    equivalence class (structure, ``equivalent_class``) is kept first, so symmetry-equivalent atoms
    cannot supply zero neighbour distances. Returns (summary, curve): one row per model and space
    (``dimension`` NaN and ``verdict`` "no stable estimate: ..." unless the estimate plateaus over
    the merge tolerances and subsample sizes), and the curves behind it. ``progress``: one step per
    model and space.
    """
    random_state = check_seed(random_state, "random_state", MetricInputError)  # written in the results
    raw = OnDemand(store.load, models, keep=1)
    valid = store.common_rows(models)
    rows = _select_rows(valid, n_atoms, random_state)
    classes = None
    if symmetry_dedup:
        atoms = store.atom_table()
        structure = atoms["structure_index"].to_numpy()[rows].astype(np.int64)
        equivalent = atoms["equivalent_class"].to_numpy()[rows].astype(np.int64)
        classes = structure * (int(equivalent.max()) + 1) + equivalent
    records, curves = [], []
    progress = progress or NullProgress()
    progress.start("intrinsic dimension", total=len(spaces) * len(models), unit="model-spaces")
    for space in spaces:
        for m in models:
            X = raw[m][rows] if space == "raw" else np.load(unified[m], mmap_mode="r")[rows]
            summary, curve = twonn_stability(np.asarray(X, dtype=np.float64), classes=classes,
                                             reference_tolerance=relative_tol, random_state=random_state)
            records.append({"model": m, "space": space, **summary, "n_atoms": int(rows.size), "seed": random_state,
                            "dedup": "one atom per spglib class" if symmetry_dedup else "none"})
            curves += [{"model": m, "space": space, **row} for row in curve]
            progress.advance(1)
    progress.finish()
    return pd.DataFrame(records), pd.DataFrame(curves)


def heatmap_figures(table: pd.DataFrame) -> dict[tuple[str, str], Figure]:
    """One heatmap Figure per (metric, space) of a metric table (``compare_store``), titled with its atom count."""
    figures = {}
    for (space, metric), part in table.groupby(["space", "metric"]):
        if metric == "mknn_self":  # one value per model, no matrix: a table in the report
            continue
        fig, ax = subplots(figsize=(6.5, 5.5))
        heatmap(part, metric, ax=ax)
        ax.set_title(f"{metric} ({space} space, n={int(part['n'].iloc[0])})")
        fig.tight_layout()
        figures[metric, space] = fig
    return figures
