from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.stats import ortho_group
from sklearn.exceptions import NotFittedError
from sklearn.metrics.pairwise import cosine_similarity
from sklearn.utils.estimator_checks import parametrize_with_checks

from platonic.project import PlatonicTransform, ProjectionError


def model_embeddings(n_rows: int = 500, dim: int = 24, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n_rows, dim)) + 0.5).astype(np.float32)


finite_rows = arrays(np.float64, st.tuples(st.integers(1, 30), st.just(5)),
                     elements=st.floats(-1e3, 1e3, allow_nan=False, allow_subnormal=False))


@given(X=finite_rows, anchors=arrays(np.float64, (4, 5), elements=st.floats(0.5, 10)))
def test_output_is_float32_cosines_in_unit_interval(X, anchors):
    assume(np.all(np.linalg.norm(X, axis=1) > 1e-3))
    z = PlatonicTransform(anchor_rows="all").fit(anchors).transform(X)
    assert z.dtype == np.float32 and z.shape == (X.shape[0], 4)
    assert np.all((-1.0 <= z) & (z <= 1.0))
    np.testing.assert_allclose(z, cosine_similarity(X, anchors), atol=1e-6)


def test_equals_brute_force_cosine():
    X = model_embeddings()
    anchors = X[[3, 77, 150, 499]]
    expected = np.array([[x @ a / np.sqrt((x @ x) * (a @ a)) for a in anchors.astype(np.float64)]
                         for x in X.astype(np.float64)])
    np.testing.assert_allclose(PlatonicTransform(anchor_rows="all").fit(anchors).transform(X), expected, atol=1e-6)


def test_anchor_rows_pick_the_anchors_from_the_full_matrix():
    X = model_embeddings()
    rows = np.array([10, 20, 30])
    via_rows = PlatonicTransform(anchor_rows=rows).fit(X).transform(X)
    direct = PlatonicTransform(anchor_rows="all").fit(X[rows]).transform(X)
    np.testing.assert_array_equal(via_rows, direct)
    np.testing.assert_allclose(via_rows[rows, np.arange(3)], 1.0, atol=1e-6)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), scale=st.floats(1e-3, 1e3))
def test_invariant_to_orthogonal_maps_and_positive_scaling(seed, scale):
    X = model_embeddings(n_rows=200, dim=16, seed=seed)
    rows = np.array([1, 50, 120, 199])
    Q = ortho_group.rvs(16, random_state=seed)
    transformed = (scale * X.astype(np.float64) @ Q).astype(np.float32)
    z = PlatonicTransform(anchor_rows=rows).fit(X).transform(X)
    z_mapped = PlatonicTransform(anchor_rows=rows).fit(transformed).transform(transformed)
    np.testing.assert_allclose(z_mapped, z, atol=1e-5)


def test_not_invariant_to_translation():
    X = model_embeddings()
    rows = np.array([1, 2, 3])
    z = PlatonicTransform(anchor_rows=rows).fit(X).transform(X)
    shifted = PlatonicTransform(anchor_rows=rows).fit(X + 3.0).transform(X + 3.0)
    assert np.abs(z - shifted).max() > 0.1


def test_identical_models_give_identical_coordinates():
    X = model_embeddings()
    rows = np.array([5, 6, 7, 8])
    first = PlatonicTransform(anchor_rows=rows).fit(X).transform(X)
    second = PlatonicTransform(anchor_rows=rows).fit(X.copy()).transform(X.copy())
    np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize("chunk_size", [1, 7, 499, 500, 10_000])
def test_chunked_equals_unchunked(chunk_size):
    X = model_embeddings()
    transform = PlatonicTransform(anchor_rows=np.arange(0, 500, 50)).fit(X)
    whole = transform.transform(X, chunk_size=len(X))
    np.testing.assert_allclose(transform.transform(X, chunk_size=chunk_size), whole, atol=1e-7, rtol=0)
    streamed = np.vstack(list(transform.transform_chunks(np.array_split(X, 6))))
    np.testing.assert_allclose(streamed, whole, atol=1e-7, rtol=0)


def test_transform_chunks_is_lazy_and_reports_global_row_of_a_zero_embedding():
    X = model_embeddings(n_rows=30)
    transform = PlatonicTransform(anchor_rows="all").fit(X[:3])
    bad = X.copy()
    bad[17] = 0.0
    stream = transform.transform_chunks([bad[:10], bad[10:20], bad[20:]])
    assert next(stream).shape == (10, 3)
    with pytest.raises(ProjectionError, match="row 17"):
        next(stream)


def test_zero_embedding_raises_or_gives_nan_when_asked():
    X = model_embeddings(n_rows=20)
    X[4] = 0.0
    with pytest.raises(ProjectionError, match="row 4"):
        PlatonicTransform(anchor_rows="all").fit(X[10:13]).transform(X)
    z = PlatonicTransform(anchor_rows="all", zero_rows="nan").fit(X[10:13]).transform(X)
    assert np.isnan(z[4]).all()
    assert np.isfinite(np.delete(z, 4, axis=0)).all()


def test_bad_anchors_are_rejected():
    X = model_embeddings(n_rows=20)
    with pytest.raises(ProjectionError, match="anchor 1 is a zero vector"):
        PlatonicTransform(anchor_rows="all").fit(np.vstack([X[0], np.zeros(X.shape[1])]))
    X_nan = X.copy()
    X_nan[2, 2] = np.nan
    with pytest.raises(ProjectionError, match="NaN or inf"):
        PlatonicTransform(anchor_rows="all").fit(X_nan)
    with pytest.raises(ProjectionError, match=r"lie in \[0, 20\)"):
        PlatonicTransform(anchor_rows=np.array([0, 20])).fit(X)
    with pytest.raises(ProjectionError, match="anchor_rows"):
        PlatonicTransform(anchor_rows=np.array([0.5])).fit(X)
    with pytest.raises(ProjectionError, match="zero_rows"):
        PlatonicTransform(anchor_rows="all", zero_rows="skip").fit(X)


def test_bad_inputs_to_transform_are_rejected():
    X = model_embeddings(n_rows=20)
    transform = PlatonicTransform(anchor_rows="all").fit(X[:3])
    with pytest.raises(ProjectionError, match="same model"):
        transform.transform(X[:, :5])
    with pytest.raises(ProjectionError, match="2D array"):
        transform.transform(X[0])
    X_inf = X.copy()
    X_inf[9, 0] = np.inf
    with pytest.raises(ProjectionError, match="row 9"):
        transform.transform(X_inf)
    with pytest.raises(ProjectionError, match="chunk_size"):
        transform.transform(X, chunk_size=0)
    with pytest.raises(NotFittedError):
        PlatonicTransform().transform(X)


def test_fit_requires_its_anchors():
    X = model_embeddings(n_rows=20)
    with pytest.raises(ProjectionError, match="needs its anchors"):
        PlatonicTransform().fit(X)
    with pytest.raises(ProjectionError, match="row indices or 'all'"):
        PlatonicTransform(anchor_rows="every").fit(X)
    assert PlatonicTransform(anchor_rows="all").fit(X[:3]).n_anchors_ == 3
    assert "anchor_rows=array([0, 5])" in repr(PlatonicTransform(anchor_rows=np.array([0, 5])))


@parametrize_with_checks(
    [PlatonicTransform(anchor_rows="all")],
    expected_failed_checks=lambda estimator: {
        "check_estimators_dtypes": "its integer data has all-zero rows, and a zero anchor has no direction: "
        "fit raises on purpose (test_bad_anchors_are_rejected)",
    },
)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)
