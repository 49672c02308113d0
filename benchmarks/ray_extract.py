"""The Ray engine against the in-process engine: one model, the same MP-20 structures, one run.

Both engines fill a fresh store from the same dataset and atom table (computed once, outside the
timings). Reported per engine:

* **total**: wall time of the whole ``extract`` call: for Ray, starting a local cluster, starting
  the actors and loading one model in each, and stopping the cluster; for in-process, loading the
  model once;
* **pool**: wall time from the first shard handed out to the last one written (in-process: the sum
  of the shard times), hence the throughput in atoms/s;
* **compute**: the sum of the per-shard embedding times the sidecars record, so
  ``workers x pool - compute`` is time the workers spent not embedding (task dispatch, shipping
  structures, writing shards, waiting for the last shard): the per-shard overhead of the scaling
  model in ``docs/scaling.md``.

The two stores must be byte for byte the same (every shard's sha256); the script says so or fails.
The machine's load average (``os.getloadavg``) is printed before and after each engine, since the
numbers mean little on a shared machine without it. Usage::

    python benchmarks/ray_extract.py --n 5000 --model chgnet-0.3.0 --workers 2
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from platonic.datasets import atom_table, load
from platonic.extract import extract
from platonic.store import EmbeddingStore


def sidecar_seconds(store: EmbeddingStore, model: str) -> float:
    return sum(store._record(model, s).seconds for s in range(store.n_shards))


def run_engine(engine: str, data, table, model: str, root: Path, shard_size: int, workers: int, threads: int) -> dict:
    import torch

    torch.set_num_threads(threads)  # the in-process engine's threads; each Ray actor gets one CPU, one thread
    load_before = os.getloadavg()
    options = {"engine": "ray", "workers": workers} if engine == "ray" else {}
    t0 = time.perf_counter()
    result = extract(data, [model], root, shard_size=shard_size, atom_table=lambda d: table, **options)
    total = time.perf_counter() - t0
    store = EmbeddingStore(root)
    return {
        "engine": engine,
        "workers": workers if engine == "ray" else 1,
        "threads_per_worker": 1 if engine == "ray" else threads,
        "atoms": result.atoms_embedded[model],
        "shards": result.shards_written[model],
        "total_s": round(total, 2),
        "pool_s": round(result.seconds[model], 2),
        "compute_s": round(sidecar_seconds(store, model), 2),
        "atoms_per_s": round(result.atoms_per_second(model), 1),
        "load_before": [round(v, 2) for v in load_before],
        "load_after": [round(v, 2) for v in os.getloadavg()],
        "sha256": [store._record(model, s).sha256 for s in range(store.n_shards)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=5000, help="MP-20 structures (seeded subsample of all splits)")
    parser.add_argument("--model", default="chgnet-0.3.0")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--shard-size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", default="2,1", help="torch threads of the in-process runs (one run each)")
    parser.add_argument("--out", type=Path, default=None, help="write the rows as JSON here")
    args = parser.parse_args()

    data = load("mp20", split="all", n=args.n, seed=args.seed)
    t0 = time.perf_counter()
    table = atom_table(data)
    print(f"{len(data)} structures, {data.n_atoms} atoms; atom table in {time.perf_counter() - t0:.1f} s (not timed below)")
    work = Path(tempfile.mkdtemp(prefix="ray_bench_"))
    rows = []
    try:
        runs = [("inprocess", int(t)) for t in args.threads.split(",")] + [("ray", 1)]
        for engine, threads in runs:
            row = run_engine(engine, data, table, args.model, work / f"{engine}{threads}", args.shard_size,
                             args.workers, threads)
            rows.append(row)
            overhead = (row["workers"] * row["pool_s"] - row["compute_s"]) / max(row["shards"], 1)
            print(f"{engine:9s} workers {row['workers']} x {threads} threads: total {row['total_s']:.1f} s, pool {row['pool_s']:.1f} s "
                  f"({row['atoms_per_s']:.0f} atoms/s), compute {row['compute_s']:.1f} s, "
                  f"idle per shard {overhead:.2f} s; load {row['load_before']} -> {row['load_after']}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    same = all(row["sha256"] == rows[0]["sha256"] for row in rows)
    for row in rows[:-1]:
        print(f"Ray / in-process with {row['threads_per_worker']} threads: throughput "
              f"{rows[-1]['atoms_per_s'] / row['atoms_per_s']:.2f}x, total time {rows[-1]['total_s'] / row['total_s']:.2f}x")
    print(f"stores byte for byte equal: {same}")
    if args.out:
        args.out.write_text(json.dumps({"n": len(data), "atoms": data.n_atoms, "model": args.model, "rows": rows}, indent=1))
    if not same:
        raise SystemExit("the Ray store differs from the in-process store")


if __name__ == "__main__":
    main()
