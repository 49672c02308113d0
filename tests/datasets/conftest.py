"""Shared fixtures for the datasets tests: small real MP-20 subsamples."""

from __future__ import annotations

import pytest

import platonic.datasets as datasets


@pytest.fixture(scope="session")
def mp20_sample() -> datasets.Dataset:
    """50 real MP-20 structures (all splits), the same every run."""
    return datasets.load("mp20", n=50, seed=0)
