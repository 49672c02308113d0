"""DIRECT at the size of full MP-20 (282,847 atoms): slow, run with ``-m slow``."""

from __future__ import annotations

import time

import numpy as np
import pytest

from platonic.anchors import DIRECTSampler


def clustered_embeddings(n_rows: int, dim: int, seed: int) -> np.ndarray:
    """300 chemical 'environments' on a 12-dim manifold, lifted to ``dim`` features, 10% duplicated rows."""
    rng = np.random.default_rng(seed)
    centres = 3.0 * rng.normal(size=(300, 12))
    latent = centres[rng.integers(0, 300, n_rows)] + rng.normal(size=(n_rows, 12))
    X = (latent @ rng.normal(size=(12, dim)) + 0.3 * rng.normal(size=(n_rows, dim))).astype(np.float32)
    X[n_rows // 2 : n_rows // 2 + n_rows // 10] = X[: n_rows // 10]  # symmetry-equivalent atoms
    return X


@pytest.mark.slow
@pytest.mark.parametrize("k", [100, 400])
def test_direct_on_full_mp20_size_takes_few_fits(k):
    X = clustered_embeddings(282_847, 64, seed=0)
    start = time.perf_counter()
    sampler = DIRECTSampler(n_anchors=k, random_state=0).fit(X)
    elapsed = time.perf_counter() - start
    assert np.unique(X[sampler.anchors_], axis=0).shape[0] == k
    assert k <= sampler.n_subclusters_ <= max(10 * k, 2000)
    assert sampler.n_birch_fits_ <= 12
    assert (sampler.cluster_sizes_ > 0).all()
    print(f"DIRECT K={k} on 282,847 x 64: {elapsed:.1f} s, {sampler.n_birch_fits_} Birch fits")
