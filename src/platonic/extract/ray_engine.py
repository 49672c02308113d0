"""Extraction on a Ray cluster: the same shards, the same store, many workers.

Each model gets a pool of Ray actors; each actor loads the model once and embeds whole shards,
writing each one to the store itself with the same atomic files as the in-process engine (array to a
temporary name, renamed, then its sidecar with the sha256). The driver only hands out shard numbers
and the shard's structures, and counts what comes back, so the store must be on a file system every
worker sees (a laptop, or a cluster's shared file system).

Faults: an actor that dies mid-shard (killed, out of memory, node lost) is restarted by Ray, which
reloads the model and runs the shard again (``max_restarts`` and ``max_task_retries``). A shard that
was already complete when its task starts (written just before a crash, or by another worker) is not
recomputed. The numbers are those of the in-process engine: the same batches of the same structures
through the same adapter, so the shard files are byte for byte the same.

Isolated environments: a model whose family runs in its own environment (e.g. ``mace:/path``, see
:mod:`platonic.envs`) runs there under Ray too: each actor starts its own worker process in that
environment (:class:`~platonic.envs.remote.IsolatedModel`) and writes the shards it streams back.
The driver checks that the environment is installed before any actor starts (a missing one is the
error naming ``platonic env create``) and gives the actors its own environments folder
(``PLATONIC_ENVS_DIR``), so that actors use the environment the driver checked, whatever their
process environment says; on a multi-node cluster that folder must be at the same path on every
node, like the store. A worker process ends with its actor (end of input on its pipe).

Ray is imported only when this engine is used; the in-process engine never needs it.
"""

from __future__ import annotations

import time
from collections import deque
from pathlib import Path
from typing import Callable, Sequence

from platonic.errors import PlatonicError
from platonic.progress import NullProgress, Progress

RAY_EXTRA = "pip install 'platonic[ray]'  (ray==2.60.0)"


class RayEngineError(PlatonicError, RuntimeError):
    """Ray is missing, or a shard failed on Ray after every retry."""


def import_ray():
    """The ``ray`` module, or an error naming the extra that installs it."""
    try:
        import ray
    except ImportError:
        raise RayEngineError(f"the Ray engine needs the package ray, which is not installed: {RAY_EXTRA}") from None
    return ray


def check_names(models) -> None:
    """Refuse model objects: each actor loads its own copy by name, and a loaded object (e.g. an
    IsolatedModel holding a worker process and its pipes) cannot be shipped to other processes or nodes."""
    objects = [type(m).__name__ for m in models if not isinstance(m, str)]
    if objects:
        raise RayEngineError(f"the Ray engine loads every model in its actors by name; got model object(s) "
                             f"{objects}: give registry or family:/path names, or use the in-process engine")


class ShardWorker:
    """One loaded model embedding whole shards into the store (the body of a Ray actor)."""

    def __init__(self, store_root: str, name: str, device: str, batch_atoms: int | None, load_model: Callable | None,
                 environ: dict[str, str] | None = None):
        import os

        from platonic.store import EmbeddingStore

        # Set before the model loads: e.g. the environments folder the driver checked (module docstring).
        os.environ.update(environ or {})
        if load_model is None:
            from platonic.models import load_model
        self.store = EmbeddingStore(store_root)
        self.name = name
        # A model that cannot load (unknown name, missing weights) is reported by card(), as the
        # error it is, rather than as a dead actor that Ray would try to restart.
        self.load_error: Exception | None = None
        try:
            self.model = load_model(name, device=device)
        except Exception as exc:
            self.load_error = exc
            return
        self.batch_atoms = batch_atoms or self.model.batch_atoms

    def card(self):
        if self.load_error is not None:
            raise self.load_error
        return self.model.card

    def run(self, shard: int, structures: list, ids: list[str], sources: list[str]) -> tuple[int, int, float, list[dict], bool]:
        """Embed and write one shard; returns (shard, rows, seconds, rejects, computed)."""
        from platonic.extract.runner import _embed_shard

        fingerprint = self.model.card.fingerprint
        start, stop = self.store.row_range(shard)
        if self.store.shard_done(self.name, shard, fingerprint):
            return shard, stop - start, 0.0, self.store._record(self.name, shard).rejects, False
        t0 = time.perf_counter()
        array, rejects = _embed_shard(self.model, structures, ids, sources, start, self.batch_atoms, NullProgress())
        seconds = time.perf_counter() - t0
        self.store.write_shard(self.name, shard, array, seconds, rejects)
        return shard, len(array), seconds, rejects, True


def extract_ray(
    dataset,
    models: Sequence[str],
    out: str | Path,
    *,
    shard_size: int = 256,
    batch_atoms: int | None = None,
    device: str = "cpu",
    address: str | None = None,
    workers: int | None = None,
    cpus_per_worker: float = 1.0,
    max_retries: int = 3,
    progress: Progress | None = None,
    load_model: Callable | None = None,
    atom_table: Callable | None = None,
):
    """:func:`platonic.extract.extract` with the shards run as tasks of Ray actors.

    Parameters
    ----------
    address: Ray cluster to join (``"auto"``: the one ``ray start`` runs here; ``"ray://host:10001"``);
        ``None`` or ``"local"``: join the running ``ray.init`` of this process, else start a local
        cluster for this call and stop it afterwards.
    workers: actors per model (default: as many as the cluster's CPUs, or GPUs with ``device="cuda"``,
        allow). Each holds one loaded model.
    cpus_per_worker: CPUs Ray reserves per actor (its torch threads); with ``device="cuda"`` each
        actor also gets one GPU.
    max_retries: restarts of a dead actor and retries of its shard before the run fails. Shards
        finished before a failure stay in the store; running again resumes.

    The rest as :func:`platonic.extract.extract`; ``load_model`` is sent to the actors (it must be
    picklable by Ray).
    """
    from platonic.extract.runner import ExtractResult
    from platonic.store import EmbeddingStore

    if not models:
        raise ValueError("no models given")
    check_names(models)
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if max_retries < 0:
        raise ValueError(f"max_retries must be >= 0, got {max_retries}")
    ray = import_ray()
    if atom_table is None:
        from platonic.datasets import atom_table

    progress = progress or NullProgress()
    store = EmbeddingStore.open_or_create(out, dataset, atom_table, shard_size=shard_size)
    result = ExtractResult(store=store.root)
    todo_by_model = {name: [s for s in range(store.n_shards) if not store.shard_done(name, s)] for name in models}
    for name, todo in todo_by_model.items():
        result.shards_skipped[name] = store.n_shards - len(todo)
        result.shards_written[name] = 0
        result.atoms_embedded[name] = 0
        result.seconds[name] = 0.0
    if not any(todo_by_model.values()):
        result.rejects = {name: store.rejects(name) for name in models}
        return result

    # Before Ray starts: a model whose isolated environment is missing is refused with its command.
    from platonic import models as registry

    by_name = load_model is None or load_model is registry.load_model
    environ = {name: _isolated_environ(name) if by_name and todo_by_model[name] else {} for name in models}
    started_here = False
    if not ray.is_initialized():
        local = address in (None, "local")
        options = {"num_cpus": int(workers * cpus_per_worker) if workers else None} if local else {"address": address}
        ray.init(include_dashboard=False, configure_logging=False, **options)
        started_here = True
    try:
        n_workers = workers or _cluster_slots(ray, device, cpus_per_worker)
        for name in models:
            if todo_by_model[name]:
                _run_model(ray, store, dataset, name, todo_by_model[name], result, n_workers, device, batch_atoms,
                           cpus_per_worker, max_retries, load_model, progress, environ[name])
            result.rejects[name] = store.rejects(name)
    finally:
        if started_here:
            ray.shutdown()
    return result


def _isolated_environ(name: str) -> dict[str, str]:
    """For a registry name that runs in an isolated environment: check the environment is installed
    (:meth:`~platonic.envs.Environment.require` raises an error naming its command) and return the
    variables that point the actors at it; ``{}`` for a model that runs in the actor's own process."""
    from platonic.models import _isolated_environment, family_of

    env = _isolated_environment(family_of(name), name)
    if env is None:
        return {}
    env.require()
    from platonic.envs import envs_dir

    return {"PLATONIC_ENVS_DIR": str(envs_dir().resolve())}


def _cluster_slots(ray, device: str, cpus_per_worker: float) -> int:
    resources = ray.cluster_resources()
    slots = resources.get("GPU", 0) if device.startswith("cuda") else resources.get("CPU", 0) / cpus_per_worker
    if int(slots) < 1:
        kind = "GPU" if device.startswith("cuda") else f"{cpus_per_worker} CPU"
        raise RayEngineError(f"the Ray cluster has no room for one worker ({kind}); resources: {resources}")
    return int(slots)


def _get(ray, refs):
    """``ray.get``, raising an error from inside a task as the error itself (e.g. the adapter's)."""
    try:
        return ray.get(refs)
    except ray.exceptions.RayTaskError as exc:
        if isinstance(exc.cause, Exception):
            raise exc.cause from None
        raise


def _run_model(ray, store, dataset, name, todo, result, n_workers, device, batch_atoms, cpus_per_worker, max_retries,
               load_model, progress, environ) -> None:
    actor_class = ray.remote(
        num_cpus=cpus_per_worker,
        num_gpus=1 if device.startswith("cuda") else 0,
        max_restarts=max_retries,
        max_task_retries=max_retries,
    )(ShardWorker)
    actors = [actor_class.remote(str(store.root.resolve()), name, device, batch_atoms, load_model, environ)
              for _ in range(min(n_workers, len(todo)))]
    try:
        try:
            cards = _get(ray, [a.card.remote() for a in actors])
        except ray.exceptions.RayActorError as exc:
            raise RayEngineError(f"{name}: a worker died while loading the model ({exc})") from None
        fingerprints = {c.fingerprint for c in cards}
        if len(fingerprints) != 1:
            raise RayEngineError(f"{name}: the workers loaded different weights (fingerprints {sorted(fingerprints)})")
        store.register_model(cards[0])
        # A shard written by other weights under the same name is refused by register_model above.
        todo = deque(todo)
        progress.start(name, sum(store.row_range(s)[1] - store.row_range(s)[0] for s in todo), "atoms")
        pending = {}
        t0 = time.perf_counter()

        def submit(actor) -> None:
            shard = todo.popleft()
            lo, hi = store.structure_range(shard)
            ref = actor.run.remote(shard, dataset.structures[lo:hi], dataset.ids[lo:hi], dataset.sources[lo:hi])
            pending[ref] = (shard, actor)

        for actor in actors:
            if todo:
                submit(actor)
        while pending:
            (ref,), _ = ray.wait(list(pending), num_returns=1)
            shard, actor = pending.pop(ref)
            try:
                _, rows, _, _, computed = _get(ray, ref)
            except ray.exceptions.RayActorError as exc:
                raise RayEngineError(
                    f"{name}: shard {shard} failed: its worker died {max_retries + 1} times ({exc}). "
                    "Finished shards are kept; run again to resume."
                ) from None
            if computed:
                result.shards_written[name] += 1
                result.atoms_embedded[name] += rows
            else:
                result.shards_skipped[name] += 1
            progress.advance(rows)
            if todo:
                submit(actor)
        # Wall time of the pool (not the sum over workers), so atoms/s is the cluster's throughput.
        result.seconds[name] = time.perf_counter() - t0
        progress.finish()
    finally:
        for actor in actors:
            ray.kill(actor, no_restart=True)
