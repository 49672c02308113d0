"""The embedding store (see the package docstring for the layout)."""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import asdict
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import pandas as pd

from platonic.store import files
from platonic.store.files import FORMAT_VERSION, ShardRecord, StoreError

__all__ = ["FORMAT_VERSION", "EmbeddingStore", "ShardRecord", "StoreError"]


class EmbeddingStore:
    """A directory of per-model embedding shards sharing one atom table.

    Use :meth:`create` (or :meth:`open_or_create`) with a dataset, or :meth:`open` to read.
    """

    def __init__(self, root: str | Path):
        self.root = Path(root)
        meta_path = self.root / "dataset.json"
        if not meta_path.exists():
            raise StoreError(f"{self.root}: not an embedding store (no dataset.json)")
        self.meta = files.read_meta(meta_path)
        self.shard_rows: np.ndarray = np.asarray(self.meta["shard_rows"], dtype=np.int64)
        self.shard_structures: np.ndarray = np.asarray(self.meta["shard_structures"], dtype=np.int64)

    # ------------------------------------------------------------------ creation
    @classmethod
    def create(cls, root: str | Path, dataset, atom_table: pd.DataFrame, shard_size: int = 256) -> "EmbeddingStore":
        """Lay out a new store for ``dataset`` (shards of ``shard_size`` structures)."""
        if shard_size < 1:
            raise ValueError(f"shard_size must be >= 1, got {shard_size}")
        root = Path(root)
        offsets = np.asarray(dataset.atom_offsets, dtype=np.int64)
        n_structures = len(dataset)
        if len(atom_table) != offsets[-1]:
            raise StoreError(f"atom table has {len(atom_table)} rows, dataset has {offsets[-1]} atoms")
        bounds = list(range(0, n_structures, shard_size)) + [n_structures]
        meta = {
            "format_version": files.FORMAT_VERSION,
            "dataset_name": dataset.name,
            "dataset_fingerprint": dataset.fingerprint(),
            "n_structures": n_structures,
            "n_atoms": int(offsets[-1]),
            "shard_size": shard_size,
            "shard_structures": bounds,
            "shard_rows": [int(offsets[b]) for b in bounds],
        }
        root.mkdir(parents=True, exist_ok=True)
        table_bytes = atom_table.to_parquet(index=False)
        files.atomic_write_bytes(root / "atoms.parquet", table_bytes)
        meta["atom_table_sha256"] = hashlib.sha256(table_bytes).hexdigest()
        meta[files.META_CHECKSUM_KEY] = files.meta_checksum(meta)
        files.atomic_write_json(root / "dataset.json", meta)
        return cls(root)

    @classmethod
    def open_or_create(cls, root: str | Path, dataset, atom_table_fn, shard_size: int = 256) -> "EmbeddingStore":
        """Open the store at ``root`` if it was made from ``dataset``; create it if absent.

        ``atom_table_fn(dataset)`` is called only when the store is new. A store made from another
        dataset (different fingerprint) or with another shard size is refused, never overwritten.
        """
        root = Path(root)
        if (root / "dataset.json").exists():
            store = cls(root)
            fp = dataset.fingerprint()
            if store.meta["dataset_fingerprint"] != fp:
                raise StoreError(
                    f"{root} holds dataset {store.meta['dataset_name']!r} (fingerprint "
                    f"{store.meta['dataset_fingerprint']}); the dataset given has fingerprint {fp}. "
                    "Use another --out directory."
                )
            if store.meta["shard_size"] != shard_size:
                raise StoreError(
                    f"{root} was cut into shards of {store.meta['shard_size']} structures, not {shard_size}"
                )
            return store
        return cls.create(root, dataset, atom_table_fn(dataset), shard_size=shard_size)

    # ------------------------------------------------------------------ layout
    @property
    def n_shards(self) -> int:
        return len(self.shard_rows) - 1

    @property
    def n_atoms(self) -> int:
        return int(self.meta["n_atoms"])

    @property
    def dataset_fingerprint(self) -> str:
        return self.meta["dataset_fingerprint"]

    def structure_range(self, shard: int) -> tuple[int, int]:
        return int(self.shard_structures[shard]), int(self.shard_structures[shard + 1])

    def row_range(self, shard: int) -> tuple[int, int]:
        return int(self.shard_rows[shard]), int(self.shard_rows[shard + 1])

    def model_dir(self, model: str) -> Path:
        safe = model.replace("/", "_").replace(":", "_")
        return self.root / "models" / safe

    def _shard_paths(self, model: str, shard: int) -> tuple[Path, Path]:
        d = self.model_dir(model)
        return d / f"shard-{shard:05d}.npy", d / f"shard-{shard:05d}.json"

    def atom_table(self) -> pd.DataFrame:
        path = self.root / "atoms.parquet"
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != self.meta["atom_table_sha256"]:
            raise StoreError(f"{path}: checksum {digest} does not match dataset.json")
        table = pd.read_parquet(path)
        if len(table) != self.n_atoms:
            raise StoreError(f"{path}: {len(table)} rows, dataset.json says {self.n_atoms}")
        return table

    # ------------------------------------------------------------------ models
    def models(self) -> list[str]:
        """Names of the models with a card in this store (complete or not)."""
        base = self.root / "models"
        if not base.exists():
            return []
        return sorted(files.read_card(path)["card"]["name"] for path in base.glob("*/card.json"))

    def register_model(self, card) -> None:
        """Write (or check) the model's card; a different model fingerprint under one name is refused."""
        path = self.model_dir(card.name) / "card.json"
        entry = {
            "card": card.to_dict(),
            "model_fingerprint": card.fingerprint,
            "dataset_fingerprint": self.dataset_fingerprint,
            "dim": card.dim,
        }
        if path.exists():
            old = files.read_card(path)
            if old["model_fingerprint"] != card.fingerprint:
                raise StoreError(
                    f"{path}: written by model fingerprint {old['model_fingerprint']}, now {card.fingerprint} "
                    f"(other weights, layer or package versions). Remove {path.parent} to re-extract."
                )
            return
        files.atomic_write_json(path, entry)

    def card(self, model: str) -> dict:
        path = self.model_dir(model) / "card.json"
        if not path.exists():
            raise StoreError(f"{self.root}: no model {model!r}; has {self.models()}")
        return files.read_card(path)

    def model_card(self, model: str):
        """The stored card of ``model`` as a :class:`platonic.models.ModelCard`."""
        from platonic.models.base import ModelCard

        return ModelCard.from_dict(self.card(model)["card"], where=str(self.model_dir(model) / "card.json"))

    def write_shard(self, model: str, shard: int, array: np.ndarray, seconds: float, rejects: list[dict]) -> ShardRecord:
        """Write one shard atomically: the array first, then its sidecar."""
        entry = self.card(model)
        start, stop = self.row_range(shard)
        array = np.ascontiguousarray(array, dtype=np.float32)
        if array.shape != (stop - start, entry["dim"]):
            raise StoreError(f"shard {shard} of {model}: shape {array.shape}, expected {(stop - start, entry['dim'])}")
        data = files.npy_bytes(array)
        npy, side = self._shard_paths(model, shard)
        files.atomic_write_bytes(npy, data)
        record = ShardRecord(
            shard=shard,
            row_start=start,
            row_stop=stop,
            dim=entry["dim"],
            sha256=hashlib.sha256(data).hexdigest(),
            model_fingerprint=entry["model_fingerprint"],
            dataset_fingerprint=self.dataset_fingerprint,
            seconds=seconds,
            rejects=rejects,
        )
        files.atomic_write_json(side, asdict(record))
        return record

    def _record(self, model: str, shard: int) -> ShardRecord | None:
        _, side = self._shard_paths(model, shard)
        if not side.exists():
            return None
        try:
            return ShardRecord(**json.loads(side.read_text()))
        except (ValueError, TypeError) as error:
            raise StoreError(f"{side}: unreadable shard sidecar ({type(error).__name__}: {error})") from error

    def shard_done(self, model: str, shard: int, model_fingerprint: str | None = None) -> bool:
        """True when the shard's array exists and matches its sidecar (checksum, rows, fingerprints)
        and every non-finite row in it belongs to a listed reject."""
        return self.shard_problem(model, shard, model_fingerprint) is None

    def shard_problem(self, model: str, shard: int, model_fingerprint: str | None = None) -> str | None:
        """Why shard ``shard`` of ``model`` is not done (``"missing"``, a mismatch...), or ``None``."""
        npy, side = self._shard_paths(model, shard)
        if not npy.exists() or not side.exists():
            return "missing"
        try:
            record = self._record(model, shard)
        except StoreError:
            return f"{side.name}: unreadable sidecar"
        if record.dataset_fingerprint != self.dataset_fingerprint:
            return f"{side.name}: made from another dataset"
        if model_fingerprint is not None and record.model_fingerprint != model_fingerprint:
            return f"{side.name}: written by other model weights"
        if (record.row_start, record.row_stop) != self.row_range(shard):
            return f"{side.name}: rows {record.row_start}:{record.row_stop}, the store's shard is {self.row_range(shard)}"
        data = npy.read_bytes()
        if hashlib.sha256(data).hexdigest() != record.sha256:
            return f"{npy.name}: checksum does not match {side.name}"
        try:
            array = np.load(io.BytesIO(data), allow_pickle=False)
        except (ValueError, OSError, EOFError) as error:
            return f"{npy.name}: unreadable array ({error})"
        if array.shape != (record.n_rows, record.dim):
            return f"{npy.name}: shape {array.shape}, expected {(record.n_rows, record.dim)}"
        unlisted = files.unlisted_nonfinite_rows(array, record.row_start, record.rejects)
        if unlisted.size:
            return f"{npy.name}: {unlisted.size} NaN/inf row(s) not listed as rejects (first: row {unlisted[0]})"
        return None

    def missing_shards(self, model: str, model_fingerprint: str | None = None) -> list[int]:
        return [s for s in range(self.n_shards) if not self.shard_done(model, s, model_fingerprint)]

    def is_complete(self, model: str) -> bool:
        return not self.missing_shards(model)

    def rejects(self, model: str) -> list[dict]:
        """Structures the model could not embed (their rows are NaN), with reasons."""
        out = []
        for s in range(self.n_shards):
            record = self._record(model, s)
            if record is not None:
                out.extend(record.rejects)
        return out

    # ------------------------------------------------------------------ reading
    def iter_shards(self, model: str, verify: bool = True) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(row_start, array)`` shard by shard; bounded memory for any store size."""
        entry = self.card(model)
        for s in range(self.n_shards):
            record = self._record(model, s)
            npy, side = self._shard_paths(model, s)
            if record is None or not npy.exists():
                raise StoreError(
                    f"{self.root}: model {model!r} is incomplete: shard {s} missing "
                    f"({len(self.missing_shards(model))} of {self.n_shards} missing). Re-run extract to resume."
                )
            data = npy.read_bytes()
            if verify and hashlib.sha256(data).hexdigest() != record.sha256:
                raise StoreError(f"{npy}: checksum does not match {side.name}")
            if record.dataset_fingerprint != self.dataset_fingerprint:
                raise StoreError(f"{side}: made from dataset {record.dataset_fingerprint}, store is {self.dataset_fingerprint}")
            if record.model_fingerprint != entry["model_fingerprint"]:
                raise StoreError(f"{side}: written by model fingerprint {record.model_fingerprint}, card says {entry['model_fingerprint']}")
            try:
                array = np.load(io.BytesIO(data), allow_pickle=False)
            except (ValueError, OSError, EOFError) as error:
                raise StoreError(f"{npy}: unreadable array ({error})") from error
            start, stop = self.row_range(s)
            if array.shape != (stop - start, entry["dim"]):
                raise StoreError(f"{npy}: shape {array.shape}, expected {(stop - start, entry['dim'])}")
            unlisted = files.unlisted_nonfinite_rows(array, start, record.rejects)
            if unlisted.size:
                raise StoreError(
                    f"{npy}: model {model!r}, shard {s}: row {unlisted[0]} (and {unlisted.size - 1} more) "
                    f"holds NaN/inf but is not listed as a reject in {side.name}. Remove both files and "
                    "re-run extract, which checks every model output."
                )
            yield start, array

    def common_rows(self, models: Sequence[str]) -> np.ndarray:
        """Boolean mask of the atom rows every model of ``models`` embedded (a rejected structure's
        rows are NaN), read shard by shard: no model's whole matrix is held."""
        mask = np.ones(self.n_atoms, dtype=bool)
        for model in models:
            for start, array in self.iter_shards(model):
                mask[start : start + len(array)] &= np.isfinite(array).all(axis=1)
        return mask

    def load(self, model: str, verify: bool = True) -> np.ndarray:
        """The full (n_atoms, dim) float32 matrix of ``model``; refuses an incomplete or corrupt store.

        Rows of structures the model rejected are NaN (see :meth:`rejects`).
        """
        dim = self.card(model)["dim"]
        out = np.empty((self.n_atoms, dim), dtype=np.float32)
        for start, array in self.iter_shards(model, verify=verify):
            out[start : start + len(array)] = array
        return out

    def summary(self) -> pd.DataFrame:
        """One row per model: shards done, rows, rejected structures, and shards present but
        invalid (checksum, shape, unlisted NaN/inf rows...) with the reason."""
        rows = []
        for model in self.models():
            problems = [self.shard_problem(model, s) for s in range(self.n_shards)]
            invalid = [f"shard {s}: {p}" for s, p in enumerate(problems) if p not in (None, "missing")]
            rows.append(
                {
                    "model": model,
                    "dim": self.card(model)["dim"],
                    "shards_done": problems.count(None),
                    "shards": self.n_shards,
                    "complete": problems.count(None) == self.n_shards,
                    "rejected_structures": sum(
                        len(self._record(model, s).rejects) for s, p in enumerate(problems) if p is None
                    ),
                    "invalid_shards": "; ".join(invalid),
                }
            )
        return pd.DataFrame(rows)
