"""The reconstruction metrics of :func:`platonic.compare.matrix.metric_matrix`: GFRE, GFRD and LFRE for
every ordered pair, each source's global and local fits computed once and reused for every target."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from .global_fits import GlobalFits
from .knn import nearest_rows
from .reconstruction import (
    SPLIT_SEED,
    TotalVarianceScaler,
    default_split,
    lfre_above_one,
    lfre_test_rows,
    local_fits,
)
from ._validation import MetricInputError, check_positive_int
from platonic.progress import Progress

logger = logging.getLogger(__name__)


def reconstruction_records(
    models: dict[str, np.ndarray],
    wanted: set[str],
    space: str,
    lfre_n_local_points: int | None,
    lfre_n_test: int | None,
    seed: int,
    include_diagonal: bool,
    lfre_strata: np.ndarray | None = None,
    lfre_n_jobs: int | None = -1,
    progress: Progress | None = None,
) -> list[dict[str, Any]]:
    n_atoms = next(iter(models.values())).shape[0]
    train, test = default_split(n_atoms)
    if lfre_strata is not None and len(lfre_strata) != n_atoms:
        raise MetricInputError(f"lfre_strata must have one label per row ({n_atoms}), got {len(lfre_strata)}")
    if lfre_n_test is not None and lfre_n_test < test.size:
        lfre_test = lfre_test_rows(test, check_positive_int(lfre_n_test, "lfre_n_test"),
                                   None if lfre_strata is None else np.asarray(lfre_strata)[test], seed)
        lfre_seed: int | None = seed
    else:
        lfre_test, lfre_seed = test, None
    records: list[dict[str, Any]] = []
    # One scaler per model (fitted on the training rows); the scaled copies are made per source and
    # per target as they are needed, so that no more than two models' float64 rows are held at once.
    scalers = {name: TotalVarianceScaler().fit(array[train]) for name, array in models.items()}
    lfre_test_scaled: dict[str, np.ndarray] = {}

    def scaled(name: str, rows: np.ndarray) -> np.ndarray:
        # the scaler's own arithmetic, without re-validating rows _check_embeddings has checked
        # (at full MP-20 size that check and its float64 copy were a tenth of the reconstruction time)
        scaler = scalers[name]
        out = np.subtract(models[name][rows], scaler.mean_)
        out /= scaler.scale_
        return out

    for a in models:
        X_train = scaled(a, train)
        # the global and local fits depend only on the source: factored once, reused for every target
        global_fits = GlobalFits(X_train, scaled(a, test)) if wanted & {"gfre", "gfrd"} else None
        source_fits: dict[int, Any] = {}
        for b in models:
            if a == b and not include_diagonal:
                continue
            common = dict(model_a=a, model_b=b, space=space, std=np.nan, null_mean=np.nan, null_std=np.nan)
            Y_train = X_train if b == a else scaled(b, train)
            if global_fits is not None:
                Y_test = global_fits.X_test if b == a else scaled(b, test)
                for metric, value in zip(("gfre", "gfrd"), global_fits.gfre_and_gfrd(Y_train, Y_test)):
                    if metric in wanted:
                        records.append(dict(common, metric=metric, value=value,
                                            n=test.size, seed=SPLIT_SEED, detail="ridge 2-fold CV, 50/50 split"))
            if "lfre" in wanted:
                for name in (a, b):
                    if name not in lfre_test_scaled:
                        lfre_test_scaled[name] = scaled(name, lfre_test)
                n_local = lfre_n_local_points or min(models[a].shape[1], models[b].shape[1])
                if n_local not in source_fits:
                    logger.info("LFRE local fits for %s (k=%d)", a, n_local)
                    neighbours = nearest_rows(X_train, lfre_test_scaled[a], n_local)
                    source_fits[n_local] = local_fits(X_train, lfre_test_scaled[a], neighbours, n_jobs=lfre_n_jobs)
                errors = source_fits[n_local].errors(Y_train, lfre_test_scaled[b])
                value = float(np.sqrt(np.mean(errors**2)))
                detail = (f"n_local_points={n_local}"
                          + (", stratified test atoms" if lfre_strata is not None and lfre_seed is not None else "")
                          + f"; median {np.median(errors):.3g}, p99 {np.quantile(errors, 0.99):.3g}")
                if value > 1.0:
                    detail += "; " + lfre_above_one(errors)
                    logger.warning("LFRE %s -> %s (%s space) = %.3g: %s", a, b, space, value, lfre_above_one(errors))
                records.append(dict(common, metric="lfre", value=value, n=lfre_test.size, seed=lfre_seed,
                                    detail=detail))
        if progress is not None:
            progress.advance(1)
    return records
