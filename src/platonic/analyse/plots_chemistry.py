"""Figures of the chemistry analyses (:mod:`platonic.analyse.chemistry` writes them).

Every plot function takes the tidy tables of :mod:`platonic.analyse.elements` and
:mod:`platonic.analyse.cumulants` and returns a :class:`matplotlib.figure.Figure` made without
pyplot (no global backend or figure registry is touched; ``savefig`` renders with Agg).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from platonic.analyse.elements import ChemistryInputError, periodic_table

#: Colour of each periodic family in every figure (tab20 colours, fixed so panels agree).
GROUP_COLOURS = {
    "hydrogen": "#7f7f7f",
    "alkali metal": "#d62728",
    "alkaline earth metal": "#ff9896",
    "transition metal": "#1f77b4",
    "lanthanide": "#9467bd",
    "actinide": "#c5b0d5",
    "triel": "#8c564b",
    "tetrel": "#c49c94",
    "pnictogen": "#e377c2",
    "chalcogen": "#ff7f0e",
    "halogen": "#2ca02c",
    "noble gas": "#17becf",
}


def _panel_grid(n_panels: int, width: float = 4.2, height: float = 3.8, max_columns: int = 3, **options):
    columns = min(n_panels, max_columns)
    rows = int(np.ceil(n_panels / columns))
    fig = Figure(figsize=(width * columns, height * rows), **options)
    axes = fig.subplots(rows, columns, squeeze=False)
    for ax in axes.ravel()[n_panels:]:
        ax.set_visible(False)
    return fig, axes.ravel()[:n_panels]


def _models(table: pd.DataFrame, models: Sequence[str] | None) -> list[str]:
    present = list(dict.fromkeys(table["model"]))
    chosen = present if models is None else list(models)
    missing = sorted(set(chosen) - set(present))
    if missing or not chosen:
        raise ChemistryInputError(f"models {missing or chosen} not in the table (models: {present})")
    return chosen


def plot_element_map(table: pd.DataFrame, models: Sequence[str] | None = None, annotate: bool = True) -> Figure:
    """Element vectors in the shared PCA plane (``pc1``, ``pc2``), one panel per model, coloured by group."""
    if not {"pc1", "pc2"} <= set(table.columns):
        raise ChemistryInputError("the element table has no pc1/pc2: run add_shared_pca first")
    chosen = _models(table, models)
    fig, axes = _panel_grid(len(chosen))
    for ax, model in zip(axes, chosen):
        part = table.loc[(table["model"] == model) & table["included"]]
        for label, group in part.groupby("group_label"):
            ax.scatter(group["pc1"], group["pc2"], s=22, color=GROUP_COLOURS.get(label, "black"), label=label)
        if annotate:
            for row in part.itertuples():
                ax.annotate(row.element, (row.pc1, row.pc2), fontsize=6, xytext=(2, 2), textcoords="offset points")
        ax.set_title(model, fontsize=10)
        ax.set_xlabel(f"PC1 ({part['pc1_explained'].iloc[0]:.0%})" if "pc1_explained" in part else "PC1")
        ax.set_ylabel(f"PC2 ({part['pc2_explained'].iloc[0]:.0%})" if "pc2_explained" in part else "PC2")
    handles, labels = {}, {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, handle)
            labels[label] = label
    fig.legend(list(handles.values()), list(labels.values()), loc="lower center", ncol=6, fontsize=8, frameon=False)
    fig.suptitle("Element means in the unified space (shared PCA)")
    fig.tight_layout(rect=(0, 0.07, 1, 0.96))
    return fig


def plot_periodic_table(
    table: pd.DataFrame,
    value: str = "cos_to_reference",
    models: Sequence[str] | None = None,
    cmap: str = "viridis",
) -> Figure:
    """Periodic-table heatmap per model: each included element's cell coloured by column ``value``.

    Elements absent from the data are blank cells; present but excluded ones (too few atoms) are
    grey. One colour scale for all panels.
    """
    if value not in table.columns:
        raise ChemistryInputError(f"column {value!r} is not in the element table")
    chosen = _models(table, models)
    layout = periodic_table().set_index("element")
    shown = table.loc[table["model"].isin(chosen)]
    values = shown.loc[shown["included"], value].astype(float)
    if values.notna().any():
        low, high = float(values.min()), float(values.max())
    else:
        low, high = 0.0, 1.0
    norm = Normalize(vmin=low, vmax=high if high > low else low + 1e-12)
    colours = colormaps[cmap]
    fig, axes = _panel_grid(len(chosen), width=5.0, height=3.2, max_columns=2, layout="constrained")
    for ax, model in zip(axes, chosen):
        part = shown.loc[shown["model"] == model].set_index("element")
        for element, cell in layout.iterrows():
            x, y = cell["column"], cell["row"]
            if element in part.index and part.at[element, "included"] and np.isfinite(part.at[element, value]):
                face = colours(norm(part.at[element, value]))
            elif element in part.index:
                face = "0.8"
            else:
                face = "white"
            ax.add_patch(Rectangle((x - 0.5, y - 0.5), 0.95, 0.95, facecolor=face,
                                                      edgecolor="0.6", linewidth=0.3))
            if element in part.index:
                ax.text(x - 0.02, y, element, ha="center", va="center", fontsize=5)
        ax.set_xlim(0.4, 18.6)
        ax.set_ylim(10.6, 0.4)
        ax.set_aspect("equal")
        ax.axis("off")
        ax.set_title(model, fontsize=10)
    fig.colorbar(ScalarMappable(norm=norm, cmap=colours), ax=list(axes), shrink=0.6, label=value)
    fig.suptitle(f"Element means: {value}")
    return fig


def plot_trajectories(
    trajectories: pd.DataFrame, models: Sequence[str] | None = None, sequences: Sequence[str] | None = None
) -> Figure:
    """Paths down periodic groups in the shared PCA plane, one panel per model."""
    if not {"pc1", "pc2"} <= set(trajectories.columns):
        raise ChemistryInputError("the trajectory table has no pc1/pc2: build it from a table with add_shared_pca")
    chosen = _models(trajectories, models)
    names = list(dict.fromkeys(trajectories["sequence"])) if sequences is None else list(sequences)
    palette = colormaps["tab10"]
    fig, axes = _panel_grid(len(chosen))
    for ax, model in zip(axes, chosen):
        for index, name in enumerate(names):
            path = trajectories.loc[(trajectories["model"] == model) & (trajectories["sequence"] == name)
                                    & trajectories["present"]]
            if path.empty:
                continue
            colour = palette(index % 10)
            ax.plot(path["pc1"], path["pc2"], "-o", color=colour, markersize=3, linewidth=1, label=name)
            for (x0, y0), (x1, y1) in zip(path[["pc1", "pc2"]].to_numpy()[:-1], path[["pc1", "pc2"]].to_numpy()[1:]):
                ax.annotate("", xy=(x1, y1), xytext=(x0, y0), arrowprops={"arrowstyle": "->", "color": colour, "lw": 1})
            for row in path.itertuples():
                ax.annotate(row.element, (row.pc1, row.pc2), fontsize=6, xytext=(2, 2), textcoords="offset points")
        ax.set_title(model, fontsize=10)
        ax.set_xlabel("PC1")
        ax.set_ylabel("PC2")
    handles = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    fig.legend(list(handles.values()), list(handles), loc="lower center", ncol=5, fontsize=8, frameon=False)
    fig.suptitle("Trajectories down periodic groups (shared PCA)")
    fig.tight_layout(rect=(0, 0.07, 1, 0.96))
    return fig


def plot_group_coherence(coherence: pd.DataFrame) -> Figure:
    """Silhouette per model (filled dots; the control open) against its permutation null (mean ± 2 sd)."""
    fig, axes = _panel_grid(coherence["space"].nunique() if "space" in coherence else 1, width=5.5, height=3.8)
    parts = coherence.groupby("space", sort=False) if "space" in coherence else [("unified", coherence)]
    for ax, (space, part) in zip(axes, parts):
        x = np.arange(len(part))
        control = part["is_control"].to_numpy(dtype=bool)
        ax.errorbar(x, part["null_mean"], yerr=2 * part["null_std"], fmt="_", color="0.4", capsize=4,
                    label="permutation null, mean ± 2 sd")
        ax.scatter(x[~control], part["silhouette"].to_numpy()[~control], color="tab:blue", zorder=3, label="model")
        ax.scatter(x[control], part["silhouette"].to_numpy()[control], facecolor="none", edgecolor="tab:red",
                   zorder=3, label="random-weight control")
        ax.set_xticks(x, part["model"], rotation=30, ha="right", fontsize=8)
        ax.set_ylabel(f"silhouette by periodic group ({part['metric'].iloc[0]})")
        ax.set_title(f"{space} space", fontsize=10)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_cumulant_gain(gain: pd.DataFrame) -> Figure:
    """GFRE(orders ≤ k−1 → orders ≤ k) against k, one line per model, one panel per space."""
    spaces = list(dict.fromkeys(gain["space"]))
    fig, axes = _panel_grid(len(spaces), width=5.0, height=3.8)
    for ax, space in zip(axes, spaces):
        for model, part in gain.loc[gain["space"] == space].groupby("model", sort=False):
            is_control = bool(part["control"].iloc[0]) if "control" in part else False
            ax.plot(part["order"], part["gfre"], "--s" if is_control else "-o", markersize=4,
                    color="0.5" if is_control else None, label=f"{model} (control)" if is_control else model)
        ax.set_xticks(sorted(gain["order"].unique()))
        ax.set_xlabel("cumulant order k")
        ax.set_ylabel("GFRE(≤ k−1 → ≤ k)")
        ax.set_title(f"{space} space (n = {int(gain['n_structures'].iloc[0])} structures)", fontsize=10)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
