"""Project every model of an embedding store into the unified space, shard by shard.

Output: ``<out>/<model>.npy``, float32 (n_atoms, K), the same row index as the store; rows of
structures a model rejected stay NaN. Memory: one shard and the output memory map at a time.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from platonic.project.transform import PlatonicTransform


def project_store(store, anchor_rows: np.ndarray, out: str | Path, models: list[str] | None = None) -> dict[str, Path]:
    """Write the unified-space matrix of each model; returns model -> file."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    anchor_rows = np.asarray(anchor_rows, dtype=np.int64)
    written = {}
    for model in models or store.models():
        anchors = _rows(store, model, anchor_rows)
        transform = PlatonicTransform(anchor_rows="all").fit(anchors)
        path = out / f"{model.replace(':', '_').replace('/', '_')}.npy"
        tmp = path.with_name(f".{path.name}.tmp")
        z = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(store.n_atoms, len(anchor_rows)))
        for start, array in store.iter_shards(model):
            finite = np.isfinite(array).all(axis=1)
            block = np.full((len(array), len(anchor_rows)), np.nan, dtype=np.float32)
            if finite.any():
                block[finite] = transform.transform(array[finite])
            z[start : start + len(array)] = block
        z.flush()
        del z
        tmp.replace(path)
        written[model] = path
    return written


def _rows(store, model: str, rows: np.ndarray) -> np.ndarray:
    """The embeddings of ``rows`` (any order), read shard by shard."""
    out = np.empty((len(rows), store.card(model)["dim"]), dtype=np.float32)
    found = np.zeros(len(rows), dtype=bool)
    for start, array in store.iter_shards(model):
        inside = (rows >= start) & (rows < start + len(array))
        out[inside] = array[rows[inside] - start]
        found |= inside
    if not found.all() or not np.isfinite(out).all():
        raise ValueError(f"{model}: anchor rows {rows[~found | ~np.isfinite(out).all(axis=1)].tolist()} have no embedding")
    return out
