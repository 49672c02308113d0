import numpy as np
import pytest
from skmatter.metrics import (
    global_reconstruction_distortion as skm_gfrd,
    global_reconstruction_error as skm_gfre,
    local_reconstruction_error as skm_lfre,
    pointwise_local_reconstruction_error as skm_pointwise_lfre,
    pointwise_global_reconstruction_error as skm_pointwise_gfre,
)

from sklearn.utils.estimator_checks import parametrize_with_checks

from platonic.compare import (
    MetricInputError,
    Ridge2FoldCV,
    TotalVarianceScaler,
    global_reconstruction_distortion,
    global_reconstruction_error,
    local_reconstruction_error,
    metric_matrix,
    pointwise_global_reconstruction_error,
    pointwise_local_reconstruction_error,
)
from platonic.compare.knn import nearest_rows
from platonic.compare.reconstruction import (
    default_split,
    lfre_above_one,
    lfre_test_rows,
    local_errors_from_neighbours,
    local_fits,
)


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 10))
    Y = np.tanh(X[:, :4] @ rng.normal(size=(4, 12))) + 0.2 * rng.normal(size=(300, 12))
    return X, Y


def test_gfre_matches_skmatter_both_directions(data):
    X, Y = data
    np.testing.assert_allclose(pointwise_global_reconstruction_error(X, Y), skm_pointwise_gfre(X, Y), atol=1e-8)
    assert global_reconstruction_error(X, Y) == pytest.approx(skm_gfre(X, Y), abs=1e-8)
    assert global_reconstruction_error(Y, X) == pytest.approx(skm_gfre(Y, X), abs=1e-8)
    test = np.arange(0, 300, 3)
    assert global_reconstruction_error(X, Y, test_idx=test) == pytest.approx(skm_gfre(X, Y, test_idx=test), abs=1e-8)


def test_gfrd_matches_skmatter_where_it_works(data):
    X, Y = data  # d_X = 10 <= d_Y = 12: skmatter's GFRD runs
    assert global_reconstruction_distortion(X, Y) == pytest.approx(skm_gfrd(X, Y), abs=1e-8)


def test_gfrd_with_more_source_features_than_target(data):
    X, Y = data
    with pytest.raises(ValueError):
        skm_gfrd(Y, X[:, :6])  # skmatter issue #269: d_X > d_Y crashes
    # Extra all-zero source columns change nothing, so d_X = 8 + 6 > d_Y = 12 must give
    # what skmatter gives on d_X = 8 <= 12.
    source = X[:, :8]
    padded = np.hstack([source, np.zeros((300, 6))])
    assert global_reconstruction_distortion(padded, Y) == pytest.approx(skm_gfrd(source, Y), abs=1e-8)


def test_lfre_matches_skmatter(data):
    X, Y = data
    test = np.arange(1, 300, 4)
    assert local_reconstruction_error(X, Y, 25, test_idx=test) == pytest.approx(
        skm_lfre(X, Y, 25, test_idx=test), abs=1e-8
    )


def test_asymmetry_when_target_is_linear_in_two_source_columns():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(400, 6))
    Y = X[:, :2] @ rng.normal(size=(2, 5))
    forward, backward = global_reconstruction_error(X, Y), global_reconstruction_error(Y, X)
    assert forward < 1e-8
    assert backward > 0.7  # Y spans 2 of X's 6 equal-variance directions: ~sqrt(4/6) is lost


def test_bad_inputs_raise(data):
    X, Y = data
    with pytest.raises(MetricInputError, match="same number of rows"):
        global_reconstruction_error(X, Y[:-1])
    with pytest.raises(MetricInputError, match="n_local_points"):
        local_reconstruction_error(X, Y, 1000)
    with pytest.raises(MetricInputError, match="zero total variance"):
        global_reconstruction_error(np.ones((300, 3)), Y)


@parametrize_with_checks([Ridge2FoldCV(), TotalVarianceScaler()])
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


class PerPointRidge2FoldCV(Ridge2FoldCV):
    """The same estimator under another type: local_errors_from_neighbours refits it point by point."""


def embedding_like(n_rows: int, widths: tuple[int, ...], seed: int) -> list[np.ndarray]:
    """Two or more models' embeddings of the same atoms, shaped like real ones.

    Each atom is one of ``n_rows // 3`` environments; symmetry-equivalent atoms (the same
    environment) embed identically in every model, half of them up to 1e-6 of float noise.
    Each model is a smooth function of a 6-dimensional environment descriptor plus noise.
    """
    rng = np.random.default_rng(seed)
    descriptors = rng.normal(size=(n_rows // 3, 6))
    environment = rng.integers(0, len(descriptors), size=n_rows)
    noisy = (rng.random(n_rows) < 0.5)[:, None]
    models = []
    for width in widths:
        distinct = np.tanh(descriptors @ rng.normal(size=(6, width))) + 0.05 * rng.normal(size=(len(descriptors), width))
        models.append(distinct[environment] + 1e-6 * noisy * rng.normal(size=(n_rows, width)))
    return models


@pytest.mark.parametrize("width_x, width_y, k", [(40, 16, 16), (12, 20, 25), (30, 30, 30)])
def test_batched_local_fits_equal_the_point_by_point_fits(width_x, width_y, k):
    # (40, 16, 16): d_X > k + 1 takes the QR reduction; (12, 20, 25): more neighbours than features
    X, Y = embedding_like(400, (width_x, width_y), seed=1)
    X_train, X_test, Y_train, Y_test = X[:250], X[250:], Y[:250], Y[250:]
    neighbours = nearest_rows(X_train, X_test, k)
    reference = local_errors_from_neighbours(X_train, X_test, Y_train, Y_test, neighbours, PerPointRidge2FoldCV())
    fits = local_fits(X_train, X_test, neighbours, n_jobs=2)
    np.testing.assert_allclose(fits.errors(Y_train, Y_test), reference, rtol=1e-9, atol=1e-10)
    # the same factors serve a second target (X itself)
    np.testing.assert_allclose(
        fits.errors(X_train, X_test),
        local_errors_from_neighbours(X_train, X_test, X_train, X_test, neighbours, PerPointRidge2FoldCV()),
        rtol=1e-9, atol=1e-10,
    )


def test_lfre_matches_skmatter_on_embedding_like_data():
    X, Y = embedding_like(300, (24, 8), seed=3)
    np.testing.assert_allclose(
        pointwise_local_reconstruction_error(X, Y, 8), skm_pointwise_lfre(X, Y, 8), rtol=1e-9, atol=1e-10
    )


def test_lfre_test_rows_represent_every_element_in_proportion():
    rng = np.random.default_rng(0)
    # 2,000 test rows over 60 elements with counts from 1 to ~300 (rare elements as in MP-20)
    counts = np.maximum(1, (300 * rng.pareto(1.5, size=60) / 4).astype(int))[:60]
    strata = np.repeat(np.arange(60), counts)
    test = np.sort(rng.choice(10 * strata.size, size=strata.size, replace=False))
    chosen = lfre_test_rows(test, 500, strata, random_state=3)
    assert chosen.size == 500 and np.unique(chosen).size == 500 and np.isin(chosen, test).all()
    picked = strata[np.searchsorted(test, chosen)]
    per_label = np.bincount(picked, minlength=60)
    assert (per_label >= 1).all()  # every element, the singletons included
    # the rest in proportion to the remaining counts: within one row of (n - labels) * (count - 1) / (N - labels)
    expected = 1 + (500 - 60) * (counts - 1) / (counts.sum() - 60)
    assert np.abs(per_label - expected).max() <= 1.0
    np.testing.assert_array_equal(chosen, lfre_test_rows(test, 500, strata, random_state=3))
    # fewer rows than elements: proportional only
    assert lfre_test_rows(test, 20, strata, random_state=3).size == 20


def test_metric_matrix_lfre_reuses_source_fits_and_matches_the_function():
    X, Y = embedding_like(600, (20, 12), seed=5)
    strata = np.arange(600) % 7
    table = metric_matrix({"x": X, "y": Y}, ("lfre",), lfre_n_test=150, lfre_strata=strata, random_state=2)
    train, test = default_split(600)
    rows = lfre_test_rows(test, 150, strata[test], 2)
    for a, b, source, target in [("x", "y", X, Y), ("y", "x", Y, X), ("x", "x", X, X)]:
        value = table[(table.model_a == a) & (table.model_b == b)]["value"].item()
        k = min(source.shape[1], target.shape[1])
        assert value == pytest.approx(local_reconstruction_error(source, target, k, test_idx=rows, train_idx=train),
                                      abs=1e-10)
    assert table["n"].eq(150).all() and table["detail"].str.contains("stratified").all()


def test_lfre_known_cases_identical_independent_and_why_it_exceeds_one():
    rng = np.random.default_rng(7)
    X = rng.normal(size=(1200, 8))
    test = np.arange(0, 1200, 6)
    # identical source and target, more neighbours than features: the local maps are exact
    assert local_reconstruction_error(X, X, 20, test_idx=test) < 1e-8
    # a target independent of the source: no better than its mean, about 1 (the scaler's unit)
    independent = local_reconstruction_error(X, rng.normal(size=(1200, 8)), 20, test_idx=test)
    assert 0.95 < independent < 1.1
    # why LFRE exceeds 1: the cutoff grid stops at 0.9 s_max, so each local map keeps a
    # direction and extrapolates linearly; a test atom far from its neighbours (a rare
    # element) gets an error that grows with its distance, not the mean's error of ~1
    Y = rng.normal(size=(1200, 8))
    errors = []
    for distance in (0.0, 30.0, 300.0):
        far = X.copy()
        far[0] = X[0] + distance
        errors.append(pointwise_local_reconstruction_error(far, Y, 20, test_idx=np.array([0]))[0])
    assert errors[2] > 5 * errors[1] > 5 * errors[0]
    flag = lfre_above_one(np.array([1.0] * 99 + [np.sqrt(99.0)]))  # one atom with half the squared error
    assert "worst 1 of 100" in flag and "50%" in flag


def test_matrix_reuses_each_source_factorisation_with_the_functions_numbers():
    """The model x model matrix factors each source once (GlobalFits, LocalFits); its GFRE, GFRD and
    LFRE equal the standalone functions (to rounding: the matrix's GFRD comes from Gram matrices), for wider
    and narrower targets and float32 input."""
    from platonic.compare import metric_matrix
    from platonic.compare.reconstruction import default_split, local_reconstruction_error

    rng = np.random.default_rng(3)
    latent = rng.normal(size=(300, 5))
    models = {"wide": np.tanh(latent @ rng.normal(size=(5, 9))).astype(np.float32),
              "narrow": latent[:, :4] ** 2 + 0.1 * rng.normal(size=(300, 4)),
              "mid": latent @ rng.normal(size=(5, 6)) + 0.2 * rng.normal(size=(300, 6))}
    table = metric_matrix(models, ("gfre", "gfrd", "lfre"), lfre_n_test=None)
    value = table.set_index(["model_a", "model_b", "metric"])["value"]
    _, test = default_split(300)
    for a in models:
        for b in models:
            X, Y = models[a], models[b]
            assert value[a, b, "gfre"] == pytest.approx(global_reconstruction_error(X, Y), rel=1e-12, abs=1e-14)
            assert value[a, b, "gfrd"] == pytest.approx(global_reconstruction_distortion(X, Y), rel=1e-10, abs=1e-12)
            n_local = min(X.shape[1], Y.shape[1])
            assert value[a, b, "lfre"] == pytest.approx(local_reconstruction_error(X, Y, n_local, test_idx=test),
                                                        rel=1e-12)
    assert value["wide", "wide", "gfre"] < 1e-6 and value["narrow", "wide", "gfre"] > 0.1


def test_several_targets_share_one_source_fit_with_the_single_target_numbers():
    from platonic.compare.reconstruction import global_reconstruction_errors

    rng = np.random.default_rng(5)
    X = rng.normal(size=(200, 6))
    targets = [np.tanh(X @ rng.normal(size=(6, 3))), X[:, :2] ** 2, rng.normal(size=(200, 8))]
    test = np.arange(0, 200, 3)
    assert global_reconstruction_errors(X, targets) == pytest.approx(
        [global_reconstruction_error(X, Y) for Y in targets], rel=1e-12)
    assert global_reconstruction_errors(X, targets, test_idx=test) == pytest.approx(
        [global_reconstruction_error(X, Y, test_idx=test) for Y in targets], rel=1e-12)
