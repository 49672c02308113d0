"""Input checks shared by the analyses."""

from __future__ import annotations

import numpy as np


def finite_matrix(X: object, name: str, error: type[ValueError], columns: str = "features", hint: str = "") -> np.ndarray:
    """``X`` as a float64 (rows x columns) array, or ``error`` naming what is wrong and the first bad row."""
    array = np.asarray(X)
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
        raise error(f"{name} must be a non-empty 2-D (atoms x {columns}) array, got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.number):
        raise error(f"{name} must be numeric, got dtype {array.dtype}")
    array = array.astype(np.float64)
    bad = np.flatnonzero(~np.isfinite(array).all(axis=1))
    if bad.size:
        raise error(f"{name} has {bad.size} row(s) with NaN or inf (first: row {int(bad[0])}){hint}")
    return array
