from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import ortho_group

from platonic.anchors import select_anchors
from platonic.compare import linear_cka, procrustes_score
from platonic.project import PlatonicTransform, ProjectionError, k_sweep


@pytest.fixture(scope="module")
def three_models() -> dict[str, np.ndarray]:
    """A reference model, a rotated and scaled copy of it, and an unrelated model."""
    rng = np.random.default_rng(0)
    latent = rng.normal(size=(600, 6))
    reference = np.tanh(latent @ rng.normal(size=(6, 16))) + 0.1 * rng.normal(size=(600, 16))
    rotated = 2.5 * reference @ ortho_group.rvs(16, random_state=1)
    unrelated = rng.normal(size=(600, 8))
    return {"reference": reference, "rotated": rotated, "unrelated": unrelated}


@pytest.fixture(scope="module")
def sweep(three_models):
    return k_sweep(three_models, ks=(20, 3, 8), method="fps", random_state=42, n_eval=400)


def test_layout(sweep):
    assert list(sweep.columns) == ["k", "measure", "model_a", "model_b", "value", "n_eval", "method",
                                   "seed", "reference"]
    assert sorted(sweep.k.unique()) == [3, 8, 20]
    previous = sweep[sweep.measure == "procrustes_vs_previous_k"]
    assert sorted(previous.k.unique()) == [8, 20]
    assert len(previous) == 2 * 3
    cross = sweep[sweep.measure != "procrustes_vs_previous_k"]
    assert len(cross) == 3 * 3 * 2
    assert (sweep.n_eval == 400).all() and (sweep.reference == "reference").all()
    assert sweep.value.between(0, 1).all()


def test_a_rotated_scaled_copy_agrees_perfectly_at_every_k(sweep):
    pair = sweep[(sweep.model_a == "reference") & (sweep.model_b == "rotated")]
    np.testing.assert_allclose(pair.value, 1.0, atol=1e-5)
    unrelated = sweep[(sweep.model_a == "reference") & (sweep.model_b == "unrelated")]
    assert (unrelated.value < 0.9).all()


def test_values_match_a_direct_computation(three_models, sweep):
    rng = np.random.default_rng(42)
    eval_rows = np.sort(rng.choice(600, size=400, replace=False))

    def unified(name: str, k: int) -> np.ndarray:
        anchors = select_anchors(three_models["reference"], k, method="fps", random_state=42)
        X = three_models[name]
        return PlatonicTransform(anchor_rows=anchors).fit(X).transform(X[eval_rows])

    def value(measure: str, k: int, a: str, b: str) -> float:
        row = sweep[(sweep.measure == measure) & (sweep.k == k) & (sweep.model_a == a) & (sweep.model_b == b)]
        return float(row.value.item())

    assert value("procrustes_vs_previous_k", 8, "unrelated", "unrelated") == pytest.approx(
        procrustes_score(unified("unrelated", 3), unified("unrelated", 8)))
    assert value("cka_cross_model", 20, "reference", "unrelated") == pytest.approx(
        linear_cka(unified("reference", 20), unified("unrelated", 20)))


def test_bad_inputs_are_rejected(three_models):
    with pytest.raises(ProjectionError, match="same row count"):
        k_sweep({"a": np.ones((10, 2)), "b": np.ones((11, 2))}, ks=(3,))
    with pytest.raises(ProjectionError, match="reference 'nope'"):
        k_sweep(three_models, ks=(3,), reference="nope")
    with pytest.raises(ProjectionError, match="1..600"):
        k_sweep(three_models, ks=(3, 601))
    with pytest.raises(ProjectionError, match="repeated"):
        k_sweep(three_models, ks=(3, 3))
    with pytest.raises(ProjectionError, match="empty"):
        k_sweep({}, ks=(3,))


@pytest.mark.slow
def test_default_direct_sweep_on_a_rotated_copy_agrees_at_every_k():
    rng = np.random.default_rng(3)
    latent = rng.normal(size=(20_000, 10))
    reference = np.tanh(latent @ rng.normal(size=(10, 64)))
    copy = reference @ ortho_group.rvs(64, random_state=3)
    sweep = k_sweep({"reference": reference, "copy": copy}, n_eval=2000)
    assert sorted(sweep.k.unique()) == [3, 8, 20, 50, 100, 200, 400]
    np.testing.assert_allclose(sweep[sweep.measure != "procrustes_vs_previous_k"].value, 1.0, atol=1e-5)
    previous = sweep[(sweep.measure == "procrustes_vs_previous_k") & (sweep.model_a == "reference")]
    assert previous.value.between(0, 1).all()
