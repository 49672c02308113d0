"""GFRE and GFRD of a model x model matrix: one fit per ordered pair vs one factorisation per source.

Both paths run in the same process on the same rows of an existing store (raw space, every
model given), scikit-matter's 50/50 split:

* ``per pair``: :func:`platonic.compare.global_reconstruction_error` and
  :func:`~platonic.compare.global_reconstruction_distortion` for every ordered pair, each
  fitting its own :class:`~platonic.compare.Ridge2FoldCV` (how the matrix computed them before);
* ``factored``: :func:`platonic.compare.metric_matrix` with ``("gfre", "gfrd")``, which factors
  each source once (:class:`platonic.compare.global_fits.GlobalFits`) and takes GFRD from Gram
  matrices.

CPU seconds are the steadier figure on a shared machine; the largest difference between the
two paths' values is printed (GFRE agrees to rounding; GFRD to ~1e-5 where a ridge map is
rank-deficient, see :mod:`platonic.compare.global_fits`).

    python benchmarks/reconstruction.py --store runs/default/store-mp20-all-n500-s0 --models chgnet-0.3.0,sevennet-0,diep
"""

from __future__ import annotations

import argparse

from lfre import timed  # benchmarks/lfre.py: (result, wall s, CPU s) of a call

from platonic.compare import global_reconstruction_distortion, global_reconstruction_error, metric_matrix
from platonic.store import EmbeddingStore


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", required=True)
    parser.add_argument("--models", help="comma-separated (default: every model in the store)")
    parser.add_argument("--rows", type=int, default=0, help="first N rows only (0: all)")
    args = parser.parse_args()
    store = EmbeddingStore(args.store)
    names = args.models.split(",") if args.models else store.models()
    arrays = {m: store.load(m) for m in names}
    if args.rows:
        arrays = {m: a[: args.rows] for m, a in arrays.items()}
    n_rows = next(iter(arrays.values())).shape[0]
    pairs = [(a, b) for a in names for b in names]
    print(f"{len(names)} models, {len(pairs)} ordered pairs, {n_rows} rows, widths "
          + ", ".join(f"{m} {a.shape[1]}" for m, a in arrays.items()))

    def per_pair():
        return {(a, b): (global_reconstruction_error(arrays[a], arrays[b]),
                         global_reconstruction_distortion(arrays[a], arrays[b])) for a, b in pairs}

    def factored():
        table = metric_matrix(arrays, ("gfre", "gfrd"), space="raw").set_index(["model_a", "model_b", "metric"])["value"]
        return {(a, b): (table[a, b, "gfre"], table[a, b, "gfrd"]) for a, b in pairs}

    old, old_wall, old_cpu = timed(per_pair)
    new, new_wall, new_cpu = timed(factored)
    gfre_gap = max(abs(old[p][0] - new[p][0]) for p in pairs)
    gfrd_gap = max(abs(old[p][1] - new[p][1]) for p in pairs)
    print("| path | wall s | CPU s | CPU s per ordered pair |\n|---|---|---|---|")
    print(f"| per pair | {old_wall:.1f} | {old_cpu:.1f} | {old_cpu / len(pairs):.2f} |")
    print(f"| factored | {new_wall:.1f} | {new_cpu:.1f} | {new_cpu / len(pairs):.2f} |")
    print(f"speed-up (CPU): {old_cpu / new_cpu:.1f}x; largest |difference|: GFRE {gfre_gap:.2g}, GFRD {gfrd_gap:.2g}")


if __name__ == "__main__":
    main()
