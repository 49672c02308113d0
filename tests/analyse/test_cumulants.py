"""Structure-level cumulant features: population cumulants, signed roots, order gains."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.polynomial import polynomial as P
from scipy import stats

from platonic.analyse.cumulants import (
    CumulantInputError,
    cumulant_gain_table,
    cumulant_order_gain,
    offsets_from_structure_index,
    signed_root,
    structure_cumulants,
    structure_features,
)


@pytest.fixture
def ragged():
    """Five structures of 1, 3, 7, 12 and 30 atoms with 4 skewed features."""
    rng = np.random.default_rng(3)
    counts = np.array([1, 3, 7, 12, 30])
    offsets = np.concatenate([[0], np.cumsum(counts)])
    return rng.gamma(2.0, size=(offsets[-1], 4)), offsets


def test_cumulants_match_scipy_central_moments(ragged):
    X, offsets = ragged
    cumulants = structure_cumulants(X, offsets, max_order=4)
    for s in range(len(offsets) - 1):
        atoms = X[offsets[s] : offsets[s + 1]]
        m2, m3, m4 = (stats.moment(atoms, order=k, axis=0) for k in (2, 3, 4))
        np.testing.assert_allclose(cumulants[s, 0], atoms.mean(axis=0), rtol=1e-12)
        np.testing.assert_allclose(cumulants[s, 1], m2, rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(cumulants[s, 2], m3, rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(cumulants[s, 3], m4 - 3 * m2**2, rtol=1e-10, atol=1e-14)


def test_population_cumulants_relate_to_scipy_kstat(ragged):
    """scipy's k-statistics are the unbiased estimators; their exact relation to population cumulants."""
    X, offsets = ragged
    cumulants = structure_cumulants(X, offsets, max_order=4)
    for s in (2, 3, 4):  # kstat of order 4 needs n >= 4
        atoms = X[offsets[s] : offsets[s + 1]]
        n = len(atoms)
        m2, m4 = cumulants[s, 1], cumulants[s, 3] + 3 * cumulants[s, 1] ** 2
        for j in range(X.shape[1]):
            np.testing.assert_allclose(stats.kstat(atoms[:, j], 2), n / (n - 1) * m2[j], rtol=1e-10)
            np.testing.assert_allclose(stats.kstat(atoms[:, j], 3), n**2 / ((n - 1) * (n - 2)) * cumulants[s, 2, j], rtol=1e-9)
            k4 = n**2 * ((n + 1) * m4[j] - 3 * (n - 1) * m2[j] ** 2) / ((n - 1) * (n - 2) * (n - 3))
            np.testing.assert_allclose(stats.kstat(atoms[:, j], 4), k4, rtol=1e-9)


def bernoulli_cumulants(p: float, max_order: int) -> np.ndarray:
    """κ_1 = p, κ_{k+1} = p(1 − p) dκ_k/dp (closed form for a two-point distribution)."""
    kappa, values = np.array([0.0, 1.0]), []
    for _ in range(max_order):
        values.append(P.polyval(p, kappa))
        kappa = P.polymul([0.0, 1.0, -1.0], P.polyder(kappa))
    return np.array(values)


@pytest.mark.parametrize("ones, n", [(1, 4), (2, 8), (5, 8), (3, 10)])
def test_two_point_structure_has_bernoulli_cumulants_up_to_order_8(ones, n):
    x = np.zeros((n, 1))
    x[:ones] = 1.0
    got = structure_cumulants(x, [0, n], max_order=8)[0, :, 0]
    np.testing.assert_allclose(got, bernoulli_cumulants(ones / n, 8), rtol=1e-9, atol=1e-13)


def test_identical_atoms_have_zero_higher_cumulants():
    rng = np.random.default_rng(0)
    row = rng.normal(size=(1, 6))
    X = np.vstack([np.repeat(row, 5, axis=0), rng.normal(size=(1, 6))])  # 5 identical atoms, then a single atom
    features = structure_features(X, [0, 5, 6], max_order=6)
    np.testing.assert_allclose(features[:, :6], np.vstack([row, X[5:]]), rtol=1e-12)
    assert np.all(features[:, 6:] == 0.0)


def test_cumulants_zero_in_exact_arithmetic_come_out_exactly_zero():
    """Odd cumulants of symmetric structures (two atoms; pairs mirrored about the mean) and every
    cumulant of identical atoms vanish exactly, not at the rounding level that the signed root
    would lift to ~1e-2 of the scale at order 8."""
    rng = np.random.default_rng(4)
    d = 5
    pair = rng.normal(3.0, 2.0, size=(2, d))
    centre, a, b = rng.normal(size=d), rng.normal(size=d), rng.normal(size=d)
    mirrored = centre + np.vstack([a, -a, b, -b, 0.5 * a, -0.5 * a])
    identical = np.repeat(rng.normal(7.0, 3.0, size=(1, d)), 4, axis=0)
    X = np.vstack([pair, mirrored, identical])
    cumulants = structure_cumulants(X, [0, 2, 8, 12], max_order=8)
    for k in (3, 5, 7):
        assert np.all(cumulants[:2, k - 1] == 0.0), k
    assert np.all(cumulants[2, 1:] == 0.0)
    for k in (2, 4, 6, 8):  # even orders of the symmetric structures are not rounding-level
        assert np.all(np.abs(cumulants[:2, k - 1]) > 1e-8), k
    # the features no longer depend on the order of the atoms or on a shift of the data
    flipped = np.vstack([pair[::-1], mirrored[::-1], identical])
    shifted = structure_features(X + 100.0, [0, 2, 8, 12], max_order=8)[:, d:]
    for other in (structure_features(flipped, [0, 2, 8, 12], max_order=8)[:, d:], shifted):
        np.testing.assert_allclose(other, structure_features(X, [0, 2, 8, 12], max_order=8)[:, d:], rtol=1e-9, atol=1e-12)


def test_a_small_but_resolved_cumulant_is_kept():
    """Skewness of 1e-6 of the scale is far above rounding: it stays, equal to scipy's."""
    x = np.array([[-1.0], [0.0], [1.0 + 1e-6]])
    kappa3 = structure_cumulants(x, [0, 3], max_order=3)[0, 2, 0]
    assert kappa3 != 0.0
    np.testing.assert_allclose(kappa3, stats.moment(x[:, 0], order=3), rtol=1e-8)


def test_gaussian_atoms_have_vanishing_third_and_fourth_cumulants():
    rng = np.random.default_rng(1)
    n, sigma = 200_000, np.array([0.5, 2.0])
    X = np.vstack([rng.normal(1.0, s, size=(n, 1)) for s in sigma])
    cumulants = structure_cumulants(X, [0, n, 2 * n], max_order=4)[:, :, 0]
    np.testing.assert_allclose(cumulants[:, 1], sigma**2, rtol=0.02)
    # standard errors: sqrt(6/n) sigma^3 and sqrt(24/n) sigma^4; allow 5 of them
    assert np.all(np.abs(cumulants[:, 2]) < 5 * np.sqrt(6 / n) * sigma**3)
    assert np.all(np.abs(cumulants[:, 3]) < 5 * np.sqrt(24 / n) * sigma**4)


def test_features_are_signed_roots_in_order_major_blocks(ragged):
    X, offsets = ragged
    cumulants = structure_cumulants(X, offsets, max_order=5)
    features = structure_features(X, offsets, max_order=5)
    d = X.shape[1]
    assert features.shape == (len(offsets) - 1, 5 * d)
    for k in range(1, 6):
        block = features[:, (k - 1) * d : k * d]
        expected = np.sign(cumulants[:, k - 1]) * np.abs(cumulants[:, k - 1]) ** (1 / k)
        np.testing.assert_allclose(block, expected, rtol=1e-12)
    assert np.array_equal(signed_root(cumulants).reshape(len(features), -1), features)


def test_features_scale_with_the_data_and_only_the_mean_shifts(ragged):
    X, offsets = ragged
    base = structure_features(X, offsets, max_order=4)
    np.testing.assert_allclose(structure_features(3.5 * X, offsets, max_order=4), 3.5 * base, rtol=1e-9, atol=1e-12)
    shifted = structure_features(X + 10.0, offsets, max_order=4)
    d = X.shape[1]
    np.testing.assert_allclose(shifted[:, :d], base[:, :d] + 10.0, rtol=1e-12)
    np.testing.assert_allclose(shifted[:, d:], base[:, d:], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(
    "offsets, message",
    [([0, 3], "end at the number of rows"), ([1, 5], "start at 0"), ([0, 2, 2, 5], "no empty structure"),
     ([0.0, 5.0], "integer"), ([5], "integer array")],
)
def test_bad_offsets_are_refused(offsets, message):
    with pytest.raises(CumulantInputError, match=message):
        structure_cumulants(np.ones((5, 2)), np.asarray(offsets), max_order=2)


def test_non_finite_rows_and_bad_orders_are_refused():
    X = np.ones((4, 2))
    X[2, 1] = np.nan
    with pytest.raises(CumulantInputError, match="row 2"):
        structure_cumulants(X, [0, 4])
    with pytest.raises(CumulantInputError, match="max_order"):
        structure_cumulants(np.ones((4, 2)), [0, 4], max_order=0)
    with pytest.raises(CumulantInputError, match="max_order >= 2"):
        cumulant_order_gain(np.ones((4, 2)), [0, 4], max_order=1)


def test_offsets_from_structure_index():
    np.testing.assert_array_equal(offsets_from_structure_index([0, 0, 1, 4, 4, 4]), [0, 2, 3, 6])
    with pytest.raises(CumulantInputError, match="contiguous"):
        offsets_from_structure_index([0, 1, 0])


def test_offsets_from_real_atom_table_match_the_dataset(real_store):
    table = real_store.store.atom_table()
    np.testing.assert_array_equal(offsets_from_structure_index(table["structure_index"].to_numpy()),
                                  real_store.dataset.atom_offsets)


def test_orders_that_are_linear_in_the_mean_add_nothing():
    """Atoms x = mu * pattern (mu > 0): every cumulant root is mu * constant, linear in the mean."""
    rng = np.random.default_rng(2)
    patterns = np.array([[0.2, 1.0], [1.1, 3.0], [2.5, 0.4], [0.7, 2.2]])  # 4 atoms, 2 features
    means = rng.uniform(0.5, 2.0, size=(300, 2))
    X = np.vstack([mu * patterns for mu in means])
    gain = cumulant_order_gain(X, np.arange(0, 4 * 301, 4), max_order=4)
    assert list(gain["order"]) == [2, 3, 4]
    assert np.all(gain["gfre"] < 1e-6)
    assert np.all(gain["gfre_to_order"] < 1e-6)


def test_independent_higher_orders_are_not_reconstructed():
    """Spread and skew drawn independently of the mean: lower orders cannot predict them."""
    rng = np.random.default_rng(4)
    structures = [rng.normal(rng.normal(), rng.uniform(0.2, 2.0), size=(8, 1)) + rng.exponential(rng.uniform(0.1, 2.0), size=(8, 1))
                  for _ in range(400)]
    X = np.vstack(structures)
    gain = cumulant_order_gain(X, np.arange(0, 8 * 401, 8), max_order=3)
    assert np.all(gain["gfre_to_order"] > 0.8)
    # the target holds the source exactly, so the error is below that of the new block alone
    assert np.all(gain["gfre"] < gain["gfre_to_order"])
    assert np.all(gain[["n_features_from", "n_features_to"]].to_numpy() == [[1, 2], [2, 3]])


def test_gain_table_runs_for_every_model(real_store):
    table = real_store.store.atom_table()
    offsets = offsets_from_structure_index(table["structure_index"].to_numpy())
    models = ["chgnet-0.3.0", "mace-dummy"]
    gain = cumulant_gain_table({m: real_store.z(m) for m in models}, offsets, max_order=3)
    assert list(gain["model"]) == ["chgnet-0.3.0", "chgnet-0.3.0", "mace-dummy", "mace-dummy"]
    assert set(gain["space"]) == {"unified"}
    assert (gain["n_structures"] == len(real_store.dataset)).all()
    assert np.isfinite(gain[["gfre", "gfre_to_order"]].to_numpy()).all()


def test_auto_components_keep_every_fit_within_the_training_structures():
    rng = np.random.default_rng(6)
    X = rng.normal(size=(100 * 5, 50))
    gain = cumulant_order_gain(X, np.arange(0, 5 * 101, 5))  # order 8 by default
    assert list(gain["order"]) == list(range(2, 9))
    assert (gain["n_train"] == 50).all() and (gain["n_components"] == 50 // 8).all()
    assert (gain["n_features_to"] <= gain["n_train"]).all()
    assert gain["n_features_to"].iloc[-1] == 8 * 6
    # pinned components and None (every feature) are honoured
    assert (cumulant_order_gain(X, np.arange(0, 5 * 101, 5), max_order=3, n_components=4)["n_components"] == 4).all()
    assert (cumulant_order_gain(X, np.arange(0, 5 * 101, 5), max_order=3, n_components=None)["n_components"] == 50).all()
    few = cumulant_order_gain(X[:5 * 12], np.arange(0, 5 * 13, 5))  # 6 training structures < 8 orders
    assert list(few["order"]) == [2, 3, 4, 5, 6] and (few["n_components"] == 1).all()
    with pytest.raises(CumulantInputError, match="n_components"):
        cumulant_order_gain(X, np.arange(0, 5 * 101, 5), n_components=0)


def test_reduction_uses_the_training_structures_only():
    """The principal axes come from the training atoms: changing a test structure leaves them unchanged."""
    from platonic.analyse.cumulants import _structure_split, reduce_atom_features

    rng = np.random.default_rng(7)
    X = rng.normal(size=(40 * 3, 6)) * np.arange(1, 7)
    offsets = np.arange(0, 3 * 41, 3)
    train, test = _structure_split(40, 0)
    reduced = reduce_atom_features(X, offsets, train, 2)
    moved = X.copy()
    moved[offsets[test[0]]:offsets[test[0] + 1]] += 100.0
    again = reduce_atom_features(moved, offsets, train, 2)
    train_rows = np.concatenate([np.arange(offsets[s], offsets[s + 1]) for s in train])
    np.testing.assert_allclose(again[train_rows], reduced[train_rows], atol=1e-10)
    # the axes are those of an SVD of the centred training atoms (up to sign)
    centred = X[train_rows] - X[train_rows].mean(axis=0)
    axes = np.linalg.svd(centred, full_matrices=False)[2][:2]
    expected = (X - X[train_rows].mean(axis=0)) @ axes.T
    np.testing.assert_allclose(np.abs(reduced), np.abs(expected), atol=1e-8)


def test_gain_against_control_reads_each_order():
    from platonic.analyse.cumulants import cumulant_gain_against_control

    gain = pd.DataFrame({
        "model": ["a", "b", "ctl"] * 2, "space": "unified", "order": [2, 2, 2, 3, 3, 3],
        "control": [False, False, True] * 2, "gfre": [0.6, 0.4, 0.2, 0.3, 0.3, 0.31],
    })
    read = cumulant_gain_against_control(gain).set_index("order")
    assert read.loc[2, "trained_mean"] == pytest.approx(0.5) and read.loc[2, "difference"] == pytest.approx(0.3)
    assert read.loc[2, "reading"].startswith("trained models gain more")
    assert read.loc[3, "reading"].startswith("the control gains as much")
    assert cumulant_gain_against_control(gain[~gain["control"]]).empty
