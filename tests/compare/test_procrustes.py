import numpy as np
import pytest
from scipy.linalg import orthogonal_procrustes
from scipy.spatial import procrustes as scipy_procrustes
from scipy.stats import ortho_group

from platonic.compare import MetricInputError, permutation_null, procrustes_score


def reference_score(A, B):
    """Pad, centre, normalise, solve with scipy's orthogonal_procrustes, apply the definition."""
    width = max(A.shape[1], B.shape[1])
    A = np.pad(A - A.mean(0), [(0, 0), (0, width - A.shape[1])])
    B = np.pad(B - B.mean(0), [(0, 0), (0, width - B.shape[1])])
    A, B = A / np.linalg.norm(A), B / np.linalg.norm(B)
    Q, _ = orthogonal_procrustes(B, A)
    return 1 - np.linalg.norm(A - B @ Q) ** 2 / (np.linalg.norm(A) ** 2 + np.linalg.norm(B) ** 2)


def test_identical_and_rotated_copies_score_one():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(300, 12))
    rotated = 3.0 * A @ ortho_group.rvs(12, random_state=1) + 5.0
    assert procrustes_score(A, A) == pytest.approx(1.0, abs=1e-12)
    assert procrustes_score(A, rotated) == pytest.approx(1.0, abs=1e-12)


def test_matches_scipy_procrustes_disparity():
    rng = np.random.default_rng(1)
    A = rng.normal(size=(200, 6))
    B = A @ rng.normal(size=(6, 6)) + 0.5 * rng.normal(size=(200, 6))
    _, _, disparity = scipy_procrustes(A, B)
    # scipy's disparity is ||A - BQs||^2 with the optimal scale s; equals 1 - score^2.
    assert procrustes_score(A, B) == pytest.approx(np.sqrt(1 - disparity), abs=1e-10)


@pytest.mark.parametrize("widths", [(20, 20), (8, 30), (30, 8)])
def test_matches_definition_with_zero_padding(widths):
    rng = np.random.default_rng(2)
    A = rng.normal(size=(400, widths[0]))
    B = rng.normal(size=(400, widths[1])) + A[:, :1]
    assert procrustes_score(A, B) == pytest.approx(reference_score(A, B), abs=1e-10)


def test_independent_random_data_scores_about_0_17():
    rng = np.random.default_rng(3)
    score = procrustes_score(rng.normal(size=(500, 20)), rng.normal(size=(500, 20)))
    assert 0.14 < score < 0.20


def test_permutation_null_is_near_random_level_and_reproducible():
    rng = np.random.default_rng(4)
    A = rng.normal(size=(500, 20))
    B = A + 0.1 * rng.normal(size=(500, 20))
    mean, std = permutation_null(procrustes_score, A, B, n_permutations=5, random_state=7)
    assert 0.14 < mean < 0.20 and 0 < std < 0.02
    assert procrustes_score(A, B) > mean + 10 * std
    assert permutation_null(procrustes_score, A, B, n_permutations=5, random_state=7) == (mean, std)


def test_bad_inputs_raise():
    rng = np.random.default_rng(5)
    with pytest.raises(MetricInputError, match="same number of rows"):
        procrustes_score(rng.normal(size=(10, 3)), rng.normal(size=(11, 3)))
    with pytest.raises(MetricInputError, match="zero variance"):
        procrustes_score(np.ones((10, 3)), rng.normal(size=(10, 3)))
    with pytest.raises(MetricInputError, match="NaN"):
        procrustes_score(np.full((10, 3), np.nan), rng.normal(size=(10, 3)))
    with pytest.raises(MetricInputError, match="2-D"):
        procrustes_score(rng.normal(size=10), rng.normal(size=10))
