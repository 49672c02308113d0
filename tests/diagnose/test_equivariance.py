"""Equivariance by two-NN: closed-form planted equivalences, brute-force counts, real-store properties."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from scipy.spatial.distance import cdist, pdist

from platonic.diagnose.equivariance import (
    DEFAULT_TOLERANCES,
    STUDY_SPACEGROUPS,
    EmptySpacegroupWarning,
    EquivarianceInputError,
    equivariance_tables,
    nearest_other_distance,
    plot_two_nn,
    spacegroup_counts,
    spacegroup_symbol,
    summarise_two_nn,
    tolerance_scale,
    two_nn_by_spacegroup,
    two_nn_equivalence,
    within_structure_pairs,
)
from platonic.study.writers import write_equivariance


def planted(class_sizes_per_structure, spacing, rng):
    """Embeddings where class c of a structure sits on a line: centre_c + k * spacing * u (k = 0..m-1).

    Centres are 10 * one-hot vectors (distinct classes >= 10 * sqrt(2) - (m - 1) * spacing apart), so
    within a class the pair (k, l) is exactly |k - l| * spacing apart.
    """
    rows, structure, classes = [], [], []
    width = sum(len(sizes) for sizes in class_sizes_per_structure) + 1
    axis = 0
    for s, sizes in enumerate(class_sizes_per_structure):
        for c, size in enumerate(sizes):
            direction = rng.normal(size=width)
            direction /= np.linalg.norm(direction)
            centre = np.zeros(width)
            centre[axis] = 10.0
            axis += 1
            for k in range(size):
                rows.append(centre + k * spacing * direction)
                structure.append(s)
                classes.append(c)
    order = rng.permutation(len(rows))  # the atoms of a structure need not be contiguous
    return np.array(rows)[order], np.array(structure)[order], np.array(classes)[order]


def brute_force(embeddings, structure, classes, threshold):
    """Per-pair loop: predicted, true and true-positive pairs, and paired atoms."""
    predicted = true = hits = 0
    paired = np.zeros(len(embeddings), dtype=bool)
    for s in np.unique(structure):
        members = np.flatnonzero(structure == s)
        for i, j in itertools.combinations(members, 2):
            close = np.linalg.norm(embeddings[i].astype(float) - embeddings[j]) <= threshold
            same = classes[i] == classes[j]
            predicted += close
            true += same
            hits += close and same
            paired[[i, j]] |= close
    return predicted, true, hits, int(paired.sum())


def test_within_structure_pairs_are_every_pair_of_each_structure():
    labels = np.array([3, 1, 3, 2, 1, 3, 7, 3])
    first, second = within_structure_pairs(labels)
    got = sorted(tuple(sorted(pair)) for pair in zip(first.tolist(), second.tolist()))
    expected = sorted(
        pair for s in np.unique(labels) for pair in itertools.combinations(np.flatnonzero(labels == s).tolist(), 2)
    )
    assert got == expected


def test_nearest_other_distance_matches_cdist():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 5)).astype(np.float32)
    labels = rng.integers(0, 9, size=40)
    labels[0] = 99  # alone in its structure
    got = nearest_other_distance(X, labels)
    for s in np.unique(labels):
        members = np.flatnonzero(labels == s)
        distances = cdist(X[members].astype(float), X[members].astype(float))
        np.fill_diagonal(distances, np.inf)
        np.testing.assert_allclose(got[members], distances.min(axis=1), rtol=1e-12)
    assert got[0] == np.inf


def test_planted_equivalences_closed_form():
    rng = np.random.default_rng(1)
    sizes = [[3, 1], [4], [1], [2, 2, 1]]
    spacing = 1e-3
    X, structure, classes = planted(sizes, spacing, rng)
    table = two_nn_equivalence(X, structure, classes, tolerances=[0.5 * spacing, 1.5 * spacing, 2.5 * spacing, 20.0])
    by_tol = {tol: frame.set_index("structure") for tol, frame in table.groupby("tol")}
    n_atoms = np.array([sum(s) for s in sizes])
    with_partner = np.array([sum(m for m in s if m > 1) for s in sizes])
    true_pairs = np.array([sum(m * (m - 1) // 2 for m in s) for s in sizes])
    gap_one = np.array([sum(m - 1 for m in s) for s in sizes])  # pairs |k - l| = 1
    gap_two = np.array([sum(max(m - 2, 0) for m in s) for s in sizes])
    below = by_tol[0.5 * spacing]
    assert (below["n_paired_atoms"] == 0).all() and (below["predicted_pairs"] == 0).all()
    assert below["precision"].isna().all()
    np.testing.assert_array_equal(below["recall"], np.where(true_pairs > 0, 0.0, np.nan))
    one = by_tol[1.5 * spacing]
    np.testing.assert_array_equal(one["predicted_pairs"], gap_one)
    np.testing.assert_array_equal(one["true_positive_pairs"], gap_one)
    np.testing.assert_array_equal(one["fraction"], with_partner / n_atoms)
    np.testing.assert_array_equal(one["expected_fraction"], with_partner / n_atoms)
    np.testing.assert_allclose(one["recall"], np.where(true_pairs > 0, gap_one / np.maximum(true_pairs, 1), np.nan))
    np.testing.assert_array_equal(by_tol[2.5 * spacing]["predicted_pairs"], gap_one + gap_two)
    exact = by_tol[2.5 * spacing]  # every class is at most 4 long: the largest gap is 3 > 2.5
    assert exact.loc[1, "recall"] == pytest.approx(5 / 6)
    # Every class fully found, nothing else: precision = recall = 1 where defined.
    mid = two_nn_equivalence(X, structure, classes, tolerances=[3.5 * spacing]).set_index("structure")
    assert (mid["precision"].dropna() == 1).all() and (mid["recall"].dropna() == 1).all()
    np.testing.assert_array_equal(mid["predicted_pairs"], true_pairs)
    # At a tolerance beyond the class separation every pair of a structure is predicted.
    coarse = by_tol[20.0]
    np.testing.assert_array_equal(coarse["predicted_pairs"], n_atoms * (n_atoms - 1) // 2)
    expected_precision = np.where(n_atoms > 1, true_pairs / np.maximum(coarse["predicted_pairs"], 1), np.nan)
    np.testing.assert_allclose(coarse["precision"], expected_precision)


def test_counts_agree_with_a_pairwise_loop():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(60, 4)).astype(np.float32)
    structure = rng.integers(0, 8, size=60)
    classes = rng.integers(0, 3, size=60)
    X[classes == 0] = X[classes == 0].round(0)  # some exact ties and near ties
    tolerances = [0.0, 0.3, 1.0, 2.0]
    table = two_nn_equivalence(X, structure, classes, tolerances)
    for tol, frame in table.groupby("tol"):
        predicted, true, hits, paired = brute_force(X, structure, classes, tol)
        assert (frame["predicted_pairs"].sum(), frame["true_pairs"].sum(), frame["true_positive_pairs"].sum(),
                frame["n_paired_atoms"].sum()) == (predicted, true, hits, paired)


def test_relative_tolerance_is_scale_free_and_absolute_is_not():
    rng = np.random.default_rng(3)
    X, structure, classes = planted([[3, 2], [4, 1]], 1e-3, rng)
    sigma = tolerance_scale(X)
    assert sigma == pytest.approx(np.sqrt(np.mean(np.sum(X**2, axis=1))))
    assert tolerance_scale(X, "absolute") == 1.0
    base = two_nn_equivalence(X, structure, classes, DEFAULT_TOLERANCES, scale=tolerance_scale(X))
    scaled = two_nn_equivalence(1e4 * X, structure, classes, DEFAULT_TOLERANCES, scale=tolerance_scale(1e4 * X))
    pd.testing.assert_frame_equal(base.drop(columns="threshold"), scaled.drop(columns="threshold"))
    absolute = two_nn_equivalence(1e4 * X, structure, classes, DEFAULT_TOLERANCES)
    assert not absolute["n_paired_atoms"].equals(base["n_paired_atoms"])


def test_tolerance_scale_closed_form_skips_non_finite_rows():
    X = np.array([[3.0, 4.0], [0.0, 1.0], [np.nan, 1.0]])
    assert tolerance_scale(X) == pytest.approx(np.sqrt((25 + 1) / 2))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(tolerances=[]), "non-empty"),
        (dict(tolerances=[1e-6, -1.0]), "non-negative"),
        (dict(tolerances=[1e-6, 1e-6]), "distinct"),
        (dict(scale=0.0), "scale"),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    X = np.eye(3)
    with pytest.raises(EquivarianceInputError, match=message):
        two_nn_equivalence(X, np.zeros(3), np.arange(3), **kwargs)


def test_non_finite_rows_and_bad_modes_are_refused():
    X = np.eye(3)
    X[1, 0] = np.nan
    with pytest.raises(EquivarianceInputError, match="NaN"):
        two_nn_equivalence(X, np.zeros(3), np.arange(3))
    with pytest.raises(EquivarianceInputError, match="tolerance_mode"):
        tolerance_scale(np.eye(3), "percent")
    with pytest.raises(EquivarianceInputError, match="1..230"):
        spacegroup_symbol(231)


def test_spacegroup_symbols():
    assert [spacegroup_symbol(n) for n in STUDY_SPACEGROUPS] == ["P6_3/mmc", "Fm-3m", "I4/mmm", "Pm-3m"]


# ---------------------------------------------------------------- on the real store


@pytest.fixture(scope="module")
def real_tables(real_store):
    table = real_store.store.atom_table()
    models = real_store.store.models()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EmptySpacegroupWarning)
        counts = spacegroup_counts(table)
    present = counts.loc[counts["n_structures"] > 0, "spacegroup_number"].tolist()
    raw = two_nn_by_spacegroup({m: real_store.raw(m) for m in models}, table, space="raw", spacegroups=present)
    unified = two_nn_by_spacegroup({m: real_store.z(m) for m in models}, table, space="unified", spacegroups=present)
    return table, counts, pd.concat([raw, unified], ignore_index=True)


def test_real_store_spacegroup_counts_report_every_group(real_store):
    table = real_store.store.atom_table()
    with pytest.warns(EmptySpacegroupWarning, match="139"):
        counts = spacegroup_counts(table)
    assert counts["spacegroup_number"].tolist() == list(STUDY_SPACEGROUPS)
    per_structure = table.groupby("structure_index")["spacegroup_number"].first()
    for row in counts.itertuples():
        assert row.n_structures == int((per_structure == row.spacegroup_number).sum())
    assert counts["n_structures"].sum() > 0


def test_real_store_properties(real_tables):
    table, _, scores = real_tables
    assert scores["scored"].all()
    for column in ("fraction", "expected_fraction", "precision", "recall"):
        values = scores[column].dropna()
        assert ((values >= 0) & (values <= 1)).all(), column
    assert (scores["n_paired_atoms"] <= scores["n_atoms"]).all()
    assert (scores["true_positive_pairs"] <= scores[["predicted_pairs", "true_pairs"]].min(axis=1)).all()
    for _, per_tol in scores.groupby(["model", "space", "structure_index"]):
        per_tol = per_tol.sort_values("tol")
        for column in ("fraction", "predicted_pairs", "true_positive_pairs"):
            assert per_tol[column].is_monotonic_increasing, column
        assert per_tol["expected_fraction"].nunique() == 1
    # The ground truth is the same for every model and space, and it is spglib's.
    truth = scores.groupby("structure_index")["expected_fraction"].agg(["min", "max"])
    assert (truth["min"] == truth["max"]).all()
    for s, expected in truth["min"].items():
        classes = table.loc[table["structure_index"] == s, "equivalent_class"]
        assert expected == pytest.approx(classes.duplicated(keep=False).mean())


def test_real_store_counts_agree_with_pdist(real_store, real_tables):
    table, _, scores = real_tables
    model = "chgnet-0.3.0"
    X = real_store.raw(model).astype(np.float64)
    selected = scores[(scores["model"] == model) & (scores["space"] == "raw")]
    for structure_index, rows in selected.groupby("structure_index"):
        members = table.index[table["structure_index"] == structure_index].to_numpy()
        if len(members) < 2:
            continue
        distances = pdist(X[members])
        classes = table.loc[members, "equivalent_class"].to_numpy()
        same = pdist(classes[:, None], lambda a, b: float(a[0] == b[0])).astype(bool)
        for row in rows.itertuples():
            close = distances <= row.threshold
            assert (row.predicted_pairs, row.true_positive_pairs, row.true_pairs) == (
                close.sum(), (close & same).sum(), same.sum())


def test_a_model_with_exact_symmetry_has_perfect_precision_and_recall(real_store, real_tables):
    """One-hot of the spglib class: equivalent atoms equal, the others sqrt(2) apart."""
    table, counts, _ = real_tables
    onehot = np.eye(table["equivalent_class"].max() + 1)[table["equivalent_class"].to_numpy()]
    present = counts.loc[counts["n_structures"] > 0, "spacegroup_number"].tolist()
    scores = two_nn_by_spacegroup({"exact": onehot}, table, space="raw", spacegroups=present)
    assert (scores["precision"].dropna() == 1).all() and (scores["recall"].dropna() == 1).all()
    assert scores["recall"].notna().any()
    np.testing.assert_array_equal(scores["fraction"], scores["expected_fraction"])


def test_summary_pools_the_per_structure_counts(real_tables):
    _, _, scores = real_tables
    summary = summarise_two_nn(scores)
    keys = ["model", "space", "spacegroup_number", "tol"]
    assert not summary.duplicated(keys).any()
    for row in summary.sample(20, random_state=0).itertuples():
        group = scores[(scores["model"] == row.model) & (scores["space"] == row.space)
                       & (scores["spacegroup_number"] == row.spacegroup_number) & (scores["tol"] == row.tol)]
        assert row.n_structures == len(group)
        assert row.fraction == pytest.approx(group["n_paired_atoms"].sum() / group["n_atoms"].sum())
        assert row.mean_structure_fraction == pytest.approx(group["fraction"].mean())
        if group["predicted_pairs"].sum():
            assert row.precision == pytest.approx(group["true_positive_pairs"].sum() / group["predicted_pairs"].sum())


def test_a_rejected_structure_is_kept_unscored(real_store, real_tables):
    table, counts, _ = real_tables
    present = counts.loc[counts["n_structures"] > 0, "spacegroup_number"].tolist()
    X = real_store.raw("diep").copy()
    victim = table.loc[table["spacegroup_number"] == present[0], "structure_index"].iloc[0]
    X[(table["structure_index"] == victim).to_numpy()] = np.nan
    scores = two_nn_by_spacegroup({"diep": X}, table, space="raw", spacegroups=present, tolerances=[1e-4])
    assert scores.loc[~scores["scored"], "structure_index"].tolist() == [victim]
    summary = summarise_two_nn(scores)
    row = summary[summary["spacegroup_number"] == present[0]].iloc[0]
    assert row.n_rejected_structures == 1
    assert row.n_structures == counts.set_index("spacegroup_number").loc[present[0], "n_structures"] - 1


def test_tables_written_with_figure(real_store, tmp_path):
    models = ["chgnet-0.3.0", "mace-dummy"]
    tables = equivariance_tables(real_store.store, real_store.unified, models, tolerances=[1e-6, 1e-4],
                                 structures=real_store.dataset.structures, min_structures=2)
    paths = write_equivariance(tables, tmp_path)
    assert all(path.is_file() for path in paths.values())
    summary = pd.read_csv(paths["summary"])
    assert set(summary["model"]) == set(models) and set(summary["space"]) == {"raw", "unified"}
    assert set(summary["tol"]) == {1e-6, 1e-4}
    # the groups scored are those present, with at least two structures holding an equivalent pair
    counts = pd.read_csv(paths["spacegroups"])
    assert (counts["n_structures_with_equivalent_atoms"] >= 2).all() and len(counts) >= 1
    truth = pd.read_csv(paths["ground_truth"])
    assert len(truth) == len(real_store.dataset) and truth["symprec"].between(1e-5, 0.1).all()
    assert truth["ground_truth"].str.startswith("spglib, tightest stable").all()
    structures = pd.read_csv(paths["structures"])
    assert len(structures) == summary["n_structures"].sum()
    with pytest.raises(EquivarianceInputError, match="not in the store"):
        equivariance_tables(real_store.store, None, ["no-such-model"])


def test_tables_never_abort_on_absent_groups(real_store, tmp_path):
    from platonic.errors import NotApplicableError

    table = real_store.store.atom_table()
    present = int(table["spacegroup_number"].mode().iloc[0])
    absent = next(n for n in range(230, 0, -1) if not (table["spacegroup_number"] == n).any())
    paths = write_equivariance(equivariance_tables(real_store.store, None, ["diep"], spacegroups=[absent, present],
                                                   tolerances=[1e-4]), tmp_path)
    assert pd.read_csv(paths["spacegroups"])["spacegroup_number"].tolist() == [present]
    with pytest.raises(NotApplicableError, match=str(absent)):
        equivariance_tables(real_store.store, None, ["diep"], spacegroups=[absent])
    with pytest.raises(NotApplicableError, match="no space group has 1000"):
        equivariance_tables(real_store.store, None, ["diep"], min_structures=1000)


def test_plot_has_a_panel_per_metric_and_group(real_tables):
    _, counts, scores = real_tables
    figure = plot_two_nn(summarise_two_nn(scores))
    assert isinstance(figure, Figure)
    assert len(figure.axes) == 3 * int((counts["n_structures"] > 0).sum())
