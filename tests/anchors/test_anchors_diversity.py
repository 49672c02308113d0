from __future__ import annotations

import numpy as np
import pytest

from sklearn.metrics import silhouette_score

from platonic.anchors import AnchorError, KaiserPCASpace, anchor_diversity, diversity_table, select_anchors


def kaiser_coordinates(X: np.ndarray, weighted: bool) -> np.ndarray:
    """Independent standardised Kaiser PCA by an eigendecomposition of the covariance."""
    standardised = (X - X.mean(axis=0)) / X.std(axis=0)
    eigenvalues, eigenvectors = np.linalg.eigh(np.cov(standardised, rowvar=False))
    order = np.argsort(eigenvalues)[::-1]
    eigenvalues, eigenvectors = eigenvalues[order], eigenvectors[:, order]
    kept = eigenvalues > 1
    coordinates = standardised @ eigenvectors[:, kept]
    if weighted:
        coordinates *= eigenvalues[kept] / eigenvalues.sum()
    return coordinates


def brute_force_silhouette(points: np.ndarray, labels: np.ndarray) -> float:
    distances = np.linalg.norm(points[:, None, :] - points[None, :, :], axis=2)
    values = []
    for i, own in enumerate(labels):
        same = labels == own
        if same.sum() == 1:
            values.append(0.0)  # Rousseeuw's convention for singleton clusters
            continue
        a = distances[i, same].sum() / (same.sum() - 1)
        b = min(distances[i, labels == other].mean() for other in np.unique(labels) if other != own)
        values.append((b - a) / max(a, b))
    return float(np.mean(values))


@pytest.mark.parametrize("weighted", [False, True])
def test_measures_match_an_independent_computation(weighted):
    rng = np.random.default_rng(7)
    X = rng.normal(size=(300, 6)) @ rng.normal(size=(6, 6)) + rng.normal(size=6)
    anchors = np.array([3, 50, 101, 200, 299])
    result = anchor_diversity(X, anchors, weight_by_variance_ratio=weighted, silhouette_sample_size=1000)
    coordinates = kaiser_coordinates(X, weighted)
    anchor_points = coordinates[anchors]
    pair_distances = [np.linalg.norm(anchor_points[i] - anchor_points[j])
                      for i in range(len(anchors)) for j in range(i + 1, len(anchors))]
    assert result["mean_pairwise_distance"] == pytest.approx(np.mean(pair_distances), rel=1e-9)
    cells = np.argmin(np.linalg.norm(coordinates[:, None, :] - anchor_points[None], axis=2), axis=1)
    assert result["silhouette"] == pytest.approx(brute_force_silhouette(coordinates, cells), rel=1e-9)
    assert result["n_components"] == coordinates.shape[1]
    assert result["n_silhouette_rows"] == 300


def test_silhouette_subsample_is_seeded():
    X = np.random.default_rng(0).normal(size=(2000, 5))
    anchors = np.arange(0, 2000, 100)
    first = anchor_diversity(X, anchors, silhouette_sample_size=500, random_state=3)
    assert first == anchor_diversity(X, anchors, silhouette_sample_size=500, random_state=3)
    assert first["n_silhouette_rows"] == 500
    assert first["silhouette"] != anchor_diversity(X, anchors, silhouette_sample_size=500, random_state=4)["silhouette"]


def test_direct_anchors_are_farther_apart_than_random_ones_on_blobs(make_blobs):
    # Equidistant blobs: one anchor per blob gives every pair the full spacing, while
    # random draws put some pairs in the same blob.
    X, blob = make_blobs(n_blobs=10, dim=12, seed=5, symmetric=True)
    table = diversity_table(X, 10, methods=("direct", "random"), seeds=(0, 42, 12345))
    assert list(table.columns) == ["method", "seed", "n_anchors", "mean_pairwise_distance", "silhouette",
                                   "n_components", "n_silhouette_rows", "select_seconds"]
    assert len(table) == 6
    direct = table[table.method == "direct"].set_index("seed")
    random = table[table.method == "random"].set_index("seed")
    assert (direct.mean_pairwise_distance > random.mean_pairwise_distance).all()
    # One anchor per blob: the anchors' Voronoi cells are exactly the blobs.
    coordinates = KaiserPCASpace(weight_by_variance_ratio=False).fit_transform(X)
    assert np.allclose(direct.silhouette, silhouette_score(coordinates, blob), rtol=1e-9)
    assert (direct.silhouette > random.silhouette).all()
    assert table.silhouette.between(-1, 1).all()


def test_table_rows_match_single_evaluations(blobs):
    X, _ = blobs
    table = diversity_table(X, 5, methods=("fps",), seeds=(1,))
    single = anchor_diversity(X, select_anchors(X, 5, method="fps", random_state=1), random_state=1)
    assert table.loc[0, "mean_pairwise_distance"] == single["mean_pairwise_distance"]
    assert table.loc[0, "silhouette"] == single["silhouette"]


def test_bad_anchor_sets_are_rejected(blobs):
    X, _ = blobs
    with pytest.raises(AnchorError, match="at least 2 anchors"):
        anchor_diversity(X, np.array([4]))
    with pytest.raises(AnchorError, match="more than once"):
        anchor_diversity(X, np.array([4, 4, 5]))
    with pytest.raises(AnchorError, match="lie in"):
        anchor_diversity(X, np.array([4, X.shape[0]]))
    duplicated = np.vstack([X, X[:1]])
    with pytest.raises(AnchorError, match="identical embeddings"):
        anchor_diversity(duplicated, np.array([0, X.shape[0]]))
    with pytest.raises(AnchorError, match="integer"):
        anchor_diversity(X, np.array([0.0, 1.0]))
