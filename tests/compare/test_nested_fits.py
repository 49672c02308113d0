"""NestedFits against scikit-matter's GFRE, and the blocked CV residuals against the direct ones."""

import numpy as np
import pytest
from skmatter.metrics import global_reconstruction_error as skm_gfre

from platonic.compare import MetricInputError
from platonic.compare.estimators import _rmse_by_rank
from platonic.compare.nested_fits import NestedFits
from platonic.compare.reconstruction import default_split


def nested_features(n_rows: int, block: int, n_blocks: int, seed: int = 0) -> np.ndarray:
    """Blocks like cumulant roots: nonlinear in one base, plus noise; block 2 linear in block 1."""
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((n_rows, block))
    blocks = [np.sign(base) * np.abs(base) ** (1 / k) + 0.1 * rng.standard_normal((n_rows, block))
              for k in range(1, n_blocks + 1)]
    blocks[1] = blocks[0] @ rng.standard_normal((block, block)) + 0.01 * rng.standard_normal((n_rows, block))
    return np.hstack(blocks)


@pytest.mark.parametrize("n_rows, block, n_blocks", [(600, 4, 6), (48, 3, 5)])  # the second: folds narrower than F
def test_every_block_fit_equals_scikit_matter(n_rows, block, n_blocks):
    F = nested_features(n_rows, block, n_blocks)
    train, test = default_split(n_rows)
    fits = NestedFits(F, train, test)
    for k in range(2, n_blocks + 1):
        source = (k - 1) * block
        for target in (slice(0, k * block), slice(source, k * block)):
            expected = skm_gfre(F[:, :source], F[:, target], test_idx=test, train_idx=train)
            assert fits.gfre(source, target) == pytest.approx(expected, rel=1e-8, abs=1e-12)


def test_a_block_the_source_spans_is_reconstructed():
    F = nested_features(400, 3, 3)
    F[:, 3:6] = F[:, :3] @ np.diag([2.0, -1.0, 0.5])  # exactly linear in the source
    fits = NestedFits(F, *default_split(400))
    assert fits.gfre(3, slice(3, 6)) < 1e-10
    assert fits.gfre(3, slice(6, 9)) > 0.1


def test_bad_requests_are_named():
    F = nested_features(100, 2, 3)
    F[:, 5] = 7.0
    fits = NestedFits(F, *default_split(100))
    with pytest.raises(MetricInputError, match="zero total variance"):
        fits.gfre(4, [5])
    with pytest.raises(MetricInputError, match="width"):
        fits.gfre(0, slice(0, 2))
    with pytest.raises(MetricInputError, match="4 training rows"):
        NestedFits(F, [0, 1, 2], [3])


@pytest.mark.parametrize("n_rows", [1, 1023, 1024, 2500])  # below, at and across the row block
def test_blocked_cv_residuals_equal_the_direct_ones(n_rows):
    rng = np.random.default_rng(n_rows)
    Y, basis, coefficients = rng.normal(size=(n_rows, 7)), rng.normal(size=(n_rows, 9)), rng.normal(size=(9, 7))
    ranks = [9, 0, 4, 4, 1]
    found = _rmse_by_rank(Y, basis, coefficients, ranks)
    assert sorted(found) == [0, 1, 4, 9]
    for m in found:
        direct = np.sqrt(np.mean((Y - basis[:, :m] @ coefficients[:m]) ** 2, axis=0)).mean()
        assert found[m] == pytest.approx(direct, rel=1e-12)
