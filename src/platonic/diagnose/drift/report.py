"""Every drift view of every pair: :func:`drift_tables` (data), :func:`drift_figures` (Figures);
:func:`platonic.study.writers.write_drift` writes them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from platonic.models import DEFAULT_DRIFT_PAIRS
from platonic.store.on_demand import OnDemand

from ._checks import DEFAULT_BOX_LENGTH, DEFAULT_DISTANCES, DriftInputError
from .dimers import _check_distances, dimer_curves, dimer_minima
from .elements import atom_norms, element_displacement, norm_quantiles, norm_ratios, pair_reconstruction
from .plots import plot_dimer_curves, plot_element_displacement, plot_norm_distribution, plot_norm_ratios
from platonic.validation import seed_alias


def _matrix(value: Any) -> np.ndarray:
    """An array given directly or as a path to a ``.npy`` file (memory-mapped)."""
    if isinstance(value, (str, Path)):
        return np.load(value, mmap_mode="r")
    return np.asarray(value)


def _trained_models(store: Any, models: Sequence[str]) -> list[str]:
    return [m for m in models if store.model_card(m).trained]


def _pair_tables(
    label: str,
    pre: str,
    ft: str,
    references: Sequence[str],
    raw: Mapping[str, np.ndarray],
    unified: Mapping[str, Any],
    elements: np.ndarray,
    n_gfre_atoms: int | None,
    random_state: int,
    known_gfre: Any = None,
) -> dict[str, pd.DataFrame]:
    """Every table of one pair, each with leading ``pair, pre, fine_tuned`` columns."""
    z_pre, z_ft = _matrix(unified[pre]), _matrix(unified[ft])
    both = np.logical_and.reduce([np.isfinite(a).all(axis=1) for a in (raw[pre], raw[ft], z_pre, z_ft)])
    rows = np.flatnonzero(both)
    norms = atom_norms(raw[pre][rows], raw[ft][rows], elements[rows])
    tables = {
        "displacement": element_displacement(z_pre[rows], z_ft[rows], elements[rows]),
        "norm_ratio": norm_ratios(raw[pre][rows], raw[ft][rows], elements[rows]),
        "norm_quantiles": norm_quantiles(norms),
        "norms": norms,
    }
    models = [pre, ft, *references]
    gfre_rows = np.flatnonzero(both & np.logical_and.reduce([np.isfinite(raw[m]).all(axis=1) for m in models]))
    # the compare stage's GFREs stand for these only when they were computed on the very same rows
    reusable = (known_gfre is not None and (n_gfre_atoms is None or n_gfre_atoms >= gfre_rows.size)
                and np.array_equal(known_gfre.rows, gfre_rows))
    gfre = []
    for space, source in (("raw", raw), ("unified", {m: _matrix(unified[m]) for m in models})):
        known = known_gfre.for_space(space) if reusable else None
        part = pair_reconstruction(source, pre, ft, references, n_atoms=n_gfre_atoms, random_state=random_state,
                                   rows=gfre_rows, known=known)
        part.insert(0, "space", space)
        gfre.append(part)
    tables["gfre"] = pd.concat(gfre, ignore_index=True)
    summary = {
        "n_atoms": int(rows.size),
        "rows_excluded": int(elements.size - rows.size),
        "mean_atom_displacement": float(np.linalg.norm(np.asarray(z_ft[rows], float) - np.asarray(z_pre[rows], float),
                                                       axis=1).mean()),
        "norm_ratio_all": float(norms["norm_ft"].mean() / norms["norm_pre"].mean()),
        "median_atom_ratio": float(norms["ratio"].median()),
    }
    for (space, role), values in tables["gfre"].groupby(["space", "role"], sort=False)["gfre"]:
        name = f"gfre_{space}_{role.replace('->', '_to_')}"
        summary[name + ("_mean" if "reference" in role else "")] = float(values.mean())
    tables["summary"] = pd.DataFrame([summary])
    for table in tables.values():
        table.insert(0, "fine_tuned", ft)
        table.insert(0, "pre", pre)
        table.insert(0, "pair", label)
    return tables


@seed_alias
def drift_tables(
    store: Any,
    unified: Mapping[str, Any],
    pairs: Sequence[tuple[str, str]] = DEFAULT_DRIFT_PAIRS,
    references: Sequence[str] | None = None,
    dimers: bool = True,
    dimer_elements: Sequence[str] = ("Cu", "Au"),
    distances: Any = DEFAULT_DISTANCES,
    box_length: float = DEFAULT_BOX_LENGTH,
    n_gfre_atoms: int | None = None,
    random_state: int = 0,
    device: str = "cpu",
    skipped: dict[str, str] | None = None,
    loaded: Any = None,
    known_gfre: Any = None,
) -> "DriftTables":
    """Every drift view for every pair, as tables (:class:`DriftTables`).

    Parameters
    ----------
    store : :class:`platonic.store.EmbeddingStore` holding every model of ``pairs``
    unified : model -> unified-space matrix (array or ``.npy`` path), same anchors for all
    pairs : (pre-trained, fine-tuned) model pairs
    references : models compared with each fine-tuned model by GFRE; default every trained model
        of the store outside the pair (random-weight controls left out)
    dimers : also compute the dimer curves (each pair model's energy forward, no forces)
    dimer_elements, distances, box_length, device, loaded : see :func:`dimer_curves` (``loaded``: the
        models a study's stages share, each loaded once)
    n_gfre_atoms, random_state : optional seeded row subsample for the GFRE (:func:`pair_reconstruction`)
    known_gfre : GFREs the compare stage already computed
        (:class:`platonic.compare.from_store.StoredGFRE`); a pair whose GFRE rows are exactly the
        rows those were computed on takes them instead of refitting (same rows, same 50/50 split,
        same fit: the same numbers); any other pair, or a subsample, is computed here
    skipped : dimer curves run each checkpoint, so a pair model that cannot be loaded (e.g. embeddings
        imported under a registry name, whose registry weights are not the imported numbers) gets
        no curve; the reason is recorded here as ``"dimers (<model>)"`` (else warned about), and as
        ``"dimers"`` when no pair model can run. The embedding views need only the store.

    Rows used per pair: the atoms that both checkpoints embedded (``n_atoms`` and
    ``rows_excluded`` in ``drift_summary.csv``); the GFRE rows are those also embedded by every
    reference (``n_atoms`` in ``drift_gfre.csv``).

    Returns
    -------
    :class:`DriftTables`.
    """
    pairs = [tuple(p) for p in pairs]
    if not pairs or any(len(p) != 2 for p in pairs):
        raise DriftInputError(f"pairs must be a non-empty list of (pre-trained, fine-tuned) names, got {pairs}")
    available = store.models()
    pair_models = list(dict.fromkeys(m for p in pairs for m in p))
    needed = pair_models + [m for m in (references or []) if m not in pair_models]
    missing = [m for m in needed if m not in available or m not in unified]
    if missing:
        raise DriftInputError(f"models {missing} lack raw or unified embeddings; the store has {available}, "
                              f"the unified matrices {sorted(unified)}")
    if dimers:
        distances = _check_distances(distances, box_length)
    candidates = list(references) if references is not None else [
        m for m in _trained_models(store, available) if m in unified]
    elements = store.atom_table()["element"].to_numpy().astype(str)
    # each raw matrix loaded when needed, a few held at a time (the references are read once per pair)
    raw = OnDemand(store.load, available, keep=3)
    parts: dict[str, list[pd.DataFrame]] = {}
    for pre, ft in pairs:
        pair_refs = [m for m in candidates if m not in (pre, ft)]
        pair_tables = _pair_tables(f"{pre} -> {ft}", pre, ft, pair_refs, raw, unified, elements, n_gfre_atoms,
                                   random_state, known_gfre)
        for name, table in pair_tables.items():
            parts.setdefault(name, []).append(table)
    tables = {name: pd.concat(p, ignore_index=True) for name, p in parts.items()}
    curves = minima = None
    if dimers:
        dimers = _dimer_models(store, pair_models, skipped)
    if dimers:
        curves = dimer_curves(dimers, dimer_elements, distances, box_length, device=device, loaded=loaded)
        minima = dimer_minima(curves)
    return DriftTables(**tables, dimer_curves=curves, dimer_minima=minima)


@dataclass(frozen=True)
class DriftTables:
    """:func:`drift_tables`, each with leading ``pair, pre, fine_tuned`` columns: ``displacement``,
    ``norm_ratio``, ``norm_quantiles``, ``gfre``, ``summary`` (``drift_<name>.csv``) and ``norms``
    (per atom, drawn only); ``dimer_curves``, ``dimer_minima`` when the dimers were computed."""

    displacement: pd.DataFrame
    norm_ratio: pd.DataFrame
    norm_quantiles: pd.DataFrame
    norms: pd.DataFrame
    gfre: pd.DataFrame
    summary: pd.DataFrame
    dimer_curves: pd.DataFrame | None = None
    dimer_minima: pd.DataFrame | None = None


def drift_figures(tables: DriftTables) -> dict[str, Any]:
    """name -> Figure: ``drift_displacement_png``, ``drift_norm_ratio_png``,
    ``drift_norm_distribution_png`` and, with dimers, ``drift_dimers_png``."""
    figures = {"drift_displacement_png": plot_element_displacement(tables.displacement),
               "drift_norm_ratio_png": plot_norm_ratios(tables.norm_ratio),
               "drift_norm_distribution_png": plot_norm_distribution(tables.norms)}
    if tables.dimer_curves is not None:
        figures["drift_dimers_png"] = plot_dimer_curves(tables.dimer_curves, tables.dimer_minima)
    return figures


def _dimer_models(store, pair_models: Sequence[str], skipped: dict[str, str] | None) -> list[str]:
    """The pair models whose calculator can be built; the others skipped with their reason."""
    import warnings

    from platonic.errors import NotApplicableError
    from platonic.models import runnable_models

    try:
        return runnable_models(pair_models, "dimers", store, skipped=skipped)
    except NotApplicableError as error:
        # The embedding views are written; only the curves are left out, and said so.
        if skipped is None:
            warnings.warn(str(error), stacklevel=3)
        else:
            skipped["dimers"] = str(error)
        return []
