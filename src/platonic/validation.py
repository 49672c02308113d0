"""Input checks of the whole package, on scikit-learn's validation.

Every public function checks its array arguments here instead of by hand:

* :func:`check_matrix` is :func:`sklearn.utils.check_array` (2-D, real numbers, at least
  ``min_rows`` rows and one column, dtype kept when it is one of ``dtype`` and converted to the
  first otherwise) plus a finiteness check that names the first bad row, which scikit-learn's
  message does not. Its ``ValueError`` comes back as the caller's ``error`` class (a
  :class:`~platonic.errors.PlatonicError` subclass) naming the argument, with scikit-learn's
  message after it; values that are not numbers at all (a dict) keep scikit-learn's ``TypeError``,
  which its estimator checks require.
* :func:`check_rows` checks integer row indices into a matrix.
* :func:`check_int` checks a count (``bool`` is refused: ``True`` is not a count).
* :func:`check_generator` is the ``random_state`` convention of the library: ``None``, an
  ``int`` seed or a :class:`numpy.random.Generator` (used as is), like
  :func:`sklearn.utils.check_random_state` but returning a ``Generator``, since the package draws
  with ``numpy.random.default_rng`` (an int gives exactly the draws ``default_rng(int)`` gives).
* :func:`check_seed` is the int form, for functions that write the seed into their results
  (a Generator has no seed to record).
* :func:`seed_alias` keeps the former keyword ``seed=`` of a renamed function working, with a
  ``DeprecationWarning``.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any, Callable, TypeVar, Union

import numpy as np
from sklearn.utils import check_array

from platonic.errors import PlatonicError

F = TypeVar("F", bound=Callable[..., Any])

#: What a ``random_state`` argument accepts: None (fresh entropy), an int seed, or a Generator.
RandomState = Union[None, int, np.integer, np.random.Generator]


class ValidationError(PlatonicError, ValueError):
    """An argument has the wrong shape, type or values (used where a caller names no error class)."""


def check_matrix(
    X: Any,
    name: str,
    error: type[Exception] = ValidationError,
    *,
    min_rows: int = 1,
    dtype: Any = np.float64,
    columns: str = "features",
    hint: str = "",
    finite: bool = True,
) -> np.ndarray:
    """``X`` as a finite 2-D (rows x ``columns``) array of real numbers, or ``error`` saying why not.

    Parameters
    ----------
    X : array-like (memory-mapped arrays are read, not copied, when their dtype is kept)
    name : the argument's name, first word of every message
    error : the exception class raised (the caller's PlatonicError subclass)
    min_rows : fewest rows accepted
    dtype : a dtype, or a tuple of dtypes kept as they are (others become the first)
    columns : what a column is, for the message (``"features"``, ``"K"``)
    hint : appended to the non-finite message (e.g. how to select finite rows)
    finite : refuse rows with NaN or inf; False where NaN rows stand for rejected structures
    """
    try:
        array = check_array(X, dtype=dtype, ensure_2d=True, ensure_all_finite=False, ensure_min_samples=min_rows,
                            ensure_min_features=1, input_name=name)
    except ValueError as failure:  # a TypeError (values that are no numbers at all) stays one, as in sklearn
        shape = getattr(np.asarray(X, dtype=object) if not hasattr(X, "shape") else X, "shape", None)
        rows = "one row" if min_rows <= 1 else f"{min_rows} rows"
        raise error(f"{name} must be a 2-D (atoms x {columns}) array of real numbers with at least {rows} and one "
                    f"column, got shape {shape}: {' '.join(str(failure).split())}") from failure
    if not finite:
        return array
    finite_rows = np.isfinite(array).all(axis=1)
    if not finite_rows.all():
        bad = np.flatnonzero(~finite_rows)
        raise error(f"{name} has {bad.size} row(s) with NaN or inf (first: row {int(bad[0])}){hint}")
    return array


def check_rows(rows: Any, n_rows: int, name: str, error: type[Exception] = ValidationError) -> np.ndarray:
    """``rows`` as a non-empty 1-D int64 array of indices in ``[0, n_rows)``, or ``error``."""
    array = np.asarray(rows)
    if array.ndim != 1 or array.size == 0 or not np.issubdtype(array.dtype, np.integer):
        raise error(f"{name} must be a non-empty 1-D array of integer row indices, got {array!r}")
    if array.min() < 0 or array.max() >= n_rows:
        raise error(f"{name} must lie in [0, {n_rows}), got {array.min()}..{array.max()}")
    return array.astype(np.int64)


def check_int(value: Any, name: str, error: type[Exception] = ValidationError, *, minimum: int = 1) -> int:
    """``value`` as an int ``>= minimum``, or ``error`` (a bool is not a count)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise error(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_generator(random_state: RandomState, name: str = "random_state",
                    error: type[Exception] = ValidationError) -> np.random.Generator:
    """A :class:`numpy.random.Generator` from ``None``, an int seed or a Generator (returned as is)."""
    if isinstance(random_state, np.random.Generator):
        return random_state
    if random_state is None:
        return np.random.default_rng()
    return np.random.default_rng(check_seed(random_state, name, error))


def check_seed(random_state: Any, name: str = "random_state", error: type[Exception] = ValidationError) -> int:
    """A non-negative int seed (``bool`` and floats refused: a seed must be reproducible as written)."""
    if isinstance(random_state, bool) or not isinstance(random_state, (int, np.integer)) or random_state < 0:
        raise error(f"{name} must be a non-negative integer seed or a numpy Generator, got {random_state!r}")
    return int(random_state)


def seed_alias(function: F) -> F:
    """Let callers of ``function`` still pass ``seed=`` for its ``random_state`` (with a DeprecationWarning).

    Passing both is an error rather than a silent choice of one.
    """

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if "seed" in kwargs:
            if "random_state" in kwargs:
                raise TypeError(f"{function.__qualname__}() got both seed= and random_state=; pass random_state=")
            warnings.warn(f"{function.__qualname__}(seed=) is now random_state=", DeprecationWarning, stacklevel=2)
            kwargs["random_state"] = kwargs.pop("seed")
        return function(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
