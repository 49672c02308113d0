import numpy as np
import pytest
from skmatter.metrics import (
    global_reconstruction_distortion as skm_gfrd,
    global_reconstruction_error as skm_gfre,
    local_reconstruction_error as skm_lfre,
    pointwise_global_reconstruction_error as skm_pointwise_gfre,
)

from platonic.compare import (
    MetricInputError,
    global_reconstruction_distortion,
    global_reconstruction_error,
    local_reconstruction_error,
    pointwise_global_reconstruction_error,
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
