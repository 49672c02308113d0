r"""Element embeddings in the unified space: element means, periodic-group coherence, trajectories.

**Element embedding.** For a model with unified matrix :math:`Z \in [-1, 1]^{n \times K}` (one row
per atom) the embedding of element :math:`e` is the mean over its atoms,
:math:`\bar z_e = \frac{1}{|A_e|} \sum_{i \in A_e} z_i`. Elements with fewer than ``min_atoms``
atoms are kept in the tables with ``included = False`` (and no vector): listed, never dropped.

**Normalised element vectors.** Models sit at different offsets and spreads in the unified space
(CHGNet's cosines to the anchors average about 0.8, a random-weight model's about 0), so every
comparison across elements or models uses, per model, the included element means centred on their
centroid and divided by their root-mean-square distance to it:

.. math::

    u_e = \frac{\bar z_e - c}{s}, \qquad c = \frac{1}{m}\sum_{e'} \bar z_{e'}, \qquad
    s = \Big(\frac{1}{m}\sum_{e'} \|\bar z_{e'} - c\|^2\Big)^{1/2},

over the m included elements. Two random elements are then about :math:`\sqrt 2` apart, which
gives step lengths a scale shared by all models.

**Periodic groups** (:data:`PERIODIC_GROUP_LABELS`, one family per element, from its IUPAC
column; derived from Z by :func:`periodic_position`):

===================== ============================================================
label                 elements
===================== ============================================================
hydrogen              H
alkali metal          group 1 except H (Li, Na, K, Rb, Cs, Fr)
alkaline earth metal  group 2 (Be, Mg, Ca, Sr, Ba, Ra)
transition metal      groups 3–12 outside the f block (Sc, Y, Ti … Zn, Zr … Cd, Hf … Hg, Rf … Cn)
lanthanide            La … Lu
actinide              Ac … Lr
triel                 group 13 (B, Al, Ga, In, Tl, Nh)
tetrel                group 14 (C, Si, Ge, Sn, Pb, Fl)
pnictogen             group 15 (N, P, As, Sb, Bi, Mc)
chalcogen             group 16 (O, S, Se, Te, Po, Lv)
halogen               group 17 (F, Cl, Br, I, At, Ts)
noble gas             group 18 (He, Ne, Ar, Kr, Xe, Rn, Og)
===================== ============================================================

**Group coherence** (:func:`group_coherence`): the silhouette score of the element vectors
labelled by periodic group,
:math:`S = \frac{1}{m}\sum_e \frac{b_e - a_e}{\max(a_e, b_e)}`, with :math:`a_e` the mean distance
of e to the other elements of its group and :math:`b_e` the smallest mean distance to another
group. The distance is Euclidean (default) or cosine; cosine is taken between the *centred*
vectors :math:`u_e`, since the cosine of the raw means is dominated by the offset all elements
share. Groups with a single included element have no :math:`a_e` (scikit-learn would count them as
0) and are left out, and listed. The chance baseline is a label-permutation null: the group labels
are shuffled among the same elements (group sizes kept) ``n_permutations`` times with a seeded
generator, giving the null mean and standard deviation, :math:`z = (S - \mu_0)/\sigma_0` and the
permutation p-value :math:`(1 + \#\{S_0 \ge S\}) / (1 + n_\text{perm})`. A random-weight model
should score near the null (the dummy control); trained models well above it.

**Trajectories** (:func:`element_trajectories`): for each sequence down a periodic group
(:data:`GROUP_SEQUENCES`, e.g. F → Cl → Br → I) the path of the element vectors. Coordinates for
plots come from one PCA shared by the models (:func:`add_shared_pca`): fitted on the stacked
normalised vectors :math:`u_e` of the ``fit_models``, so all models are drawn in the same two axes
and no model weighs more for having a larger spread. The numbers are in the full K dimensions: the
step length :math:`\|u_{e_{j+1}} - u_{e_j}\|`, the cosine between consecutive steps (1 = a straight
path) and the cosine of each step with the same step of a reference model (do models agree on the
direction of the trend?).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from ase.data import atomic_numbers, chemical_symbols
from scipy.spatial.distance import pdist, squareform
from sklearn.decomposition import PCA
from sklearn.metrics import silhouette_samples

from platonic.analyse._validation import finite_matrix
from platonic.errors import PlatonicError


class ChemistryInputError(PlatonicError, ValueError):
    """Bad input to an element analysis: wrong shapes, unknown elements, too few elements or groups."""


# ----------------------------------------------------------------------------- periodic table
_PERIOD_STARTS = (1, 3, 11, 19, 37, 55, 87, 119)
#: The highest atomic number placed in the table.
MAX_Z = 118


@dataclass(frozen=True)
class PeriodicPosition:
    """Where an element sits: ``period`` (1–7), IUPAC ``group`` (1–18, None in the f block),
    family ``label``, and the (``row``, ``column``) of a display grid whose rows 9 and 10 hold
    the lanthanides and actinides in columns 3–17."""

    period: int
    group: int | None
    label: str
    row: int
    column: int


_GROUP_FAMILIES = {
    1: "alkali metal",
    2: "alkaline earth metal",
    13: "triel",
    14: "tetrel",
    15: "pnictogen",
    16: "chalcogen",
    17: "halogen",
    18: "noble gas",
}


def periodic_position(Z: int) -> PeriodicPosition:
    """Period, group, family label and display cell of the element with atomic number ``Z``."""
    if isinstance(Z, bool) or not isinstance(Z, (int, np.integer)) or not 1 <= Z <= MAX_Z:
        raise ChemistryInputError(f"atomic number must be an integer in [1, {MAX_Z}], got {Z!r}")
    Z = int(Z)
    period = bisect_right(_PERIOD_STARTS, Z)
    place = Z - _PERIOD_STARTS[period - 1] + 1  # 1-based position within the period
    if period == 1:
        group = 1 if Z == 1 else 18
    elif period <= 3:
        group = place if place <= 2 else place + 10
    elif period <= 5:
        group = place
    elif place <= 2:
        group = place
    elif place <= 17:  # La..Lu and Ac..Lr: the f block, drawn below the main table
        label = "lanthanide" if period == 6 else "actinide"
        return PeriodicPosition(period, None, label, row=period + 3, column=place)
    else:
        group = place - 14
    if Z == 1:
        label = "hydrogen"
    elif 3 <= group <= 12:
        label = "transition metal"
    else:
        label = _GROUP_FAMILIES[group]
    return PeriodicPosition(period, group, label, row=period, column=group)


#: Element symbol -> periodic family (see the module docstring), for Z = 1..118.
PERIODIC_GROUP_LABELS: dict[str, str] = {chemical_symbols[z]: periodic_position(z).label for z in range(1, MAX_Z + 1)}

#: Sequences down a periodic group, top to bottom, used for trajectories.
GROUP_SEQUENCES: dict[str, tuple[str, ...]] = {
    "alkali metal": ("Li", "Na", "K", "Rb", "Cs"),
    "alkaline earth metal": ("Be", "Mg", "Ca", "Sr", "Ba"),
    "group 4": ("Ti", "Zr", "Hf"),
    "coinage metal": ("Cu", "Ag", "Au"),
    "triel": ("B", "Al", "Ga", "In", "Tl"),
    "tetrel": ("C", "Si", "Ge", "Sn", "Pb"),
    "pnictogen": ("N", "P", "As", "Sb", "Bi"),
    "chalcogen": ("O", "S", "Se", "Te"),
    "halogen": ("F", "Cl", "Br", "I"),
}


def periodic_table() -> pd.DataFrame:
    """One row per element (Z = 1..118): element, Z, period, group, group_label, row, column."""
    records = []
    for z in range(1, MAX_Z + 1):
        position = periodic_position(z)
        records.append({"element": chemical_symbols[z], "Z": z, "period": position.period,
                        "group": position.group, "group_label": position.label,
                        "row": position.row, "column": position.column})
    table = pd.DataFrame(records)
    table["group"] = table["group"].astype("Int64")
    return table


# ----------------------------------------------------------------------------- element means
def vector_columns(K: int) -> list[str]:
    """Names of the K mean-vector columns of an element table: ``z_0 … z_{K-1}``."""
    return [f"z_{k}" for k in range(K)]


def _check_unified(z: object, name: str = "z") -> np.ndarray:
    hint = "; select the atoms every model embedded (NaN rows are rejected structures)" if name == "z" else ""
    return finite_matrix(z, name, ChemistryInputError, columns="K", hint=hint)


def _check_elements(elements: object, n_rows: int) -> np.ndarray:
    symbols = np.asarray(elements, dtype=object)
    if symbols.ndim != 1 or symbols.size != n_rows:
        raise ChemistryInputError(f"elements must be a 1-D sequence of {n_rows} symbols, got shape {symbols.shape}")
    unknown = sorted({str(s) for s in symbols if s not in atomic_numbers or s == "X"})
    if unknown:
        raise ChemistryInputError(f"unknown element symbol(s): {unknown}")
    return symbols.astype(str)


def _check_min(value: object, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ChemistryInputError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


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
    pca = PCA(n_components=n_components).fit(stack)
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


# ----------------------------------------------------------------------------- group coherence
COHERENCE_METRICS = ("euclidean", "cosine")


@dataclass
class GroupCoherence:
    """Silhouette of element vectors by periodic group, with its label-permutation null.

    ``per_group``: mean silhouette of each group's elements; ``left_out``: elements whose group has
    a single member (no silhouette), ``null_scores``: the permuted-label silhouettes.
    """

    score: float
    null_mean: float
    null_std: float
    z_score: float
    p_value: float
    n_elements: int
    n_groups: int
    metric: str
    n_permutations: int
    seed: int
    per_group: pd.Series
    left_out: list[str] = field(default_factory=list)
    null_scores: np.ndarray = field(default_factory=lambda: np.empty(0))

    def as_record(self) -> dict[str, object]:
        """The scalar fields as one table row (``left_out`` joined by spaces)."""
        return {"silhouette": self.score, "null_mean": self.null_mean, "null_std": self.null_std,
                "z_score": self.z_score, "p_value": self.p_value, "n_elements": self.n_elements,
                "n_groups": self.n_groups, "metric": self.metric, "n_permutations": self.n_permutations,
                "seed": self.seed, "left_out": " ".join(self.left_out)}


def group_coherence(
    vectors: np.ndarray,
    labels: Sequence[str],
    *,
    metric: str = "euclidean",
    n_permutations: int = 200,
    seed: int = 0,
    names: Sequence[str] | None = None,
) -> GroupCoherence:
    """Silhouette of ``vectors`` labelled by ``labels``, against a label-permutation null.

    Parameters
    ----------
    vectors : array (n_elements, K), one row per element (e.g. :func:`normalised_vectors`)
    labels : the group of each row
    metric : ``"euclidean"`` or ``"cosine"`` (cosine of the rows centred on their mean)
    n_permutations : shuffles of the labels for the null (>= 1)
    seed : seed of the permutation generator
    names : row names (element symbols) used to list the rows left out

    Returns
    -------
    :class:`GroupCoherence`. Rows whose label occurs once are left out (and listed); at least two
    groups must remain, and fewer groups than rows.
    """
    if metric not in COHERENCE_METRICS:
        raise ChemistryInputError(f"metric must be one of {COHERENCE_METRICS}, got {metric!r}")
    n_permutations = _check_min(n_permutations, "n_permutations")
    X = _check_unified(vectors, "vectors")
    labels = np.asarray(labels, dtype=object).astype(str)
    if labels.shape != (X.shape[0],):
        raise ChemistryInputError(f"labels must have one entry per row ({X.shape[0]}), got shape {labels.shape}")
    names = np.arange(X.shape[0]).astype(str) if names is None else np.asarray(names, dtype=object).astype(str)
    if names.shape != labels.shape:
        raise ChemistryInputError(f"names must have one entry per row ({X.shape[0]}), got shape {names.shape}")
    groups, counts = np.unique(labels, return_counts=True)
    kept = np.isin(labels, groups[counts >= 2])
    X, labels, left_out = X[kept], labels[kept], sorted(names[~kept].tolist())
    n_groups = np.unique(labels).size
    if n_groups < 2 or n_groups >= X.shape[0]:
        raise ChemistryInputError(
            f"a silhouette needs 2 <= groups < elements among groups with 2+ members; got {n_groups} group(s) "
            f"and {X.shape[0]} element(s) (left out as single members: {left_out})"
        )
    if metric == "cosine":
        X = X - X.mean(axis=0)
        if np.any(np.linalg.norm(X, axis=1) == 0.0):
            raise ChemistryInputError("a centred vector is zero: its cosine distance is undefined")
    distances = squareform(pdist(X, metric=metric))
    samples = silhouette_samples(distances, labels, metric="precomputed")
    score = float(samples.mean())
    rng = np.random.default_rng(seed)
    null = np.array([silhouette_samples(distances, rng.permutation(labels), metric="precomputed").mean()
                     for _ in range(n_permutations)])
    null_std = float(null.std(ddof=1)) if n_permutations > 1 else float("nan")
    return GroupCoherence(
        score=score,
        null_mean=float(null.mean()),
        null_std=null_std,
        z_score=(score - float(null.mean())) / null_std if null_std > 0 else float("nan"),
        p_value=float((1 + np.sum(null >= score)) / (1 + n_permutations)),
        n_elements=int(X.shape[0]),
        n_groups=int(n_groups),
        metric=metric,
        n_permutations=n_permutations,
        seed=seed,
        per_group=pd.Series(samples).groupby(labels).mean().rename("silhouette"),
        left_out=left_out,
        null_scores=null,
    )


def coherence_tables(
    table: pd.DataFrame,
    *,
    metric: str = "euclidean",
    n_permutations: int = 200,
    seed: int = 0,
    control: str | None = None,
    labels: Mapping[str, str] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Group coherence of every model of an :func:`element_table`.

    ``labels`` maps element -> group (default :data:`PERIODIC_GROUP_LABELS`); ``control`` names the
    random-weight model, flagged ``is_control``. Every model uses the same seed, hence the same
    permutations for equal element sets.

    Returns
    -------
    (coherence, per_group): ``coherence`` one row per model (``model, is_control, silhouette,
    null_mean, null_std, z_score, p_value, n_elements, n_groups, metric, n_permutations, seed,
    left_out, excluded_min_atoms``), ``per_group`` one row per (model, group):
    ``model, group_label, silhouette, n_elements``.
    """
    labels = PERIODIC_GROUP_LABELS if labels is None else labels
    models = list(dict.fromkeys(table["model"]))
    if control is not None and control not in models:
        raise ChemistryInputError(f"control model {control!r} is not in the element table (models: {models})")
    records, per_group = [], []
    for model in models:
        u = table_vectors(table, model)
        unlabelled = sorted(set(u.index) - set(labels))
        if unlabelled:
            raise ChemistryInputError(f"no group label for element(s) {unlabelled}")
        group_of = [labels[e] for e in u.index]
        part = table.loc[table["model"] == model]
        excluded = part.loc[~part["included"], "element"].tolist()
        try:
            result = group_coherence(u.to_numpy(), group_of, metric=metric, n_permutations=n_permutations,
                                     seed=seed, names=u.index)
        except ChemistryInputError as error:
            # Too few elements for a silhouette (a small sample): the row says so instead of a number.
            records.append({"model": model, "is_control": model == control, "silhouette": np.nan, "null_mean": np.nan,
                            "null_std": np.nan, "z_score": np.nan, "p_value": np.nan, "n_elements": len(u),
                            "metric": metric, "n_permutations": n_permutations, "seed": seed,
                            "excluded_min_atoms": " ".join(excluded), "note": str(error)})
            continue
        records.append({"model": model, "is_control": model == control, **result.as_record(),
                        "excluded_min_atoms": " ".join(excluded), "note": ""})
        sizes = pd.Series(group_of).value_counts()
        for group, value in result.per_group.items():
            per_group.append({"model": model, "group_label": group, "silhouette": float(value),
                              "n_elements": int(sizes[group])})
    return pd.DataFrame(records), pd.DataFrame(per_group, columns=["model", "group_label", "silhouette", "n_elements"])


# ----------------------------------------------------------------------------- trajectories
def element_trajectories(
    table: pd.DataFrame,
    sequences: Mapping[str, Sequence[str]] | None = None,
    *,
    reference: str | None = None,
) -> pd.DataFrame:
    """Paths of the normalised element vectors down periodic groups (e.g. F → Cl → Br → I).

    Parameters
    ----------
    table : :func:`element_table`, optionally with ``pc1``/``pc2`` from :func:`add_shared_pca`
    sequences : name -> element symbols in order (default :data:`GROUP_SEQUENCES`)
    reference : model whose steps the ``cos_to_reference_step`` column compares with

    Returns
    -------
    One row per (model, sequence, element in the sequence): ``model, sequence, position, element,
    present`` (included for this model), ``pc1, pc2`` (if in the table), and for present elements
    after the first present one, the step from the previous *present* element (named in
    ``previous_element``, so a gap is visible): ``step_length`` :math:`\\|u_b - u_a\\|`,
    ``cos_turn`` (cosine with the previous step; NaN for the first step) and
    ``cos_to_reference_step`` (cosine with the reference model's step between the same two
    elements; NaN where the reference lacks either element).
    """
    sequences = GROUP_SEQUENCES if sequences is None else sequences
    models = list(dict.fromkeys(table["model"]))
    if reference is not None and reference not in models:
        raise ChemistryInputError(f"reference model {reference!r} is not in the element table (models: {models})")
    vectors = {model: table_vectors(table, model) for model in models}
    planar = [c for c in ("pc1", "pc2") if c in table.columns]
    records = []
    for model in models:
        u = vectors[model]
        coordinates = table.loc[table["model"] == model].set_index("element")
        for name, elements in sequences.items():
            previous, previous_step = None, None
            for position, element in enumerate(elements):
                if element not in atomic_numbers:
                    raise ChemistryInputError(f"sequence {name!r} has an unknown element {element!r}")
                present = element in u.index
                record = {"model": model, "sequence": name, "position": position, "element": element,
                          "present": present}
                for column in planar:
                    record[column] = coordinates.at[element, column] if present else np.nan
                record.update(previous_element=None, step_length=np.nan, cos_turn=np.nan, cos_to_reference_step=np.nan)
                if present and previous is not None:
                    step = u.loc[element].to_numpy() - u.loc[previous].to_numpy()
                    record.update(previous_element=previous, step_length=float(np.linalg.norm(step)))
                    if previous_step is not None:
                        record["cos_turn"] = _cosine(step, previous_step)
                    ref = vectors.get(reference)
                    if ref is not None and element in ref.index and previous in ref.index:
                        record["cos_to_reference_step"] = _cosine(step, ref.loc[element].to_numpy() - ref.loc[previous].to_numpy())
                    previous_step = step
                if present:
                    previous = element
                records.append(record)
    return pd.DataFrame(records)


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    norms = np.linalg.norm(a) * np.linalg.norm(b)
    return float(a @ b / norms) if norms > 0 else float("nan")
