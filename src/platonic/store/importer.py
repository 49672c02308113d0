"""Bring your own embeddings: per-atom arrays computed elsewhere, written into a store as a model.

A model platonic cannot run here (other weights, another environment, a cluster job) still takes
part in a study: embed the store's structures with it anywhere, save one row per atom, and
:func:`import_embeddings` checks the file row by row against the store's atom table and writes it as
a regular model (shards, sidecars with sha256, a card whose family is ``imported`` and whose
``weights_sha256`` is the file's sha256). Every later stage reads it like an extracted one.

Row ``i`` of the file must be row ``i`` of the store's atom table (``atoms.parquet``): the store's
structures in their order, the atoms of each in their order. What is checked, per format:

* **extxyz**: one frame per structure, the structure id in ``atoms.info`` (``structure_id``, ``id``
  or ``material_id``), the embedding in ``atoms.arrays["<name>_emb"]`` (``(n_atoms, d)``; ASE writes
  it as ``<name>_emb:R:<d>``, 8 decimals). Checked: structure id, atom index (position in the
  frame) and Z (``atoms.numbers``) of every row.
* **parquet**: columns ``structure_id``, ``atom_index``, ``Z`` and the embedding, either one list
  column ``embedding`` (or ``<name>_emb``) or numeric columns ``emb_0`` ... ``emb_<d-1>``.
  Checked: structure id, atom index and Z of every row.
* **npy**: an ``(n_atoms, d)`` array holds no ids, so a companion ``ids`` file (CSV or parquet with
  ``structure_id``, ``atom_index``, ``Z``, one row per array row) is required and checked as above,
  row by row; the array itself can only be checked for its row count, width and dtype.

Everywhere: the row count equals the store's atom count, the dtype is floating point, every value
is finite (in float32, the store's dtype). A mismatch is refused with the file, the row and the
reason, and nothing is left in the store.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from platonic.models.base import ModelCard
from platonic.store.store import EmbeddingStore, StoreError

FORMATS = {".npy": "npy", ".parquet": "parquet", ".pq": "parquet", ".xyz": "extxyz", ".extxyz": "extxyz"}
ID_KEYS = ("structure_id", "id", "material_id")


class EmbeddingImportError(StoreError, ValueError):
    """An embeddings file that does not match the store; the message names the file, row and reason."""


@dataclass
class ImportResult:
    """What one call of :func:`import_embeddings` did."""

    store: Path
    name: str
    format: str
    rows: int
    dim: int
    sha256: str
    shards_written: int
    shards_skipped: int
    checked: str


@dataclass
class _Chunk:
    """Consecutive rows of the file: ids, atom indices, Z, embeddings, and where they are in the file."""

    structure_id: np.ndarray
    atom_index: np.ndarray
    numbers: np.ndarray
    embedding: np.ndarray
    where: list[str] | None = None  # per row, e.g. "frame 3, atom 2" (extxyz)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _floating(array: np.ndarray, path: Path, what: str) -> np.ndarray:
    if not np.issubdtype(array.dtype, np.floating):
        raise EmbeddingImportError(f"{path}: {what} has dtype {array.dtype}; expected floating-point embeddings")
    return array


def _read_ids(path: Path, n_rows: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    import pandas as pd

    if path.suffix in (".parquet", ".pq"):
        table = pd.read_parquet(path)
    else:
        table = pd.read_csv(path, dtype={"structure_id": str})
    missing = [c for c in ("structure_id", "atom_index", "Z") if c not in table.columns]
    if missing:
        raise EmbeddingImportError(f"{path}: ids file lacks the columns {missing} (needs structure_id, atom_index, Z)")
    if len(table) != n_rows:
        raise EmbeddingImportError(f"{path}: ids file has {len(table)} rows, the array has {n_rows}")
    return (table["structure_id"].astype(str).to_numpy(), _integers(table["atom_index"], path, "atom_index"),
            _integers(table["Z"], path, "Z"))


def _integers(column, path: Path, name: str) -> np.ndarray:
    values = np.asarray(column)
    if not np.issubdtype(values.dtype, np.integer):
        raise EmbeddingImportError(f"{path}: column {name} has dtype {values.dtype}; expected integers")
    return values.astype(np.int64)


def _npy_chunks(path: Path, ids: Path, chunk_rows: int) -> Iterator[_Chunk]:
    array = np.load(path, mmap_mode="r", allow_pickle=False)
    if array.ndim != 2:
        raise EmbeddingImportError(f"{path}: array of shape {array.shape}; expected (n_atoms, d)")
    _floating(array, path, "the array")
    sid, index, numbers = _read_ids(Path(ids), len(array))
    for lo in range(0, len(array), chunk_rows):
        hi = min(lo + chunk_rows, len(array))
        yield _Chunk(sid[lo:hi], index[lo:hi], numbers[lo:hi], np.asarray(array[lo:hi]))


def _parquet_chunks(path: Path, name: str, chunk_rows: int) -> Iterator[_Chunk]:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    source = pq.ParquetFile(path)
    columns = source.schema_arrow.names
    missing = [c for c in ("structure_id", "atom_index", "Z") if c not in columns]
    if missing:
        raise EmbeddingImportError(f"{path}: lacks the columns {missing} (needs structure_id, atom_index, Z)")
    list_column = next((c for c in ("embedding", f"{name}_emb") if c in columns), None)
    emb_columns = sorted((c for c in columns if c.startswith("emb_") and c[4:].isdigit()), key=lambda c: int(c[4:]))
    if list_column is None and not emb_columns:
        raise EmbeddingImportError(
            f"{path}: no embedding: expected a list column 'embedding' (or '{name}_emb') or columns emb_0..emb_<d-1>"
        )
    if emb_columns and [int(c[4:]) for c in emb_columns] != list(range(len(emb_columns))):
        raise EmbeddingImportError(f"{path}: embedding columns {emb_columns} are not emb_0..emb_{len(emb_columns) - 1}")
    start = 0
    for batch in source.iter_batches(batch_size=chunk_rows):
        n = batch.num_rows
        if list_column is not None:
            col = batch.column(list_column)
            if not (pa.types.is_list(col.type) or pa.types.is_large_list(col.type) or pa.types.is_fixed_size_list(col.type)):
                raise EmbeddingImportError(f"{path}: column {list_column} has type {col.type}; expected a list of floats")
            if col.null_count:
                row = start + int(np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))[0])
                raise EmbeddingImportError(f"{path}: row {row}: {list_column} is null")
            lengths = pc.list_value_length(col).to_numpy(zero_copy_only=False)
            if n and (lengths != lengths[0]).any():
                bad = int(np.flatnonzero(lengths != lengths[0])[0])
                raise EmbeddingImportError(
                    f"{path}: row {start + bad}: {list_column} has {lengths[bad]} values, row {start} has {lengths[0]}"
                )
            values = col.flatten().to_numpy(zero_copy_only=False)
            embedding = _floating(values, path, f"column {list_column}").reshape(n, -1 if n else 0)
        else:
            parts = [batch.column(c).to_numpy(zero_copy_only=False) for c in emb_columns]
            for c, p in zip(emb_columns, parts):
                _floating(p, path, f"column {c}")
            embedding = np.stack(parts, axis=1)
        yield _Chunk(
            batch.column("structure_id").to_numpy(zero_copy_only=False).astype(str),
            _integers(batch.column("atom_index").to_numpy(zero_copy_only=False), path, "atom_index"),
            _integers(batch.column("Z").to_numpy(zero_copy_only=False), path, "Z"),
            embedding,
        )
        start += n


def _extxyz_chunks(path: Path, name: str) -> Iterator[_Chunk]:
    from ase.io import iread

    key = f"{name}_emb"
    frames = iread(str(path), index=":", format="extxyz")
    frame = -1
    while True:
        try:
            atoms = next(frames)
        except StopIteration:
            return
        except Exception as exc:  # ASE's parser raises many types; name the file and frame instead
            raise EmbeddingImportError(f"{path}: frame {frame + 1} is not valid extxyz: {exc}") from None
        frame += 1
        id_key = next((k for k in ID_KEYS if k in atoms.info), None)
        if id_key is None:
            raise EmbeddingImportError(f"{path}: frame {frame} has no structure id (info key {' or '.join(ID_KEYS)})")
        if key not in atoms.arrays:
            raise EmbeddingImportError(
                f"{path}: frame {frame} ({atoms.info[id_key]}) has no per-atom array {key!r}; it has {sorted(atoms.arrays)}"
            )
        embedding = _floating(np.asarray(atoms.arrays[key]), path, f"frame {frame}'s {key}")
        n = len(atoms)
        yield _Chunk(
            np.full(n, str(atoms.info[id_key]), dtype=object),
            np.arange(n, dtype=np.int64),
            atoms.numbers.astype(np.int64),
            embedding.reshape(n, -1),
            [f"frame {frame}, atom {i}" for i in range(n)],
        )


class _ShardWriter:
    """Checks consecutive chunks against the atom table and writes each shard once it is full."""

    def __init__(self, store: EmbeddingStore, path: Path, name: str, card_fields: dict):
        table = store.atom_table()
        self.store, self.path, self.name, self.card_fields = store, path, name, card_fields
        self.sid = table["structure_id"].astype(str).to_numpy()
        self.index = table["atom_index"].to_numpy(np.int64)
        self.numbers = table["Z"].to_numpy(np.int64)
        self.row = 0
        self.dim: int | None = None
        self.fingerprint: str | None = None
        self.buffer: list[np.ndarray] = []
        self.shard = 0
        self.written = self.skipped = 0

    def _where(self, chunk: _Chunk, i: int) -> str:
        return f"row {self.row + i}" + (f" ({chunk.where[i]})" if chunk.where else "")

    def add(self, chunk: _Chunk) -> None:
        n = len(chunk.embedding)
        if self.row + n > len(self.sid):
            i = len(self.sid) - self.row
            raise EmbeddingImportError(
                f"{self.path}: {self._where(chunk, i)} is past the store's last atom: the store has "
                f"{len(self.sid)} atoms, the file more"
            )
        rows = slice(self.row, self.row + n)
        for label, got, want in (("structure id", chunk.structure_id, self.sid[rows]),
                                 ("atom index", chunk.atom_index, self.index[rows]), ("Z", chunk.numbers, self.numbers[rows])):
            bad = np.flatnonzero(np.asarray(got) != want)
            if len(bad):
                i = int(bad[0])
                r = self.row + i
                shown = repr(str(got[i])) if label == "structure id" else int(got[i])
                raise EmbeddingImportError(
                    f"{self.path}: {self._where(chunk, i)}: {label} {shown}, but store row {r} is structure "
                    f"{self.sid[r]!r} atom {self.index[r]} (Z {self.numbers[r]})"
                )
        with np.errstate(over="ignore"):  # a value past float32's range becomes inf and is named below
            embedding = chunk.embedding.astype(np.float32)
        if self.dim is None:
            if embedding.shape[1] < 1:
                raise EmbeddingImportError(f"{self.path}: embeddings of width 0")
            self._register(embedding.shape[1])
        elif embedding.shape[1] != self.dim:
            raise EmbeddingImportError(f"{self.path}: {self._where(chunk, 0)} has {embedding.shape[1]} values, earlier rows {self.dim}")
        finite = np.isfinite(embedding)
        if not finite.all():
            i, column = (int(v) for v in np.argwhere(~finite)[0])
            value = float(chunk.embedding[i, column])
            reason = f"{value}" if not np.isfinite(value) else f"{value:g} does not fit float32"
            raise EmbeddingImportError(f"{self.path}: {self._where(chunk, i)}: column {column} is {reason}; embeddings must be finite")
        self.row += n
        self.buffer.append(embedding)
        self._flush()

    def _register(self, dim: int) -> None:
        self.dim = dim
        card = ModelCard(dim=dim, **self.card_fields)
        self.store.register_model(card)
        self.fingerprint = card.fingerprint

    def _flush(self) -> None:
        while self.shard < self.store.n_shards and self.row >= self.store.row_range(self.shard)[1]:
            start, stop = self.store.row_range(self.shard)
            rows = np.concatenate(self.buffer) if len(self.buffer) > 1 else self.buffer[0]
            done_before = self.row - sum(len(b) for b in self.buffer)
            shard_rows, rest = rows[start - done_before: stop - done_before], rows[stop - done_before:]
            if self.store.shard_done(self.name, self.shard, self.fingerprint):
                self.skipped += 1
            else:
                self.store.write_shard(self.name, self.shard, shard_rows, 0.0, [])
                self.written += 1
            self.buffer = [rest] if len(rest) else []
            self.shard += 1

    def finish(self) -> None:
        if self.row != len(self.sid):
            r = self.row
            raise EmbeddingImportError(
                f"{self.path}: ends after {r} rows; the store has {len(self.sid)} atoms "
                f"(row {r} would be structure {self.sid[r]!r} atom {self.index[r]})"
            )


def import_embeddings(
    store: str | Path | EmbeddingStore,
    name: str,
    path: str | Path,
    *,
    ids: str | Path | None = None,
    format: str | None = None,
    family: str = "imported",
    layer: str | None = None,
    training_data: str = "unknown",
    licence: str = "unknown",
    trained: bool = True,
    equivariant: bool = False,
    chunk_rows: int = 65536,
) -> ImportResult:
    """Write per-atom embeddings from ``path`` into ``store`` as the model ``name``.

    Parameters
    ----------
    store: a store (or its directory) made by ``platonic extract`` or :meth:`EmbeddingStore.create`.
    name: the model's name in the store (and, for extxyz, the array ``<name>_emb``).
    path: ``.npy``, ``.parquet`` or ``.extxyz``/``.xyz`` (see the module docstring for the layouts).
    ids: for ``.npy`` only, the companion file of structure_id, atom_index, Z per row.
    format: ``"npy"``, ``"parquet"`` or ``"extxyz"`` (default: from the suffix).
    family, layer, training_data, licence, trained, equivariant: what the card says about the model;
        ``trained=False`` marks a random-weight control, as the diagnostics expect.

    Importing the same file again is a no-op; another file under an existing name is refused (its
    sha256 is part of the model fingerprint). On any error nothing of a new model stays in the store.
    """
    store = store if isinstance(store, EmbeddingStore) else EmbeddingStore(store)
    path = Path(path)
    if not path.is_file():
        raise EmbeddingImportError(f"{path}: no such file")
    fmt = format or FORMATS.get(path.suffix.lower())
    if fmt not in ("npy", "parquet", "extxyz"):
        raise EmbeddingImportError(f"{path}: unknown format {format or path.suffix!r}; use .npy, .parquet or .extxyz")
    if ids is not None and fmt != "npy":
        raise EmbeddingImportError(f"{path}: an ids file is only for .npy arrays; {fmt} files carry their own ids")
    if not name or name != name.strip():
        raise EmbeddingImportError(f"model name {name!r}: expected a non-empty name without surrounding spaces")
    if fmt == "npy" and ids is None:
        raise EmbeddingImportError(
            f"{path}: an .npy array has no structure ids, so its rows cannot be checked against the store; "
            "give the companion ids file (CSV or parquet with structure_id, atom_index, Z per row)"
        )
    sha = _sha256(path)
    checked = ("row count, width and dtype of the array; structure id, atom index and Z of every row from "
               f"{Path(ids).name}" if fmt == "npy" else "structure id, atom index and Z of every row") + \
        "; every value finite"
    card_fields = dict(
        name=name, family=family, variant="imported", layer=layer or f"imported from {path.name}",
        equivariant=equivariant, conservative=False, training_data=training_data,
        weights_source=f"imported: {path.resolve()}", licence=licence, trained=trained, weights_sha256=sha,
        notes=f"imported by platonic from the {fmt} file {path.name} (sha256 {sha}); checked: {checked}",
    )
    if fmt == "npy":
        chunks = _npy_chunks(path, ids, chunk_rows)
    elif fmt == "parquet":
        chunks = _parquet_chunks(path, name, chunk_rows)
    else:
        chunks = _extxyz_chunks(path, name)

    model_dir = store.model_dir(name)
    new_model = not (model_dir / "card.json").exists()
    writer = _ShardWriter(store, path, name, card_fields)
    try:
        for chunk in chunks:
            writer.add(chunk)
        writer.finish()
    except BaseException:
        if new_model and model_dir.exists():
            shutil.rmtree(model_dir)
        raise
    return ImportResult(store=store.root, name=name, format=fmt, rows=writer.row, dim=writer.dim or 0, sha256=sha,
                        shards_written=writer.written, shards_skipped=writer.skipped, checked=checked)
