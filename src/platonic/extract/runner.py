"""Fill an embedding store, shard by shard, resumably.

Work division: the store's shards (fixed by the dataset) are the unit of work and of resumption.
With ``num_shards`` workers, worker ``shard_index`` takes shards ``s`` with
``s % num_shards == shard_index``, so SLURM job arrays need no engine. A finished shard is never
recomputed; a model whose shards are all done is not even loaded, so a finished run is a no-op.

Within a shard, structures are batched by atom count (``batch_atoms``). A batch that runs out of
accelerator memory is split in half and retried, down to single structures.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from platonic.progress import NullProgress, Progress


@dataclass
class ExtractResult:
    """What one call of :func:`extract` did, per model."""

    store: Path
    shards_written: dict[str, int] = field(default_factory=dict)
    shards_skipped: dict[str, int] = field(default_factory=dict)
    atoms_embedded: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    rejects: dict[str, list[dict]] = field(default_factory=dict)

    def atoms_per_second(self, model: str) -> float:
        secs = self.seconds.get(model, 0.0)
        return self.atoms_embedded.get(model, 0) / secs if secs > 0 else float("nan")


def make_batches(sizes: Sequence[int], batch_atoms: int) -> list[list[int]]:
    """Group consecutive structure indices so each batch holds at most ``batch_atoms`` atoms.

    A structure larger than ``batch_atoms`` gets a batch of its own.
    """
    if batch_atoms < 1:
        raise ValueError(f"batch_atoms must be >= 1, got {batch_atoms}")
    batches: list[list[int]] = []
    current: list[int] = []
    count = 0
    for i, n in enumerate(sizes):
        if current and count + n > batch_atoms:
            batches.append(current)
            current, count = [], 0
        current.append(i)
        count += n
    if current:
        batches.append(current)
    return batches


def _is_out_of_memory(exc: BaseException) -> bool:
    return "out of memory" in str(exc).lower() or type(exc).__name__ == "OutOfMemoryError"


def _embed_or_reject(model, structures: list) -> list[np.ndarray | str]:
    """Embeddings of a batch; a batch that runs out of memory, or holds a structure the model's own
    graph code refuses, is halved until the culprit stands alone, whose entry becomes the reason."""
    from platonic.models.base import UnsupportedStructureError

    try:
        return list(model.embed(structures))
    except UnsupportedStructureError as exc:
        if len(structures) == 1:
            return [str(exc)]
    except (RuntimeError, MemoryError) as exc:
        if not _is_out_of_memory(exc) or len(structures) == 1:
            raise
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:
            pass
    half = len(structures) // 2
    return _embed_or_reject(model, structures[:half]) + _embed_or_reject(model, structures[half:])


def _nonfinite_reason(embedding: np.ndarray) -> str | None:
    """Why a structure's embedding cannot be stored (NaN or inf in the model output), or None."""
    bad_atoms = ~np.isfinite(embedding).all(axis=1)
    if not bad_atoms.any():
        return None
    first = int(np.flatnonzero(bad_atoms)[0])
    return (
        f"non-finite embedding: the model output NaN/inf for {int(bad_atoms.sum())} of "
        f"{len(embedding)} atoms (first: atom {first}); the structure's rows are left NaN"
    )


def _embed_shard(model, structures: list, ids: list[str], sources: list[str], first_row: int, batch_atoms: int, progress: Progress):
    """Embeddings of one shard's structures as one (rows, dim) array, NaN rows for rejected structures."""
    from platonic.models.base import UnsupportedStructureError

    sizes = [len(a) for a in structures]
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    out = np.full((offsets[-1], model.card.dim), np.nan, dtype=np.float32)
    rejects = []
    accepted = []
    for i, atoms in enumerate(structures):
        try:
            model.check(atoms)
            accepted.append(i)
        except UnsupportedStructureError as exc:
            rejects.append({"source": sources[i], "structure_id": ids[i], "row_start": int(first_row + offsets[i]), "n_atoms": sizes[i], "reason": str(exc)})
            progress.advance(sizes[i])
    for batch in make_batches([sizes[i] for i in accepted], batch_atoms):
        members = [accepted[j] for j in batch]
        embeddings = _embed_or_reject(model, [structures[i] for i in members])
        for i, emb in zip(members, embeddings):
            if not isinstance(emb, str):
                emb = np.asarray(emb)
                emb = _nonfinite_reason(emb) or emb
            if isinstance(emb, str):
                rejects.append({"source": sources[i], "structure_id": ids[i], "row_start": int(first_row + offsets[i]),
                                "n_atoms": sizes[i], "reason": emb})
            else:
                out[offsets[i] : offsets[i + 1]] = emb
        progress.advance(sum(sizes[i] for i in members))
    return out, rejects


def extract(
    dataset,
    models: Sequence,
    out: str | Path,
    *,
    shard_size: int = 256,
    batch_atoms: int | None = None,
    device: str = "cpu",
    shard_index: int = 0,
    num_shards: int = 1,
    progress: Progress | None = None,
    load_model: Callable | None = None,
    atom_table: Callable | None = None,
    wait_for_lock: bool = False,
    engine: str = "inprocess",
    address: str | None = None,
    workers: int | None = None,
) -> ExtractResult:
    """Embed every structure of ``dataset`` with each model into the store at ``out``.

    Parameters
    ----------
    dataset: a :class:`platonic.datasets.Dataset`.
    models: registry names (see ``platonic models``), e.g. ``["chgnet-0.3.0", "sevennet-0"]``,
        ``family:/path`` names (e.g. ``mace:/data/mace-mp.model``) or loaded
        :class:`~platonic.models.EmbeddingModel` objects (stored under their card's name).
    out: store directory; created if absent, resumed if made from the same dataset.
    shard_size: structures per shard (the unit of resumption and of work division).
    batch_atoms: at most this many atoms per forward pass (default: the adapter's ``batch_atoms``).
    device: ``"cpu"`` or ``"cuda"``.
    shard_index, num_shards: this worker takes shards with ``s % num_shards == shard_index``.
    load_model, atom_table: injection points (defaults: the registry and the datasets stage).
    wait_for_lock: when another process is extracting into ``out`` (same store, or the same
        worker slot of a job array), wait for it instead of raising
        :class:`~platonic.store.StoreLockedError` (see :mod:`platonic.store.lock`).

    A structure whose embedding holds NaN or inf (a model output is checked per structure)
    gets NaN rows and a reject record with the reason, like a structure the model refuses.
    engine: ``"inprocess"`` (this process, no extra package) or ``"ray"``: shards as tasks of Ray
        actors holding one loaded model each (:func:`platonic.extract.ray_engine.extract_ray`;
        ``address`` is the cluster, ``workers`` the actors per model); the store is the same.
    """
    if engine not in ("inprocess", "ray"):
        raise ValueError(f"unknown engine {engine!r}; choose inprocess or ray")
    if engine == "ray" and num_shards != 1:
        raise ValueError("the Ray engine shares out the shards itself: drop shard_index/num_shards")
    if engine == "ray":
        from platonic.extract.ray_engine import check_names, import_ray

        import_ray()  # a missing extra is refused before the store is created
        check_names(models or [])
    if not 0 <= shard_index < num_shards:
        raise ValueError(f"need 0 <= shard_index < num_shards, got {shard_index}, {num_shards}")
    if not models:
        raise ValueError("no models given")
    if load_model is None:
        from platonic.models import load_model
    if atom_table is None:
        from platonic.datasets import atom_table
    from platonic.store import EmbeddingStore, LockFileError, writer_lock

    progress = progress or NullProgress()
    store = EmbeddingStore.open_or_create(out, dataset, atom_table, shard_size=shard_size)
    with contextlib.ExitStack() as held:
        try:
            held.enter_context(writer_lock(store.root, shard_index, num_shards, wait=wait_for_lock))
        except LockFileError:
            # A finished store on a read-only disk: re-running writes nothing, so needs no lock.
            mine = range(shard_index, store.n_shards, num_shards)
            if not all(store.shard_done(name, s) for name in models for s in mine):
                raise
        if engine == "ray":
            from platonic.extract.ray_engine import extract_ray

            return extract_ray(dataset, models, out, shard_size=shard_size, batch_atoms=batch_atoms, device=device,
                               address=address, workers=workers, progress=progress, load_model=load_model,
                               atom_table=atom_table)
        return _fill(store, dataset, models, shard_index, num_shards, batch_atoms, device, progress, load_model)


def _fill(store, dataset, models, shard_index, num_shards, batch_atoms, device, progress, load_model) -> ExtractResult:
    result = ExtractResult(store=store.root)
    mine = [s for s in range(store.n_shards) if s % num_shards == shard_index]
    from platonic.models import model_name

    for entry in models:
        name = model_name(entry)
        todo = [s for s in mine if not store.shard_done(name, s)]
        result.shards_skipped[name] = len(mine) - len(todo)
        result.shards_written[name] = 0
        result.atoms_embedded[name] = 0
        result.seconds[name] = 0.0
        if not todo:
            result.rejects[name] = store.rejects(name)
            continue
        model = entry if not isinstance(entry, str) else load_model(name, device=device)
        store.register_model(model.card)
        # A shard written by other weights under the same name would have been refused above.
        todo = [s for s in todo if not store.shard_done(name, s, model.card.fingerprint)]
        total = sum(store.row_range(s)[1] - store.row_range(s)[0] for s in todo)
        progress.start(name, total, "atoms")
        for s in todo:
            lo, hi = store.structure_range(s)
            t0 = time.perf_counter()
            array, rejects = _embed_shard(
                model,
                dataset.structures[lo:hi],
                dataset.ids[lo:hi],
                dataset.sources[lo:hi],
                store.row_range(s)[0],
                batch_atoms or model.batch_atoms,
                progress,
            )
            seconds = time.perf_counter() - t0
            store.write_shard(name, s, array, seconds, rejects)
            result.shards_written[name] += 1
            result.atoms_embedded[name] += len(array)
            result.seconds[name] += seconds
        progress.finish()
        result.rejects[name] = store.rejects(name)
        del model
    return result
