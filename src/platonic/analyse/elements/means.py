"""Element mean vectors in the unified space, their table across models and a shared PCA."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from ase.data import atomic_numbers
from sklearn.decomposition import PCA

from ._checks import ChemistryInputError, _check_elements, _check_min, _check_unified, vector_columns
from .periodic import periodic_table


def element_means(
    z: np.ndarray,
    elements: Sequence[str],
    *,
    min_atoms: int = 1,
    structure_index: Sequence[int] | None = None,
) -> pd.DataFrame:
    """Mean unified vector of each element of one model.

    Parameters
    ----------
    z : array (n_atoms, K), finite (select the atoms the model embedded first)
    elements : the element symbol of every row
    min_atoms : elements with fewer atoms get ``included = False`` and NaN vectors
    structure_index : optional structure of every row, to count ``n_structures`` per element
        (symmetry-equivalent atoms of one structure embed alike, so few structures can mean
        few independent environments even when there are many atoms)

    Returns
    -------
    DataFrame, one row per element present, sorted by Z: ``element, Z, n_atoms, [n_structures,]
    included, z_0 … z_{K-1}``.
    """
    z = _check_unified(z)
    symbols = _check_elements(elements, z.shape[0])
    min_atoms = _check_min(min_atoms, "min_atoms")
    frame = pd.DataFrame(z, columns=vector_columns(z.shape[1]))
    frame.insert(0, "element", symbols)
    grouped = frame.groupby("element", sort=False)
    table = grouped.mean()
    table.insert(0, "n_atoms", grouped.size())
    if structure_index is not None:
        structures = np.asarray(structure_index)
        if structures.shape != (z.shape[0],):
            raise ChemistryInputError(f"structure_index must have one entry per row ({z.shape[0]}), got shape {structures.shape}")
        table.insert(1, "n_structures", pd.Series(structures).groupby(symbols).nunique())
    table.insert(0, "Z", [atomic_numbers[e] for e in table.index])
    table.insert(table.columns.get_loc("z_0"), "included", table["n_atoms"] >= min_atoms)
    table.loc[~table["included"], vector_columns(z.shape[1])] = np.nan
    return table.sort_values("Z").rename_axis("element").reset_index()


def normalised_vectors(means: pd.DataFrame) -> pd.DataFrame:
    r"""The included element means centred on their centroid and divided by the RMS distance to it.

    ``means``: one model's :func:`element_means` table. Returns a DataFrame (element index, the
    vector columns) of :math:`u_e` (module docstring). Needs two included elements that differ.
    """
    included = means.loc[means["included"]].set_index("element")
    columns = [c for c in means.columns if c.startswith("z_")]
    if len(included) < 2:
        raise ChemistryInputError(f"need at least 2 included elements, got {len(included)}: lower min_atoms or add data")
    vectors = included[columns].to_numpy(dtype=np.float64)
    centred = vectors - vectors.mean(axis=0)
    spread = float(np.sqrt((centred**2).sum(axis=1).mean()))
    if spread <= 0.0:
        raise ChemistryInputError("every included element has the same mean vector: nothing to normalise")
    return pd.DataFrame(centred / spread, index=included.index, columns=columns)


def element_table(
    unified: Mapping[str, np.ndarray],
    elements: Sequence[str],
    *,
    min_atoms: int = 1,
    structure_index: Sequence[int] | None = None,
    reference: str | None = None,
) -> pd.DataFrame:
    """Element means of every model, with their periodic position and comparison columns.

    Parameters
    ----------
    unified : model -> (n_atoms, K) unified matrix, rows matched across models and finite
    elements, min_atoms, structure_index : as in :func:`element_means`
    reference : model whose element vectors the ``cos_to_reference`` column compares with

    Returns
    -------
    Long DataFrame, one row per (model, element present): ``model, element, Z, period, group,
    group_label, n_atoms, [n_structures,] included, norm`` (of the raw mean),
    ``cos_to_reference`` (cosine of the normalised vectors u_e of the model and the reference,
    NaN without a reference or when either excludes the element) and ``z_0 … z_{K-1}``.
    """
    if not isinstance(unified, Mapping) or not unified:
        raise ChemistryInputError("unified must be a non-empty mapping of model name -> (n_atoms, K) array")
    if reference is not None and reference not in unified:
        raise ChemistryInputError(f"reference model {reference!r} is not among {sorted(unified)}")
    shapes = {model: np.shape(z) for model, z in unified.items()}
    if len(set(shapes.values())) != 1:
        raise ChemistryInputError(f"every unified matrix must have the same shape (matched rows, same K), got {shapes}")
    positions = periodic_table().drop(columns=["row", "column"]).set_index("element")
    tables, vectors = [], {}
    for model, z in unified.items():
        means = element_means(z, elements, min_atoms=min_atoms, structure_index=structure_index)
        vectors[model] = normalised_vectors(means)
        means.insert(0, "model", model)
        tables.append(means)
    table = pd.concat(tables, ignore_index=True)
    table = table.join(positions.drop(columns="Z"), on="element")
    columns = [c for c in table.columns if c.startswith("z_")]
    table["norm"] = np.linalg.norm(table[columns].to_numpy(), axis=1)
    table["cos_to_reference"] = np.nan
    if reference is not None:
        for model, u in vectors.items():
            shared = u.index.intersection(vectors[reference].index)
            a, b = u.loc[shared].to_numpy(), vectors[reference].loc[shared].to_numpy()
            cosines = np.einsum("ij,ij->i", a, b) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
            rows = (table["model"] == model) & table["element"].isin(shared)
            table.loc[rows, "cos_to_reference"] = pd.Series(cosines, index=shared).loc[table.loc[rows, "element"]].to_numpy()
    leading = ["model", "element", "Z", "period", "group", "group_label", "n_atoms"]
    leading += ["n_structures"] if "n_structures" in table else []
    leading += ["included", "norm", "cos_to_reference"]
    return table[leading + columns]


def table_vectors(table: pd.DataFrame, model: str) -> pd.DataFrame:
    """Normalised vectors u_e (element index) of one model of an :func:`element_table`."""
    part = table.loc[table["model"] == model]
    if part.empty:
        raise ChemistryInputError(f"model {model!r} is not in the element table (models: {sorted(table['model'].unique())})")
    return normalised_vectors(part)


def add_shared_pca(
    table: pd.DataFrame, fit_models: Sequence[str] | None = None, n_components: int = 2
) -> pd.DataFrame:
    """Add columns ``pc1 … pc{n}`` (and ``pc{j}_explained``): one PCA for all models.

    The PCA is fitted on the stacked normalised vectors u_e of ``fit_models`` (default: every
    model in the table) and applied to every model's included elements (excluded elements get
    NaN). The explained-variance ratios refer to the fitted stack. Returns a new table.
    """
    models = list(dict.fromkeys(table["model"]))
    fit_models = models if fit_models is None else list(fit_models)
    missing = sorted(set(fit_models) - set(models))
    if missing or not fit_models:
        raise ChemistryInputError(f"fit_models {fit_models!r} must be a non-empty subset of the table's models {models}")
    vectors = {model: table_vectors(table, model) for model in models}
    stack = np.vstack([vectors[m].to_numpy() for m in fit_models])
    n_components = _check_min(n_components, "n_components")
    if n_components > min(stack.shape):
        raise ChemistryInputError(f"n_components ({n_components}) exceeds what {stack.shape} vectors allow")
    pca = PCA(n_components=n_components, svd_solver="full").fit(stack)
    result = table.copy()
    names = [f"pc{j + 1}" for j in range(n_components)]
    for name in names:
        result[name] = np.nan
    for model, u in vectors.items():
        rows = (result["model"] == model) & result["element"].isin(u.index)
        coordinates = pd.DataFrame(pca.transform(u.to_numpy()), index=u.index, columns=names)
        result.loc[rows, names] = coordinates.loc[result.loc[rows, "element"]].to_numpy()
    for name, ratio in zip(names, pca.explained_variance_ratio_):
        result[f"{name}_explained"] = float(ratio)
    return result
