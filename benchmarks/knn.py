"""Exact k-NN speed: the leaf search (LeafSearch) vs scikit-learn's brute force, same process, same lists.

For each model and space of an existing store, the mKNN search of a study: ``--queries`` seeded
query atoms (the study's draw), their ``k + g`` nearest rows among all rows (g: the largest
structure, for the same-structure exclusion), rows L2-normalised as mKNN does. Spaces: ``raw``
(the store's matrices), ``unified`` and ``unified-centred`` (``<store>/results/unified/<model>.npy``,
written by ``platonic project``). Both searches return indices; the table gives wall seconds, their
ratio, the share of query-row pairs the leaf search computed, its full scans, and the share of
queries whose lists are equal as sets and in order, and, over the lists that differ as sets, the
largest gap between their sorted squared distances (rounding-sized: they differ only by rows that
tie; scikit-learn breaks ties in its own order, the leaf search by row index).

    python benchmarks/knn.py --store runs/fullall/store-mp20-all-nall-s0 --models sevennet-0,chgnet-0.3.0
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.neighbors import NearestNeighbors

from platonic.allocator import reuse_freed_memory
from platonic.compare.knn import choose_query_rows, l2_normalise_rows
from platonic.compare.leaf_search import LeafSearch
from platonic.store import EmbeddingStore

SPACES = ("raw", "unified", "unified-centred")


def space_rows(store: EmbeddingStore, model: str, space: str, rows: np.ndarray) -> np.ndarray:
    if space == "raw":
        matrix = store.load(model)[rows]
    else:
        path = Path(store.root) / "results" / "unified" / f"{model}.npy"
        if not path.exists():
            sys.exit(f"{path} does not exist: run `platonic project` on this store first")
        matrix = np.load(path, mmap_mode="r")[rows]
        if space == "unified-centred":
            matrix = matrix - matrix.mean(axis=0, dtype=np.float64)
    return l2_normalise_rows(matrix)


def distance_gap(X: np.ndarray, query: int, first: np.ndarray, second: np.ndarray) -> float:
    """Largest difference between the sorted squared distances of two neighbour lists of one query:
    rounding-sized when the lists differ only by rows that tie."""
    def sorted_distances(rows):
        return np.sort(((np.asarray(X[rows], dtype=np.float64) - X[query]) ** 2).sum(axis=1))
    return float(np.abs(sorted_distances(first) - sorted_distances(second)).max())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", required=True)
    parser.add_argument("--models", default=None, help="comma-separated (default: every model of the store)")
    parser.add_argument("--spaces", default=",".join(SPACES))
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    reuse_freed_memory()  # as the command line does: the heap keeps freed blocks
    store = EmbeddingStore(args.store)
    models = args.models.split(",") if args.models else store.models()
    spaces = args.spaces.split(",")
    unknown = sorted(set(spaces) - set(SPACES))
    if unknown:
        sys.exit(f"unknown spaces {unknown}; choose from {list(SPACES)}")
    rows = np.flatnonzero(store.common_rows(models))
    structures = store.atom_table()["structure_index"].to_numpy()[rows]
    n_search = min(rows.size, args.k + int(np.unique(structures, return_counts=True)[1].max()))
    queries = choose_query_rows(rows.size, args.queries, args.seed)
    LeafSearch().fit(np.eye(4)).kneighbors(np.eye(4), 2)  # numba's compilation is not the search's time
    print(f"{rows.size:,} rows, {queries.size:,} queries, {n_search} neighbours each\n")
    print("| model | space | d | scikit-learn brute s | leaf search s (fit) | ratio | pairs computed | full scans | same sets | distance gap | same order |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    total_brute = total_leaf = 0.0
    for model in models:
        for space in spaces:
            X = space_rows(store, model, space, rows)
            start = time.perf_counter()
            brute = NearestNeighbors(n_neighbors=n_search, algorithm="brute").fit(X).kneighbors(
                X[queries], return_distance=False)
            t_brute = time.perf_counter() - start
            start = time.perf_counter()
            search = LeafSearch().fit(X)
            t_fit = time.perf_counter() - start
            leaf = search.kneighbors(X[queries], n_search)
            t_leaf = time.perf_counter() - start
            differ = np.flatnonzero(~(np.sort(brute, axis=1) == np.sort(leaf, axis=1)).all(axis=1))
            same_sets = 1 - differ.size / queries.size
            gap = max((distance_gap(X, queries[i], brute[i], leaf[i]) for i in differ), default=0.0)
            same_order = np.mean((brute == leaf).all(axis=1))
            total_brute, total_leaf = total_brute + t_brute, total_leaf + t_leaf
            print(f"| {model} | {space} | {X.shape[1]} | {t_brute:.2f} | {t_leaf:.2f} ({t_fit:.2f}) | {t_brute / t_leaf:.2f}x "
                  f"| {search.pairs_computed_:.1%} | {search.n_full_scans_} | {same_sets:.2%} | {gap:.1e} | {same_order:.2%} |", flush=True)
    print(f"\nall searches: scikit-learn {total_brute:.1f} s, leaf search {total_leaf:.1f} s ({total_brute / total_leaf:.2f}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
