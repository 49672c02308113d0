import numpy as np
import pytest
from scipy.stats import ortho_group

from platonic.compare import MetricInputError, linear_cka


def naive_hsic(K, L):
    n = K.shape[0]
    H = np.eye(n) - 1.0 / n
    return np.trace(K @ H @ L @ H) / (n - 1) ** 2


def naive_unbiased_hsic(K, L):
    """Song et al. (2012) eq. 5, written with dense n x n matrices."""
    n = K.shape[0]
    K, L = K.copy(), L.copy()
    np.fill_diagonal(K, 0)
    np.fill_diagonal(L, 0)
    ones = np.ones(n)
    return (np.trace(K @ L) + (ones @ K @ ones) * (ones @ L @ ones) / ((n - 1) * (n - 2))
            - 2 / (n - 2) * ones @ K @ L @ ones) / (n * (n - 3))


def naive_cka(A, B, hsic):
    A, B = A - A.mean(0), B - B.mean(0)
    K, L = A @ A.T, B @ B.T
    return hsic(K, L) / np.sqrt(hsic(K, K) * hsic(L, L))


@pytest.fixture
def pair():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(150, 7))
    B = np.hstack([A[:, :3] @ rng.normal(size=(3, 9)), rng.normal(size=(150, 2))]) + 0.3 * rng.normal(size=(150, 11))
    return A, B


def test_biased_matches_gram_matrix_hsic(pair):
    assert linear_cka(*pair) == pytest.approx(naive_cka(*pair, naive_hsic), rel=1e-10)


def test_unbiased_matches_gram_matrix_unbiased_hsic(pair):
    assert linear_cka(*pair, unbiased=True) == pytest.approx(naive_cka(*pair, naive_unbiased_hsic), rel=1e-9)


def test_invariances_and_identity(pair):
    A, _ = pair
    transformed = 2.5 * A @ ortho_group.rvs(7, random_state=3) - 1.0
    for unbiased in (False, True):
        assert linear_cka(A, A, unbiased=unbiased) == pytest.approx(1.0, abs=1e-12)
        assert linear_cka(A, transformed, unbiased=unbiased) == pytest.approx(1.0, abs=1e-10)


def test_unbiased_is_near_zero_for_independent_data_where_biased_is_not():
    rng = np.random.default_rng(1)
    A, B = rng.normal(size=(200, 50)), rng.normal(size=(200, 50))
    assert linear_cka(A, B) > 0.15
    assert abs(linear_cka(A, B, unbiased=True)) < 0.03


def test_bad_inputs_raise():
    rng = np.random.default_rng(2)
    with pytest.raises(MetricInputError, match="at least 4 rows"):
        linear_cka(rng.normal(size=(3, 2)), rng.normal(size=(3, 2)), unbiased=True)
    with pytest.raises(MetricInputError, match="zero variance"):
        linear_cka(np.zeros((10, 2)), rng.normal(size=(10, 2)))
