"""A fast, strict reader for the P1 CIFs that pymatgen writes (``CifWriter`` output).

MP-20 stores every structure as such a CIF: one data block, the cell as
``_cell_length_{a,b,c}`` and ``_cell_angle_{alpha,beta,gamma}``, the single symmetry
operation ``'x, y, z'`` and one ``_atom_site_`` loop with fractional coordinates and unit
occupancies. A general CIF parser (``ase.io.read`` or pymatgen's ``CifParser``) spends about
1 ms per structure on symmetry expansion and site merging that such a file does not need;
this reader takes about 0.05 ms.

It is strict rather than forgiving: anything outside that shape (another space group or
symmetry operation, partial occupancy, oxidation-state labels, a missing cell parameter, a
truncated site row) raises :class:`CifFormatError` naming the problem, so that the caller
can reject the row or choose a general parser (``cif_parser="ase"`` in
:func:`platonic.datasets.load`). It never guesses.

The cell is built exactly as ASE builds it (:func:`ase.geometry.cellpar_to_cell`: **a**
along x, **b** in the xy plane), so the result matches ``ase.io.read(..., format="cif")``
atom for atom. Fractional coordinates are kept as written (not wrapped into the cell).
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.data import atomic_numbers
from ase.geometry import cellpar_to_cell
from platonic.datasets.frames import cell_parameter_problem
from platonic.errors import PlatonicError

_CELL_KEYS = (
    "_cell_length_a",
    "_cell_length_b",
    "_cell_length_c",
    "_cell_angle_alpha",
    "_cell_angle_beta",
    "_cell_angle_gamma",
)
_IDENTITY_OPERATIONS = {"x, y, z", "x,y,z"}
_OPERATION_KEYS = ("_symmetry_equiv_pos_as_xyz", "_space_group_symop_operation_xyz")
_REQUIRED_SITE_COLUMNS = (
    "_atom_site_type_symbol",
    "_atom_site_fract_x",
    "_atom_site_fract_y",
    "_atom_site_fract_z",
)


class CifFormatError(PlatonicError, ValueError):
    """The text is not a P1 CIF of the shape this reader accepts (the message says why)."""


def _strip_quotes(token: str) -> str:
    if len(token) >= 2 and token[0] == token[-1] and token[0] in "'\"":
        return token[1:-1]
    return token


def _read_loop(lines: list[str], start: int) -> tuple[list[str], list[list[str]], int]:
    """Read the ``loop_`` whose header starts at ``lines[start]``; return names, rows, next line."""
    names: list[str] = []
    i = start
    while i < len(lines) and lines[i].startswith("_"):
        names.append(lines[i].split()[0])
        i += 1
    rows: list[list[str]] = []
    while i < len(lines) and not lines[i].startswith(("_", "loop_", "data_")):
        rows.append(lines[i].split() if "'" not in lines[i] else _split_quoted(lines[i]))
        i += 1
    return names, rows, i


def _split_quoted(line: str) -> list[str]:
    """Split a CIF value line where single-quoted values may contain spaces."""
    tokens: list[str] = []
    rest = line.strip()
    while rest:
        if rest[0] == "'":
            end = rest.find("'", 1)
            if end < 0:
                raise CifFormatError(f"unterminated quoted value in line {line.strip()!r}")
            tokens.append(rest[1:end])
            rest = rest[end + 1 :].lstrip()
        else:
            token, _, rest = rest.partition(" ")
            tokens.append(token)
            rest = rest.lstrip()
    return tokens


def parse_p1_cif(text: str) -> Atoms:
    """Parse one pymatgen-written P1 CIF into periodic ASE ``Atoms``.

    Parameters
    ----------
    text:
        The CIF file content (a single data block).

    Returns
    -------
    Atoms with ``pbc=True``, the cell from the six cell parameters and the Cartesian
    positions ``fractional @ cell``.

    Raises
    ------
    CifFormatError
        If the text is empty, has more than one data block, lacks a cell parameter or has
        one that describes no cell (a length <= 0, an angle outside (0°, 180°), no volume), has a
        symmetry operation other than the identity, a site with occupancy other than 1, an
        unknown element symbol, or a site row whose length does not match the loop header.
    """
    if not isinstance(text, str) or not text.strip():
        raise CifFormatError("empty CIF text")
    lines = [
        stripped
        for stripped in (raw.strip() for raw in text.splitlines())
        if stripped and not stripped.startswith("#")
    ]
    scalars: dict[str, str] = {}
    loops: list[tuple[list[str], list[list[str]]]] = []
    n_blocks = 0
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("data_"):
            n_blocks += 1
            i += 1
        elif line == "loop_":
            names, rows, i = _read_loop(lines, i + 1)
            loops.append((names, rows))
        elif line.startswith("_"):
            key, _, value = line.partition(" ")
            scalars[key] = _strip_quotes(value.strip())
            i += 1
        else:
            raise CifFormatError(f"unexpected line {line!r}")
    if n_blocks != 1:
        raise CifFormatError(f"expected exactly one data_ block, found {n_blocks}")

    try:
        cellpar = [float(scalars[key]) for key in _CELL_KEYS]
    except KeyError as missing:
        raise CifFormatError(f"missing cell parameter {missing.args[0]}") from None
    except ValueError as bad:
        raise CifFormatError(f"unreadable cell parameter: {bad}") from None

    sites: tuple[list[str], list[list[str]]] | None = None
    for names, rows in loops:
        operation_columns = [k for k, name in enumerate(names) if name in _OPERATION_KEYS]
        if operation_columns:
            column = operation_columns[0]
            operations = {row[column] if len(row) > column else "" for row in rows}
            if not operations or operations - _IDENTITY_OPERATIONS:
                raise CifFormatError(
                    f"symmetry operations {sorted(operations)} are not the P1 identity; "
                    "use a general CIF parser"
                )
        elif "_atom_site_fract_x" in names:
            sites = (names, rows)
    if sites is None:
        raise CifFormatError("no _atom_site_ loop with fractional coordinates")
    names, rows = sites
    missing_columns = [name for name in _REQUIRED_SITE_COLUMNS if name not in names]
    if missing_columns:
        raise CifFormatError(f"site loop lacks {', '.join(missing_columns)}")
    if not rows:
        raise CifFormatError("site loop has no rows")
    width = len(names)
    for number, row in enumerate(rows, start=1):
        if len(row) != width:
            raise CifFormatError(
                f"site row {number} has {len(row)} values, the loop header names {width}"
            )
    column = {name: k for k, name in enumerate(names)}
    symbols = [row[column["_atom_site_type_symbol"]] for row in rows]
    unknown = sorted({symbol for symbol in symbols if symbol not in atomic_numbers})
    if unknown:
        raise CifFormatError(f"unknown element symbol(s) {unknown}")
    try:
        fractional = np.array(
            [
                [row[column[f"_atom_site_fract_{axis}"]] for axis in "xyz"]
                for row in rows
            ],
            dtype=float,
        )
        if "_atom_site_occupancy" in column:
            occupancy = np.array([row[column["_atom_site_occupancy"]] for row in rows], dtype=float)
        else:
            occupancy = np.ones(len(rows))
    except ValueError as bad:
        raise CifFormatError(f"unreadable site value: {bad}") from None
    if not np.allclose(occupancy, 1.0):
        raise CifFormatError("partial occupancy; use a general CIF parser")
    problem = cell_parameter_problem(cellpar)
    if problem is not None:
        raise CifFormatError(problem)
    cell = cellpar_to_cell(cellpar)
    return Atoms(
        numbers=[atomic_numbers[symbol] for symbol in symbols],
        positions=fractional @ cell,
        cell=cell,
        pbc=True,
    )
