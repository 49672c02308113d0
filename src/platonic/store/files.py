"""The store's files on disk: atomic writes, and the checked reading of ``dataset.json``, model
cards and shard arrays (the format the package docstring lays out)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from platonic.errors import PlatonicError

FORMAT_VERSION = 1


class StoreError(PlatonicError, RuntimeError):
    """A store that is incomplete, inconsistent or made from other inputs than the ones given."""


@dataclass
class ShardRecord:
    """What the sidecar JSON of one shard says."""

    shard: int
    row_start: int
    row_stop: int
    dim: int
    sha256: str
    model_fingerprint: str
    dataset_fingerprint: str
    seconds: float
    rejects: list[dict] = field(default_factory=list)

    @property
    def n_rows(self) -> int:
        return self.row_stop - self.row_start


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, obj) -> None:
    atomic_write_bytes(path, json.dumps(obj, indent=1, sort_keys=True).encode())


def npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


META_CHECKSUM_KEY = "meta_sha256"
_META_KEYS = {
    "format_version": int,
    "dataset_name": str,
    "dataset_fingerprint": str,
    "n_structures": int,
    "n_atoms": int,
    "shard_size": int,
    "shard_structures": list,
    "shard_rows": list,
    "atom_table_sha256": str,
}


def meta_checksum(meta: dict) -> str:
    """SHA-256 of ``dataset.json``'s content, its own checksum entry left out (canonical JSON)."""
    content = {key: value for key, value in meta.items() if key != META_CHECKSUM_KEY}
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def read_meta(path: Path) -> dict:
    """Read and verify ``dataset.json``: JSON, version, keys, checksum, and self-consistent counts.

    Stores written before the checksum existed have no ``meta_sha256``; their counts are still
    checked against each other (and the atom table's row count against ``n_atoms`` on read).
    """
    try:
        meta = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise StoreError(f"{path}: unreadable ({type(error).__name__}: {error})") from error
    if not isinstance(meta, dict):
        raise StoreError(f"{path}: not a JSON object")
    if meta.get("format_version") != FORMAT_VERSION:
        raise StoreError(f"{path}: format_version {meta.get('format_version')!r}, this platonic reads {FORMAT_VERSION}")
    for key, kind in _META_KEYS.items():
        if not isinstance(meta.get(key), kind) or (kind is int and isinstance(meta.get(key), bool)):
            raise StoreError(f"{path}: key {key!r} is missing or not a {kind.__name__} (got {meta.get(key)!r})")
    if META_CHECKSUM_KEY in meta and meta[META_CHECKSUM_KEY] != meta_checksum(meta):
        raise StoreError(
            f"{path}: checksum mismatch: the file was changed after the store was written "
            f"({META_CHECKSUM_KEY} {meta[META_CHECKSUM_KEY]}, content {meta_checksum(meta)}); "
            "restore it or extract into a new store"
        )
    rows, structures = meta["shard_rows"], meta["shard_structures"]
    problem = None
    if len(rows) != len(structures) or not rows:
        problem = f"shard_rows has {len(rows)} entries, shard_structures {len(structures)}"
    elif not all(isinstance(v, int) and not isinstance(v, bool) for v in rows + structures):
        problem = "shard boundaries are not all integers"
    elif rows[0] != 0 or structures[0] != 0 or np.any(np.diff(rows) < 0) or np.any(np.diff(structures) < 0):
        problem = "shard boundaries do not start at 0 and increase"
    elif rows[-1] != meta["n_atoms"]:
        problem = f"n_atoms is {meta['n_atoms']} but the shards end at atom row {rows[-1]}"
    elif structures[-1] != meta["n_structures"]:
        problem = f"n_structures is {meta['n_structures']} but the shards end at structure {structures[-1]}"
    if problem is not None:
        raise StoreError(f"{path}: inconsistent: {problem}")
    return meta


def read_card(path: Path) -> dict:
    """A model's ``card.json``, checked for the entries the store reads."""
    try:
        entry = json.loads(path.read_text())
        name, dim, fingerprint = entry["card"]["name"], entry["dim"], entry["model_fingerprint"]
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as error:
        raise StoreError(f"{path}: unreadable model card ({type(error).__name__}: {error})") from error
    if not isinstance(name, str) or not isinstance(dim, int) or isinstance(dim, bool) or dim < 1 or not isinstance(fingerprint, str):
        raise StoreError(f"{path}: model card with name {name!r}, dim {dim!r}, fingerprint {fingerprint!r}")
    return entry


def unlisted_nonfinite_rows(array: np.ndarray, row_start: int, rejects: list[dict]) -> np.ndarray:
    """Store rows (absolute) of ``array`` holding NaN or inf that no reject record covers."""
    bad = ~np.isfinite(array).all(axis=1)
    for reject in rejects:
        first = int(reject.get("row_start", -1)) - row_start
        bad[max(first, 0) : max(first + int(reject.get("n_atoms", 0)), 0)] = False
    return row_start + np.flatnonzero(bad)


