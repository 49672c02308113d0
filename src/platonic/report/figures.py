"""Figures of the study's own stage results (the stages write tables; the report draws them).

Each function takes what a stage wrote and returns a matplotlib Figure built without pyplot
(:mod:`platonic.plotting`), so drawing never touches the user's backend.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from platonic.plotting import category_handles, colormap, subplots


def raw_pca_maps(raw: Mapping[str, np.ndarray], labels: np.ndarray):
    """Each model's raw embeddings on its own first two principal components (the paper's Fig 1).

    ``raw``: model -> rows x d (the same rows for every model, e.g. a seeded subsample), coloured by
    ``labels`` (e.g. element group). Rows with NaN (structures the model rejected) are left out of
    that model's panel.
    """
    from sklearn.decomposition import PCA

    names = list(raw)
    categories = pd.Categorical(np.asarray(labels))
    cmap = colormap("tab20", max(len(categories.categories), 1))
    cols = min(4, len(names))
    fig, axes = subplots(-(-len(names) // cols), cols, figsize=(3.4 * cols, 3.2 * -(-len(names) // cols)),
                         squeeze=False)
    for ax, name in zip(axes.flat, names):
        X = np.asarray(raw[name])
        finite = np.isfinite(X).all(axis=1)
        pca = PCA(n_components=2, svd_solver="full").fit(X[finite])
        P = pca.transform(X[finite])
        ax.scatter(P[:, 0], P[:, 1], c=categories.codes[finite], cmap=cmap, vmin=-0.5,
                   vmax=len(categories.categories) - 0.5, s=2, alpha=0.6, linewidths=0)
        ratio = pca.explained_variance_ratio_
        ax.set_title(f"{name}\nPC1 {ratio[0]:.0%}, PC2 {ratio[1]:.0%}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    handles = category_handles(cmap, categories.categories)
    fig.legend(handles=handles, loc="lower center", ncol=min(6, len(handles)), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def k_sweep_figure(table: pd.DataFrame):
    """Convergence of the unified space with K: Procrustes to the previous K, and cross-model agreement."""
    fig, (left, right) = subplots(1, 2, figsize=(10, 3.6))
    own = table[table.measure == "procrustes_vs_previous_k"]
    for model, part in own.groupby("model_a", sort=False):
        left.plot(part["k"], part["value"], marker="o", label=model)
    left.set_xscale("log")
    left.set_xlabel("K (anchors)")
    left.set_ylabel("Procrustes similarity to previous K")
    left.legend(fontsize=7)
    cross = table[table.measure == "procrustes_cross_model"].groupby("k")["value"].agg(["mean", "min", "max"])
    right.plot(cross.index, cross["mean"], marker="o", color="k", label="mean over model pairs")
    right.fill_between(cross.index, cross["min"], cross["max"], alpha=0.2, color="k", label="min-max")
    right.set_xscale("log")
    right.set_xlabel("K (anchors)")
    right.set_ylabel("cross-model Procrustes")
    right.legend(fontsize=7)
    fig.tight_layout()
    return fig


def diversity_figure(table: pd.DataFrame):
    """DIRECT vs random anchors: mean pairwise distance and silhouette, one bar per seed."""
    measures = [m for m in ("mean_pairwise_distance", "silhouette") if m in table.columns]
    fig, axes = subplots(1, len(measures), figsize=(4.5 * len(measures), 3.4), squeeze=False)
    methods = list(dict.fromkeys(table["method"]))
    seeds = list(dict.fromkeys(table["seed"]))
    width = 0.8 / len(seeds)
    for ax, measure in zip(axes.flat, measures):
        for j, seed in enumerate(seeds):
            part = table[table.seed == seed].set_index("method").reindex(methods)
            ax.bar(np.arange(len(methods)) + j * width, part[measure], width, label=f"seed {seed}")
        ax.set_xticks(np.arange(len(methods)) + width * (len(seeds) - 1) / 2, methods)
        ax.set_title(measure.replace("_", " "))
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    return fig
