r"""Embedding-norm scaling across materials (Li & Walsh Table S3).

Li & Walsh found that some models' material embeddings are 3-5x longer than others' (their Table 1:
norms l of about 4.5-5.4 for the OMat24 models against 1.1 for MACE-MP-0) and that this factor is
"consistent across materials" (Table S3). We make that claim a measurement.

For a model :math:`m` and a structure (material) :math:`s` with atoms :math:`I_s`, the material
embedding is :math:`\bar z^m_s = \frac{1}{|I_s|}\sum_{i\in I_s} z^m_i` (Table 1's z_Mater) and its
norm :math:`l^m_s = \|\bar z^m_s\|_2`. The same is computed in raw space from the raw atom
embeddings (``space = "raw"``), where norms carry each model's own scale. Against a reference
model :math:`r`, the *scaling factor* of a material is :math:`\rho^m_s = l^m_s / l^r_s`.
Per model and space, over the materials every model embedded:

* ``median_ratio`` and the 5th/95th percentiles ``ratio_q05``, ``ratio_q95`` of :math:`\rho^m_s`;
* ``ratio_cv`` :math:`= \mathrm{std}_s(\rho^m_s) / \mathrm{mean}_s(\rho^m_s)` (population std): 0 when
  the factor is the same for every material, i.e. the "consistent scaling" of the paper;
* ``spearman`` between :math:`l^m_s` and :math:`l^r_s` over materials: 1 when the model orders
  materials by norm as the reference does.

A model whose raw embeddings are the reference's times :math:`c > 0` has raw ratio exactly
:math:`c` for every material (CV 0, Spearman 1) and unified ratio 1 (cosines are scale-invariant).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from platonic.errors import PlatonicError
from platonic.plotting import subplots
from platonic.validation import check_matrix

NORM_SPACES = ("unified", "raw")


class NormScalingError(PlatonicError, ValueError):
    """Bad input to the norm-scaling table: shapes, unknown reference, too few materials."""


def material_norms(matrices: Mapping[str, Any], structure_ids: Any) -> pd.DataFrame:
    """Norm of each structure's mean embedding, per model.

    Parameters
    ----------
    matrices : model -> (n_atoms, d) embeddings, rows matched to ``structure_ids``; rows with NaN
        (structures a model rejected) leave that structure out for that model
    structure_ids : (n_atoms,) structure of each row

    Returns
    -------
    DataFrame with ``structure_id, model, n_atoms, norm``, structures in order of first row.
    """
    ids = np.asarray(structure_ids)
    if ids.ndim != 1 or ids.size == 0:
        raise NormScalingError(f"structure_ids must be a non-empty 1-D array, got shape {ids.shape}")
    codes, first = pd.factorize(ids)
    counts = np.bincount(codes)
    tables = []
    for model, X in matrices.items():
        X = check_matrix(X, f"matrices[{model!r}]", NormScalingError, finite=False)  # NaN rows: rejected
        if X.shape[0] != ids.size:
            raise NormScalingError(f"matrices[{model!r}] must have {ids.size} rows, got shape {X.shape}")
        finite = np.isfinite(X).all(axis=1)
        sums = np.zeros((first.size, X.shape[1]))
        np.add.at(sums, codes[finite], X[finite])
        embedded = np.bincount(codes[finite], minlength=first.size)
        complete = embedded == counts
        means = sums[complete] / counts[complete, None]
        tables.append(pd.DataFrame({"structure_id": first[complete], "model": model, "n_atoms": counts[complete],
                                    "norm": np.linalg.norm(means, axis=1)}))
    return pd.concat(tables, ignore_index=True)


def norm_scaling(norms: pd.DataFrame, reference: str) -> pd.DataFrame:
    """Per model, how its material-embedding norms scale against ``reference`` (module docstring).

    ``norms``: :func:`material_norms` output (optionally with a ``space`` column: one table per
    space). Materials are those every model has. Returns ``[space,] model, n_materials,
    mean_norm, median_ratio, ratio_q05, ratio_q95, ratio_cv, spearman``.
    """
    if "space" not in norms.columns:
        return _scaling_one_space(norms, reference)
    return pd.concat([_scaling_one_space(part, reference).assign(space=space)
                      for space, part in norms.groupby("space", sort=False)], ignore_index=True
                     )[["space", "model", "n_materials", "mean_norm", "median_ratio", "ratio_q05", "ratio_q95",
                        "ratio_cv", "spearman"]]


def _scaling_one_space(norms: pd.DataFrame, reference: str) -> pd.DataFrame:
    wide = norms.pivot_table(index="structure_id", columns="model", values="norm", sort=False).dropna()
    if reference not in wide.columns:
        raise NormScalingError(f"reference {reference!r} is not among the models {list(wide.columns)}")
    if len(wide) < 3:
        raise NormScalingError(f"norm scaling needs >= 3 materials every model embedded, got {len(wide)}")
    ref = wide[reference].to_numpy()
    if np.any(ref <= 0):
        raise NormScalingError(f"{reference} has a zero material embedding: ratios undefined")
    records = []
    for model in dict.fromkeys(norms["model"]):
        values = wide[model].to_numpy()
        ratio = values / ref
        rho = spearmanr(values, ref).statistic if np.ptp(values) > 0 and np.ptp(ref) > 0 else np.nan
        records.append({"model": model, "n_materials": int(len(wide)), "mean_norm": float(values.mean()),
                        "median_ratio": float(np.median(ratio)), "ratio_q05": float(np.quantile(ratio, 0.05)),
                        "ratio_q95": float(np.quantile(ratio, 0.95)), "ratio_cv": float(ratio.std() / ratio.mean()),
                        "spearman": float(rho)})
    return pd.DataFrame(records)


def plot_norm_scaling(norms: pd.DataFrame, reference: str):
    """Per space, the distribution over materials of each model's norm ratio to ``reference``."""
    spaces = list(dict.fromkeys(norms["space"])) if "space" in norms.columns else [None]
    fig, axes = subplots(1, len(spaces), figsize=(5.5 * len(spaces), 3.8), squeeze=False)
    for ax, space in zip(axes[0], spaces):
        part = norms if space is None else norms[norms["space"] == space]
        wide = part.pivot_table(index="structure_id", columns="model", values="norm", sort=False).dropna()
        models = list(dict.fromkeys(part["model"]))
        ratios = [wide[m] / wide[reference] for m in models]
        ax.boxplot(ratios, showfliers=False)
        ax.set_xticks(np.arange(1, len(models) + 1), models, rotation=60, ha="right", fontsize=7)
        ax.axhline(1.0, color="grey", linewidth=0.6)
        ax.set_yscale("log")
        ax.set_ylabel(f"material norm / {reference}")
        ax.set_title(f"{space} space ({len(wide)} materials)" if space else f"{len(wide)} materials", fontsize=9)
    fig.tight_layout()
    return fig


@dataclass(frozen=True)
class NormScalingTables:
    """:func:`norm_scaling_tables`: ``norms`` (every material's norm per model and space, long),
    ``scaling`` (Table S3, per model and space), ``materials`` (each material's unified-space
    norm per model, wide, with its formula) and the ``reference`` model."""

    norms: pd.DataFrame
    scaling: pd.DataFrame
    materials: pd.DataFrame
    reference: str


def norm_scaling_tables(store, unified: Mapping[str, Any], models: list[str], reference: str) -> NormScalingTables:
    """Table S3 for the models of ``store``, as tables (:class:`NormScalingTables`)."""
    if reference not in models:
        raise NormScalingError(f"reference {reference!r} is not among the models {models}")
    table = store.atom_table()
    ids = table["structure_id"].to_numpy()
    parts = []
    for space in NORM_SPACES:
        source = {m: (np.load(unified[m], mmap_mode="r") if space == "unified" else store.load(m)) for m in models}
        parts.append(material_norms(source, ids).assign(space=space))
    norms = pd.concat(parts, ignore_index=True)
    formulas = table.groupby("structure_id", sort=False)["formula"].first()
    wide = norms[norms["space"] == "unified"].pivot_table(index="structure_id", columns="model", values="norm",
                                                          sort=False)[models]
    wide.insert(0, "formula", formulas.reindex(wide.index).to_numpy())
    return NormScalingTables(norms, norm_scaling(norms, reference), wide.reset_index(), reference)
