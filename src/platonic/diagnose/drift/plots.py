"""Figures of the drift tables: each takes a table and returns a matplotlib Figure."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from platonic.plotting import subplots


def _pair_panels(table: pd.DataFrame, width_per_element: float = 0.28):
    pairs = list(dict.fromkeys(table["pair"]))
    n_elements = max(len(table[table["pair"] == p]) for p in pairs)
    fig, axes = subplots(len(pairs), 1, figsize=(max(6.0, width_per_element * n_elements + 2), 3.2 * len(pairs)),
                             squeeze=False)
    return fig, [(pair, table[table["pair"] == pair], ax) for pair, ax in zip(pairs, axes[:, 0])]


def plot_element_displacement(table: pd.DataFrame) -> Any:
    """Per-element centroid shift, total and net of the common shift, one panel per pair.

    Both are divided by the global spread of the pre-trained cloud; ``table`` is
    :func:`element_displacement` output with a ``pair`` column.
    """
    fig, panels = _pair_panels(table)
    for pair, part, ax in panels:
        x = np.arange(len(part))
        scale = part["displacement"] / part["relative_to_global"]
        ax.bar(x - 0.2, part["relative_to_global"], width=0.4, label="total shift")
        ax.bar(x + 0.2, part["excess_displacement"] / scale, width=0.4, label="net of the common shift")
        ax.set_xticks(x, part["element"])
        ax.set_ylabel("centroid shift / global spread")
        ax.legend(fontsize=7)
        ax.set_title(f"{pair}: per-element displacement (unified space)")
        ax.tick_params(axis="x", labelrotation=90, labelsize=7)
    fig.tight_layout()
    return fig


def plot_norm_ratios(table: pd.DataFrame) -> Any:
    """Bars of the per-element raw norm ratio drawn from 1 (no change), one panel per pair."""
    fig, panels = _pair_panels(table)
    for pair, part, ax in panels:
        colours = np.where(part["norm_ratio"] < 1, "tab:red", "tab:green")
        ax.bar(part["element"], part["norm_ratio"] - 1.0, bottom=1.0, color=colours)
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_ylabel("mean norm ft / pre")
        ax.set_title(f"{pair}: raw-norm ratio per element (< 1: collapse)")
        ax.tick_params(axis="x", labelrotation=90, labelsize=7)
    fig.tight_layout()
    return fig


def plot_norm_distribution(norms: pd.DataFrame, bins: int = 60) -> Any:
    """Histograms of per-atom raw norms (pre vs fine-tuned), one panel per pair (``pair`` column)."""
    pairs = list(dict.fromkeys(norms["pair"]))
    fig, axes = subplots(1, len(pairs), figsize=(5.0 * len(pairs), 3.6), squeeze=False)
    for pair, ax in zip(pairs, axes[0]):
        part = norms[norms["pair"] == pair]
        edges = np.histogram_bin_edges(np.concatenate([part["norm_pre"], part["norm_ft"]]), bins=bins)
        ax.hist(part["norm_pre"], bins=edges, alpha=0.6, label="pre-trained")
        ax.hist(part["norm_ft"], bins=edges, alpha=0.6, label="fine-tuned")
        ax.set_xlabel("raw embedding norm")
        ax.set_ylabel("atoms")
        ax.set_title(pair, fontsize=9)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_dimer_curves(
    curves: pd.DataFrame, minima: pd.DataFrame | None = None, ylim: tuple[float, float] | None = None
) -> Any:
    """Binding energy E(r) - E_isolated per dimer (one panel each), one line per checkpoint.

    Experimental bond lengths from ``minima`` are drawn as dashed vertical lines. The y range
    defaults to a window around the deepest well (short-range repulsion is cut off).
    """
    dimers = list(dict.fromkeys(curves["dimer"]))
    fig, axes = subplots(1, len(dimers), figsize=(5.0 * len(dimers), 3.8), squeeze=False)
    for dimer, ax in zip(dimers, axes[0]):
        part = curves[curves["dimer"] == dimer]
        for model, line in part.groupby("model", sort=False):
            ax.plot(line["distance"], line["binding_energy"], label=model)
        ax.axhline(0.0, color="grey", linewidth=0.6)
        if minima is not None:
            reference = minima.loc[minima["dimer"] == dimer, "experimental_r_e"].dropna()
            if not reference.empty:
                ax.axvline(float(reference.iloc[0]), color="black", linestyle="--", linewidth=0.8,
                           label=f"experiment r_e = {float(reference.iloc[0]):.2f} Å")
        low = float(part["binding_energy"].min())
        ax.set_ylim(ylim if ylim is not None else (1.2 * min(low, -0.5), max(1.0, -0.8 * low)))
        ax.set_xlabel("r (Å)")
        ax.set_ylabel("E(r) - E(isolated) (eV)")
        ax.set_title(f"{dimer} dimer")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
