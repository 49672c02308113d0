r"""The unified space drawn as maps: anchors over the reference map (Li & Walsh Fig 2b), every
model's unified space as K grows (Fig 3a, S2, S3) for DIRECT and random anchors (Fig 3b-c), and
the per-model diversity of the unified space (Table S2).

**Anchor map** (:func:`anchor_map`). The reference model's raw embeddings on their first two
principal components (PCA fitted on the rows given), with two anchor sets drawn over them. Its
number is the *coverage radius* of each set,

.. math:: c = \frac{1}{n}\sum_i \min_k \|p_i - p_{a_k}\|_2 \,/\, r,
   \qquad r = \Big(\frac{1}{n}\sum_i \|p_i - \bar p\|^2\Big)^{1/2},

the mean distance of an atom to its nearest anchor on the map, in units of the map's RMS radius
(lower = the anchors leave fewer parts of the map uncovered). Adding anchors can only lower it.

**Unified maps** (:func:`unified_maps`). For each anchor method and K, the anchors (rows of the
reference model) define every model's unified space, :math:`z_i = [\cos(e_i, a_k)]_k`, computed on
the same evaluation rows. Because every model has the same K axes, the map is **one** PCA per
(method, K), fitted on the pooled ``z`` of the trained models (``fit_models``) and applied to
every model, the random control included: panels of one (method, K) share their axes, so where a
model's cloud sits and how it is shaped can be compared by eye. (Li & Walsh do not say how their
panels were projected; a per-model PCA would hide exactly the offsets the unified space exposes.)

**Diversity of the unified space** (Table S2 of the paper; columns of :func:`unified_maps`'s
summary, pivoted by :func:`unified_diversity_table`), per model, method and K, on the ``n``
evaluation rows:

* ``mean_pairwise_distance`` :math:`= \frac{2}{n(n-1)}\sum_{i<j}\|z_i - z_j\|_2` (the paper's
  measure: lower = a tighter manifold);
* ``spread`` :math:`= \big(\frac1n\sum_i\|z_i - \bar z\|^2\big)^{1/2}`, the RMS distance to the
  centroid; the mean *squared* pairwise distance equals :math:`\frac{2n}{n-1}` spread²;
* ``centroid_norm`` :math:`= \|\bar z\|`, where the cloud sits (cosines to anchors chosen on the
  same model are larger, so the reference model sits furthest out);
* ``map_variance_fraction``: the share of the model's variance in the two shared map axes;
* ``pc1_skewness``: the sample skewness of the model's PC1 scores (the paper calls the OMat24
  models' maps "skewed").
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.spatial.distance import pdist
from scipy.stats import skew

from platonic.errors import PlatonicError
from platonic.plotting import category_handles, colormap, subplots
from platonic.validation import check_matrix, check_rows, seed_alias

#: Atoms drawn (seeded) on the maps and used for the diversity measures.
DEFAULT_MAP_POINTS = 2000
MAP_METHODS = ("direct", "random")


class MapInputError(PlatonicError, ValueError):
    """Bad input to the anchor or unified maps: shapes, rows, unknown models."""


def _matrix(X: Any, name: str) -> np.ndarray:
    return check_matrix(X, name, MapInputError, min_rows=3, dtype=(np.float64, np.float32),
                        hint=": pass only rows every model embedded")


def _rows(rows: Any, n: int, name: str) -> np.ndarray:
    return check_rows(rows, n, name, MapInputError)


# --------------------------------------------------------------------------- Fig 2b
def anchor_map(X: Any, anchor_sets: Mapping[str, Any], rows: Any | None = None) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """Anchors on the reference model's raw PCA map, and the coverage radius of each set.

    Parameters
    ----------
    X : (n, d) reference-model embeddings (finite)
    anchor_sets : name (e.g. ``"direct"``, ``"random"``) -> anchor row indices into ``X``
    rows : rows drawn as the background and used for the coverage radius (default: all); the PCA
        is fitted on them

    Returns
    -------
    (anchors, coverage, background): ``anchors`` has one row per (set, anchor) with ``method,
    anchor, row, pc1, pc2``; ``coverage`` one row per set with ``method, n_anchors,
    coverage_radius`` (module docstring), ``pc1_range_covered``, ``pc2_range_covered`` (the
    anchors' extent along each axis over the background's 1st-99th percentile range) and
    ``explained_variance_pc1/pc2``; ``background`` the (len(rows), 2) map coordinates.
    """
    from sklearn.decomposition import PCA
    from sklearn.metrics import pairwise_distances_argmin_min

    X = _matrix(X, "X")
    rows = np.arange(X.shape[0]) if rows is None else _rows(rows, X.shape[0], "rows")
    if not anchor_sets:
        raise MapInputError("anchor_sets is empty")
    pca = PCA(n_components=2, svd_solver="full").fit(X[rows])
    background = pca.transform(X[rows])
    radius = float(np.sqrt(((background - background.mean(axis=0)) ** 2).sum(axis=1).mean()))
    low, high = np.percentile(background, [1, 99], axis=0)
    records, coverage = [], []
    for method, anchor_rows in anchor_sets.items():
        anchor_rows = _rows(anchor_rows, X.shape[0], f"anchor_sets[{method!r}]")
        points = pca.transform(X[anchor_rows])
        records += [{"method": method, "anchor": i, "row": int(r), "pc1": float(p[0]), "pc2": float(p[1])}
                    for i, (r, p) in enumerate(zip(anchor_rows, points))]
        _, nearest = pairwise_distances_argmin_min(background, points)
        span = (np.minimum(points.max(axis=0), high) - np.maximum(points.min(axis=0), low)) / (high - low)
        coverage.append({"method": method, "n_anchors": int(anchor_rows.size),
                         "coverage_radius": float(nearest.mean() / radius) if radius > 0 else np.nan,
                         "pc1_range_covered": float(np.clip(span[0], 0, 1)),
                         "pc2_range_covered": float(np.clip(span[1], 0, 1)),
                         "explained_variance_pc1": float(pca.explained_variance_ratio_[0]),
                         "explained_variance_pc2": float(pca.explained_variance_ratio_[1]),
                         "n_background": int(rows.size)})
    return pd.DataFrame(records), pd.DataFrame(coverage), background


def plot_anchor_map(anchors: pd.DataFrame, coverage: pd.DataFrame, background: np.ndarray, reference: str = ""):
    """Fig 2b: the reference map (grey) with each anchor set on it, one panel per set."""
    methods = list(dict.fromkeys(anchors["method"]))
    fig, axes = subplots(1, len(methods), figsize=(4.6 * len(methods), 4.2), squeeze=False, sharex=True, sharey=True)
    for ax, method in zip(axes[0], methods):
        part = anchors[anchors["method"] == method]
        row = coverage[coverage["method"] == method].iloc[0]
        ax.scatter(background[:, 0], background[:, 1], s=2, c="tab:orange", alpha=0.25, linewidths=0)
        ax.scatter(part["pc1"], part["pc2"], s=14, c="tab:blue", edgecolors="k", linewidths=0.3)
        ax.set_title(f"{method}: {len(part)} anchors, coverage radius {row['coverage_radius']:.3f}", fontsize=9)
        ax.set_xlabel(f"PC1 ({row['explained_variance_pc1']:.0%})")
    axes[0, 0].set_ylabel(f"PC2 ({coverage['explained_variance_pc2'].iloc[0]:.0%})")
    fig.suptitle(f"anchors on the raw PCA map of {reference}" if reference else "anchors on the raw PCA map", fontsize=10)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- Fig 3, S2, S3, Table S2
def unified_maps(
    embeddings: Mapping[str, Any],
    anchors: Mapping[tuple[str, int], Any],
    rows: Any,
    fit_models: Sequence[str] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every model's unified space on shared PCA maps, per (method, K), and its diversity.

    Parameters
    ----------
    embeddings : model -> (n, d_model) raw embeddings, rows matched across models, finite
    anchors : (method, K) -> K anchor rows into those matrices (chosen on the reference model)
    rows : the evaluation rows (drawn on the maps and measured)
    fit_models : models whose pooled ``z`` fit each shared PCA (default: all; pass the trained
        ones to keep a random control from shaping the axes)

    Returns
    -------
    (coordinates, summary): ``coordinates`` has ``method, k, model, point, pc1, pc2`` (``point`` =
    position in ``rows``); ``summary`` one row per (method, k, model) with the measures of the
    module docstring and ``n_points``.
    """
    from sklearn.decomposition import PCA

    from platonic.project import PlatonicTransform

    if not embeddings:
        raise MapInputError("embeddings is empty")
    arrays = {m: _matrix(X, f"embeddings[{m!r}]") for m, X in embeddings.items()}
    n = {a.shape[0] for a in arrays.values()}
    if len(n) != 1:
        raise MapInputError(f"every model must embed the same rows, got row counts {sorted(n)}")
    n_rows = n.pop()
    rows = _rows(rows, n_rows, "rows")
    if rows.size < 3:
        raise MapInputError("rows: need at least 3 evaluation rows")
    fit_models = list(arrays) if fit_models is None else list(fit_models)
    unknown = [m for m in fit_models if m not in arrays]
    if unknown or not fit_models:
        raise MapInputError(f"fit_models {unknown or fit_models} are not among the models {list(arrays)}")
    coordinates, summary = [], []
    for (method, k), anchor_rows in anchors.items():
        anchor_rows = _rows(anchor_rows, n_rows, f"anchors[{(method, k)!r}]")
        z = {m: PlatonicTransform(anchor_rows="all").fit(X[anchor_rows]).transform(X[rows]).astype(np.float64) for m, X in arrays.items()}
        pca = PCA(n_components=min(2, anchor_rows.size), svd_solver="full").fit(np.vstack([z[m] for m in fit_models]))
        for model, zm in z.items():
            P = pca.transform(zm)
            if P.shape[1] == 1:
                P = np.column_stack([P[:, 0], np.zeros(len(P))])
            centred = zm - zm.mean(axis=0)
            total = float((centred**2).sum(axis=1).mean())
            in_map = float(((P - P.mean(axis=0)) ** 2).sum(axis=1).mean())
            summary.append({"method": method, "k": int(k), "model": model, "n_points": int(rows.size),
                            "mean_pairwise_distance": float(pdist(zm).mean()),
                            "spread": float(np.sqrt(total)),
                            "centroid_norm": float(np.linalg.norm(zm.mean(axis=0))),
                            "map_variance_fraction": in_map / total if total > 0 else np.nan,
                            "pc1_skewness": float(skew(P[:, 0])) if P[:, 0].std() > 0 else np.nan})
            coordinates.append(pd.DataFrame({"method": method, "k": int(k), "model": model,
                                             "point": np.arange(rows.size), "pc1": P[:, 0], "pc2": P[:, 1]}))
    return pd.concat(coordinates, ignore_index=True), pd.DataFrame(summary)


def unified_diversity_table(summary: pd.DataFrame, k: int) -> pd.DataFrame:
    """Table S2: per model, the unified space's mean pairwise distance and spread at ``k`` anchors,
    DIRECT and random side by side, with the ratio random / DIRECT of each."""
    part = summary[summary["k"] == k]
    if part.empty:
        raise MapInputError(f"no maps at K = {k}; have K = {sorted(set(summary['k']))}")
    wide = part.pivot_table(index="model", columns="method", values=["mean_pairwise_distance", "spread"], sort=False)
    wide.columns = [f"{measure}_{method}" for measure, method in wide.columns]
    wide = wide.reindex(list(dict.fromkeys(part["model"]))).reset_index()
    for measure in ("mean_pairwise_distance", "spread"):
        if {f"{measure}_direct", f"{measure}_random"} <= set(wide.columns):
            wide[f"{measure}_random_over_direct"] = wide[f"{measure}_random"] / wide[f"{measure}_direct"]
    wide.insert(1, "k", int(k))
    wide.insert(2, "n_points", int(part["n_points"].iloc[0]))
    return wide


def plot_unified_maps(coordinates: pd.DataFrame, labels: np.ndarray, method: str, models: Sequence[str] | None = None,
                      ks: Sequence[int] | None = None):
    """Fig 3a / S2 / S3: rows = models, columns = K, for one anchor method; coloured by ``labels``
    (one per evaluation point, e.g. periodic group). Panels of one column share the PCA axes."""
    part = coordinates[coordinates["method"] == method]
    models = list(dict.fromkeys(part["model"])) if models is None else list(models)
    ks = sorted(set(part["k"])) if ks is None else list(ks)
    categories, cmap = _colouring(labels)
    fig, axes = subplots(len(models), len(ks), figsize=(1.9 * len(ks) + 0.6, 1.8 * len(models) + 0.8), squeeze=False)
    for j, k in enumerate(ks):
        _draw_group(axes[:, j], part[part["k"] == k], models, categories, cmap)
        axes[0, j].set_title(f"K = {k}", fontsize=9)
    for i, model in enumerate(models):
        axes[i, 0].set_ylabel(model, fontsize=7)
    _legend(fig, categories, cmap)
    fig.suptitle(f"unified space vs K, {method} anchors (one shared PCA per K)", fontsize=10)
    fig.tight_layout(rect=(0, 0.6 / (1.8 * len(models) + 0.8) + 0.03, 1, 0.97))
    return fig


def _colouring(labels: np.ndarray):
    """The labels as categories, and a colour map with one colour per category."""
    categories = pd.Categorical(np.asarray(labels))
    return categories, colormap("tab20", max(len(categories.categories), 1))


def _legend(fig, categories: pd.Categorical, cmap) -> None:
    handles = category_handles(cmap, categories.categories)
    fig.legend(handles=handles, loc="lower center", ncol=min(6, len(handles)), fontsize=7, frameon=False)


def _draw_group(axes, panel: pd.DataFrame, models: Sequence[str], categories: pd.Categorical, cmap) -> None:
    """One panel per model along ``axes``, all within the limits of the group's points (0.5 to
    99.5 percentiles), so that the panels of one PCA compare by eye."""
    limits = panel[["pc1", "pc2"]].quantile([0.005, 0.995]).to_numpy()
    for ax, model in zip(axes, models):
        _draw_panel(ax, panel[panel["model"] == model], limits, categories, cmap)


def _draw_panel(ax, points: pd.DataFrame, limits: np.ndarray, categories: pd.Categorical, cmap) -> None:
    """One map panel: the points coloured by category, within the panel group's shared limits."""
    points = points.sort_values("point")
    ax.scatter(points["pc1"], points["pc2"], c=categories.codes[points["point"].to_numpy()], cmap=cmap,
               vmin=-0.5, vmax=len(categories.categories) - 0.5, s=1.5, alpha=0.6, linewidths=0)
    pad = 0.05 * (limits[1] - limits[0])
    ax.set_xlim(limits[0, 0] - pad[0], limits[1, 0] + pad[0])
    ax.set_ylim(limits[0, 1] - pad[1], limits[1, 1] + pad[1])
    ax.set_xticks([])
    ax.set_yticks([])


def plot_methods_at_k(coordinates: pd.DataFrame, labels: np.ndarray, k: int, models: Sequence[str] | None = None):
    """Fig 3b-c: every model at one K, random anchors (top row) against DIRECT (bottom row)."""
    part = coordinates[coordinates["k"] == k]
    models = list(dict.fromkeys(part["model"])) if models is None else list(models)
    methods = [m for m in ("random", "direct") if m in set(part["method"])]
    categories, cmap = _colouring(labels)
    fig, axes = subplots(len(methods), len(models), figsize=(2.0 * len(models), 2.1 * len(methods) + 0.6), squeeze=False)
    for i, method in enumerate(methods):
        _draw_group(axes[i, :], part[part["method"] == method], models, categories, cmap)
        axes[i, 0].set_ylabel(f"{method}, K = {k}", fontsize=8)
    for j, model in enumerate(models):
        axes[0, j].set_title(model, fontsize=7)
    _legend(fig, categories, cmap)
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    return fig


# --------------------------------------------------------------------------- a store
def saved_sweep_anchors(path: Path, reference: str, seed: int) -> dict[int, np.ndarray]:
    """The DIRECT anchors per K that the study's sweep stage saved (store rows), if they match."""
    if not path.exists():
        return {}
    table = pd.read_csv(path)
    part = table[(table["method"] == "direct") & (table["reference"] == reference) & (table["seed"] == seed)]
    return {int(k): g.sort_values("anchor")["row"].to_numpy() for k, g in part.groupby("k")}


@dataclass(frozen=True)
class MapTables:
    """:func:`maps_tables`: the anchors on the reference map (``anchor_map``, ``coverage`` and the
    map's ``background`` points), the unified maps per method and K (``coordinates``, ``summary``),
    Table S2 (``diversity``), the mapped atoms' periodic-group ``labels``, the ``models``, the
    ``ks`` mapped, the study's ``k`` and the ``reference`` model."""

    anchor_map: pd.DataFrame
    coverage: pd.DataFrame
    background: np.ndarray
    coordinates: pd.DataFrame
    summary: pd.DataFrame
    diversity: pd.DataFrame
    labels: np.ndarray
    models: tuple[str, ...]
    ks: tuple[int, ...]
    k: int
    reference: str


def maps_figures(tables: MapTables) -> dict[str, Any]:
    """name -> Figure: ``anchor_map_png`` (:func:`plot_anchor_map`), ``unified_maps_<method>_png``
    (:func:`plot_unified_maps`) and ``unified_maps_k_png`` (:func:`plot_methods_at_k`)."""
    models, ks = list(tables.models), list(tables.ks)
    figures = {"anchor_map_png": plot_anchor_map(tables.anchor_map, tables.coverage, tables.background, tables.reference)}
    for method in MAP_METHODS:
        figures[f"unified_maps_{method}_png"] = plot_unified_maps(tables.coordinates, tables.labels, method, models, ks)
    figures["unified_maps_k_png"] = plot_methods_at_k(tables.coordinates, tables.labels, tables.k, models)
    return figures


@seed_alias
def maps_tables(store, models: Sequence[str], anchors: pd.DataFrame, ks: Sequence[int] | None = None,
                n_points: int = DEFAULT_MAP_POINTS, random_state: int = 0, sweep_anchors: Path | None = None) -> MapTables:
    """Fig 2b, Fig 3a-c / S2 / S3 and Table S2 for the models of ``store``, as tables (:class:`MapTables`).

    ``anchors`` is the study's anchor table (its attrs name the reference model, K, method and
    seed). DIRECT anchors for every K are read from ``sweep_anchors`` (written by the K sweep)
    where they match the reference and the anchors' seed, else chosen here; random anchors are
    drawn with :func:`platonic.anchors.select_anchors` (``method="random"``, the anchors' seed).
    Candidates are the atoms every model embedded; ``n_points`` of them (drawn with ``random_state``) are
    mapped and measured.
    """
    from platonic.analyse.elements import PERIODIC_GROUP_LABELS
    from platonic.anchors import select_anchors
    from platonic.project import DEFAULT_KS

    models = list(models)
    reference = anchors.attrs.get("reference")
    k_study = int(anchors.attrs.get("k", len(anchors)))
    if reference not in models:
        raise MapInputError(f"the anchors' reference model {reference!r} is not among {models}")
    valid = np.flatnonzero(store.common_rows(models))
    position = np.full(store.n_atoms, -1)
    position[valid] = np.arange(valid.size)
    raw = {m: store.load(m)[valid] for m in models}
    ks = sorted({k for k in (DEFAULT_KS if ks is None else ks) if k <= valid.size} | ({k_study} if k_study <= valid.size else set()))
    anchor_seed = int(anchors.attrs.get("seed", random_state))
    saved = saved_sweep_anchors(sweep_anchors, reference, anchor_seed) if sweep_anchors is not None else {}
    if anchors.attrs.get("method") == "direct":
        saved.setdefault(k_study, anchors["row"].to_numpy())
    anchor_sets: dict[tuple[str, int], np.ndarray] = {}
    for k in ks:
        rows = position[saved[k]] if k in saved else None
        anchor_sets["direct", k] = (rows if rows is not None and (rows >= 0).all()
                                    else select_anchors(raw[reference], k, "direct", anchor_seed))
        anchor_sets["random", k] = select_anchors(raw[reference], k, "random", anchor_seed)
    rng = np.random.default_rng(random_state)
    points = np.sort(rng.choice(valid.size, size=min(valid.size, n_points), replace=False))
    labels = store.atom_table()["element"].map(PERIODIC_GROUP_LABELS).fillna("other").to_numpy()[valid][points]
    trained = [m for m in models if store.model_card(m).trained] or models

    map_anchors, coverage, background = anchor_map(raw[reference], {m: anchor_sets[m, k_study] for m in MAP_METHODS},
                                                   rows=points)
    map_anchors["row"] = valid[map_anchors["row"].to_numpy()]
    coordinates, summary = unified_maps(raw, anchor_sets, points, fit_models=trained)
    return MapTables(map_anchors, coverage, background, coordinates, summary, unified_diversity_table(summary, k_study),
                     labels, tuple(models), tuple(ks), k_study, reference)
