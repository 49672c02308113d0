"""On-disk embedding store: one immutable file per (model, shard), rows aligned across models.

Layout (all paths relative to the store root)::

    dataset.json                 dataset name, fingerprint, atom/structure counts, shard boundaries
    atoms.parquet                the atom table: one row per atom, the shared row index
    models/<model>/card.json     model card, model fingerprint, dataset fingerprint, dim
    models/<model>/shard-00007.npy   float32 (rows of shard 7, dim)
    models/<model>/shard-00007.json  rows, sha256 of the .npy, fingerprints, rejects, seconds

Shards are defined by the dataset (a fixed number of structures each), so row ``i`` is the same atom
for every model and any number of independent workers (one model per environment, SLURM job arrays)
can fill one store. Each shard is written to a temporary name and renamed; its sidecar JSON is written
(also atomically) only after the array, so a shard counts as done only when both exist and the
checksum matches. An interrupted run therefore loses at most the shards in flight.

``dataset.json`` carries ``meta_sha256``, the checksum of its own content, verified on open. A shard
counts as done only if every NaN/inf row in it belongs to a structure listed in its sidecar's
``rejects``. One extraction writes into a store at a time (``locks/``, see
:mod:`platonic.store.lock`; the workers of a job array share it).
"""

from platonic.store.importer import EmbeddingImportError, ImportResult, import_embeddings
from platonic.store.store import EmbeddingStore, ShardRecord, StoreError
from platonic.store.lock import LockFileError, StoreLockedError, writer_lock
from platonic.store.on_demand import OnDemand

__all__ = ["EmbeddingImportError", "EmbeddingStore", "ImportResult", "LockFileError", "OnDemand", "ShardRecord", "StoreError",
           "StoreLockedError", "import_embeddings", "writer_lock"]
