"""Element embeddings, periodic groups, group coherence, trajectories and the chemistry tables and files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from pymatgen.core.periodic_table import Element
from sklearn.metrics import silhouette_score

from platonic.analyse.elements import (
    PERIODIC_GROUP_LABELS,
    ChemistryInputError,
    add_shared_pca,
    coherence_tables,
    element_means,
    element_table,
    element_trajectories,
    group_coherence,
    normalised_vectors,
    periodic_position,
    periodic_table,
)
from platonic.analyse.chemistry import chemistry_tables
from platonic.analyse.plots_chemistry import (
    plot_cumulant_gain,
    plot_element_map,
    plot_group_coherence,
    plot_periodic_table,
    plot_trajectories,
)
from platonic.study.writers import write_chemistry

TRAINED = ("chgnet-0.3.0", "chgnet-r2scan", "sevennet-0", "sevennet-mf-0", "diep")
CONTROL = "mace-dummy"


# ----------------------------------------------------------------------------- periodic table
def test_periodic_positions_agree_with_pymatgen():
    """pymatgen's own element predicates are the independent reference (Z <= 103, where it defines them)."""
    predicates = {"alkali metal": "is_alkali", "alkaline earth metal": "is_alkaline", "halogen": "is_halogen",
                  "chalcogen": "is_chalcogen", "noble gas": "is_noble_gas", "lanthanide": "is_lanthanoid",
                  "actinide": "is_actinoid"}
    for z in range(1, 104):
        element = Element.from_Z(z)
        position = periodic_position(z)
        assert position.period == element.row, element
        for label, predicate in predicates.items():
            assert (position.label == label) == getattr(element, predicate), element
        if position.group is not None:
            assert position.group == element.group, element
        # pymatgen also calls La and Ac transition metals; here the f block takes precedence
        if not (element.is_lanthanoid or element.is_actinoid):
            assert (position.label == "transition metal") == element.is_transition_metal, element


def test_periodic_table_layout_and_families():
    table = periodic_table()
    assert len(table) == 118 and table["element"].is_unique
    assert not table.duplicated(["row", "column"]).any()
    by_label = table.groupby("group_label")["element"].apply(list)
    assert by_label["halogen"] == ["F", "Cl", "Br", "I", "At", "Ts"]
    assert by_label["pnictogen"] == ["N", "P", "As", "Sb", "Bi", "Mc"]
    assert by_label["hydrogen"] == ["H"]
    assert len(by_label["lanthanide"]) == len(by_label["actinide"]) == 15
    assert len(by_label["transition metal"]) == 38  # groups 3-12 of periods 4-7; La..Lu, Ac..Lr are f block
    assert set(PERIODIC_GROUP_LABELS.values()) == set(by_label.index)
    assert periodic_position(71).label == "lanthanide" and periodic_position(72).group == 4
    with pytest.raises(ChemistryInputError, match="atomic number"):
        periodic_position(0)


# ----------------------------------------------------------------------------- element means
@pytest.fixture
def toy():
    rng = np.random.default_rng(0)
    elements = np.array(["O", "Fe", "O", "Li", "O", "Fe", "Cl", "Fe", "O"])
    return rng.normal(size=(len(elements), 3)), elements, np.array([0, 0, 0, 1, 1, 1, 2, 2, 2])


def test_element_means_match_masked_means(toy):
    z, elements, structures = toy
    table = element_means(z, elements, min_atoms=2, structure_index=structures).set_index("element")
    assert list(table.index) == ["Li", "O", "Cl", "Fe"]  # by Z
    for element in set(elements):
        mask = elements == element
        assert table.at[element, "n_atoms"] == mask.sum()
        assert table.at[element, "n_structures"] == np.unique(structures[mask]).size
        vector = table.loc[element, ["z_0", "z_1", "z_2"]].to_numpy(dtype=float)
        if mask.sum() >= 2:
            np.testing.assert_allclose(vector, z[mask].mean(axis=0), rtol=1e-12)
        else:  # kept and listed, without a vector
            assert not table.at[element, "included"] and np.isnan(vector).all()
    assert table["included"].to_dict() == {"Li": False, "O": True, "Cl": False, "Fe": True}


def test_element_means_refuse_bad_input(toy):
    z, elements, _ = toy
    bad = z.copy()
    bad[4, 1] = np.nan
    with pytest.raises(ChemistryInputError, match="row 4"):
        element_means(bad, elements)
    with pytest.raises(ChemistryInputError, match="unknown element"):
        element_means(z, np.where(elements == "Li", "Xx", elements))
    with pytest.raises(ChemistryInputError, match="9 symbols"):
        element_means(z, elements[:-1])
    with pytest.raises(ChemistryInputError, match="min_atoms"):
        element_means(z, elements, min_atoms=0)


def test_normalised_vectors_are_centred_with_unit_rms(toy):
    z, elements, _ = toy
    u = normalised_vectors(element_means(z, elements)).to_numpy()
    np.testing.assert_allclose(u.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose((u**2).sum(axis=1).mean(), 1.0, rtol=1e-12)


def test_element_table_is_invariant_to_offset_and_scale(toy):
    """A model whose unified space is a shifted, scaled copy of another has the same normalised
    element vectors: cosine 1 to it, identical shared-PCA coordinates."""
    z, elements, _ = toy
    table = element_table({"a": z, "b": 0.5 * z + 0.3}, elements, reference="a")
    table = add_shared_pca(table, n_components=2)
    a, b = (table.loc[table["model"] == m].set_index("element") for m in ("a", "b"))
    np.testing.assert_allclose(b["cos_to_reference"], 1.0, rtol=1e-12)
    np.testing.assert_allclose(a[["pc1", "pc2"]], b[["pc1", "pc2"]], atol=1e-12)
    np.testing.assert_allclose(b["norm"], np.linalg.norm(a.filter(like="z_").to_numpy() * 0.5 + 0.3, axis=1), rtol=1e-12)
    assert b["group_label"].to_dict() == {"Li": "alkali metal", "O": "chalcogen", "Cl": "halogen", "Fe": "transition metal"}
    with pytest.raises(ChemistryInputError, match="reference"):
        element_table({"a": z}, elements, reference="zz")
    with pytest.raises(ChemistryInputError, match="same shape"):
        element_table({"a": z, "b": z[:, :2]}, elements)


# ----------------------------------------------------------------------------- group coherence
def clustered(n_groups=4, per_group=6, spread=0.05, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_groups, 8)) * 3
    X = np.vstack([c + spread * rng.normal(size=(per_group, 8)) for c in centres])
    return X, np.repeat([f"g{i}" for i in range(n_groups)], per_group)


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_well_separated_groups_are_coherent(metric):
    X, labels = clustered()
    result = group_coherence(X, labels, metric=metric, n_permutations=99, random_state=1)
    reference = silhouette_score(X - X.mean(axis=0) if metric == "cosine" else X, labels, metric=metric)
    assert result.score == pytest.approx(reference, rel=1e-12)
    assert result.score > 0.9
    assert result.p_value == pytest.approx(1 / 100)
    assert result.z_score > 10
    assert set(result.per_group.index) == {"g0", "g1", "g2", "g3"} and (result.per_group > 0.9).all()


def test_shuffled_labels_score_near_the_null():
    X, labels = clustered()
    shuffled = np.random.default_rng(5).permutation(labels)
    result = group_coherence(X, shuffled, n_permutations=200, random_state=2)
    assert abs(result.z_score) < 2.5
    assert result.p_value > 0.05
    assert abs(result.score - result.null_mean) < 3 * result.null_std


def test_coherence_is_scale_free_seeded_and_lists_single_member_groups():
    X, labels = clustered()
    X = np.vstack([X, np.ones((1, 8))])
    labels = np.append(labels, "lonely")
    names = [f"e{i}" for i in range(len(labels))]
    first = group_coherence(X, labels, n_permutations=30, random_state=7, names=names)
    scaled = group_coherence(4.0 * X, labels, n_permutations=30, random_state=7, names=names)
    assert first.left_out == [names[-1]] and first.n_elements == len(labels) - 1
    assert scaled.score == pytest.approx(first.score, rel=1e-12)
    np.testing.assert_allclose(scaled.null_scores, first.null_scores, rtol=1e-12)
    with pytest.raises(ChemistryInputError, match="groups"):
        group_coherence(X[:3], ["a", "a", "b"])
    with pytest.raises(ChemistryInputError, match="metric"):
        group_coherence(X, labels, metric="manhattan")


def test_synthetic_model_with_group_structure_beats_a_random_one():
    """Element means built from group centres cohere; random per-element vectors sit at chance."""
    rng = np.random.default_rng(11)
    symbols = ["F", "Cl", "Br", "I", "O", "S", "Se", "Te", "Li", "Na", "K", "Rb", "Fe", "Co", "Ni", "Cu"]
    centres = {label: rng.normal(size=10) for label in {PERIODIC_GROUP_LABELS[s] for s in symbols}}
    elements = np.repeat(symbols, 3)
    chemical = np.array([centres[PERIODIC_GROUP_LABELS[e]] + 0.1 * rng.normal(size=10) for e in elements])
    per_element = {s: rng.normal(size=10) for s in symbols}
    random = np.array([per_element[e] + 0.1 * rng.normal(size=10) for e in elements])
    table = element_table({"chemical": chemical, "random": random}, elements)
    coherence, per_group = coherence_tables(table, n_permutations=100, control="random")
    scores = coherence.set_index("model")
    assert scores.at["chemical", "p_value"] < 0.02 and scores.at["chemical", "silhouette"] > 0.8
    assert scores.at["random", "p_value"] > 0.05 and scores.at["random", "is_control"]
    assert set(per_group["group_label"]) == {"halogen", "chalcogen", "alkali metal", "transition metal"}


# ----------------------------------------------------------------------------- trajectories
def test_trajectory_steps_on_a_straight_line_and_a_gap():
    elements = np.array(["F", "Cl", "Br", "I", "O", "Na"])
    halogens = np.array([0.0, 1.0, 2.0, 3.0])[:, None] * np.array([1.0, 0.0, 0.0])
    a = np.vstack([halogens, [[0.0, 5.0, 0.0], [0.0, 0.0, 5.0]]])
    b = a.copy()
    b[:4] *= -1  # the halogen trend points the other way
    table = element_table({"a": a, "b": b}, elements, reference="a")
    table.loc[(table["model"] == "b") & (table["element"] == "Br"), "included"] = False  # as if too few atoms
    paths = element_trajectories(table, {"halogen": ("F", "Cl", "Br", "I")}, reference="a")
    path_a = paths.loc[paths["model"] == "a"].set_index("element")
    path_b = paths.loc[paths["model"] == "b"].set_index("element")
    # model a: equal steps along one line
    steps = path_a["step_length"].dropna().to_numpy()
    assert steps.size == 3
    np.testing.assert_allclose(steps, steps[0], rtol=1e-12)
    np.testing.assert_allclose(path_a["cos_turn"].dropna(), 1.0, rtol=1e-12)
    np.testing.assert_allclose(path_a["cos_to_reference_step"].dropna(), 1.0, rtol=1e-12)
    # model b: Br missing, so the last step is Cl -> I (twice the F -> Cl step), reversed against a
    assert not path_b.at["Br", "present"] and path_b.at["I", "previous_element"] == "Cl"
    np.testing.assert_allclose(path_b.at["I", "step_length"], 2 * path_b.at["Cl", "step_length"], rtol=1e-12)
    np.testing.assert_allclose(path_b["cos_to_reference_step"].dropna(), -1.0, rtol=1e-12)
    np.testing.assert_allclose(path_b.at["I", "cos_turn"], 1.0, rtol=1e-12)


# ----------------------------------------------------------------------------- real models
@pytest.fixture(scope="module")
def real_elements(real_store):
    table = real_store.store.atom_table()
    models = [*TRAINED, CONTROL]
    elements = element_table({m: real_store.z(m) for m in models}, table["element"].to_numpy(), min_atoms=3,
                             structure_index=table["structure_index"].to_numpy(), reference="chgnet-0.3.0")
    return add_shared_pca(elements, fit_models=TRAINED)


def test_dummy_group_coherence_is_at_chance_on_real_models(real_elements):
    coherence, _ = coherence_tables(real_elements, n_permutations=200, control=CONTROL)
    print("\n" + coherence.drop(columns=["left_out", "excluded_min_atoms"]).to_string())
    scores = coherence.set_index("model")
    assert abs(scores.at[CONTROL, "z_score"]) < 2.5 and scores.at[CONTROL, "p_value"] > 0.05
    assert scores.loc[list(TRAINED), "p_value"].min() < 0.05
    # elements below min_atoms are listed, not dropped
    excluded = real_elements.loc[~real_elements["included"] & (real_elements["model"] == CONTROL), "element"]
    assert scores.at[CONTROL, "excluded_min_atoms"].split() == excluded.tolist()


def test_chemistry_tables_written_with_figures(real_store, tmp_path):
    models = ["chgnet-0.3.0", "sevennet-0", CONTROL]
    tables = chemistry_tables(real_store.unified, real_store.store.atom_table(), models=models,
                              raw={m: real_store.raw(m) for m in models}, control=CONTROL, min_atoms=3,
                              n_permutations=20, max_order=3)
    paths = write_chemistry(tables, tmp_path)
    for name in ("elements", "group_coherence", "group_silhouettes", "trajectories", "cumulant_gain"):
        assert paths[name].suffix == ".csv" and paths[name].exists()
    for name in ("element_map", "periodic_table", "trajectories_figure", "group_coherence_figure", "cumulant_gain_figure"):
        assert paths[name].suffix == ".png" and paths[name].stat().st_size > 0
    coherence = pd.read_csv(paths["group_coherence"])
    assert sorted(zip(coherence["model"], coherence["space"])) == sorted((m, s) for m in models for s in ("raw", "unified"))
    assert (coherence["rows_used"] == real_store.store.n_atoms).all()
    gain = pd.read_csv(paths["cumulant_gain"])
    assert len(gain) == len(models) * 2 * 2  # models x spaces x orders {2, 3}
    elements = pd.read_csv(paths["elements"])
    assert set(elements["model"]) == set(models) and {"pc1", "pc2", "cos_to_reference"} <= set(elements.columns)
    with pytest.raises(ChemistryInputError, match="control"):
        chemistry_tables(real_store.unified, real_store.store.atom_table(), models=models[:2], control=CONTROL)


def test_rejected_structures_are_left_out_for_every_model(real_store, tmp_path):
    table = real_store.store.atom_table()
    unified = {m: real_store.z(m) for m in ("chgnet-0.3.0", CONTROL)}
    first = table["structure_index"] == 0
    unified[CONTROL][first.to_numpy()] = np.nan  # as a rejected structure
    paths = write_chemistry(chemistry_tables(unified, table, min_atoms=3, n_permutations=10, max_order=2), tmp_path)
    coherence = pd.read_csv(paths["group_coherence"])
    assert (coherence["rows_used"] == len(table) - first.sum()).all()
    assert (pd.read_csv(paths["cumulant_gain"])["n_structures"] == len(real_store.dataset) - 1).all()


def test_plots_return_figures(real_elements):
    coherence, _ = coherence_tables(real_elements, n_permutations=10, control=CONTROL)
    trajectories = element_trajectories(real_elements, reference="chgnet-0.3.0")
    gain = pd.DataFrame({"model": ["a", "a"], "space": "unified", "order": [2, 3], "gfre": [0.5, 0.4],
                         "n_structures": 48})
    for figure in (plot_element_map(real_elements), plot_periodic_table(real_elements, "pc1"),
                   plot_trajectories(trajectories), plot_group_coherence(coherence.assign(space="unified")),
                   plot_cumulant_gain(gain)):
        assert isinstance(figure, Figure) and figure.axes
    with pytest.raises(ChemistryInputError, match="not in the element table"):
        plot_periodic_table(real_elements, "nope")
