"""Model x model metric tables for a whole store, in raw and unified space.

Rows used: the atoms every compared model embedded (rejected structures are NaN in a model and
excluded for all, so every pair rests on the same atoms). ``n_atoms`` optionally draws a seeded
subsample of those rows for every metric; the row count and seed are in every output row.
OT and SuperScore need a shared space, so in raw space (widths differ) they are skipped and the
table says so in its ``detail`` column rather than holding numbers that do not exist.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from .intrinsic import two_nn_dimension
from .matrix import ASYMMETRIC_METRICS, SYMMETRIC_METRICS, heatmap, metric_matrix

RAW_ONLY_SHARED_WIDTH = ("ot", "superscore")


def _select_rows(valid: np.ndarray, n_atoms: int | None, seed: int) -> np.ndarray:
    rows = np.flatnonzero(valid)
    if n_atoms is not None and n_atoms < rows.size:
        rows = np.sort(np.random.default_rng(seed).choice(rows, size=n_atoms, replace=False))
    return rows


def compare_store(
    store,
    unified: dict[str, Path] | None,
    models: Sequence[str] | None = None,
    metrics: Sequence[str] = SYMMETRIC_METRICS + ASYMMETRIC_METRICS,
    spaces: Sequence[str] = ("raw", "unified"),
    n_atoms: int | None = None,
    seed: int = 0,
    ot_stratify: str | None = "element",
    **options,
) -> pd.DataFrame:
    """Run :func:`metric_matrix` over the store's models in each space; returns one tidy table.

    ``unified``: model -> ``.npy`` written by :func:`platonic.project.from_store.project_store`.
    ``ot_stratify``: atom-table column whose labels stratify the OT subsamples (default: element,
    so every element keeps its share of the sample) and LFRE's test atoms (every element
    represented, :func:`~platonic.compare.reconstruction.lfre_test_rows`); None for uniform draws.
    ``options`` go to :func:`metric_matrix` (k, mknn_score, n_queries, ot_n_samples, ot_repeats, ...).
    """
    models = list(models or store.models())
    raw = {m: store.load(m) for m in models}
    valid = np.logical_and.reduce([np.isfinite(a).all(axis=1) for a in raw.values()])
    rows = _select_rows(valid, n_atoms, seed)
    if ot_stratify is not None:
        table = store.atom_table()
        if ot_stratify not in table.columns:
            raise ValueError(f"ot_stratify: the atom table has no column {ot_stratify!r}; it has {list(table.columns)}")
        options["ot_strata"] = table[ot_stratify].to_numpy()[rows]
        options.setdefault("lfre_strata", options["ot_strata"])  # LFRE's test atoms: every element represented
    tables = []
    for space in spaces:
        if space == "raw":
            arrays = {m: raw[m][rows] for m in models}
            chosen = [m for m in metrics if m not in RAW_ONLY_SHARED_WIDTH] if len({a.shape[1] for a in arrays.values()}) > 1 else list(metrics)
        elif space == "unified":
            if not unified:
                raise ValueError("unified space requested but no projected matrices given (run `platonic project`)")
            arrays = {m: np.load(unified[m], mmap_mode="r")[rows] for m in models}
            chosen = list(metrics)
        else:
            raise ValueError(f"unknown space {space!r}; choose raw or unified")
        table = metric_matrix(arrays, chosen, space=space, seed=seed, **options)
        table["rows_available"] = int(valid.sum())
        table["rows_used"] = int(rows.size)
        tables.append(table)
    return pd.concat(tables, ignore_index=True)


def intrinsic_dimensions(store, unified: dict[str, Path] | None, models: Sequence[str], spaces: Sequence[str],
                         n_atoms: int = 20000, seed: int = 0, relative_tol: float = 1e-4) -> pd.DataFrame:
    """TwoNN intrinsic dimension per model and space on one seeded subsample of the common rows.

    Symmetry-equivalent atoms embed identically up to float noise (d1 ~ 0 breaks TwoNN): rows
    closer than ``relative_tol`` x the RMS row norm of that matrix are merged first, and the count
    is reported. On MP-20 the estimate depends on this tolerance (many environments are
    near-duplicates), so the tolerance is a column of the output.
    """
    raw = {m: store.load(m) for m in models}
    valid = np.logical_and.reduce([np.isfinite(a).all(axis=1) for a in raw.values()])
    rows = _select_rows(valid, n_atoms, seed)
    records = []
    for space in spaces:
        for m in models:
            X = raw[m][rows] if space == "raw" else np.load(unified[m], mmap_mode="r")[rows]
            X = np.asarray(X, dtype=np.float64)
            tol = relative_tol * float(np.sqrt((X**2).sum(axis=1).mean()))
            result = two_nn_dimension(X, dedup_tol=tol)
            records.append({"model": m, "space": space, "dimension": result.dimension, "n_atoms": int(rows.size),
                            "n_duplicates": result.n_duplicates, "n_fitted": result.n_fitted, "seed": seed,
                            "relative_tol": relative_tol, "dedup_tol": tol})
    return pd.DataFrame(records)


def save_heatmaps(table: pd.DataFrame, out: str | Path) -> list[Path]:
    """One PNG per (space, metric) present in ``table``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for (space, metric), part in table.groupby(["space", "metric"]):
        fig, ax = plt.subplots(figsize=(6.5, 5.5))
        heatmap(part, metric, ax=ax)
        ax.set_title(f"{metric} ({space} space, n={int(part['n'].iloc[0])})")
        fig.tight_layout()
        path = out / f"heatmap_{metric}_{space}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths
