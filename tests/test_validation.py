"""The package's one validation module: scikit-learn's check_array, errors as the caller's PlatonicError."""

from __future__ import annotations

import numpy as np
import pytest

from platonic.errors import PlatonicError
from platonic.validation import (ValidationError, check_generator, check_int, check_matrix, check_rows,
                                 check_seed)


class CallerError(PlatonicError, ValueError):
    pass


@pytest.mark.parametrize("bad, words", [
    (np.zeros(3), "got 1D array instead.*Reshape your data"), (np.zeros((2, 2, 2)), "dim 3"), (np.zeros((0, 3)), "0 sample"),
    (np.zeros((3, 0)), "0 feature"), ([["a", "b"]], "string"), (np.array([[1 + 1j]]), "Complex"),
])
def test_bad_shapes_and_types_name_the_argument_and_raise_the_callers_error(bad, words):
    with pytest.raises(CallerError, match=rf"^embeddings must be a 2-D .*{words}"):
        check_matrix(bad, "embeddings", CallerError)


def test_the_first_non_finite_row_is_named_and_a_hint_follows():
    X = np.ones((6, 2))
    X[4, 1], X[5, 0] = np.inf, np.nan
    with pytest.raises(CallerError, match=r"X has 2 row\(s\) with NaN or inf \(first: row 4\): select rows"):
        check_matrix(X, "X", CallerError, hint=": select rows")
    assert check_matrix(X, "X", CallerError, finite=False).shape == (6, 2)  # NaN rows stand for rejected structures


def test_dtypes_kept_or_converted_and_memory_maps_not_copied(tmp_path):
    as32 = np.arange(6, dtype=np.float32).reshape(3, 2)
    assert check_matrix(as32, "X").dtype == np.float64
    assert check_matrix(as32, "X", dtype=(np.float64, np.float32)).dtype == np.float32
    assert check_matrix([[1, 2], [3, 4]], "X").dtype == np.float64
    np.save(tmp_path / "x.npy", as32)
    mapped = np.load(tmp_path / "x.npy", mmap_mode="r")
    checked = check_matrix(mapped, "X", dtype=(np.float64, np.float32))
    assert np.shares_memory(checked, mapped)
    with pytest.raises(ValidationError, match="at least 4 rows"):
        check_matrix(as32, "X", min_rows=4)


def test_rows_and_counts():
    assert check_rows([2, 0], 3, "rows").dtype == np.int64
    for bad in ([], [0.0], [[0]]):
        with pytest.raises(CallerError, match="rows must be a non-empty 1-D"):
            check_rows(bad, 3, "rows", CallerError)
    with pytest.raises(CallerError, match=r"must lie in \[0, 3\), got 0..3"):
        check_rows([0, 3], 3, "rows", CallerError)
    assert check_int(np.int64(3), "k") == 3
    for bad in (True, 0, 2.0, "2"):
        with pytest.raises(CallerError, match="k must be an integer >= 1"):
            check_int(bad, "k", CallerError)


def test_random_state_int_generator_or_none():
    # An int seed draws exactly what numpy's default_rng(seed) draws (numbers unchanged by the helper).
    assert np.array_equal(check_generator(7).random(5), np.random.default_rng(7).random(5))
    generator = np.random.default_rng(1)
    assert check_generator(generator) is generator
    assert isinstance(check_generator(None), np.random.Generator)
    assert check_seed(np.int32(4)) == 4
    for bad in (True, 1.5, -1, "0"):
        with pytest.raises(CallerError, match="seed must be a non-negative integer seed or a numpy Generator"):
            check_generator(bad, "seed", CallerError)


def test_renamed_seed_keyword_still_works_with_a_warning_and_a_generator_is_accepted():
    from platonic.anchors import select_anchors
    from platonic.validation import seed_alias

    X = np.random.default_rng(0).normal(size=(40, 3))
    expected = select_anchors(X, 5, method="random", random_state=3)
    with pytest.warns(DeprecationWarning, match=r"select_anchors\(seed=\) is now random_state="):
        assert np.array_equal(select_anchors(X, 5, method="random", seed=3), expected)
    # a Generator seeded like the int draws the same anchors
    assert np.array_equal(select_anchors(X, 5, method="random", random_state=np.random.default_rng(3)), expected)

    @seed_alias
    def draw(random_state=0):
        return random_state

    with pytest.raises(TypeError, match="both seed= and random_state="):
        draw(seed=1, random_state=2)
