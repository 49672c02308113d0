"""Frame-by-frame readers for structure files, so that one bad frame costs one frame.

``ase.io.iread`` stops at the first frame it cannot parse (for extxyz it indexes the whole file
first, so a bad frame 2 loses frames 1 and 3 as well) and reads a CIF without cell parameters
as a molecule whose fractional coordinates are taken for Ångström. These readers yield
``(frame number, atoms, error)`` one frame at a time:

- **xyz / extxyz**: a frame is an atom-count line, a comment line and that many atom lines,
  so the count says where the next frame starts and a malformed atom line rejects only its
  own frame. Only a count line that is not a count (or a file that ends early) ends the file.
- **CIF**: each data block with atom sites is one frame. A block with fractional coordinates
  must have all six cell parameters, with positive lengths and angles that span a cell; a
  block with Cartesian coordinates and no cell is a molecule (``pbc=False``).
"""

from __future__ import annotations

import io
import itertools
from pathlib import Path
from typing import Iterator

import numpy as np
from ase import Atoms

from platonic.errors import PlatonicError

Frames = Iterator[tuple[int, "Atoms | None", "str | None"]]
XYZ_FORMATS = ("xyz", "extxyz")
_MIN_CELL_VOLUME = 1e-6
_MIN_CELL_SINE = 1e-6  # V / (abc) below this is zero up to rounding


class CifCellError(PlatonicError, ValueError):
    """A CIF block whose cell parameters are missing or describe no cell."""


def cell_parameter_problem(cellpar) -> str | None:
    """Why ``(a, b, c, alpha, beta, gamma)`` (Å, degrees) is not a cell, or ``None``.

    The lengths must be finite and positive, the angles in (0°, 180°), and together they must
    span a volume: ``V = abc sqrt(1 - cos²α - cos²β - cos²γ + 2 cosα cosβ cosγ)`` is real and
    positive only for angles that can meet at a corner (not α = β = γ = 120°, say); the square
    root must exceed 1e-6 (zero up to rounding) and ``V`` 1e-6 Å³.
    """
    try:
        values = np.asarray(cellpar, dtype=float)
    except (TypeError, ValueError):
        return f"unreadable cell parameters {cellpar!r}"
    if values.shape != (6,) or not np.isfinite(values).all():
        return f"cell parameters {values.tolist()} are not six finite numbers"
    lengths, angles = values[:3], values[3:]
    if (lengths <= 0).any():
        return f"cell lengths a, b, c = {lengths.tolist()} Å: each must be positive"
    if ((angles <= 0) | (angles >= 180)).any():
        return f"cell angles alpha, beta, gamma = {angles.tolist()}°: each must lie in (0, 180)"
    cosines = np.cos(np.radians(angles))
    radicand = 1 - (cosines**2).sum() + 2 * cosines.prod()
    sine = float(np.sqrt(max(radicand, 0.0)))  # V / (abc)
    if sine < _MIN_CELL_SINE or lengths.prod() * sine < _MIN_CELL_VOLUME:
        return f"cell parameters {values.tolist()} span no volume (degenerate cell)"
    return None


def _reason(error: Exception) -> str:
    """A reject reason for a parser's exception; ASE reports an unknown element as a bare KeyError."""
    from ase.data import atomic_numbers

    if isinstance(error, CifCellError):
        return str(error)
    if isinstance(error, KeyError) and error.args and isinstance(error.args[0], str):
        if error.args[0] not in atomic_numbers:
            return f"unknown element symbol {error.args[0]!r}"
    return f"{type(error).__name__}: {error}"


def _count(line: str) -> int | None:
    try:
        value = int(line.strip())
    except ValueError:
        return None
    return value if value >= 0 else None


def xyz_frames(path: Path, format: str = "extxyz") -> Frames:
    """Frames of an xyz/extxyz file; a malformed frame is one reject (see the module docstring)."""
    import ase.io

    with path.open(errors="replace") as lines:  # binary junk becomes a bad count line, not a crash
        number = 0
        line_number = 0
        while True:
            header = next(lines, None)
            line_number += 1
            while header is not None and not header.strip():
                header = next(lines, None)
                line_number += 1
            if header is None:
                return
            number += 1
            n_atoms = _count(header)
            if n_atoms is None:
                yield number, None, (
                    f"line {line_number}: {header.strip()[:40]!r} is not an atom count; "
                    "later frames cannot be located"
                )
                return
            body = list(itertools.islice(lines, n_atoms + 1))
            line_number += len(body)
            if len(body) < n_atoms + 1:
                yield number, None, (
                    f"truncated: the frame declares {n_atoms} atoms, the file ends after "
                    f"{max(len(body) - 1, 0)}"
                )
                return
            try:
                atoms = ase.io.read(io.StringIO(header + "".join(body)), format=format)
            except Exception as error:  # any failure on untrusted text becomes a reject
                yield number, None, f"unreadable frame: {_reason(error)}"
            else:
                yield number, atoms, None


def cif_block_atoms(block) -> Atoms:
    """``Atoms`` of one ASE ``CIFBlock``; raises ``ValueError`` for a block that is no structure."""
    coordinates, _ = block._get_site_coordinates()
    cellpar = block.get_cellpar()
    if cellpar is None:
        if coordinates == "scaled":
            raise CifCellError(
                "no cell parameters (_cell_length_a/b/c, _cell_angle_alpha/beta/gamma) for "
                "fractional coordinates"
            )
    else:
        problem = cell_parameter_problem(cellpar)
        if problem is not None:
            raise CifCellError(problem)
    return block.get_atoms()


def cif_frames(path: Path) -> Frames:
    """One frame per CIF data block that has atom sites (blocks without sites are skipped)."""
    from ase.io.cif import parse_cif

    number = 0
    blocks = parse_cif(str(path))
    while True:
        try:
            block = next(blocks)
        except StopIteration:
            return
        except Exception as error:  # the CIF tokenizer cannot resynchronise after a syntax error
            yield number + 1, None, (
                f"unreadable CIF from this block on: {type(error).__name__}: {error}"
            )
            return
        if not block.has_structure():
            continue
        number += 1
        try:
            atoms = cif_block_atoms(block)
        except Exception as error:  # any failure on untrusted text becomes a reject
            yield number, None, _reason(error)
        else:
            yield number, atoms, None


def read_cif_text(text: str) -> Atoms:
    """The one structure of a CIF text (a table cell), checked like :func:`cif_frames`."""
    from ase.io.cif import parse_cif

    blocks = [block for block in parse_cif(io.StringIO(text)) if block.has_structure()]
    if len(blocks) != 1:
        raise ValueError(f"expected one data block with atom sites, found {len(blocks)}")
    return cif_block_atoms(blocks[0])
