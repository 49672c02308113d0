"""Where each element sits in the periodic table: period, IUPAC group, family label, display cell."""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass

import numpy as np
import pandas as pd
from ase.data import chemical_symbols

from ._checks import ChemistryInputError


# ----------------------------------------------------------------------------- periodic table
_PERIOD_STARTS = (1, 3, 11, 19, 37, 55, 87, 119)
#: The highest atomic number placed in the table.
MAX_Z = 118


@dataclass(frozen=True)
class PeriodicPosition:
    """Where an element sits: ``period`` (1–7), IUPAC ``group`` (1–18, None in the f block),
    family ``label``, and the (``row``, ``column``) of a display grid whose rows 9 and 10 hold
    the lanthanides and actinides in columns 3–17."""

    period: int
    group: int | None
    label: str
    row: int
    column: int


_GROUP_FAMILIES = {
    1: "alkali metal",
    2: "alkaline earth metal",
    13: "triel",
    14: "tetrel",
    15: "pnictogen",
    16: "chalcogen",
    17: "halogen",
    18: "noble gas",
}


def periodic_position(Z: int) -> PeriodicPosition:
    """Period, group, family label and display cell of the element with atomic number ``Z``."""
    if isinstance(Z, bool) or not isinstance(Z, (int, np.integer)) or not 1 <= Z <= MAX_Z:
        raise ChemistryInputError(f"atomic number must be an integer in [1, {MAX_Z}], got {Z!r}")
    Z = int(Z)
    period = bisect_right(_PERIOD_STARTS, Z)
    place = Z - _PERIOD_STARTS[period - 1] + 1  # 1-based position within the period
    if period == 1:
        group = 1 if Z == 1 else 18
    elif period <= 3:
        group = place if place <= 2 else place + 10
    elif period <= 5:
        group = place
    elif place <= 2:
        group = place
    elif place <= 17:  # La..Lu and Ac..Lr: the f block, drawn below the main table
        label = "lanthanide" if period == 6 else "actinide"
        return PeriodicPosition(period, None, label, row=period + 3, column=place)
    else:
        group = place - 14
    if Z == 1:
        label = "hydrogen"
    elif 3 <= group <= 12:
        label = "transition metal"
    else:
        label = _GROUP_FAMILIES[group]
    return PeriodicPosition(period, group, label, row=period, column=group)


#: Element symbol -> periodic family (see the module docstring), for Z = 1..118.
PERIODIC_GROUP_LABELS: dict[str, str] = {chemical_symbols[z]: periodic_position(z).label for z in range(1, MAX_Z + 1)}

#: Sequences down a periodic group, top to bottom, used for trajectories.
GROUP_SEQUENCES: dict[str, tuple[str, ...]] = {
    "alkali metal": ("Li", "Na", "K", "Rb", "Cs"),
    "alkaline earth metal": ("Be", "Mg", "Ca", "Sr", "Ba"),
    "group 4": ("Ti", "Zr", "Hf"),
    "coinage metal": ("Cu", "Ag", "Au"),
    "triel": ("B", "Al", "Ga", "In", "Tl"),
    "tetrel": ("C", "Si", "Ge", "Sn", "Pb"),
    "pnictogen": ("N", "P", "As", "Sb", "Bi"),
    "chalcogen": ("O", "S", "Se", "Te"),
    "halogen": ("F", "Cl", "Br", "I"),
}


def periodic_table() -> pd.DataFrame:
    """One row per element (Z = 1..118): element, Z, period, group, group_label, row, column."""
    records = []
    for z in range(1, MAX_Z + 1):
        position = periodic_position(z)
        records.append({"element": chemical_symbols[z], "Z": z, "period": position.period,
                        "group": position.group, "group_label": position.label,
                        "row": position.row, "column": position.column})
    table = pd.DataFrame(records)
    table["group"] = table["group"].astype("Int64")
    return table
