from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sklearn.metrics import adjusted_rand_score

from platonic.anchors import AnchorError, DIRECTConvergenceError, DIRECTSampler, KaiserPCASpace, select_anchors


def test_direct_returns_k_distinct_rows(blobs):
    X, _ = blobs
    sampler = DIRECTSampler(n_anchors=25, random_state=0).fit(X)
    assert sampler.anchors_.shape == (25,)
    assert np.unique(sampler.anchors_).size == 25
    assert np.unique(X[sampler.anchors_], axis=0).shape[0] == 25
    assert sampler.labels_.shape == (X.shape[0],)
    assert sampler.cluster_sizes_.sum() == X.shape[0]
    assert 25 <= sampler.n_subclusters_


def test_each_anchor_is_its_cluster_member_nearest_the_cluster_mean(blobs):
    X, _ = blobs
    sampler = DIRECTSampler(n_anchors=12, random_state=1).fit(X)
    scores = sampler.space_.transform(X)
    for cluster, anchor in enumerate(sampler.anchors_):
        members = np.flatnonzero(sampler.labels_ == cluster)
        assert sampler.labels_[anchor] == cluster
        centroid = scores[members].mean(axis=0)
        distances = np.linalg.norm(scores[members] - centroid, axis=1)
        assert distances.min() == pytest.approx(np.linalg.norm(scores[anchor] - centroid), abs=1e-12)


def test_direct_is_deterministic_per_seed(blobs):
    X, _ = blobs
    first = DIRECTSampler(n_anchors=30, random_state=42).fit(X).anchors_
    again = DIRECTSampler(n_anchors=30, random_state=42).fit(X).anchors_
    np.testing.assert_array_equal(first, again)


def test_direct_finds_one_anchor_per_blob_where_random_does_not(blobs):
    X, blob = blobs
    n_blobs = np.unique(blob).size
    for seed in (0, 42, 12345):
        sampler = DIRECTSampler(n_anchors=n_blobs, random_state=seed).fit(X)
        assert sorted(blob[sampler.anchors_]) == list(range(n_blobs))
        assert adjusted_rand_score(blob, sampler.labels_) == 1.0
    random_covers = [
        np.unique(blob[select_anchors(X, n_blobs, method="random", random_state=seed)]).size == n_blobs
        for seed in range(10)
    ]
    # 10 uniform draws over 10 blobs of unequal sizes cover all blobs with probability < 4e-4.
    assert sum(random_covers) <= 1


def _blob_gaps(points: np.ndarray, blob: np.ndarray) -> np.ndarray:
    """``gap_ab = |μ_a - μ_b| - r_a - r_b`` over blob pairs, in units of ``max_c r_c``; diagonal +inf.

    ``μ_a`` is blob ``a``'s mean and ``r_a`` the largest distance of a member from it, so
    ``gap_ab > 0`` means the balls that hold the two blobs are disjoint.
    """
    ids = np.unique(blob)
    centres = np.stack([points[blob == b].mean(axis=0) for b in ids])
    radii = np.array([np.linalg.norm(points[blob == b] - centres[i], axis=1).max() for i, b in enumerate(ids)])
    gaps = np.linalg.norm(centres[:, None] - centres[None], axis=2) - radii[:, None] - radii[None]
    np.fill_diagonal(gaps, np.inf)
    return gaps / radii.max()


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n_blobs=st.integers(2, 8), extra_dims=st.integers(0, 6), data_seed=st.integers(0, 10_000),
       seed=st.integers(0, 2**31 - 1))
def test_one_anchor_per_blob_for_blobs_separated_in_the_direct_space(make_blobs, n_blobs, extra_dims, data_seed,
                                                                     seed):
    """DIRECT's guarantee is about its own space S, not the input space (see the next test).

    Blobs far apart in X can overlap in S when Kaiser's rule drops the direction that
    separates them; the property is stated for blobs that stay apart in S, with a margin of
    one blob radius between their bounding balls. Measured over 300 random draws of this
    domain: 253 meet the margin and all 253 got one anchor per blob; the 3 failures all had
    overlapping blobs in S.
    """
    X, blob = make_blobs(n_blobs=n_blobs, dim=n_blobs + extra_dims, seed=data_seed)
    sampler = DIRECTSampler(n_anchors=n_blobs, random_state=seed)
    scores = KaiserPCASpace().fit(X).transform(X)  # the S that fit() builds: same data, deterministic
    assume(_blob_gaps(scores, blob).min() >= 1.0)
    anchors = sampler.fit(X).anchors_
    assert sorted(blob[anchors]) == list(range(n_blobs))


def test_kaiser_truncation_can_merge_blobs_that_are_far_apart_in_x(make_blobs):
    """The limitation documented in DIRECTSampler: Kaiser's rule drops a separating direction.

    Counterexample found by the property test on 2026-12-02 (7 blobs, 8 dims, data seed 132).
    The blobs span 6 between-blob directions; Kaiser keeps 3. The offset between the two
    smallest blobs lies mostly along dropped components (eigenvalues between 0.5 and 1: far
    above the within-blob noise, below Kaiser's cut), so in S those blobs overlap and the
    clustering, which sees only S, puts both in one cluster and splits another blob instead.
    """
    n_blobs = 7
    X, blob = make_blobs(n_blobs=n_blobs, dim=8, seed=132)
    sampler = DIRECTSampler(n_anchors=n_blobs, random_state=0).fit(X)
    space = sampler.space_
    standardised = space.scaler_.transform(X.astype(np.float64))
    scores = space.transform(X)
    eigenvalues = space.pca_.explained_variance_
    assert space.n_components_ == 3
    # components 4..6 separate blobs (eigenvalue >> the noise ones, 7 and 8) but fall under Kaiser's cut
    assert np.all((eigenvalues[3:6] > 0.5) & (eigenvalues[3:6] < 1.0)) and np.all(eigenvalues[6:] < 0.05)

    assert _blob_gaps(standardised, blob).min() > 5.0  # far apart before the projection (5 blob radii)
    gaps_in_s = _blob_gaps(scores, blob)
    a, b = np.unravel_index(gaps_in_s.argmin(), gaps_in_s.shape)
    assert gaps_in_s[a, b] < 0.0  # overlapping bounding balls in S
    # with the dropped separating components kept (same weighting), the pair is apart again
    components = space.pca_.transform(standardised)
    six = components[:, :6] * space.pca_.explained_variance_ratio_[:6]
    assert _blob_gaps(six, blob)[a, b] > 1.0
    offset = components[blob == a].mean(axis=0) - components[blob == b].mean(axis=0)
    assert np.linalg.norm(offset[:3]) < 0.05 * np.linalg.norm(offset)  # < 5% of the offset survives truncation

    # Ward's criterion in S prefers DIRECT's wrong partition to the true one
    def within_sum_of_squares(labels):
        return sum(((scores[labels == c] - scores[labels == c].mean(axis=0)) ** 2).sum() for c in np.unique(labels))

    assert within_sum_of_squares(sampler.labels_) < within_sum_of_squares(blob)
    merged = np.unique(sampler.labels_[(blob == a) | (blob == b)])
    assert merged.size == 1  # both blobs in one cluster
    per_blob = np.bincount(blob[sampler.anchors_], minlength=n_blobs)
    assert per_blob[a] + per_blob[b] == 1
    assert sorted(per_blob) == [0, 1, 1, 1, 1, 1, 2]  # the anchor saved there went to a split blob


def test_subsampled_threshold_search_matches_k_on_larger_data(make_blobs):
    X, blob = make_blobs(n_blobs=6, dim=8, seed=11)
    sampler = DIRECTSampler(n_anchors=6, random_state=0, search_sample_size=300).fit(X)
    assert X.shape[0] > 300
    assert sorted(blob[sampler.anchors_]) == list(range(6))


def test_fewer_distinct_rows_than_k_is_a_clear_error():
    rng = np.random.default_rng(0)
    distinct = rng.normal(size=(4, 5))
    X = np.repeat(distinct, 10, axis=0)
    with pytest.raises(AnchorError, match="only 4 distinct rows"):
        DIRECTSampler(n_anchors=5).fit(X)
    assert np.unique(X[DIRECTSampler(n_anchors=4).fit(X).anchors_], axis=0).shape[0] == 4


@pytest.mark.parametrize("k", [0, -3, 61])
def test_bad_k_is_rejected(blobs, k):
    X, _ = blobs
    with pytest.raises(AnchorError, match="anchors"):
        DIRECTSampler(n_anchors=k).fit(X[:60])


def test_non_finite_rows_are_rejected(blobs):
    X, _ = blobs
    X = X.copy()
    X[17, 3] = np.nan
    with pytest.raises(AnchorError, match="row 17"):
        DIRECTSampler(n_anchors=3).fit(X)
    X[17, 3] = np.inf
    with pytest.raises(AnchorError, match="NaN or inf"):
        DIRECTSampler(n_anchors=3).fit(X)


def test_constant_data_has_no_principal_component():
    with pytest.raises(AnchorError, match="no variance"):
        DIRECTSampler(n_anchors=1).fit(np.ones((10, 3)))


@pytest.mark.parametrize(
    "options, message",
    [({"threshold_init": 0.0}, "threshold_init"), ({"max_subclusters": 2}, "max_subclusters"),
     ({"max_fits": 0}, "max_fits")],
)
def test_bad_parameters_are_rejected(blobs, options, message):
    X, _ = blobs
    with pytest.raises(AnchorError, match=message):
        DIRECTSampler(n_anchors=5, **options).fit(X)


def test_exhausted_threshold_search_reports_what_it_tried(blobs):
    X, _ = blobs
    with pytest.raises(DIRECTConvergenceError, match=r"no Birch threshold gave 5\.\.2000 subclusters .* in 2 fits"):
        DIRECTSampler(n_anchors=5, threshold_init=100.0, max_fits=2).fit(X)


def test_orphan_subclusters_are_left_out_of_the_global_step():
    """A CF-tree centre nearest to no row must not become a cluster of its own (an empty cluster, no anchor)."""
    from types import SimpleNamespace

    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    rows = np.repeat(centres, 20, axis=0) + 0.1 * rng.normal(size=(60, 2))
    # Ward on all four centres puts the far orphan alone and merges two real ones: one cluster empty
    birch = SimpleNamespace(subcluster_centers_=np.vstack([centres, [[100.0, 100.0]]]))
    sampler = DIRECTSampler(n_anchors=3)
    labels = sampler._merge_without_orphans(rows, birch, 3)
    assert sampler.orphan_subclusters_ == 1
    assert np.bincount(labels, minlength=3).tolist() == [20, 20, 20]
    assert len({tuple(np.unique(labels[i * 20:(i + 1) * 20])) for i in range(3)}) == 3  # one label per blob
    from platonic.anchors.direct import DIRECTConvergenceError
    with pytest.raises(DIRECTConvergenceError, match="only 3 Birch subclusters"):
        sampler._merge_without_orphans(rows, birch, 4)
