"""The pipeline stages on an embedding store, each writing its results under ``<store>/results``.

One function per stage; the CLI verbs (`platonic anchors`, `project`, `compare`) and
`platonic run` both call these, so a study and a hand-run sequence of verbs leave the same files:

``results/anchors.csv`` (+ ``.json``), ``anchor_diversity.csv``, ``k_sweep.csv``,
``unified/<model>.npy``, ``metrics.csv``/``.parquet``, ``intrinsic_dimension.csv``,
``figures/heatmap_<metric>_<space>.png``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import pandas as pd


def results_dir(store) -> Path:
    return Path(store.root) / "results"


def unified_paths(store, models: Sequence[str]) -> dict[str, Path]:
    return {m: results_dir(store) / "unified" / f"{m.replace(':', '_').replace('/', '_')}.npy" for m in models}


def anchor_stage(store, reference: str, k: int, method: str, seed: int, models: Sequence[str] | None = None,
                 diversity: bool = True) -> dict[str, pd.DataFrame]:
    """Pick the anchors (and tabulate DIRECT vs random diversity); returns the tables written."""
    from platonic.anchors import diversity_table
    from platonic.anchors.from_store import choose_anchors, common_rows, save_anchors

    models = list(models or store.models())
    anchors = choose_anchors(store, reference, k=k, method=method, seed=seed, models=models)
    save_anchors(anchors, results_dir(store) / "anchors.csv")
    tables = {"anchors": anchors}
    if diversity:
        X = store.load(reference)[common_rows(store, models)]
        tables["anchor_diversity"] = diversity_table(X, k, methods=("direct", "random"), seeds=(0, 42, 12345))
        tables["anchor_diversity"].to_csv(results_dir(store) / "anchor_diversity.csv", index=False)
    return tables


def sweep_stage(store, reference: str, method: str, seed: int, models: Sequence[str] | None = None) -> pd.DataFrame:
    """The K sweep 3..400 (as many Ks as there are common atoms) on every model."""
    from platonic.anchors.from_store import common_rows
    from platonic.project import DEFAULT_KS, k_sweep

    models = list(models or store.models())
    valid = common_rows(store, models)
    embeddings = {m: store.load(m)[valid] for m in [reference] + [m for m in models if m != reference]}
    ks = [k for k in DEFAULT_KS if k <= int(valid.sum())]
    table = k_sweep(embeddings, ks=ks, method=method, seed=seed, reference=reference)
    table.to_csv(results_dir(store) / "k_sweep.csv", index=False)
    return table


def project_stage(store, models: Sequence[str] | None = None) -> dict[str, Path]:
    """Every model into the unified space of the saved anchors."""
    from platonic.anchors.from_store import load_anchors
    from platonic.project.from_store import project_store

    anchors = load_anchors(results_dir(store) / "anchors.csv")
    return project_store(store, anchors["row"].to_numpy(), results_dir(store) / "unified", list(models or store.models()))


def compare_stage(store, models: Sequence[str], metrics: Sequence[str], spaces: Sequence[str], seed: int = 0,
                  twonn_atoms: int = 20000, **options) -> dict[str, object]:
    """Metric matrices (+ heatmaps) and the TwoNN table; ``options`` go to ``compare_store``."""
    from platonic.compare.from_store import compare_store, intrinsic_dimensions, save_heatmaps

    out = results_dir(store)
    unified = unified_paths(store, models)
    if "unified" in spaces and not all(p.exists() for p in unified.values()):
        raise FileNotFoundError(f"no unified matrices in {out / 'unified'} for every model: "
                                "run `platonic anchors` and `platonic project`")
    table = compare_store(store, unified, models, metrics, spaces, seed=seed, **options)
    table.to_csv(out / "metrics.csv", index=False)
    table.to_parquet(out / "metrics.parquet", index=False)
    written: dict[str, object] = {"metrics": table, "heatmaps": save_heatmaps(table, out / "figures")}
    if twonn_atoms:
        dims = intrinsic_dimensions(store, unified, models, spaces, n_atoms=twonn_atoms, seed=seed)
        dims.to_csv(out / "intrinsic_dimension.csv", index=False)
        written["intrinsic_dimension"] = dims
    return written


def k_sweep_convergence(table: pd.DataFrame) -> pd.Series:
    """Mean over models of the Procrustes similarity to the previous K, per K."""
    return table[table.measure == "procrustes_vs_previous_k"].groupby("k")["value"].mean()

