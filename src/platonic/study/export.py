"""Exports of a finished study to other tools."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from platonic.results import Diagnose, Results
from platonic.study import stages
from platonic.study.pipeline import open_study


def export_chemiscope(study: str | Path, out: str | Path | None = None, max_structures: int | None = None,
                      seed: int = 0) -> tuple[Path, int, int, int]:
    """Write the study's chemiscope file (see :mod:`platonic.report.chemiscope`).

    ``max_structures``: a seeded subsample of the structures (the viewer slows past a few thousand).
    Returns the path, the structures written, the structures in the study, and the atoms written.
    """
    from platonic.report.chemiscope import write_chemiscope

    study = Path(study)
    _, store, dataset = open_study(study)
    models = store.models()
    paths = stages.unified_paths(store, models)
    missing = [m for m, p in paths.items() if not p.exists()]
    if missing:
        raise FileNotFoundError(f"no unified matrices for {missing}: run `platonic run --out {study}`")
    indices = np.arange(len(dataset))
    if max_structures is not None and max_structures < len(dataset):
        indices = np.sort(np.random.default_rng(seed).choice(len(dataset), size=max_structures, replace=False))
    table = store.atom_table()
    rows = np.flatnonzero(np.isin(table["structure_index"].to_numpy(), indices))
    scores = Results.of(store).diagnose / Diagnose.ATYPICAL_SCORES
    atypicality = read_atypicality(scores) if scores.exists() else None
    path = write_chemiscope(
        out or study / "chemiscope.json.gz", [dataset.structures[i] for i in indices], table.iloc[rows],
        {m: np.asarray(np.load(p, mmap_mode="r")[rows]) for m, p in paths.items()},
        [m for m in models if m not in stages.control_models(store, models)], atypicality,
        title=f"platonic: {study}",
    )
    return path, len(indices), len(dataset), int(rows.size)


def read_atypicality(path: str | Path) -> pd.Series:
    """``atypical_scores.csv`` as score by structure id; ids stay strings (numeric ids such as
    ``"1234"`` would otherwise be read as integers and match no structure)."""
    return pd.read_csv(path, dtype={"structure_id": str}).set_index("structure_id")["score"]
