"""Tables of CIF text (CSV, optionally gzipped): the MP-20 and CDVAE file format.

A table has one row per structure, a ``material_id`` column and a ``cif`` column; any other
column is a per-structure property. An optional ``num_atoms`` column is checked against the
parsed structure, which catches CIF text truncated at a line boundary.
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Callable, Literal

import numpy as np
import pandas as pd
from ase import Atoms

from platonic.datasets.cif import parse_p1_cif
from platonic.datasets.dataset import Candidate, DatasetError

CifParser = Literal["fast", "ase", "pymatgen"]
REQUIRED_COLUMNS = ("material_id", "cif")
_RENAMED_COLUMNS = {"source": "upstream_source"}


def read_table(path: Path) -> pd.DataFrame:
    """Read a CIF table, checking it has the required columns; drop pandas index columns."""
    try:
        table = pd.read_csv(path, dtype={"material_id": str})
    except (OSError, EOFError, ValueError, zlib.error, pd.errors.ParserError) as error:
        raise DatasetError(f"{path}: unreadable CSV: {error}") from error
    missing = [column for column in REQUIRED_COLUMNS if column not in table.columns]
    if missing:
        raise DatasetError(f"{path}: missing column(s) {missing}; a CIF table needs {REQUIRED_COLUMNS}")
    return table.drop(columns=[c for c in table.columns if c.startswith("Unnamed:")])


def cif_reader(cif_parser: str) -> Callable[[str], Atoms]:
    """The function turning CIF text into Atoms for ``cif_parser`` (see ``load``)."""
    if cif_parser == "fast":
        return parse_p1_cif
    if cif_parser == "ase":
        from platonic.datasets.frames import read_cif_text

        return read_cif_text
    if cif_parser == "pymatgen":
        from pymatgen.io.ase import AseAtomsAdaptor
        from pymatgen.io.cif import CifParser as PymatgenCifParser

        return lambda text: AseAtomsAdaptor.get_atoms(
            PymatgenCifParser.from_str(text).parse_structures(primitive=False)[0]
        )
    raise DatasetError(f"cif_parser must be 'fast', 'ase' or 'pymatgen', got {cif_parser!r}")


def _parse_row(
    read_cif: Callable[[str], Atoms], cif: object, declared_atoms: object
) -> tuple[Atoms | None, str | None]:
    if not isinstance(cif, str) or not cif.strip():
        return None, "missing CIF text"
    try:
        atoms = read_cif(cif)
    except Exception as error:  # any parser failure on untrusted text becomes a reject
        return None, f"unreadable CIF: {type(error).__name__}: {error}"
    if declared_atoms is not None and not pd.isna(declared_atoms) and len(atoms) != int(declared_atoms):
        return None, f"CIF has {len(atoms)} atoms but num_atoms says {int(declared_atoms)} (truncated?)"
    return atoms, None


def table_candidates(
    rows: pd.DataFrame,
    sources: np.ndarray,
    row_numbers: np.ndarray,
    splits: np.ndarray,
    read_cif: Callable[[str], Atoms],
) -> tuple[list[Candidate], pd.DataFrame]:
    """Parse the CIFs of ``rows``; return candidates and the property columns, row-aligned.

    ``sources``, ``row_numbers`` (1-based data rows) and ``splits`` give each row's
    provenance. Properties are all columns but ``material_id`` and ``cif``; ``source`` is
    renamed ``upstream_source`` (it names the upstream copy, not the file read here).
    """
    declared = rows["num_atoms"] if "num_atoms" in rows.columns else [None] * len(rows)
    candidates = []
    for material_id, cif, declared_atoms, split, source, row in zip(
        rows["material_id"], rows["cif"], declared, splits, sources, row_numbers
    ):
        atoms, error = _parse_row(read_cif, cif, declared_atoms)
        candidates.append(Candidate(str(source), int(row), str(material_id), str(split), atoms, error))
    properties = rows.drop(columns=list(REQUIRED_COLUMNS)).rename(columns=_RENAMED_COLUMNS)
    return candidates, properties.reset_index(drop=True)
