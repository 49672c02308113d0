"""Fixtures for the anchor tests: well-separated Gaussian blobs, whose right anchors are known."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import ortho_group


def separated_blobs(
    n_blobs: int, dim: int, seed: int, spacing: float = 40.0, symmetric: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian blobs (unit std) at the vertices of a randomly rotated simplex, unequal sizes.

    Every pair of centres is ``spacing·√2`` apart, far beyond the blob width, so any
    sensible clustering recovers the blobs exactly. Sizes range 20..400 so that uniform
    sampling favours the big blobs.

    ``symmetric=True``: no rotation and 200 points per blob. Standardisation scales each
    feature separately, so only then do all centres stay equidistant in the standardised
    PCA space.
    """
    if dim < n_blobs:
        raise ValueError("dim must be >= n_blobs for simplex centres")
    rng = np.random.default_rng(seed)
    centres = spacing * np.eye(n_blobs, dim)
    if not symmetric and dim > 1:
        centres = centres @ ortho_group.rvs(dim, random_state=seed)
    sizes = np.full(n_blobs, 200) if symmetric else rng.integers(20, 401, size=n_blobs)
    labels = np.repeat(np.arange(n_blobs), sizes)
    points = centres[labels] + rng.normal(size=(labels.size, dim))
    order = rng.permutation(labels.size)
    return points[order].astype(np.float32), labels[order]


@pytest.fixture(scope="session")
def make_blobs():
    return separated_blobs


@pytest.fixture(scope="module")
def blobs() -> tuple[np.ndarray, np.ndarray]:
    return separated_blobs(n_blobs=10, dim=16, seed=3)
