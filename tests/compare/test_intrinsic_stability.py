"""TwoNN on manifolds of known dimension (checked against scikit-dimension) and its stability verdict."""

import numpy as np
import pytest

from platonic.compare.intrinsic import one_per_class, two_nn_dimension, twonn_stability


def embed(points, ambient=100, noise=1e-4, seed=0):
    """Points placed in R^ambient by a random isometry, plus isotropic Gaussian noise."""
    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(rng.normal(size=(ambient, points.shape[1])))
    return points @ basis.T + noise * rng.normal(size=(points.shape[0], ambient))


def sphere(n, d, seed=0):
    x = np.random.default_rng(seed).normal(size=(n, d + 1))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def torus(n, seed=0):  # flat 2-torus in R^4
    angles = np.random.default_rng(seed).uniform(0, 2 * np.pi, size=(n, 2))
    return np.hstack([np.cos(angles), np.sin(angles)])


def linear(n, d, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, size=(n, d))


MANIFOLDS = [("sphere-2", sphere(1500, 2), 2), ("sphere-5", sphere(1500, 5), 5), ("torus-2", torus(1500), 2),
             ("linear-3", linear(1500, 3), 3), ("linear-8", linear(1500, 8), 8)]


@pytest.mark.parametrize("name, points, dimension", MANIFOLDS, ids=[m[0] for m in MANIFOLDS])
def test_twonn_recovers_known_dimensions_and_agrees_with_scikit_dimension(name, points, dimension):
    skdim = pytest.importorskip("skdim")
    X = embed(points)
    ours = two_nn_dimension(X).dimension
    theirs = skdim.id.TwoNN(discard_fraction=0.1).fit(X).dimension_
    assert ours == pytest.approx(theirs, rel=1e-9)  # same estimator, independent code
    assert ours == pytest.approx(dimension, rel=0.15)  # finite-sample bias grows with d


def test_a_clean_manifold_is_stable_and_reports_its_dimension():
    X = embed(sphere(1500, 4))
    summary, curve = twonn_stability(X, repeats=2)
    assert summary["stable"], summary["verdict"]
    assert summary["dimension"] == pytest.approx(two_nn_dimension(X, dedup_tol=1e-4 * np.sqrt((X**2).sum(1).mean())).dimension)
    assert summary["dimension"] == pytest.approx(4, rel=0.15)
    assert {row["kind"] for row in curve} == {"tolerance", "subsample"}


def test_symmetry_copies_break_twonn_and_class_dedup_restores_it():
    # every point of a 3-D cloud appears 6 times with float-level jitter (symmetry-equivalent
    # atoms): the first-neighbour distances are noise, and the estimate follows the merge tolerance
    rng = np.random.default_rng(1)
    base = embed(linear(500, 3), noise=0.0)
    X = np.repeat(base, 6, axis=0) + 1e-7 * rng.normal(size=(3000, 100))
    classes = np.repeat(np.arange(500), 6)
    summary, curve = twonn_stability(X, repeats=2)
    assert not summary["stable"] and np.isnan(summary["dimension"])
    assert summary["verdict"].startswith("no stable estimate")
    tol = [row for row in curve if row["kind"] == "tolerance"]
    assert tol[0]["dimension"] > 2 * 3 or tol[0]["dimension"] < 3 / 2  # noise-level neighbours: far from 3
    deduped, _ = twonn_stability(X, classes=classes, repeats=2)
    assert deduped["stable"], deduped["verdict"]
    assert deduped["n_kept"] == 500 and deduped["dimension"] == pytest.approx(3, rel=0.15)


def test_one_per_class_keeps_the_first_row_of_each_label():
    np.testing.assert_array_equal(one_per_class(np.array(["b", "a", "b", "c", "a"])), [0, 1, 3])


def test_neighbour_lists_answer_every_refit_as_a_fresh_two_nn():
    """The shared lists give two_nn_dimension's result bit for bit, on ordered subsets and with
    rows that have more duplicates than list entries (searched against the whole subset)."""
    from platonic.compare.intrinsic import NeighbourLists

    rng = np.random.default_rng(3)
    Z = rng.normal(size=(1500, 4)) @ rng.normal(size=(4, 12))
    Z = np.vstack([Z, Z[:200], Z[:30] + 1e-9, np.repeat(Z[:1], 40, axis=0)])
    scale = float(np.sqrt((Z**2).sum(axis=1).mean()))
    lists = NeighbourLists(Z, max_tol=1e-3 * scale, m=16)
    assert (~lists.complete).sum() >= 40  # the 41 copies of row 0 overflow their 16-row lists
    for tol in (1e-6, 1e-3):
        assert lists.two_nn(np.arange(len(Z)), tol * scale) == two_nn_dimension(Z, dedup_tol=tol * scale)
    for fraction in (0.25, 0.5):
        rows = rng.choice(len(Z), int(fraction * len(Z)), replace=False)  # unsorted: representatives by draw order
        assert lists.two_nn(rows, 1e-4 * scale) == two_nn_dimension(Z[rows], dedup_tol=1e-4 * scale)
