"""Settings, the error type and the input checks shared by the drift diagnostics."""

from __future__ import annotations

from typing import Any

import numpy as np
from ase.data import atomic_numbers

from platonic.errors import PlatonicError
from platonic.validation import check_matrix

#: Experimental equilibrium bond lengths r_e (Å) of gas-phase homonuclear dimers
#: (Huber & Herzberg, Constants of Diatomic Molecules, 1979; NIST Chemistry WebBook).
EXPERIMENTAL_BOND_LENGTHS: dict[str, float] = {"Cu": 2.2197, "Au": 2.4719}
#: Dimer distances (Å) scanned by default: 1.5 to 6.0 in steps of 0.05 (91 energies per curve,
#: a few seconds per checkpoint on one CPU core).
DEFAULT_DISTANCES: np.ndarray = np.round(np.arange(1.5, 6.0 + 1e-9, 0.05), 4)
DEFAULT_BOX_LENGTH = 30.0
#: Smallest allowed gap (Å) between a dimer atom and the nearest periodic image of its partner.
MIN_IMAGE_GAP = 12.0
NORM_QUANTILES: tuple[float, ...] = (0.05, 0.25, 0.5, 0.75, 0.95)


class DriftInputError(PlatonicError, ValueError):
    """Bad input to a drift diagnostic: shapes, non-finite values, unknown models or elements."""


# --------------------------------------------------------------------------- validation
def _check_matrix(X: Any, name: str) -> np.ndarray:
    return check_matrix(X, name, DriftInputError)


def _check_pair(pre: Any, ft: Any, elements: Any, *, same_width: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pre = _check_matrix(pre, "pre")
    ft = _check_matrix(ft, "fine_tuned")
    if pre.shape[0] != ft.shape[0]:
        raise DriftInputError(
            f"pre and fine_tuned must embed the same atoms, got {pre.shape[0]} and {ft.shape[0]} rows")
    if same_width and pre.shape[1] != ft.shape[1]:
        raise DriftInputError(f"pre and fine_tuned must share the space, got widths {pre.shape[1]} and {ft.shape[1]}")
    elements = np.asarray(elements)
    if elements.shape != (pre.shape[0],):
        raise DriftInputError(f"elements must have one entry per row ({pre.shape[0]}), got shape {elements.shape}")
    unknown = sorted({str(e) for e in elements} - set(atomic_numbers))
    if unknown:
        raise DriftInputError(f"unknown element symbol(s) {unknown}")
    return pre, ft, elements.astype(str)


def _element_groups(elements: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """(symbol, row indices) per element, ordered by atomic number."""
    symbols = sorted(set(elements.tolist()), key=atomic_numbers.__getitem__)
    return [(symbol, np.flatnonzero(elements == symbol)) for symbol in symbols]
