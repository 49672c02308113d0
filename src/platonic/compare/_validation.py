"""Input checks shared by the comparison metrics."""

from __future__ import annotations

import numpy as np
from platonic import validation
from platonic.errors import PlatonicError


class MetricInputError(PlatonicError, ValueError):
    """An input to a comparison metric has the wrong shape, type or values."""


def check_matrix(
    X: object,
    name: str,
    *,
    min_rows: int = 2,
    dtypes: tuple[type, ...] = (np.float64,),
) -> np.ndarray:
    """Return ``X`` as a finite 2-D float array with at least ``min_rows`` rows
    (:func:`platonic.validation.check_matrix`).

    Arrays already in one of ``dtypes`` are kept as they are (float32 embeddings
    stay float32 where a metric allows it); anything else is converted to the
    first of ``dtypes``.
    """
    return validation.check_matrix(X, name, MetricInputError, min_rows=min_rows, dtype=dtypes)


def check_paired(
    A: object,
    B: object,
    *,
    min_rows: int = 2,
    dtypes: tuple[type, ...] = (np.float64,),
) -> tuple[np.ndarray, np.ndarray]:
    """Validate two embedding matrices whose rows describe the same atoms."""
    A = check_matrix(A, "A", min_rows=min_rows, dtypes=dtypes)
    B = check_matrix(B, "B", min_rows=min_rows, dtypes=dtypes)
    if A.shape[0] != B.shape[0]:
        raise MetricInputError(
            f"A and B must have the same number of rows (matched atoms), got {A.shape[0]} and {B.shape[0]}"
        )
    return A, B


def check_positive_int(value: object, name: str, *, minimum: int = 1) -> int:
    """Return ``value`` as an int, raising if it is not an integer >= ``minimum``."""
    return validation.check_int(value, name, MetricInputError, minimum=minimum)


def check_fraction(value: object, name: str, *, open_low: bool = False, open_high: bool = True) -> float:
    """Return ``value`` as a float in [0, 1] (end points excluded as requested)."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as error:
        raise MetricInputError(f"{name} must be a number, got {value!r}") from error
    too_low = number <= 0.0 if open_low else number < 0.0
    too_high = number >= 1.0 if open_high else number > 1.0
    if too_low or too_high or not np.isfinite(number):
        low = "(0" if open_low else "[0"
        high = "1)" if open_high else "1]"
        raise MetricInputError(f"{name} must be in {low}, {high}, got {value!r}")
    return number
