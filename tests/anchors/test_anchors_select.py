from __future__ import annotations

import numpy as np
import pytest

from platonic.anchors._validation import check_anchor_rows
from platonic.anchors import ANCHOR_METHODS, AnchorError, select_anchors


@pytest.mark.parametrize("method", ANCHOR_METHODS)
def test_every_method_gives_k_distinct_non_zero_rows(blobs, method):
    X, _ = blobs
    rows = select_anchors(X, 15, method=method, random_state=42)
    assert rows.shape == (15,) and rows.dtype == np.int64
    assert np.unique(X[rows], axis=0).shape[0] == 15
    assert np.all(np.linalg.norm(X[rows], axis=1) > 0)
    np.testing.assert_array_equal(rows, select_anchors(X, 15, method=method, random_state=42))


def test_unknown_method_is_rejected(blobs):
    X, _ = blobs
    with pytest.raises(AnchorError, match="unknown anchor method 'kmeans'"):
        select_anchors(X, 3, method="kmeans")


def test_random_anchors_on_too_few_distinct_rows_are_rejected():
    X = np.vstack([np.ones((5, 3)), np.arange(3.0)[None, :] + 1])
    with pytest.raises(AnchorError, match="distinct"):
        select_anchors(X, 3, method="random", random_state=0)


def test_identical_anchor_rows_are_rejected():
    X = np.vstack([np.ones((5, 3)), np.arange(3.0)[None, :] + 1])
    with pytest.raises(AnchorError, match="identical embeddings"):
        check_anchor_rows(X, np.array([0, 1, 5]))


def test_zero_vector_anchor_is_rejected():
    X = np.zeros((6, 2))
    X[1:, 0] = np.arange(1.0, 6.0)
    X[1:, 1] = np.arange(5.0, 0.0, -1.0)
    with pytest.raises(AnchorError, match="row 0 is a zero vector"):
        check_anchor_rows(X, np.arange(6))
    with pytest.raises(AnchorError, match="distinct non-zero"):
        select_anchors(X, 6, method="random", random_state=0)


@pytest.mark.parametrize(
    "X, message",
    [(np.ones(5), "2-D"), (np.ones((0, 3)), "at least one row"), (np.array([["a", "b"]]), "real numbers"),
     (np.array([[1.0, np.nan], [2.0, 1.0]]), "NaN or inf")],
)
def test_malformed_embeddings_are_rejected(X, message):
    with pytest.raises(AnchorError, match=message):
        select_anchors(X, 1, method="random")


@pytest.mark.parametrize("k", [0, 11, 2.5])
def test_bad_anchor_counts_are_rejected(k):
    with pytest.raises(AnchorError, match="anchors"):
        select_anchors(np.random.default_rng(0).normal(size=(10, 3)), k, method="fps")
