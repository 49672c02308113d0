import numpy as np
import pytest

from platonic.anchors import AnchorError, distinct_random_anchors, select_anchors


def test_random_anchors_skip_repeated_rows():
    """Half the rows repeat one vector (as symmetry-equivalent atoms do): anchors stay distinct."""
    rng = np.random.default_rng(0)
    X = np.vstack([np.tile(rng.normal(size=(1, 8)), (500, 1)), rng.normal(size=(500, 8))])
    for seed in range(20):
        rows = select_anchors(X, 50, method="random", random_state=seed)
        assert len(np.unique(X[rows], axis=0)) == 50
    assert np.array_equal(distinct_random_anchors(X, 50, random_state=3), distinct_random_anchors(X, 50, random_state=3))


def test_random_anchors_need_enough_distinct_rows():
    X = np.tile(np.arange(1.0, 5.0), (100, 1))
    X[:3] += np.arange(3)[:, None]
    with pytest.raises(AnchorError, match="distinct"):
        distinct_random_anchors(X, 5)
