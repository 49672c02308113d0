"""DIRECT anchor sampling: dimensionality reduction, Birch clustering, one atom per cluster."""

from __future__ import annotations

import math

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.cluster import Birch

from platonic.anchors._validation import AnchorError, check_embeddings, check_n_anchors
from platonic.anchors.space import KaiserPCASpace
from platonic.errors import PlatonicError


class DIRECTConvergenceError(PlatonicError, RuntimeError):
    """Birch did not give K usable clusters (threshold search exhausted, or an empty cluster)."""


class DIRECTSampler(BaseEstimator):
    """Choose ``n_anchors`` rows that cover the embedding cloud (DIRECT, Qi et al. 2024).

    Steps, following maml's ``DIRECTSampler`` (``maml/sampling``):

    1. Map ``X`` into the :class:`~platonic.anchors.space.KaiserPCASpace`: standardise,
       keep the principal components with eigenvalue > 1, multiply each by its explained
       variance ratio. Call the result ``S`` (``n × m``).
    2. Build a Birch CF-tree on ``S`` with threshold ``t``: a point joins the closest
       subcluster if the merged radius stays ``<= t``. ``t`` is searched (below) so that
       the tree holds between ``K`` and ``max_subclusters`` subclusters.
    3. Merge the subcluster centres into exactly ``K`` clusters with Birch's global step
       (scikit-learn's ``AgglomerativeClustering``, Ward linkage), and label every row by
       the cluster of its nearest subcluster centre (``Birch.predict``).
    4. From each cluster ``c`` take the member nearest the cluster's centroid
       ``μ_c = mean{S_i : label_i = c}`` (ties: the lowest row index).

    Threshold search. maml starts at ``t = 0.5`` and rescales ``t ← t·S/K`` after every fit
    until it has ``S >= K`` subclusters; ``0.5`` ignores the scale of ``S`` and the loop
    took about 200 s on 50k atoms. Here ``t`` is measured in units of the spread
    ``σ = sqrt(Σ_j Var(S_j))`` (the RMS distance to the mean) and searched by bisection on
    ``log t``: first on a seeded subsample of ``search_sample_size`` rows, aiming at
    ``K..2K`` subclusters (cheap fits), then on all rows, aiming at ``K..max_subclusters``
    (the subcluster count grows with the number of rows at a fixed threshold). Birch's
    result depends on the order rows enter the tree; rows enter in an order drawn from
    ``random_state``, so the anchors do not depend on how the dataset happens to be sorted, and
    ``random_state`` is what differs between repeated draws.

    Choices that differ from maml: the centroid in step 4 is the mean of the cluster's
    members (maml uses the centre of one of its subclusters); the rows enter in a seeded
    random order (maml uses the given order).

    Limitation (inherent to DIRECT as published, not to this implementation). Kaiser's rule
    keeps components by the variance they explain, not by whether they separate groups. Two
    groups of ``n_a`` and ``n_b`` of ``n`` rows, ``d`` apart, add about ``n_a n_b d² / n²`` of
    variance along their offset, so the direction separating two small groups can get
    ``λ < 1`` and be dropped; the groups then overlap in ``S``, and steps 2-4, which see only
    ``S``, cannot give each its own anchor. Measured on the test blobs (7 unit-variance blobs
    56.6 apart in 8 dimensions, 20..400 rows each, data seed 132): the blobs span 6
    directions and Kaiser keeps 3 (``λ`` = 2.29, 2.08, 1.40; dropped 0.93, 0.76, 0.55, then
    the noise at 0.01). The two smallest blobs (74 and 79 rows, 23 RMS radii apart after
    standardising) keep 4% of their offset in the kept components; in ``S`` their centres
    are 0.064 apart at RMS radii 0.034, no hyperplane separates them (LDA: 94%), and the
    partition with both in one cluster and the largest blob split has a lower Ward sum of
    squares than the true one (2.0713 vs 2.0719). So one blob gets no anchor and another two.
    With 4 or more components kept, 20 of 20 seeds give one anchor per blob; with Kaiser's 3,
    8 of 20. Over 300 random 2..8-blob draws 3 failed (1%), all with blobs overlapping in
    ``S``; none failed where every two blobs' bounding balls in ``S`` were disjoint, and none
    with all components kept. maml's pipeline uses the same space, so it shares the
    limitation; its coarser threshold search changes only which side of the overlap an
    anchor falls on (a Birch fit on ``S`` at maml's threshold mixes 13 rows of the two blobs).
    Anchors therefore cover the structure visible in the Kaiser space, not every group of
    the input.

    Parameters
    ----------
    n_anchors : int
        Number of anchors ``K`` (= number of clusters).
    threshold_init : float
        First Birch threshold tried, as a fraction of the spread ``σ``.
    random_state : int or numpy Generator
        Seed for the insertion order and the search subsample.
    max_subclusters : int or None
        Most subclusters accepted before the global step (bounds its ``O(S²)`` Ward cost).
        ``None`` means ``max(10·K, 2000)``.
    search_sample_size : int
        Rows in the subsample used for the first stage of the threshold search.
    max_fits : int
        Most Birch fits in each stage of the search before :class:`DIRECTConvergenceError`.
    branching_factor : int
        Birch's branching factor.

    Attributes
    ----------
    anchors_ : ndarray of shape (K,)
        Row indices of the anchors; ``anchors_[c]`` is the representative of cluster ``c``.
    labels_ : ndarray of shape (n,)
        Cluster of every row.
    cluster_sizes_ : ndarray of shape (K,)
        Number of rows in each cluster.
    n_features_in_ : int
        Columns of the X given to ``fit``.
    n_components_ : int
        Principal components kept by Kaiser's rule.
    explained_variance_ratio_ : ndarray of shape (n_components_,)
    space_ : KaiserPCASpace
        The fitted feature space.
    spread_ : float
        ``σ`` of the weighted scores.
    threshold_ : float
        Birch threshold used for the final tree, in the units of ``S``.
    n_subclusters_ : int
        Subclusters in the final tree.
    n_birch_fits_ : int
        Birch fits performed by the search (both stages).
    """

    def __init__(
        self,
        n_anchors: int,
        threshold_init: float = 0.1,
        random_state: int = 0,
        max_subclusters: int | None = None,
        search_sample_size: int = 20_000,
        max_fits: int = 30,
        branching_factor: int = 50,
    ):
        self.n_anchors = n_anchors
        self.threshold_init = threshold_init
        self.random_state = random_state
        self.max_subclusters = max_subclusters
        self.search_sample_size = search_sample_size
        self.max_fits = max_fits
        self.branching_factor = branching_factor

    def fit(self, X: np.ndarray, y: None = None) -> "DIRECTSampler":
        data = check_embeddings(X)
        n_rows, self.n_features_in_ = data.shape
        k = check_n_anchors(self.n_anchors, n_rows)
        self._check_parameters(k)
        max_subclusters = self.max_subclusters if self.max_subclusters is not None else max(10 * k, 2000)

        self.space_ = KaiserPCASpace(weight_by_variance_ratio=True).fit(data)
        scores = self.space_.transform(data)
        self.n_components_ = self.space_.n_components_
        self.explained_variance_ratio_ = self.space_.explained_variance_ratio_

        n_distinct = np.unique(scores, axis=0).shape[0]
        if n_distinct < k:
            raise AnchorError(
                f"cannot choose {k} anchors: X has only {n_distinct} distinct rows in the "
                f"standardised PCA space ({self.n_components_} components)"
            )
        self.spread_ = float(np.sqrt(scores.var(axis=0).sum()))

        rng = np.random.default_rng(self.random_state)
        insertion_order = rng.permutation(n_rows)
        self._n_fits = 0
        threshold = self.threshold_init * self.spread_
        if n_rows > self.search_sample_size:
            sample = scores[insertion_order[: self.search_sample_size]]
            sample_distinct = np.unique(sample, axis=0).shape[0]
            threshold, _ = self._search_threshold(sample, threshold, min(k, sample_distinct), 2 * k)
        threshold, birch = self._search_threshold(scores[insertion_order], threshold, k, max_subclusters)

        # partial_fit() without data runs only Birch's global step (Ward on the subcluster centres).
        birch.set_params(n_clusters=k)
        birch.partial_fit()
        labels = birch.predict(scores)

        self.orphan_subclusters_ = 0
        if np.bincount(labels, minlength=k).min() == 0:
            labels = self._merge_without_orphans(scores, birch, k)

        self.threshold_ = threshold
        self.n_subclusters_ = int(birch.subcluster_centers_.shape[0])
        self.n_birch_fits_ = self._n_fits
        self.labels_ = labels
        self.cluster_sizes_ = np.bincount(labels, minlength=k)
        if np.any(self.cluster_sizes_ == 0):
            empty = np.flatnonzero(self.cluster_sizes_ == 0)
            raise DIRECTConvergenceError(
                f"{empty.size} Birch cluster(s) received no rows when rows were assigned to their "
                f"nearest subcluster (threshold {threshold:.3g}); try another random_state or max_subclusters"
            )
        self.anchors_ = _members_nearest_centroid(scores, labels, k)
        return self

    def _merge_without_orphans(self, scores: np.ndarray, birch: Birch, k: int) -> np.ndarray:
        """Step 3 again on the subclusters that are some row's nearest centre.

        A CF-tree centre moves as points join, so on large inputs some centres end up nearest
        to no row ("orphans": 4 of 789 on 347,703 MP-20-shaped rows at K = 400). If Ward puts only
        orphans into a cluster, that cluster gets no rows and no anchor. Orphans describe no
        data, so the global step is rerun on the others, which leaves every cluster with at
        least one row. Runs only when a cluster came out empty, so other fits are unchanged.
        """
        from sklearn.cluster import AgglomerativeClustering
        from sklearn.metrics import pairwise_distances_argmin

        nearest = pairwise_distances_argmin(scores, birch.subcluster_centers_)
        used, inverse = np.unique(nearest, return_inverse=True)
        self.orphan_subclusters_ = int(birch.subcluster_centers_.shape[0] - used.size)
        if used.size < k:
            raise DIRECTConvergenceError(
                f"only {used.size} Birch subclusters are the nearest centre of any row, fewer than the "
                f"{k} clusters asked for; try another random_state or max_subclusters"
            )
        merged = AgglomerativeClustering(n_clusters=k).fit_predict(birch.subcluster_centers_[used])
        return merged[inverse.ravel()]

    def _check_parameters(self, k: int) -> None:
        if not (isinstance(self.threshold_init, (int, float)) and self.threshold_init > 0):
            raise AnchorError(f"threshold_init must be a positive number, got {self.threshold_init!r}")
        if self.max_subclusters is not None and self.max_subclusters < k:
            raise AnchorError(f"max_subclusters ({self.max_subclusters}) must be >= n_anchors ({k})")
        if self.search_sample_size < 2:
            raise AnchorError(f"search_sample_size must be >= 2, got {self.search_sample_size}")
        if self.max_fits < 1:
            raise AnchorError(f"max_fits must be >= 1, got {self.max_fits}")

    def _search_threshold(
        self, points: np.ndarray, threshold: float, fewest: int, most: int
    ) -> tuple[float, Birch]:
        """Bisect ``log t`` until Birch on ``points`` holds ``fewest..most`` subclusters.

        The subcluster count falls as ``t`` grows. Until both sides are bracketed the step
        is a factor of 4; afterwards ``t`` is the geometric mean of the bracket.
        """
        too_small: float | None = None  # a threshold known to give more than `most`
        too_large: float | None = None  # a threshold known to give fewer than `fewest`
        counts: list[tuple[float, int]] = []
        for _ in range(self.max_fits):
            birch = Birch(
                threshold=threshold,
                branching_factor=self.branching_factor,
                n_clusters=None,
                compute_labels=False,
            ).fit(points)
            self._n_fits += 1
            n_subclusters = birch.subcluster_centers_.shape[0]
            counts.append((threshold, n_subclusters))
            if fewest <= n_subclusters <= most:
                return threshold, birch
            if n_subclusters < fewest:
                too_large = threshold
            else:
                too_small = threshold
            if too_small is not None and too_large is not None:
                threshold = math.sqrt(too_small * too_large)
            elif too_large is not None:
                threshold = too_large / 4.0
            else:
                threshold = threshold * 4.0
        tried = ", ".join(f"t={t:.3g}: {s}" for t, s in counts)
        raise DIRECTConvergenceError(
            f"no Birch threshold gave {fewest}..{most} subclusters on {points.shape[0]} rows "
            f"in {self.max_fits} fits ({tried})"
        )


def _members_nearest_centroid(points: np.ndarray, labels: np.ndarray, n_clusters: int) -> np.ndarray:
    """For each cluster, the row nearest the mean of its members (ties: lowest row index)."""
    sizes = np.bincount(labels, minlength=n_clusters).astype(np.float64)
    centroids = np.stack(
        [np.bincount(labels, weights=points[:, j], minlength=n_clusters) for j in range(points.shape[1])],
        axis=1,
    ) / sizes[:, None]
    distances = np.linalg.norm(points - centroids[labels], axis=1)
    # lexsort is stable: among equal distances the lower row index comes first.
    order = np.lexsort((distances, labels))
    first_of_cluster = np.searchsorted(labels[order], np.arange(n_clusters))
    return order[first_of_cluster].astype(np.int64)
