"""The error type and input checks shared by the element analyses."""

from __future__ import annotations


import numpy as np
from ase.data import atomic_numbers

from platonic.errors import PlatonicError
from platonic.validation import check_matrix


class ChemistryInputError(PlatonicError, ValueError):
    """Bad input to an element analysis: wrong shapes, unknown elements, too few elements or groups."""

# ----------------------------------------------------------------------------- element means
def vector_columns(K: int) -> list[str]:
    """Names of the K mean-vector columns of an element table: ``z_0 … z_{K-1}``."""
    return [f"z_{k}" for k in range(K)]


def _check_unified(z: object, name: str = "z") -> np.ndarray:
    hint = "; select the atoms every model embedded (NaN rows are rejected structures)" if name == "z" else ""
    return check_matrix(z, name, ChemistryInputError, columns="K", hint=hint)


def _check_elements(elements: object, n_rows: int) -> np.ndarray:
    symbols = np.asarray(elements, dtype=object)
    if symbols.ndim != 1 or symbols.size != n_rows:
        raise ChemistryInputError(f"elements must be a 1-D sequence of {n_rows} symbols, got shape {symbols.shape}")
    unknown = sorted({str(s) for s in symbols if s not in atomic_numbers or s == "X"})
    if unknown:
        raise ChemistryInputError(f"unknown element symbol(s): {unknown}")
    return symbols.astype(str)


def _check_min(value: object, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ChemistryInputError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)
