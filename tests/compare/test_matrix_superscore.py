import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from platonic.compare import (
    MetricInputError,
    global_reconstruction_error,
    heatmap,
    linear_cka,
    metric_matrix,
    mutual_knn,
    procrustes_score,
    score_ot,
    super_score,
)


def test_super_score_formula_and_bounds():
    assert super_score(1.0, 1.0, 0.0) == 1.0
    assert super_score(0.6, 0.2, 0.5) == pytest.approx(0.4 * math.exp(-0.5))
    with pytest.raises(MetricInputError):
        super_score(1.2, 0.5, 0.1)
    with pytest.raises(MetricInputError):
        super_score(0.5, 0.5, -0.1)


@pytest.fixture(scope="module")
def embeddings():
    rng = np.random.default_rng(0)
    latent = rng.normal(size=(400, 4))
    return {f"m{i}": np.tanh(latent @ rng.normal(size=(4, 6))) + 0.3 * rng.normal(size=(400, 6)) for i in range(3)}


def test_matrix_agrees_with_the_pairwise_functions(embeddings):
    table = metric_matrix(embeddings, ("procrustes", "cka", "mknn", "ot", "superscore", "gfre"), ot_n_samples=200,
                          ot_repeats=1)
    value = table.set_index(["model_a", "model_b", "metric"])["value"]
    A, B = embeddings["m0"], embeddings["m2"]
    assert value["m0", "m2", "procrustes"] == pytest.approx(procrustes_score(A, B), abs=1e-12)
    assert value["m2", "m0", "cka"] == pytest.approx(linear_cka(A, B), abs=1e-12)
    assert value["m0", "m2", "mknn"] == pytest.approx(mutual_knn(A, B), abs=1e-12)
    assert value["m0", "m2", "ot"] == pytest.approx(score_ot(A, B, n_samples=200), abs=1e-10)
    assert value["m0", "m2", "superscore"] == pytest.approx(
        super_score(procrustes_score(A, B), mutual_knn(A, B), score_ot(A, B, n_samples=200)), abs=1e-10)
    assert value["m2", "m0", "gfre"] == pytest.approx(global_reconstruction_error(B, A), abs=1e-12)
    assert value["m0", "m2", "gfre"] != pytest.approx(value["m2", "m0", "gfre"])
    assert value["m1", "m1", "procrustes"] == pytest.approx(1.0)
    assert len(table) == 5 * 9 + 9
    assert set(table.columns) >= {"model_a", "model_b", "metric", "value", "n", "seed", "space"}


def test_ot_is_the_mean_of_seeded_draws_with_their_spread(embeddings):
    table = metric_matrix(embeddings, ("ot",), ot_n_samples=150, ot_repeats=3, random_state=5, include_diagonal=False)
    row = table[(table.model_a == "m0") & (table.model_b == "m1")].iloc[0]
    draws = [score_ot(embeddings["m0"], embeddings["m1"], n_samples=150, random_state=s) for s in (5, 6, 7)]
    assert row["value"] == pytest.approx(np.mean(draws), abs=1e-10)
    assert row["std"] == pytest.approx(np.std(draws, ddof=1), abs=1e-10)
    assert row["n"] == 150 and row["seed"] == 5 and "3 draws" in row["detail"]


def test_heatmap_draws_every_pair(embeddings):
    table = metric_matrix(embeddings, ("procrustes",))
    figures_before = plt.get_fignums()
    ax = heatmap(table, "procrustes")
    assert ax.images[0].get_array().shape == (3, 3)
    # no ax given: a bare Figure, not one registered with pyplot (a notebook's figures stay as they were)
    assert isinstance(ax.figure, Figure) and plt.get_fignums() == figures_before
    with pytest.raises(MetricInputError, match="not in the table"):
        heatmap(table, "cka")


def test_seed_is_the_deprecated_name_of_random_state(embeddings):
    table = metric_matrix(embeddings, ("ot", "mknn"), ot_n_samples=100, ot_repeats=2, n_queries=50, random_state=4)
    with pytest.warns(DeprecationWarning, match="random_state"):
        old = metric_matrix(embeddings, ("ot", "mknn"), ot_n_samples=100, ot_repeats=2, n_queries=50, seed=4)
    pd.testing.assert_frame_equal(table, old)
    with pytest.raises(TypeError, match="both seed= and random_state="):
        metric_matrix(embeddings, ("ot",), seed=1, random_state=1)
    with pytest.raises(MetricInputError, match="random_state"):  # written in the seed column: an int
        metric_matrix(embeddings, ("ot",), random_state=np.random.default_rng(0))


def test_bad_inputs_raise(embeddings):
    with pytest.raises(MetricInputError, match="unknown metrics"):
        metric_matrix(embeddings, ("procrustes", "rsa"))
    with pytest.raises(MetricInputError, match="widths differ"):
        metric_matrix({"a": embeddings["m0"], "b": embeddings["m1"][:, :4]}, ("ot",))
    with pytest.raises(MetricInputError, match="same rows"):
        metric_matrix({"a": embeddings["m0"], "b": embeddings["m1"][:10]}, ("procrustes",))
