"""Throughput of each model's energy-only forward pass against the atoms per batch.

Sets the adapters' ``cpu_batch_atoms``: on CPU the rate *falls* as batches grow, because the
per-edge tensors of a large batch no longer fit in cache. Same MP-20 structures for every size,
rounds interleaved so that load from other processes hurts every size alike; ratios are against
the largest size in the same round.

    python benchmarks/batch_size.py --models diep,sevennet-0 --sizes 16,64,256,1024 --n 200
"""

from __future__ import annotations

import argparse
import time

import pandas as pd

from platonic.datasets import load
from platonic.extract import make_batches
from platonic.models import DEFAULT_MODELS, load_model


def rate(model, structures: list, batch_atoms: int) -> float:
    batches = make_batches([len(a) for a in structures], batch_atoms)
    start = time.perf_counter()
    for batch in batches:
        model.energy_forward([structures[i] for i in batch])
    return sum(len(a) for a in structures) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS))
    parser.add_argument("--sizes", default="16,32,64,256,1024,4096")
    parser.add_argument("--n", type=int, default=200, help="MP-20 validation structures")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", default=None, help="CSV of every measurement")
    args = parser.parse_args()
    structures = list(load("mp20", split="val", n=args.n, seed=args.seed).structures)
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = []
    for name in args.models.split(","):
        model = load_model(name)
        model.energy_forward(structures[:2])
        for round_ in range(args.rounds):
            for size in sizes:
                rows.append({"model": name, "round": round_, "batch_atoms": size,
                             "atoms_per_s": rate(model, structures, size)})
    table = pd.DataFrame(rows)
    if args.out:
        table.to_csv(args.out, index=False)
    best = table.groupby(["model", "batch_atoms"])["atoms_per_s"].max().unstack()
    print(f"atoms/s, best of {args.rounds} rounds ({sum(len(a) for a in structures)} atoms):")
    print(best.round(0).to_string())
    print(f"\nrelative to batch_atoms={sizes[-1]}:")
    print(best.div(best[sizes[-1]], axis=0).round(2).to_string())


if __name__ == "__main__":
    main()
