"""Model x model tables of every comparison metric, and their heatmaps.

:func:`metric_matrix` returns a tidy :class:`pandas.DataFrame`, one row per
(model_a, model_b, metric) with the columns

``model_a, model_b, metric, value, std, n, seed, space, detail, null_mean, null_std``

* symmetric metrics (``procrustes``, ``cka``, ``mknn``, ``ot``, ``superscore``) are
  computed once per unordered pair and written for both orders;
* asymmetric ones (``gfre``, ``gfrd``, ``lfre``) for every ordered pair, model_a being
  the source X and model_b the target Y;
* ``n`` is the number of atoms the value rests on (query atoms for mKNN, the sample for
  OT, test atoms for the reconstruction errors), ``seed`` the seed of that draw,
* OT is the mean over ``ot_repeats`` subsamples drawn with seeds ``seed, seed + 1, ...``;
  ``std`` is their standard deviation (the error bar of the subsampling; NaN for one draw
  and for exact metrics), and SuperScore uses the mean,
  ``detail`` what else is needed to read the number (mKNN score and k, OT's ε, ...),
  ``null_mean``/``null_std`` the permutation null (:mod:`platonic.compare.nulls`: rows of B
  shuffled, ``n_permutations`` draws) of Procrustes, CKA, mKNN and SuperScore;
* with ``centred_space`` the symmetric metrics are also written for the clouds centred on their
  own means (OT is dominated by where each cloud sits, not by its shape, when they are not).

Memory stays bounded: pairs are processed one at a time and per-model work is done
once per model, not once per pair (centred Gram matrices, the k-NN lists of the query
atoms, the OT sample, the LFRE neighbour lists).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .cka import LinearKernelStats, cka_from_moments, linear_cka, unbiased_cka_from_moments
from .knn import KnnScore, choose_query_rows, knn_indices, l2_normalise_rows, neighbourhood_agreement
from ._moments import CentredStats, centred_cross_product
from .ot import sample_rows, score_ot_details
from .procrustes import procrustes_from_moments
from .reconstruction import LFRE_TEST_ATOMS
from .nulls import mean_and_spread, mknn_null, moment_null, query_preserving_permutations
from .superscore import super_score
from .matrix_reconstruction import reconstruction_records
from ._validation import MetricInputError, check_matrix, check_positive_int
from platonic.plotting import subplots
from platonic.progress import NullProgress, Progress
from platonic.validation import check_seed, seed_alias

logger = logging.getLogger(__name__)

SYMMETRIC_METRICS = ("procrustes", "cka", "mknn", "ot", "superscore")
ASYMMETRIC_METRICS = ("gfre", "gfrd", "lfre")
COLUMNS = ["model_a", "model_b", "metric", "value", "std", "n", "seed", "space", "detail", "null_mean", "null_std"]


def _check_embeddings(embeddings: Mapping[str, np.ndarray]) -> Mapping[str, np.ndarray]:
    """A dict is checked and converted at once. Any other mapping (e.g. a
    :class:`platonic.store.OnDemand` that loads each model when asked) is checked one model at a
    time and kept as it is, so that it need not hold every model at once: its values must then
    already be float32 or float64 arrays."""
    if not isinstance(embeddings, Mapping) or len(embeddings) < 2:
        raise MetricInputError("embeddings must be a mapping of at least two model names to arrays")
    if isinstance(embeddings, dict):
        checked = {str(name): check_matrix(array, f"embeddings[{name!r}]", dtypes=(np.float64, np.float32))
                   for name, array in embeddings.items()}
        rows = {name: array.shape[0] for name, array in checked.items()}
    else:
        checked, rows = embeddings, {}
        for name in embeddings:
            array = embeddings[name]
            if not isinstance(array, np.ndarray) or array.dtype not in (np.float32, np.float64):
                raise MetricInputError(f"embeddings[{name!r}]: a mapping other than a dict must hold float32 or "
                                       f"float64 arrays, got {type(array).__name__} "
                                       f"{getattr(array, 'dtype', '')}; pass a dict to have it converted")
            rows[name] = check_matrix(array, f"embeddings[{name!r}]", dtypes=(np.float64, np.float32)).shape[0]
    if len(set(rows.values())) != 1:
        raise MetricInputError(f"every embedding must have the same rows (matched atoms), got row counts {rows}")
    return checked


@seed_alias
def metric_matrix(
    embeddings: Mapping[str, np.ndarray],
    metrics: Sequence[str] = SYMMETRIC_METRICS,
    *,
    space: str = "unified",
    k: int = 10,
    mknn_score: KnnScore = "jaccard",
    n_queries: int | None = None,
    cka_unbiased: bool = False,
    ot_reg: float = 0.05,
    ot_n_samples: int = 2000,
    ot_repeats: int = 3,
    ot_strata: np.ndarray | None = None,
    lfre_n_local_points: int | None = None,
    lfre_n_test: int | None = LFRE_TEST_ATOMS,
    lfre_strata: np.ndarray | None = None,
    lfre_n_jobs: int | None = -1,
    n_permutations: int = 0,
    random_state: int = 0,
    include_diagonal: bool = True,
    mknn_groups: np.ndarray | None = None,
    centred_space: str | None = None,
    neighbour_lists: dict[tuple[str, str], np.ndarray] | None = None,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """Every requested metric for every pair of models (see module docstring).

    Parameters
    ----------
    embeddings : model name -> array (n_atoms, d_model), rows matched across models; a mapping
        that loads each model when asked (:class:`platonic.store.OnDemand`) is read one or two
        models at a time
    metrics : names from ``procrustes, cka, mknn, ot, superscore, gfre, gfrd, lfre``
    space : label written in the ``space`` column (e.g. ``"raw"`` or ``"unified"``)
    k, mknn_score, n_queries : see :func:`platonic.compare.knn.mutual_knn`
    cka_unbiased : use the unbiased HSIC estimator
    ot_reg, ot_n_samples, ot_strata : see :func:`platonic.compare.ot.score_ot_details`;
        OT and SuperScore need all embeddings to have the same width
    ot_repeats : OT subsamples (seeds ``random_state .. random_state + ot_repeats - 1``); mean and std reported
    lfre_n_local_points : neighbours per local map (default: the smaller width of the pair)
    lfre_n_test : LFRE test atoms, drawn with ``random_state`` from the default test half (None: all)
    lfre_strata : one label per row (e.g. element) stratifying that draw
        (:func:`platonic.compare.reconstruction.lfre_test_rows`: every label represented)
    lfre_n_jobs : threads for the batched local fits (-1: all cores)
    n_permutations : permutation-null draws for Procrustes, CKA, mKNN and SuperScore (0: none);
        see :mod:`platonic.compare.nulls` (OT has none: a row permutation leaves it unchanged)
    random_state : int seed of every random draw (query atoms, OT sample, LFRE test atoms, null);
        an int, not a Generator: it is written in the ``seed`` column and the OT repeats use the
        seeds ``random_state + r``. ``seed=`` still works (DeprecationWarning).
    include_diagonal : also compute each model against itself
    mknn_groups : one label per atom (e.g. structure id); mKNN then excludes neighbours sharing the
        query's label (see :mod:`platonic.compare.knn`)
    centred_space : if given (e.g. ``"unified-centred"``), also write the symmetric metrics of the
        clouds each centred on its own mean under this space label: mKNN, OT and SuperScore change,
        Procrustes and CKA are translation invariant and repeated. OT is then computed on the
        centred clouds and the un-centred value derived exactly at the same ε
        (:func:`uncentred_from_centred`), so the two cost one Sinkhorn run.
    neighbour_lists : optional dict, filled with the mKNN lists of the query atoms keyed by
        (space, model), for a caller that needs the same lists again (the self-mKNN of
        :func:`platonic.compare.from_store.compare_store`); a k-NN search over all rows is
        the costliest per-model step at full MP-20 size
    progress : optional :class:`~platonic.progress.Progress`; one task ``metrics (<space>)`` whose
        steps are the per-model k-NN searches, the pairs and the reconstruction sources

    Returns
    -------
    pandas.DataFrame with :data:`COLUMNS`
    """
    models = _check_embeddings(embeddings)
    seed = check_seed(random_state, "random_state", MetricInputError)  # written in the table: an int
    unknown = sorted(set(metrics) - set(SYMMETRIC_METRICS) - set(ASYMMETRIC_METRICS))
    if unknown or not metrics:
        raise MetricInputError(
            f"unknown metrics {unknown}; choose from {SYMMETRIC_METRICS + ASYMMETRIC_METRICS}"
        )
    if mknn_score not in ("jaccard", "overlap"):
        raise MetricInputError(f"mknn_score must be 'jaccard' or 'overlap', got {mknn_score!r}")
    if n_permutations:
        check_positive_int(n_permutations, "n_permutations", minimum=2)
    wanted = set(metrics)
    if "superscore" in wanted:
        wanted |= {"procrustes", "mknn", "ot"}
    widths = {name: array.shape[1] for name, array in models.items()}
    if (wanted & {"ot"} or centred_space) and len(set(widths.values())) != 1:
        raise MetricInputError(
            f"ot, superscore and the centred space compare clouds in one space, but the widths differ: {widths}; "
            "use the unified space or drop them"
        )
    n_atoms = next(iter(models.values())).shape[0]
    names = list(models)
    records: list[dict[str, Any]] = []
    spaces = [space] + ([centred_space] if centred_space else [])

    def add(a: str, b: str, metric: str, value: float, n: int, used_seed: int | None, detail: str = "",
            null: tuple[float, float] = (np.nan, np.nan), symmetric: bool = True, std: float = np.nan,
            where: str = space) -> None:
        if metric not in metrics:
            return
        pairs = [(a, b), (b, a)] if symmetric and a != b else [(a, b)]
        for first, second in pairs:
            records.append(dict(model_a=first, model_b=second, metric=metric, value=value, std=std, n=n, seed=used_seed,
                                space=where, detail=detail, null_mean=null[0], null_std=null[1]))

    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + (0 if include_diagonal else 1):]]
    reconstructing = bool(wanted & set(ASYMMETRIC_METRICS))
    progress = progress or NullProgress()
    progress.start(f"metrics ({space})", total=len(names) * ("mknn" in wanted) + len(pairs) + len(names) * reconstructing,
                   unit="steps")
    # Per-model precomputation, done once.
    moments: dict[str, CentredStats | LinearKernelStats] = {}
    if wanted & {"procrustes", "cka"}:
        for name, array in models.items():
            moments[name] = LinearKernelStats(array) if cka_unbiased and "cka" in wanted else CentredStats(array)
    means = {name: array.mean(axis=0, dtype=np.float64) for name, array in models.items()} if centred_space else {}
    neighbours: dict[tuple[str, str], np.ndarray] = {} if neighbour_lists is None else neighbour_lists
    queries = choose_query_rows(n_atoms, n_queries, seed)
    query_seed = seed if queries.size < n_atoms else None
    if "mknn" in wanted:
        for name, array in models.items():
            logger.info("k-NN lists of %d query atoms for %s", queries.size, name)
            neighbours[(space, name)] = knn_indices(l2_normalise_rows(array), k, queries, mknn_groups)
            if centred_space:
                neighbours[(centred_space, name)] = knn_indices(l2_normalise_rows(array - means[name]), k, queries,
                                                                mknn_groups)
            progress.advance(1)
    mknn_detail = f"{mknn_score}, k={k}" + (", same-structure neighbours excluded" if mknn_groups is not None else "")
    permutations = (query_preserving_permutations(n_atoms, queries, n_permutations, seed) if n_permutations else [])
    null_seed = seed if n_permutations else None
    ot_samples = ([sample_rows(n_atoms, ot_n_samples, seed + r, ot_strata)
                   for r in range(check_positive_int(ot_repeats, "ot_repeats"))] if "ot" in wanted else [])
    ot_seed = seed if ot_samples and ot_samples[0].size < n_atoms else None

    for a, b in pairs:
        logger.info("symmetric metrics %s - %s", a, b)
        A, B = models[a], models[b]
        procrustes_value = None
        procrustes_draws = np.full(len(permutations), np.nan)
        if moments:
            stats_a, stats_b = moments[a], moments[b]
            centred_a = stats_a.centred if isinstance(stats_a, LinearKernelStats) else stats_a
            centred_b = stats_b.centred if isinstance(stats_b, LinearKernelStats) else stats_b
            cross = centred_cross_product(A, B, centred_a.mean, centred_b.mean)
            drawn = moment_null(A, B, centred_a, centred_b, permutations) if permutations else {}
            if "procrustes" in wanted:
                procrustes_value = procrustes_from_moments(cross, centred_a, centred_b)
                if permutations:
                    procrustes_draws = drawn["procrustes"]
                for where in spaces:  # translation invariant: the same value in the centred space
                    add(a, b, "procrustes", procrustes_value, n_atoms, null_seed, null=_null(procrustes_draws),
                        where=where)
            if "cka" in wanted:
                if cka_unbiased:
                    value = unbiased_cka_from_moments(cross, stats_a, stats_b)  # type: ignore[arg-type]
                    cka_draws = (np.array([linear_cka(A, B[perm], True) for perm in permutations]) if permutations
                                 else np.array([]))
                else:
                    value = cka_from_moments(cross, centred_a, centred_b)
                    cka_draws = drawn.get("cka", np.array([]))
                for where in spaces:
                    add(a, b, "cka", value, n_atoms, null_seed, "unbiased" if cka_unbiased else "biased",
                        null=_null(cka_draws), where=where)
        ot_values: dict[str, float] = {}
        if "ot" in wanted:
            ot_values = _ot_records(add, a, b, A, B, ot_samples, ot_reg, ot_strata, ot_seed, space, centred_space,
                                    means)
        for where in spaces:
            if "mknn" not in wanted:
                break
            lists_a, lists_b = neighbours[(where, a)], neighbours[(where, b)]
            mknn_value = neighbourhood_agreement(lists_a, lists_b, mknn_score)
            mknn_draws = (mknn_null(lists_a, lists_b, queries, permutations, mknn_score) if permutations
                          else np.array([]))
            add(a, b, "mknn", mknn_value, int(queries.size), query_seed, mknn_detail, null=_null(mknn_draws),
                where=where)
            if "superscore" in wanted:
                damping = np.exp(-max(ot_values[where], 0.0))
                super_draws = 0.5 * (procrustes_draws + mknn_draws) * damping if permutations else np.array([])
                add(a, b, "superscore", super_score(procrustes_value, mknn_value, ot_values[where]), int(queries.size),
                    query_seed, f"mknn={mknn_detail}; ot reg={ot_reg}, n={ot_samples[0].size} x {len(ot_samples)}",
                    null=_null(super_draws), where=where)
        progress.advance(1)

    if reconstructing:
        records += reconstruction_records(models, wanted, space, lfre_n_local_points, lfre_n_test, seed,
                                           include_diagonal, lfre_strata, lfre_n_jobs, progress)
    progress.finish()
    table = pd.DataFrame.from_records(records, columns=COLUMNS)
    return table.astype({"n": "int64", "seed": "Int64"})


def _null(draws: np.ndarray) -> tuple[float, float]:
    return mean_and_spread(draws) if np.size(draws) and np.isfinite(draws).all() else (np.nan, np.nan)


def _ot_records(add, a: str, b: str, A: np.ndarray, B: np.ndarray, ot_samples: list[np.ndarray], ot_reg: float,
                ot_strata: np.ndarray | None, ot_seed: int | None, space: str, centred_space: str | None,
                means: dict[str, np.ndarray]) -> dict[str, float]:
    """ScoreOT of one pair (mean over the draws) in ``space`` and, if asked, ``centred_space``.

    Centred: the Sinkhorn divergence is computed on the centred clouds, ε = reg x their mean cost;
    the un-centred value then follows exactly (:func:`uncentred_from_centred`) at that same ε.
    """
    stratified = ", stratified" if ot_strata is not None else ""
    if not centred_space:
        draws = [score_ot_details(A[rows], B[rows], reg=ot_reg, n_samples=rows.size) for rows in ot_samples]
        scores = np.array([d.score for d in draws])
        eps = ", ".join(f"{d.eps:.4g}" for d in draws)
        add(a, b, "ot", float(scores.mean()), draws[0].n, ot_seed,
            f"mean of {len(draws)} draws of {draws[0].n}; eps={eps} (reg={ot_reg} x mean cost){stratified}",
            std=float(scores.std(ddof=1)) if len(draws) > 1 else np.nan)
        return {space: float(scores.mean())}
    centred_scores, uncentred_scores, eps = [], [], []
    for rows in ot_samples:
        X, Y = np.asarray(A[rows], dtype=np.float64) - means[a], np.asarray(B[rows], dtype=np.float64) - means[b]
        details = score_ot_details(X, Y, reg=ot_reg, n_samples=rows.size)
        centred_scores.append(details.score)
        uncentred_scores.append(uncentred_from_centred(details, X, Y, means[a], means[b]))
        eps.append(f"{details.eps:.4g}")
    n = ot_samples[0].size
    values = {}
    for where, scores, how in ((centred_space, centred_scores, "each cloud minus its own mean"),
                               (space, uncentred_scores, "un-centred (the paper's), S = S_centred + shift term, "
                                                         "exact at the same eps")):
        scores = np.array(scores)
        values[where] = float(scores.mean())
        add(a, b, "ot", values[where], n, ot_seed,
            f"{how}; mean of {len(scores)} draws of {n}; eps={', '.join(eps)} (reg={ot_reg} x mean centred cost)"
            f"{stratified}", std=float(scores.std(ddof=1)) if len(scores) > 1 else np.nan, where=where)
    return values


def uncentred_from_centred(details, X: np.ndarray, Y: np.ndarray, mean_a: np.ndarray, mean_b: np.ndarray) -> float:
    r"""ScoreOT of the un-centred clouds ``X + mean_a``, ``Y + mean_b`` from the centred run, at its ε.

    With :math:`t = m_b - m_a`, every cross cost is :math:`\|x - y - t\|^2 = \|x - y\|^2
    - 2t\cdot x + 2t\cdot y + \|t\|^2`; the extra terms are separable, so under any plan with
    the uniform marginals they add :math:`\delta = \|t\|^2 - 2t\cdot(\bar x - \bar y)` to the
    cross term and to the mean cost, and nothing to the (translation-invariant) self terms:
    :math:`S^{u} = S^{c} + \delta`, ScoreOT\ :sup:`u` = (S^c + δ) / (mean C^c + δ).
    """
    t = mean_b - mean_a
    delta = float(t @ t - 2.0 * t @ (X.mean(axis=0) - Y.mean(axis=0)))
    return (details.divergence + delta) / (details.mean_cost + delta)


def heatmap(df: pd.DataFrame, metric: str, ax: Any = None, annotate: bool = True, cmap: str = "viridis") -> Any:
    """Draw one metric of a :func:`metric_matrix` table as a model x model heatmap.

    Rows are model_a (the source for asymmetric metrics), columns model_b. Returns the
    matplotlib Axes: ``ax``, or one on a new :class:`~matplotlib.figure.Figure` built without
    pyplot (:func:`platonic.plotting.subplots`; ``ax.figure`` is that Figure). A table holding several spaces must be filtered to one first. If the table
    has a ``meaningful`` column (:func:`platonic.compare.baselines.significance`), cells that
    clear both their null and the control baseline get a ``*``.
    """
    missing = [column for column in ("model_a", "model_b", "metric", "value") if column not in df.columns]
    if missing:
        raise MetricInputError(f"df lacks the columns {missing}: pass a table from metric_matrix")
    subset = df[df["metric"] == metric]
    if subset.empty:
        raise MetricInputError(f"metric {metric!r} is not in the table; it has {sorted(df['metric'].unique())}")
    if "space" in subset and subset["space"].nunique() > 1:
        raise MetricInputError(f"the table mixes spaces {sorted(subset['space'].unique())}: filter it to one")
    order = list(dict.fromkeys(list(subset["model_a"]) + list(subset["model_b"])))
    table = subset.pivot(index="model_a", columns="model_b", values="value").reindex(index=order, columns=order)
    if ax is None:
        _, ax = subplots(figsize=(1.0 + 0.7 * len(order), 0.6 + 0.7 * len(order)))
    image = ax.imshow(table.to_numpy(dtype=float), cmap=cmap)
    ax.figure.colorbar(image, ax=ax, shrink=0.8)
    ax.set_xticks(range(len(order)), order, rotation=45, ha="right")
    ax.set_yticks(range(len(order)), order)
    marked = None
    if "meaningful" in subset:
        marked = (subset.assign(meaningful=subset["meaningful"].astype("boolean").fillna(False).astype(bool))
                  .pivot(index="model_a", columns="model_b", values="meaningful")
                  .reindex(index=order, columns=order).fillna(False).to_numpy(dtype=bool))
    if annotate:
        for i, row in enumerate(table.to_numpy(dtype=float)):
            for j, value in enumerate(row):
                if np.isfinite(value):
                    star = "*" if marked is not None and marked[i, j] else ""
                    ax.text(j, i, f"{value:.2f}{star}", ha="center", va="center", fontsize=8, color="w")
    label = subset["detail"].iloc[0] if "detail" in subset and subset["detail"].iloc[0] else ""
    if marked is not None:
        label = (label + "\n" if label else "") + "* clears its null and the control baseline"
    space = f" ({subset['space'].iloc[0]})" if "space" in subset else ""
    ax.set_title(f"{metric}{space}" + (f"\n{label}" if label else ""), fontsize=10)
    return ax
