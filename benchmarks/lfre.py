"""LFRE speed: batched local fits vs the former per-point implementation vs scikit-matter.

One ordered pair X -> Y at 1,000 test atoms with k = 64 neighbours and d_X = 128 (SevenNet-0
-> CHGNet 0.3.0 by default, from an existing store), all three in the same process:

* ``platonic``: :func:`platonic.compare.reconstruction.local_fits` (factor the source once)
  then ``errors(Y)``; reported cold (factor + one target) and amortised over an 8-target row
  of the model x model matrix (factor / 8 + one target);
* ``former``: the per-point ``Ridge2FoldCV`` loop of commit 1668954 (read from git), with
  the BLAS thread count it ran under (the default) and with one BLAS thread;
* ``skmatter``: ``skmatter.metrics.pointwise_local_reconstruction_error``, same split, test
  atoms and k (it refits per point and builds the dense distance matrix).

Wall and CPU seconds are both printed: the machine is shared, so CPU time is the steadier
figure. Values are compared point by point (max absolute difference).

    python benchmarks/lfre.py --store runs/default/store-mp20-all-n500-s0
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from platonic.compare.knn import nearest_rows
from platonic.compare.reconstruction import TotalVarianceScaler, default_split, lfre_test_rows, local_fits
from platonic.store import EmbeddingStore

FORMER_COMMIT = "1668954"


def former_module():
    """The reconstruction module as it was before the batched fits (from git)."""
    root = Path(__file__).resolve().parents[1]
    source = subprocess.run(["git", "-C", str(root), "show", f"{FORMER_COMMIT}:src/platonic/compare/reconstruction.py"],
                            check=True, capture_output=True, text=True).stdout
    source = source.replace("from .knn import", "from platonic.compare.knn import")
    source = source.replace("from ._validation import", "from platonic.compare._validation import")
    path = Path(tempfile.mkdtemp()) / "former_reconstruction.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("former_reconstruction", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def timed(function):
    wall, cpu = time.perf_counter(), time.process_time()
    result = function()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", required=True)
    parser.add_argument("--source", default="sevennet-0")
    parser.add_argument("--target", default="chgnet-0.3.0")
    parser.add_argument("--n-test", type=int, default=1000)
    parser.add_argument("--k", type=int, default=64)
    parser.add_argument("--targets-per-source", type=int, default=8)
    parser.add_argument("--skip-default-threads", action="store_true",
                        help="skip the former loop under the default BLAS threads (minutes on a loaded machine)")
    args = parser.parse_args()

    store = EmbeddingStore(args.store)
    X, Y = store.load(args.source).astype(np.float64), store.load(args.target).astype(np.float64)
    elements = store.atom_table()["element"].to_numpy()
    train, test = default_split(len(X))
    test = lfre_test_rows(test, args.n_test, elements[test], random_state=0)
    x_scaler, y_scaler = TotalVarianceScaler().fit(X[train]), TotalVarianceScaler().fit(Y[train])
    X_train, X_test = x_scaler.transform(X[train]), x_scaler.transform(X[test])
    Y_train, Y_test = y_scaler.transform(Y[train]), y_scaler.transform(Y[test])
    neighbours = nearest_rows(X_train, X_test, args.k)
    print(f"{args.source} (d={X.shape[1]}) -> {args.target} (d={Y.shape[1]}), {test.size} test atoms "
          f"of {len(X)}, k={args.k}")

    rows = []
    for n_jobs in (1, 2):
        fits, factor_wall, factor_cpu = timed(lambda: local_fits(X_train, X_test, neighbours, n_jobs=n_jobs))
        ours, target_wall, target_cpu = timed(lambda: fits.errors(Y_train, Y_test))
        per = args.targets_per_source
        rows.append((f"platonic, {n_jobs} thread(s), one pair cold", factor_wall + target_wall, factor_cpu + target_cpu))
        rows.append((f"platonic, {n_jobs} thread(s), per pair in a {per}-target row",
                     factor_wall / per + target_wall, factor_cpu / per + target_cpu))
    former = former_module()
    reference = None
    if not args.skip_default_threads:
        reference, wall, cpu = timed(lambda: former.local_errors_from_neighbours(
            X_train, X_test, Y_train, Y_test, neighbours, former.Ridge2FoldCV()))
        rows.append(("former per-point loop, default BLAS threads", wall, cpu))
    with threadpool_limits(1):
        single, wall, cpu = timed(lambda: former.local_errors_from_neighbours(
            X_train, X_test, Y_train, Y_test, neighbours, former.Ridge2FoldCV()))
    rows.append(("former per-point loop, 1 BLAS thread", wall, cpu))
    from skmatter.metrics import pointwise_local_reconstruction_error

    with threadpool_limits(1):
        skm, wall, cpu = timed(lambda: pointwise_local_reconstruction_error(X, Y, args.k, test_idx=test, train_idx=train))
    rows.append(("skmatter 0.4.1 pointwise LFRE, 1 BLAS thread", wall, cpu))

    baseline = rows[-2][2]
    print(f"| implementation | wall s | CPU s | CPU vs former (1 thread) |\n|---|---|---|---|")
    for name, wall, cpu in rows:
        print(f"| {name} | {wall:.2f} | {cpu:.2f} | {baseline / cpu:.1f}x |")
    lfre = float(np.sqrt(np.mean(ours**2)))
    print(f"LFRE {lfre:.12f}; max |difference| per atom: vs former {np.abs(ours - single).max():.2e}, "
          f"vs skmatter {np.abs(ours - skm).max():.2e}"
          + ("" if reference is None else f", former default threads vs 1 thread {np.abs(reference - single).max():.2e}"))


if __name__ == "__main__":
    sys.exit(main())
