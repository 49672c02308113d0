r"""Atypical structures: a ground-truth-free score from disagreement with the models' consensus.

Li & Walsh propose that deviations from the shared (Platonic) geometry flag atypical structures
and physical prediction failures, without defining a score. Ours, per structure :math:`s`:

1. **Material embedding** of model :math:`m` (their :math:`z_{Mater}`): the mean of the unified-
   space rows of the structure's atoms, :math:`M_m[s] = \frac{1}{|s|}\sum_{i\in s} z^m_i \in R^K`.
   **Standardised** (default): each model's material embeddings are centred on their mean over
   structures and divided by their RMS centred norm,
   :math:`\hat M_m[s] = (M_m[s] - \mu_m)/\sigma_m`. The unified axes are shared but each model
   sits at its own offset and scale there (on 48 MP-20 structures, K = 20: mean coordinate 0.85
   for CHGNet 0.3.0, 0.20 for SevenNet-0; centred spread 0.17 vs 0.71, echoing the 3-5x norm
   differences Li & Walsh report), and raw distances to a consensus would measure that offset,
   the same for every structure, rather than disagreement about the structure.
2. **Leave-one-out consensus**: the coordinate-wise median (or mean) over the *consensus models*
   other than :math:`m`, :math:`C_{-m}[s] = \operatorname{median}_{m' \in \mathcal C\setminus\{m\}} M_{m'}[s]`.
   Leaving :math:`m` out keeps a model from voting for itself; the median keeps one deviant model
   from dragging the consensus toward it. Random-weight controls (model card ``trained: false``)
   are left out of :math:`\mathcal C` by default: they are a control, not a vote.
3. **Distance** :math:`d_m[s] = \|M_m[s] - C_{-m}[s]\|_2`.
4. **Normalisation** so that no model dominates through a larger spread: :math:`\tilde d_m[s] =
   d_m[s] / \operatorname{median}_{s'} d_m[s']` (a model's typical disagreement becomes 1).
5. **Score** :math:`a[s] = \frac{1}{|\mathcal S|}\sum_{m\in\mathcal S} \tilde d_m[s]`, the mean over the
   *scored models* :math:`\mathcal S` (default: the consensus models), and rank 1 = most atypical.

A structure scores high when the models disagree about it: a score of about 1 is typical, and
the ``most_deviant_model`` column says whether one model or all of them stray. Structures a
model could not embed (NaN rows) are left out of that model's terms only; ``n_models`` counts
the terms behind each score, and a structure with none keeps a NaN score, ranked last.
Checkpoints of one family (e.g. CHGNet 0.3.0 and its r2SCAN fine-tune) are separate votes;
pass ``consensus_models`` to weigh families differently.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import sparse
from platonic.errors import PlatonicError
from platonic.plotting import subplots
from platonic.validation import check_matrix

STATISTICS = ("median", "mean")
#: Structure columns copied from the atom table into the ranking.
STRUCTURE_COLUMNS = ("structure_id", "formula", "spacegroup_number", "split")


class AtypicalInputError(PlatonicError, ValueError):
    """Bad input to the atypical-structure score: shapes, unknown models, too few consensus models."""


def material_embeddings(z: Any, structure_index: Any, n_structures: int | None = None) -> np.ndarray:
    """Mean unified-space row of each structure's atoms (the material embedding z_Mater).

    Parameters
    ----------
    z : array (n_atoms, K); rows of a structure a model rejected may be NaN
    structure_index : array (n_atoms,) of ints in [0, n_structures): the structure of each row
    n_structures : number of structures (default ``max(structure_index) + 1``)

    Returns
    -------
    array (n_structures, K); NaN for a structure with any NaN atom row or with no atoms.
    """
    z = check_matrix(z, "z", AtypicalInputError, min_rows=0, columns="K", finite=False)
    index = np.asarray(structure_index)
    if index.shape != (z.shape[0],) or not np.issubdtype(index.dtype, np.integer):
        raise AtypicalInputError(f"structure_index must be {z.shape[0]} integers, got shape {index.shape}, "
                                 f"dtype {index.dtype}")
    if index.size and index.min() < 0:
        raise AtypicalInputError("structure_index must be non-negative")
    n_structures = int(index.max()) + 1 if n_structures is None else int(n_structures)
    if index.size and index.max() >= n_structures:
        raise AtypicalInputError(f"structure_index reaches {int(index.max())}, beyond n_structures = {n_structures}")
    membership = sparse.csr_matrix((np.ones(index.size), (index, np.arange(index.size))),
                                   shape=(n_structures, index.size))
    counts = np.asarray(membership.sum(axis=1)).ravel()
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.asarray(membership @ z) / counts[:, None]
    incomplete = membership @ (~np.isfinite(z).all(axis=1)).astype(float) > 0
    means[(counts == 0) | incomplete] = np.nan
    return means


def _check_materials(materials: Mapping[str, Any]) -> dict[str, np.ndarray]:
    if not materials:
        raise AtypicalInputError("no models given")
    arrays = {m: np.asarray(a, dtype=np.float64) for m, a in materials.items()}
    shapes = {a.shape for a in arrays.values()}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise AtypicalInputError(f"material embeddings must be 2-D arrays of one shape, got "
                                 f"{ {m: a.shape for m, a in arrays.items()} }")
    for m, a in arrays.items():
        if np.isinf(a).any():
            raise AtypicalInputError(f"material embeddings of {m} contain inf")
    return arrays


def standardise_materials(materials: Mapping[str, Any]) -> dict[str, np.ndarray]:
    r"""Centre each model's material embeddings and scale them to unit RMS norm.

    :math:`\hat M_m = (M_m - \mu_m) / \sigma_m` with :math:`\mu_m` the mean over the structures the
    model embedded and :math:`\sigma_m^2` the mean squared norm of the centred rows (NaN rows
    stay NaN). Raises if a model has fewer than two embedded structures or no spread.
    """
    arrays = _check_materials(materials)
    out = {}
    for model, values in arrays.items():
        embedded = np.isfinite(values).all(axis=1)
        if embedded.sum() < 2:
            raise AtypicalInputError(f"{model}: {int(embedded.sum())} embedded structure(s), need at least 2")
        centred = values - values[embedded].mean(axis=0)
        scale = float(np.sqrt((centred[embedded] ** 2).sum(axis=1).mean()))
        if not scale > 0:
            raise AtypicalInputError(f"{model}: every structure has the same material embedding")
        out[model] = centred / scale
    return out


def consensus_distances(
    materials: Mapping[str, Any],
    consensus_models: Sequence[str] | None = None,
    statistic: str = "median",
) -> pd.DataFrame:
    """Distance of every model's material embedding to the leave-one-out consensus of the others.

    Parameters
    ----------
    materials : model -> array (n_structures, K) of material embeddings (NaN rows: not embedded)
    consensus_models : models whose embeddings form the consensus (default: all); needs at least
        two so that every consensus model has another to compare with
    statistic : ``"median"`` (coordinate-wise) or ``"mean"``

    Returns
    -------
    Long table, one row per (structure, model): ``structure_index, model, in_consensus,
    distance, normalised_distance`` (step 3 and 4 of the module docstring; NaN where the model
    or every other consensus model lacks the structure).
    """
    arrays = _check_materials(materials)
    consensus_models = list(arrays) if consensus_models is None else list(dict.fromkeys(consensus_models))
    unknown = [m for m in consensus_models if m not in arrays]
    if unknown:
        raise AtypicalInputError(f"consensus models {unknown} not among {list(arrays)}")
    if len(consensus_models) < 2:
        raise AtypicalInputError(f"the consensus needs at least two distinct models, got {consensus_models}")
    if statistic not in STATISTICS:
        raise AtypicalInputError(f"statistic must be one of {STATISTICS}, got {statistic!r}")
    # the NaN-aware reduction (masked sorting, slow) only where some model lacks the structure; on the
    # others the plain one gives the same values
    reduce, reduce_complete = (np.nanmedian, np.median) if statistic == "median" else (np.nanmean, np.mean)
    stack = np.stack([arrays[m] for m in consensus_models])
    n_structures = stack.shape[1]
    tables = []
    for model, values in arrays.items():
        others = stack[[i for i, m in enumerate(consensus_models) if m != model]]
        embedded = np.isfinite(others).all(axis=2)
        has_other, complete = embedded.any(axis=0), embedded.all(axis=0)
        consensus = np.full(values.shape, np.nan)
        consensus[complete] = reduce_complete(others[:, complete], axis=0)
        with np.errstate(invalid="ignore"):
            consensus[has_other & ~complete] = reduce(others[:, has_other & ~complete], axis=0)
        distance = np.linalg.norm(values - consensus, axis=1)
        typical = np.nanmedian(distance) if np.isfinite(distance).any() else np.nan
        if not typical > 0:
            raise AtypicalInputError(
                f"{model}: median distance to the consensus is {typical}; the model agrees exactly with the "
                "others on most structures (a duplicate?) and cannot be normalised"
            )
        tables.append(pd.DataFrame({"structure_index": np.arange(n_structures), "model": model,
                                    "in_consensus": model in consensus_models, "distance": distance,
                                    "normalised_distance": distance / typical}))
    return pd.concat(tables, ignore_index=True)


def atypicality_scores(
    materials: Mapping[str, Any],
    consensus_models: Sequence[str] | None = None,
    scored_models: Sequence[str] | None = None,
    statistic: str = "median",
    standardise: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-structure atypicality score and rank (module docstring, steps 1 to 5).

    Parameters
    ----------
    materials, consensus_models, statistic : as in :func:`consensus_distances`
    scored_models : models whose normalised distances are averaged (default: the consensus models)
    standardise : apply :func:`standardise_materials` first (recommended, see the module docstring)

    Returns
    -------
    scores : one row per structure, ``structure_index, score, rank, n_models,
        most_deviant_model``, sorted by rank (1 = most atypical; ties broken by structure order;
        structures without a score last, rank NaN)
    distances : the :func:`consensus_distances` table with an ``in_score`` column
    """
    arrays = _check_materials(materials)
    consensus_models = list(arrays) if consensus_models is None else list(dict.fromkeys(consensus_models))
    scored_models = list(consensus_models) if scored_models is None else list(dict.fromkeys(scored_models))
    unknown = [m for m in scored_models if m not in arrays]
    if unknown or not scored_models:
        raise AtypicalInputError(f"scored models {scored_models} must be a non-empty subset of {list(arrays)}")
    if standardise:
        arrays = standardise_materials(arrays)
    distances = consensus_distances(arrays, consensus_models, statistic)
    distances["in_score"] = distances["model"].isin(scored_models)
    wide = distances[distances["in_score"]].pivot(index="structure_index", columns="model",
                                                  values="normalised_distance")[scored_models]
    values = wide.to_numpy()
    finite = np.isfinite(values)
    n_models = finite.sum(axis=1)
    with np.errstate(invalid="ignore"):
        score = np.where(n_models > 0, np.where(finite, values, 0).sum(axis=1) / np.maximum(n_models, 1), np.nan)
    largest = np.argmax(np.where(finite, values, -np.inf), axis=1)
    deviant = np.where(n_models > 0, np.array(scored_models)[largest], None)
    scores = pd.DataFrame({"structure_index": wide.index.to_numpy(), "score": score, "n_models": n_models,
                           "most_deviant_model": deviant})
    scores["rank"] = scores["score"].rank(ascending=False, method="first").astype("Int64")
    scores = scores.sort_values(["rank", "structure_index"], na_position="last").reset_index(drop=True)
    return scores[["structure_index", "score", "rank", "n_models", "most_deviant_model"]], distances


# --------------------------------------------------------------------------- figures
def plot_atypical(ranking: pd.DataFrame, distances: pd.DataFrame, top: int = 20) -> Any:
    """Histogram of all scores and the ``top`` structures with each model's normalised distance.

    ``ranking`` is :func:`atypicality_scores`' first table (``structure_id`` and ``formula``
    columns, as :func:`atypical_tables` adds them, label the bars when present).
    """
    head = ranking.dropna(subset=["score"]).head(top)
    fig, (left, right) = subplots(1, 2, figsize=(12, max(4.0, 0.32 * len(head) + 1.5)),
                                  gridspec_kw={"width_ratios": [1, 2]})
    left.hist(ranking["score"].dropna(), bins=40, color="tab:grey")
    left.set_xlabel("atypicality score (1 = typical disagreement)")
    left.set_ylabel("structures")
    y = np.arange(len(head))[::-1]
    labels = [" ".join(str(row[c]) for c in ("structure_id", "formula", "spacegroup_number") if c in row.index)
              or str(row["structure_index"]) for _, row in head.iterrows()]
    right.barh(y, head["score"], color="lightgrey", label="score")
    scored = distances[distances["in_score"] & distances["structure_index"].isin(head["structure_index"])]
    position = dict(zip(head["structure_index"], y))
    for model, part in scored.groupby("model", sort=False):
        right.scatter(part["normalised_distance"], part["structure_index"].map(position), s=14, label=model)
    right.set_yticks(y, labels, fontsize=7)
    right.set_xlabel("normalised distance to the consensus")
    right.set_title(f"top {len(head)} atypical structures")
    right.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- report
def atypical_tables(
    store: Any,
    unified: Mapping[str, Any],
    models: Sequence[str] | None,
    top: int = 20,
    consensus_models: Sequence[str] | None = None,
    statistic: str = "median",
    standardise: bool = True,
) -> "AtypicalTables":
    """Score and rank every structure of a store, as tables (:class:`AtypicalTables`).

    Parameters
    ----------
    store : :class:`platonic.store.EmbeddingStore` (for the atom table and the model cards)
    unified : model -> unified-space matrix (array or ``.npy`` path), same anchors for all
    models : models to include (default: every model of ``unified``)
    top : structures listed in ``atypical_top.csv`` and the figure (checked here, kept in the result)
    consensus_models : the consensus and scored models; default the ``models`` whose card says
        they are trained (random-weight controls are reported, not scored)
    statistic : ``"median"`` or ``"mean"`` consensus
    standardise : centre and scale each model's material embeddings first

    Returns
    -------
    :class:`AtypicalTables`: ``ranking`` (every structure, ranked, with id, formula, space group,
    split, atom count), ``distances`` (every model, controls included) and ``top``.
    """
    if isinstance(top, bool) or not isinstance(top, (int, np.integer)) or top < 1:
        raise AtypicalInputError(f"top must be a positive integer, got {top!r}")
    models = list(unified) if models is None else list(models)
    missing = [m for m in models if m not in unified]
    if missing:
        raise AtypicalInputError(f"no unified matrix for {missing}; have {sorted(unified)}")
    if consensus_models is None:
        consensus_models = [m for m in models if store.model_card(m).trained]
    atoms = store.atom_table()
    index = atoms["structure_index"].to_numpy()
    n_structures = int(index.max()) + 1
    materials = {}
    for model in models:
        z = np.load(unified[model], mmap_mode="r") if isinstance(unified[model], (str, Path)) else unified[model]
        materials[model] = material_embeddings(z, index, n_structures)
    scores, distances = atypicality_scores(materials, consensus_models, statistic=statistic,
                                           standardise=standardise)
    structures = atoms.groupby("structure_index", sort=True).agg(
        n_atoms=("row", "size"), **{c: (c, "first") for c in STRUCTURE_COLUMNS})
    ranking = scores.merge(structures, left_on="structure_index", right_index=True, how="left")
    ranking = ranking[["rank", "structure_index", *STRUCTURE_COLUMNS, "n_atoms", "score", "n_models",
                       "most_deviant_model"]]
    distances = distances.merge(structures[["structure_id"]], left_on="structure_index", right_index=True, how="left")
    return AtypicalTables(ranking, distances, int(top))


@dataclass(frozen=True)
class AtypicalTables:
    """:func:`atypical_tables`: ``ranking`` (``atypical_scores.csv``; its first ``top`` rows are
    ``atypical_top.csv``) and ``distances`` (``atypical_distances.csv``)."""

    ranking: pd.DataFrame
    distances: pd.DataFrame
    top: int
