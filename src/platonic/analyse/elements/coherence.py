"""Periodic-group coherence of element vectors and element trajectories down a group."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from ase.data import atomic_numbers
from scipy.spatial.distance import pdist, squareform
from sklearn.metrics import silhouette_samples

from ._checks import ChemistryInputError, _check_min, _check_unified
from .means import table_vectors
from .periodic import GROUP_SEQUENCES, PERIODIC_GROUP_LABELS
from platonic.validation import check_seed, seed_alias


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


@seed_alias
def group_coherence(
    vectors: np.ndarray,
    labels: Sequence[str],
    *,
    metric: str = "euclidean",
    n_permutations: int = 200,
    random_state: int = 0,
    names: Sequence[str] | None = None,
) -> GroupCoherence:
    """Silhouette of ``vectors`` labelled by ``labels``, against a label-permutation null.

    Parameters
    ----------
    vectors : array (n_elements, K), one row per element (e.g. :func:`normalised_vectors`)
    labels : the group of each row
    metric : ``"euclidean"`` or ``"cosine"`` (cosine of the rows centred on their mean)
    n_permutations : shuffles of the labels for the null (>= 1)
    random_state : int seed (recorded as ``seed``) of the permutation generator
    names : row names (element symbols) used to list the rows left out

    Returns
    -------
    :class:`GroupCoherence`. Rows whose label occurs once are left out (and listed); at least two
    groups must remain, and fewer groups than rows.
    """
    random_state = check_seed(random_state, "random_state", ChemistryInputError)  # written in the results
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
    rng = np.random.default_rng(random_state)
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
        seed=random_state,
        per_group=pd.Series(samples).groupby(labels).mean().rename("silhouette"),
        left_out=left_out,
        null_scores=null,
    )


@seed_alias
def coherence_tables(
    table: pd.DataFrame,
    *,
    metric: str = "euclidean",
    n_permutations: int = 200,
    random_state: int = 0,
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
    random_state = check_seed(random_state, "random_state", ChemistryInputError)  # written in the results
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
                                     random_state=random_state, names=u.index)
        except ChemistryInputError as error:
            # Too few elements for a silhouette (a small sample): the row says so instead of a number.
            records.append({"model": model, "is_control": model == control, "silhouette": np.nan, "null_mean": np.nan,
                            "null_std": np.nan, "z_score": np.nan, "p_value": np.nan, "n_elements": len(u),
                            "metric": metric, "n_permutations": n_permutations, "seed": random_state,
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
