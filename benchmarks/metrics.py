"""Benchmark: the full 8-model metric matrix, ours vs a naive dense reference.

Synthetic data of MP-20's shape: 8 models whose embeddings (d = 64 or 128, float32) are
noisy linear maps of one shared 16-dimensional latent, projected to a unified space of
K = 100 anchors (cosine to 100 random anchor atoms). Metrics: Procrustes, CKA, mKNN
(Jaccard, k = 10), ScoreOT (reg 0.05, mean of 3 draws of 2,000 atoms), SuperScore, in the
unified space.

The naive reference does what common public code does: N x N distance matrices and
argsort for mKNN, N x N Gram matrices for CKA, ``scipy.spatial.procrustes``, and for OT
``ot.sinkhorn2`` on the same three 2,000-atom samples for all three terms of every pair (1,000
iterations, POT's default). It runs only where its N x N matrices fit (N <= 20,000).

Each (method, N) runs in its own process; peak memory is that process's max RSS.

    python benchmarks/metrics.py --sizes 10000 50000 [--n-queries 10000] [--skip-naive]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import warnings

import numpy as np

N_MODELS = 8
LATENT_DIM = 16
N_ANCHORS = 100
NAIVE_MAX_N = 20_000


def synthetic_unified(n_atoms: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(n_atoms, LATENT_DIM)).astype(np.float32)
    anchors = rng.choice(n_atoms, size=N_ANCHORS, replace=False)
    unified = {}
    for m in range(N_MODELS):
        width = 64 if m % 2 == 0 else 128
        raw = latent @ rng.normal(size=(LATENT_DIM, width)).astype(np.float32)
        raw += 0.5 * rng.normal(size=raw.shape).astype(np.float32)
        raw /= np.linalg.norm(raw, axis=1, keepdims=True)
        unified[f"model_{m}_d{width}"] = raw @ raw[anchors].T
        del raw
    return unified


def run_ours(embeddings: dict[str, np.ndarray], n_queries: int | None) -> None:
    from platonic.compare import metric_matrix

    metric_matrix(embeddings, n_queries=n_queries, include_diagonal=False)


def run_naive(embeddings: dict[str, np.ndarray]) -> None:
    import ot
    from scipy.spatial import procrustes

    names = list(embeddings)
    n = next(iter(embeddings.values())).shape[0]
    samples = [np.sort(np.random.default_rng(seed).choice(n, size=min(2000, n), replace=False)) for seed in range(3)]
    neighbours = {}
    for name, X in embeddings.items():
        X = X.astype(np.float64)
        X = X / np.linalg.norm(X, axis=1, keepdims=True)
        distances = np.sum(X**2, 1)[:, None] + np.sum(X**2, 1)[None, :] - 2 * X @ X.T
        np.fill_diagonal(distances, np.inf)
        neighbours[name] = np.argsort(distances, axis=1)[:, :10]
        del distances
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            A, B = embeddings[a].astype(np.float64), embeddings[b].astype(np.float64)
            _, _, disparity = procrustes(A, B)
            K, L = A @ A.T, B @ B.T
            for gram in (K, L):
                gram -= gram.mean(axis=0)[None, :] + gram.mean(axis=1)[:, None] - gram.mean()
            _ = np.sum(K * L) / np.sqrt(np.sum(K * K) * np.sum(L * L))
            del K, L
            _ = np.mean([len(set(x) & set(y)) / len(set(x) | set(y)) for x, y in zip(neighbours[a], neighbours[b])])
            for sample in samples:
                sa, sb = A[sample], B[sample]
                w = np.full(len(sample), 1.0 / len(sample))
                cost = ot.dist(sa, sb)
                eps = 0.05 * cost.mean()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    _ = (ot.sinkhorn2(w, w, cost, eps) - 0.5 * ot.sinkhorn2(w, w, ot.dist(sa, sa), eps)
                         - 0.5 * ot.sinkhorn2(w, w, ot.dist(sb, sb), eps))


def one(method: str, n_atoms: int, n_queries: int | None) -> None:
    embeddings = synthetic_unified(n_atoms)
    start = time.perf_counter()
    if method == "ours":
        run_ours(embeddings, n_queries)
    else:
        run_naive(embeddings)
    wall = time.perf_counter() - start
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(json.dumps({"method": method, "n": n_atoms, "wall_s": wall, "peak_gib": peak_gib}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000, 282_847])
    parser.add_argument("--n-queries", type=int, default=None,
                        help="mKNN query atoms for N above 50,000 (default: all; 10000 keeps 282,847 within 10 min)")
    parser.add_argument("--skip-naive", action="store_true")
    parser.add_argument("--one", nargs=2, metavar=("METHOD", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        queries = args.n_queries if int(args.one[1]) > 50_000 else None
        one(args.one[0], int(args.one[1]), queries)
        return
    rows = []
    for n in args.sizes:
        result = {}
        methods = ["ours"] + ([] if args.skip_naive or n > NAIVE_MAX_N else ["naive"])
        for method in methods:
            command = [sys.executable, __file__, "--one", method, str(n)]
            if args.n_queries:
                command += ["--n-queries", str(args.n_queries)]
            output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
            result[method] = json.loads(output.strip().splitlines()[-1])
            print(f"# {method} N={n}: {result[method]}", file=sys.stderr, flush=True)
        rows.append((n, result))
    print("| N | ours wall (s) | ours peak (GiB) | naive wall (s) | naive peak (GiB) | speed-up |")
    print("|---|---|---|---|---|---|")
    for n, result in rows:
        ours = result["ours"]
        naive = result.get("naive")
        naive_cells = f"{naive['wall_s']:.1f} | {naive['peak_gib']:.2f} | {naive['wall_s'] / ours['wall_s']:.1f}x" \
            if naive else "not run (N x N too large) | - | -"
        print(f"| {n:,} | {ours['wall_s']:.1f} | {ours['peak_gib']:.2f} | {naive_cells} |")


if __name__ == "__main__":
    main()
