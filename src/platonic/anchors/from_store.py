"""Anchors for a whole embedding store: chosen on a reference model among atoms every model embedded."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from platonic.anchors import ANCHOR_METHODS, select_anchors
from platonic.anchors._validation import AnchorError
from platonic.validation import check_seed, seed_alias


@seed_alias
def choose_anchors(store, reference: str, k: int = 100, method: str = "direct", random_state: int = 0,
                   models: list[str] | None = None) -> pd.DataFrame:
    """The anchor table: ``k`` atom rows picked by ``method`` on ``reference``'s embeddings.

    Candidates are the rows embedded by every model in ``models`` (default: all models in the
    store), so each anchor has an embedding in every model. Returns one row per anchor with the
    atom-table columns (row, structure_id, element, ...) and the anchor's position ``anchor``.
    """
    random_state = check_seed(random_state, "random_state", AnchorError)  # written in the results
    if method not in ANCHOR_METHODS:
        raise AnchorError(f"unknown anchor method {method!r}; choose one of {ANCHOR_METHODS}")
    models = models or store.models()
    if reference not in models:
        raise AnchorError(f"reference model {reference!r} is not among {models}")
    valid = np.flatnonzero(store.common_rows(models))
    embeddings = store.load(reference)[valid]
    picked = valid[select_anchors(embeddings, k, method=method, random_state=random_state)]
    table = store.atom_table().iloc[picked].reset_index(drop=True)
    table.insert(0, "anchor", np.arange(len(picked)))
    table.attrs.update(reference=reference, k=k, method=method, seed=random_state, candidates=int(valid.size))
    return table


def save_anchors(table: pd.DataFrame, path: str | Path) -> None:
    """Write the anchor table (CSV) and its provenance (JSON beside it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(path, index=False)
    path.with_suffix(".json").write_text(json.dumps(table.attrs, indent=1, sort_keys=True))


def load_anchors(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    if not path.exists():
        raise AnchorError(f"{path}: no anchor file (run `platonic anchors` first)")
    table = pd.read_csv(path)
    if "row" not in table.columns:
        raise AnchorError(f"{path}: no 'row' column")
    meta = path.with_suffix(".json")
    if meta.exists():
        table.attrs.update(json.loads(meta.read_text()))
    return table
