import numpy as np
import ot
import pytest

from platonic.compare import MetricInputError, entropic_ot, score_ot, score_ot_details
from platonic.compare.ot import _Sinkhorn


@pytest.fixture
def clouds():
    rng = np.random.default_rng(0)
    return rng.normal(size=(60, 3)), rng.normal(size=(60, 3)) * 1.5 + 0.5


def test_entropic_ot_tends_to_exact_emd(clouds):
    A, B = clouds
    w = np.full(60, 1 / 60)
    exact = ot.emd2(w, w, ot.dist(A, B))
    mean_cost = ot.dist(A, B).mean()
    gaps = []
    for reg in (0.1, 0.03, 0.01):
        eps = reg * mean_cost
        gap = entropic_ot(A, B, eps, method="sinkhorn_log", num_iter_max=50_000) - exact
        # OT_0 <= OT_eps <= <P_0, C> + eps KL(P_0 | a b^T) = OT_0 + eps log n (P_0 a permutation).
        assert -1e-9 <= gap <= eps * np.log(60)
        gaps.append(gap)
    assert gaps[0] > gaps[1] > gaps[2]
    assert gaps[2] < gaps[0] / 3


def test_identical_clouds_score_zero(clouds):
    A, _ = clouds
    assert score_ot(A, A.copy()) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("reg", [0.05, 0.5])
def test_translation_costs_squared_shift_exactly(clouds, reg):
    A, _ = clouds
    shift = np.array([0.3, -1.0, 0.7])
    details = score_ot_details(A, A + shift, reg=reg)
    assert details.divergence == pytest.approx(shift @ shift, rel=1e-6)
    assert details.score == pytest.approx(shift @ shift / details.mean_cost, rel=1e-6)
    w = np.full(60, 1 / 60)
    assert ot.emd2(w, w, ot.dist(A, A + shift)) == pytest.approx(shift @ shift, rel=1e-9)


def test_symmetric_solver_agrees_with_pot(clouds):
    A, _ = clouds
    cost = ot.dist(A, A)
    eps = 0.1 * cost.mean()
    ours = _Sinkhorn(num_iter_max=10_000, stop_threshold=1e-12, marginal_tolerance=1e-9).symmetric(cost, eps)
    assert ours == pytest.approx(entropic_ot(A, A, eps, num_iter_max=200_000, stop_threshold=1e-12), rel=1e-8)


def test_divergence_is_positive_and_details_are_reported(clouds):
    A, B = clouds
    details = score_ot_details(np.vstack([A, A]), np.vstack([B, B]), n_samples=50, random_state=4)
    assert details.score > 0 and details.n == 50 and details.n_total == 120 and details.seed == 4
    assert details.eps == pytest.approx(0.05 * details.mean_cost)


def test_stratified_sample_keeps_class_proportions(clouds):
    A, B = clouds
    labels = np.repeat([0, 1, 2], 20)
    from platonic.compare.ot import sample_rows

    rows = sample_rows(60, 30, random_state=1, strata=labels)
    assert np.bincount(labels[rows]).tolist() == [10, 10, 10]
    assert score_ot_details(A, B, n_samples=30, strata=labels).n == 30
    rare = np.array([0] * 57 + [1, 2, 3])  # labels with a single row: proportional shares, no crash
    rows = sample_rows(60, 20, random_state=2, strata=rare)
    assert rows.size == 20 and np.unique(rows).size == 20 and np.sum(rare[rows] == 0) >= 19


def test_bad_inputs_raise(clouds):
    A, B = clouds
    with pytest.raises(MetricInputError, match="same width"):
        score_ot(A, B[:, :2])
    with pytest.raises(MetricInputError, match="reg"):
        score_ot(A, B, reg=0)


def test_unconverged_sinkhorn_is_an_error_not_a_number(clouds):
    from platonic.compare.ot import SinkhornConvergenceError, entropic_ot

    A, B = clouds
    with pytest.raises(SinkhornConvergenceError, match="Sinkhorn \\(sinkhorn\\) at eps="):
        entropic_ot(A, B + 3.0, eps=1e-3, num_iter_max=2)
    with pytest.raises(SinkhornConvergenceError, match="symmetric Sinkhorn at eps="):
        cost = ot.dist(A, A)
        _Sinkhorn(num_iter_max=1, stop_threshold=1e-9, marginal_tolerance=1e-6).symmetric(cost, 0.05 * cost.mean())


@pytest.mark.parametrize("reg", [0.01, 0.05, 0.5])
@pytest.mark.parametrize("shape", [(60, 60), (45, 70)])
def test_cross_solver_gives_pots_plan_to_the_bit(reg, shape):
    # the same iterations as POT's sinkhorn_knopp, only its marginal check is read from the next product
    rng = np.random.default_rng(int(reg * 100) + shape[1])
    A, B = rng.standard_normal((shape[0], 6)), rng.standard_normal((shape[1], 6)) + 0.3
    cost = ot.dist(A, B, metric="sqeuclidean")
    eps = reg * cost.mean()
    a, b = np.full(shape[0], 1 / shape[0]), np.full(shape[1], 1 / shape[1])
    for stop in (1e-9, 1e-6, 1e-3):
        solver = _Sinkhorn(stop_threshold=stop)
        expected = ot.sinkhorn(a, b, cost, eps, method="sinkhorn", numItermax=solver.num_iter_max, stopThr=stop)
        np.testing.assert_array_equal(solver._sinkhorn_knopp(a, b, cost, eps), expected)
