import numpy as np
import pytest
from scipy.stats import ortho_group

from platonic.compare import MetricInputError, two_nn_dimension


@pytest.mark.parametrize("dimension", [2, 5, 8])
def test_gaussian_embedded_in_50d(dimension):
    rng = np.random.default_rng(dimension)
    embedding = ortho_group.rvs(50, random_state=dimension)[:dimension]
    X = rng.normal(size=(3000, dimension)) @ embedding + 4.0
    result = two_nn_dimension(X)
    assert result.dimension == pytest.approx(dimension, rel=0.12)
    assert result.n_duplicates == 0 and result.n_fitted == 2700


def test_duplicates_are_removed_and_counted():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 5)) @ ortho_group.rvs(30, random_state=0)[:5]
    with_copies = np.vstack([X, X[:300], X[:100] + 1e-12])
    result = two_nn_dimension(with_copies, dedup_tol=1e-9)
    assert result.n_duplicates == 400
    assert result.dimension == pytest.approx(two_nn_dimension(X).dimension, rel=1e-12)


def test_bad_inputs_raise():
    with pytest.raises(MetricInputError, match="discard_fraction"):
        two_nn_dimension(np.random.default_rng(0).normal(size=(50, 3)), discard_fraction=1.0)
    with pytest.raises(MetricInputError, match="distinct rows"):
        two_nn_dimension(np.ones((50, 3)))
