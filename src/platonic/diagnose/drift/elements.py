"""Per-element drift of a (pre-trained, fine-tuned) pair: displacement in the unified space, norm
collapse in the raw space, and GFRE between the pair and references (maths in :mod:`platonic.diagnose.drift`)."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from ase.data import atomic_numbers

from platonic.compare.reconstruction import global_reconstruction_errors

from ._checks import NORM_QUANTILES, DriftInputError, _check_matrix, _check_pair, _element_groups
from platonic.validation import seed_alias


# --------------------------------------------------------------------------- unified space
def element_displacement(z_pre: Any, z_ft: Any, elements: Any, min_relative_spread: float = 1e-3) -> pd.DataFrame:
    """Per-element displacement of the fine-tuned checkpoint in the unified space.

    Parameters
    ----------
    z_pre, z_ft : arrays (n_atoms, K)
        Unified-space embeddings of the same atoms (same anchors) by the pre-trained and the
        fine-tuned checkpoint; rows matched.
    elements : array (n_atoms,) of element symbols
    min_relative_spread : element spreads below this fraction of the global spread count as
        zero (``relative_displacement`` is then NaN)

    Returns
    -------
    DataFrame, one row per element (by atomic number): ``element, Z, n_atoms, displacement,
    excess_displacement, mean_atom_displacement, spread_pre, spread_ft, relative_displacement,
    relative_to_global`` (definitions in the module docstring).
    """
    z_pre, z_ft, elements = _check_pair(z_pre, z_ft, elements, same_width=True)
    if not 0 <= min_relative_spread < 1:
        raise DriftInputError(f"min_relative_spread must be in [0, 1), got {min_relative_spread!r}")
    global_shift = z_ft.mean(axis=0) - z_pre.mean(axis=0)
    global_spread = float(np.sqrt(((z_pre - z_pre.mean(axis=0)) ** 2).sum(axis=1).mean()))
    records = []
    for symbol, rows in _element_groups(elements):
        pre, ft = z_pre[rows], z_ft[rows]
        centre_pre, centre_ft = pre.mean(axis=0), ft.mean(axis=0)
        displacement = float(np.linalg.norm(centre_ft - centre_pre))
        spread_pre = float(np.sqrt(((pre - centre_pre) ** 2).sum(axis=1).mean()))
        spread_ft = float(np.sqrt(((ft - centre_ft) ** 2).sum(axis=1).mean()))
        pooled = np.sqrt(0.5 * (spread_pre**2 + spread_ft**2))
        has_spread = pooled > min_relative_spread * global_spread
        records.append(
            {
                "element": symbol,
                "Z": atomic_numbers[symbol],
                "n_atoms": int(rows.size),
                "displacement": displacement,
                "excess_displacement": float(np.linalg.norm(centre_ft - centre_pre - global_shift)),
                "mean_atom_displacement": float(np.linalg.norm(ft - pre, axis=1).mean()),
                "spread_pre": spread_pre,
                "spread_ft": spread_ft,
                "relative_displacement": displacement / pooled if has_spread else np.nan,
                "relative_to_global": displacement / global_spread if global_spread > 0 else np.nan,
            }
        )
    return pd.DataFrame(records)


# --------------------------------------------------------------------------- raw space
def atom_norms(raw_pre: Any, raw_ft: Any, elements: Any) -> pd.DataFrame:
    r"""Per-atom raw-embedding norms under both checkpoints and their ratio.

    Returns
    -------
    DataFrame with one row per atom (input order): ``element, norm_pre, norm_ft, ratio``
    where ``ratio`` :math:`= \|e^{ft}_i\| / \|e^{pre}_i\|`. Raises if a pre-trained embedding is
    the zero vector (its ratio is undefined).
    """
    raw_pre, raw_ft, elements = _check_pair(raw_pre, raw_ft, elements, same_width=False)
    norm_pre = np.linalg.norm(raw_pre, axis=1)
    norm_ft = np.linalg.norm(raw_ft, axis=1)
    if np.any(norm_pre == 0):
        raise DriftInputError(f"pre has {int(np.sum(norm_pre == 0))} zero embedding(s): norm ratio undefined")
    return pd.DataFrame({"element": elements, "norm_pre": norm_pre, "norm_ft": norm_ft, "ratio": norm_ft / norm_pre})


def norm_ratios(raw_pre: Any, raw_ft: Any, elements: Any) -> pd.DataFrame:
    """Per-element norm collapse in raw space (fine-tuned / pre-trained).

    Returns
    -------
    DataFrame, one row per element (by atomic number): ``element, Z, n_atoms, mean_norm_pre,
    mean_norm_ft, norm_ratio`` (ratio of the mean norms) and ``median_atom_ratio`` (median of
    the per-atom ratios of :func:`atom_norms`).
    """
    norms = atom_norms(raw_pre, raw_ft, elements)
    records = []
    for symbol, rows in _element_groups(norms["element"].to_numpy()):
        part = norms.iloc[rows]
        mean_pre, mean_ft = float(part["norm_pre"].mean()), float(part["norm_ft"].mean())
        records.append(
            {
                "element": symbol,
                "Z": atomic_numbers[symbol],
                "n_atoms": int(rows.size),
                "mean_norm_pre": mean_pre,
                "mean_norm_ft": mean_ft,
                "norm_ratio": mean_ft / mean_pre,
                "median_atom_ratio": float(part["ratio"].median()),
            }
        )
    return pd.DataFrame(records)


def norm_quantiles(norms: pd.DataFrame, quantiles: Sequence[float] = NORM_QUANTILES) -> pd.DataFrame:
    """Quantiles of the per-atom norm distributions (all atoms) from an :func:`atom_norms` table.

    Returns
    -------
    DataFrame with columns ``quantity`` (``norm_pre``, ``norm_ft``, ``ratio``), ``quantile``,
    ``value``, plus ``mean`` and ``n_atoms`` of that quantity.
    """
    missing = {"norm_pre", "norm_ft", "ratio"} - set(norms.columns)
    if missing:
        raise DriftInputError(f"norms lacks column(s) {sorted(missing)}: pass the output of atom_norms")
    quantiles = np.asarray(quantiles, dtype=float)
    if quantiles.ndim != 1 or quantiles.size == 0 or np.any((quantiles < 0) | (quantiles > 1)):
        raise DriftInputError(f"quantiles must be a non-empty list of values in [0, 1], got {quantiles.tolist()}")
    records = []
    for quantity in ("norm_pre", "norm_ft", "ratio"):
        values = norms[quantity].to_numpy()
        for q, value in zip(quantiles, np.quantile(values, quantiles)):
            records.append({"quantity": quantity, "quantile": float(q), "value": float(value),
                            "mean": float(values.mean()), "n_atoms": int(values.size)})
    return pd.DataFrame(records)


# --------------------------------------------------------------------------- reconstruction
@seed_alias
def pair_reconstruction(
    embeddings: Mapping[str, Any],
    pre: str,
    fine_tuned: str,
    references: Sequence[str] = (),
    n_atoms: int | None = None,
    random_state: int = 0,
    rows: Any = None,
    known: Mapping[tuple[str, str], float] | None = None,
) -> pd.DataFrame:
    """GFRE between a drift pair in both directions, and between the fine-tuned model and references.

    Parameters
    ----------
    embeddings : mapping model -> array (n_rows, d_model) (a memory-mapped ``.npy`` is read, not
        copied), rows matched across models
    pre, fine_tuned : the pair's model names (keys of ``embeddings``)
    references : other models compared with ``fine_tuned`` in both directions (the baseline
        against which a pre-training bias shows)
    n_atoms : if given and smaller than the row count, a seeded random subsample of rows used for
        every GFRE of the call (the scikit-matter 50/50 split is then drawn inside it)
    random_state : int seed or numpy Generator of that subsample
    rows : the rows used (default all); each must be finite in every model
    known : (source, target) -> GFRE already computed on exactly these rows (e.g. by the compare
        stage: :func:`platonic.compare.from_store.stored_gfre`); those directions are not refitted.
        Not allowed with a subsample, whose rows the values were not computed on.

    Each source's rows are copied (float64) once and its targets one at a time, so the call holds
    two models' rows, not every model's.

    Returns
    -------
    DataFrame with ``source, target, role, gfre, n_atoms``; ``role`` is ``pre->ft``, ``ft->pre``,
    ``reference->ft`` or ``ft->reference``.
    """
    names = list(dict.fromkeys([pre, fine_tuned, *references]))
    missing = [m for m in names if m not in embeddings]
    if missing:
        raise DriftInputError(f"no embeddings for {missing}; have {sorted(embeddings)}")
    if pre in references or fine_tuned in references:
        raise DriftInputError("references must not contain the pair's own models")
    shapes = {m: np.shape(embeddings[m]) for m in names}
    wrong = {m: shape for m, shape in shapes.items() if len(shape) != 2}
    if wrong:
        raise DriftInputError(f"embeddings must be 2-D (atoms x features), got shapes {wrong}")
    n_rows = {shape[0] for shape in shapes.values()}
    if len(n_rows) != 1:
        raise DriftInputError(f"all embeddings must have the same rows, got row counts {sorted(n_rows)}")
    all_rows = n_rows.pop()
    rows = np.arange(all_rows) if rows is None else np.asarray(rows)
    if rows.ndim != 1 or not np.issubdtype(rows.dtype, np.integer) or (
            rows.size and (rows.min() < 0 or rows.max() >= all_rows)):
        raise DriftInputError(f"rows must be 1-D integer indices in [0, {all_rows})")
    total = rows.size
    if n_atoms is not None:
        if isinstance(n_atoms, bool) or not isinstance(n_atoms, (int, np.integer)) or n_atoms < 4:
            raise DriftInputError(f"n_atoms must be an integer >= 4 or None, got {n_atoms!r}")
        if n_atoms < total:
            if known:
                raise DriftInputError("known GFREs were computed on every row; they cannot stand for a subsample "
                                      f"of {n_atoms} rows")
            rows = rows[np.sort(np.random.default_rng(random_state).choice(total, size=int(n_atoms), replace=False))]
    directions = [(pre, fine_tuned, "pre->ft"), (fine_tuned, pre, "ft->pre")]
    for reference in references:
        directions += [(reference, fine_tuned, "reference->ft"), (fine_tuned, reference, "ft->reference")]
    values: dict[tuple[str, str], float] = {pair: float(known[pair]) for pair in (known or {})
                                            if pair in {(s, t) for s, t, _ in directions}}

    def matrix(model: str) -> np.ndarray:
        return _check_matrix(embeddings[model][rows], model)

    # One factorisation per source serves all its targets (the fine-tuned model is the source of
    # 1 + len(references) of them).
    for source in dict.fromkeys(s for s, _, _ in directions):
        targets = [t for s, t, _ in directions if s == source and (s, t) not in values]
        if targets:
            errors = global_reconstruction_errors(matrix(source), (matrix(t) for t in targets))
            values.update(zip(((source, t) for t in targets), errors))
    return pd.DataFrame(
        [
            {"source": source, "target": target, "role": role, "gfre": values[source, target], "n_atoms": int(rows.size)}
            for source, target, role in directions
        ]
    )
