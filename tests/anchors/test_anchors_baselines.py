from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import cdist

from platonic.anchors import AnchorError, KaiserPCASpace, farthest_point_anchors, random_anchors


@given(n_rows=st.integers(1, 500), data=st.data())
def test_random_anchors_are_k_distinct_rows_in_range(n_rows, data):
    k = data.draw(st.integers(1, n_rows))
    seed = data.draw(st.integers(0, 2**32 - 1))
    rows = random_anchors(n_rows, k, random_state=seed)
    assert rows.shape == (k,) and rows.dtype == np.int64
    assert np.unique(rows).size == k
    assert rows.min() >= 0 and rows.max() < n_rows
    np.testing.assert_array_equal(rows, random_anchors(n_rows, k, random_state=seed))


@pytest.mark.parametrize("n_rows, k", [(10, 0), (10, 11), (0, 1), (True, 1), (10, 2.0)])
def test_random_anchors_reject_bad_counts(n_rows, k):
    with pytest.raises(AnchorError):
        random_anchors(n_rows, k)


@settings(max_examples=15, deadline=None)
@given(n_rows=st.integers(5, 80), dim=st.integers(2, 6), seed=st.integers(0, 1000), data=st.data())
def test_each_fps_anchor_is_the_farthest_row_from_those_before(n_rows, dim, seed, data):
    X = np.random.default_rng(seed).normal(size=(n_rows, dim))
    k = data.draw(st.integers(1, n_rows))
    anchors = farthest_point_anchors(X, k, random_state=seed)
    assert np.unique(anchors).size == k
    scores = KaiserPCASpace(weight_by_variance_ratio=True).fit_transform(X)
    distances = cdist(scores, scores)
    for j in range(1, k):
        distance_to_chosen = distances[:, anchors[:j]].min(axis=1)
        assert distance_to_chosen[anchors[j]] == pytest.approx(distance_to_chosen.max(), rel=1e-12)


def test_fps_first_anchor_depends_on_seed_only(blobs):
    X, _ = blobs
    np.testing.assert_array_equal(farthest_point_anchors(X, 20, random_state=5), farthest_point_anchors(X, 20, random_state=5))
    assert farthest_point_anchors(X, 1, random_state=0)[0] == np.random.default_rng(0).integers(X.shape[0])


def test_fps_visits_every_separated_blob_first(blobs):
    X, blob = blobs
    n_blobs = np.unique(blob).size
    for seed in (0, 42, 12345):
        assert sorted(blob[farthest_point_anchors(X, n_blobs, random_state=seed)]) == list(range(n_blobs))


def test_fps_with_too_few_distinct_rows_is_a_clear_error():
    X = np.repeat(np.random.default_rng(1).normal(size=(3, 4)), 5, axis=0)
    with pytest.raises(AnchorError, match="only 3 distinct rows"):
        farthest_point_anchors(X, 4)
