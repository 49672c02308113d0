"""Datasets from any structure file ASE reads, from pymatgen JSON lines, or from memory."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import ase.io
import numpy as np
import pandas as pd
from ase import Atoms

from platonic.datasets.cif_table import CifParser, cif_reader, read_table, table_candidates
from platonic.datasets.dataset import Candidate, Dataset, OnError, Reject, assemble, check_on_error
from platonic.datasets.frames import XYZ_FORMATS, cif_frames, xyz_frames
from platonic.datasets.validation import DEFAULT_MIN_DISTANCE

IN_MEMORY = "<in-memory>"
_ID_KEYS = ("id", "material_id")
PathLike = str | os.PathLike


def _given_id(info: dict[str, Any]) -> str | None:
    for key in _ID_KEYS:
        value = info.get(key)
        if isinstance(value, (str, int, np.integer)) and str(value):
            return str(value)
    return None


def _scalar_info(info: dict[str, Any]) -> dict[str, Any]:
    """The scalar entries of ``atoms.info`` (or pymatgen ``properties``), ids excluded."""
    return {
        key: value.item() if isinstance(value, np.generic) else value
        for key, value in info.items()
        if key not in _ID_KEYS and isinstance(value, (str, int, float, bool, np.generic))
    }


def _properties_frame(frames: list[pd.DataFrame]) -> pd.DataFrame | None:
    """Concatenate per-file property tables; None when no file has any property."""
    if not any(len(frame.columns) for frame in frames):
        return None
    return pd.concat(frames, ignore_index=True)


def _is_cif_table(path: Path, format: str | None) -> bool:
    if format is not None:
        return format == "cif-table"
    name = path.name.lower()
    return name.endswith(".csv") or name.endswith(".csv.gz")


def _structure_to_atoms(item: Any) -> Atoms:
    """ASE ``Atoms`` from ``Atoms`` (copied) or a pymatgen ``Structure``/``IStructure``."""
    if isinstance(item, Atoms):
        return item.copy()
    from pymatgen.core import IStructure
    from pymatgen.io.ase import AseAtomsAdaptor

    if isinstance(item, IStructure):
        if not item.is_ordered:
            raise TypeError("disordered pymatgen Structure (partial occupancies) has no ASE equivalent")
        atoms = AseAtomsAdaptor.get_atoms(item)
        atoms.info.update(_scalar_info(item.properties))
        for key in _ID_KEYS:
            if key in item.properties:
                atoms.info[key] = item.properties[key]
        return atoms
    raise TypeError(f"not an ase.Atoms or pymatgen Structure (got {type(item).__name__})")


def _jsonl_frames(path: Path) -> Iterator[tuple[int, Atoms | None, str | None]]:
    """Yield ``(line number, atoms, error)`` for each non-blank line of a Structure JSON-lines file."""
    from pymatgen.core import Structure

    with path.open(errors="replace") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                atoms = _structure_to_atoms(Structure.from_dict(json.loads(line)))
            except Exception as error:  # any failure on untrusted text becomes a reject
                yield number, None, f"unreadable Structure JSON: {type(error).__name__}: {error}"
            else:
                yield number, atoms, None


def _ase_frames(path: Path, format: str | None) -> Iterator[tuple[int, Atoms | None, str | None]]:
    """Yield ``(frame number, atoms, error)``; xyz/extxyz and CIF frame by frame (see
    :mod:`platonic.datasets.frames`), other formats through ``ase.io.iread``, where a read
    error ends the file (later frames are lost)."""
    guessed = format or _format_from_suffix(path)
    if guessed in XYZ_FORMATS:
        yield from xyz_frames(path, "extxyz")
        return
    if guessed == "cif":
        yield from cif_frames(path)
        return
    number = 0
    try:
        for number, atoms in enumerate(ase.io.iread(path, index=":", format=format), start=1):
            yield number, atoms, None
    except Exception as error:  # ase raises many types on malformed input
        yield number + 1, None, (
            f"unreadable from this frame on: {type(error).__name__}: {error}"
        )


def _format_from_suffix(path: Path) -> str | None:
    suffix = path.suffix.lower().lstrip(".")
    return suffix if suffix in (*XYZ_FORMATS, "cif") else None


def read(
    paths: PathLike | Sequence[PathLike],
    on_error: OnError = "raise",
    name: str | None = None,
    format: str | None = None,
    split: str = "custom",
    min_distance: float = DEFAULT_MIN_DISTANCE,
    cif_parser: CifParser = "ase",
) -> Dataset:
    """Read every frame of one or more structure files into a :class:`Dataset`.

    Parameters
    ----------
    paths:
        File(s): anything ``ase.io.read`` reads (extxyz with many frames, CIF, POSCAR...;
        all frames, ``index=":"``), and pymatgen JSON lines (``*.jsonl``: one
        ``Structure.as_dict()`` per line), and CIF tables (``*.csv``, ``*.csv.gz`` with
        ``material_id`` and ``cif`` columns, the MP-20 format; see
        :mod:`platonic.datasets.cif_table`).
    on_error:
        ``"raise"`` or ``"skip"`` (see :func:`platonic.datasets.load`). A missing file, a
        malformed frame, an empty frame, non-finite positions, a degenerate cell and atoms
        closer than ``min_distance`` are errors, and so is a CIF block with fractional
        coordinates but no (or an impossible) cell. In an xyz/extxyz file a malformed frame is
        one reject and the frames after it are read; in a CIF file a malformed block is one
        reject. When a file of another format, a CIF that is not valid CIF syntax, or an xyz
        file whose atom-count line is broken breaks at frame k, the reader cannot
        resynchronise: frames k onward are one reject.
    name:
        Dataset name; default: the file stem when there is one path, else ``"custom"``.
    format:
        ASE format name, passed to ``ase.io.iread``; ``"jsonl"`` forces the JSON-lines
        reader and ``"cif-table"`` the CIF-table reader. ``None`` guesses from the file
        (``.jsonl`` means JSON lines, ``.csv``/``.csv.gz`` a CIF table, else ASE guesses).
    split:
        Split label given to every structure.
    min_distance:
        Minimum allowed interatomic distance in Å, periodic images included.
    cif_parser:
        For CIF tables: ``"ase"`` (general, default), ``"pymatgen"``, or ``"fast"`` (only
        pymatgen-written P1 CIFs, ~20x faster; see :func:`platonic.datasets.load`).

    Ids are ``atoms.info["id"]`` (or ``"material_id"``; for JSON lines, the Structure's
    ``properties``) when present, else ``"<file stem>:<frame index>"`` with a 0-based
    index; for CIF tables, the ``material_id`` column. ``Reject.row`` is the 1-based frame
    (or line, for JSON lines; data row, for tables) number. Properties are the scalar
    entries of ``atoms.info`` and, for tables, the columns other than ``material_id`` and
    ``cif``, when there are any.
    """
    check_on_error(on_error)
    read_cif = cif_reader(cif_parser)
    path_list = [Path(paths)] if isinstance(paths, (str, os.PathLike)) else [Path(p) for p in paths]
    if not path_list:
        raise ValueError("paths is empty")
    candidates: list[Candidate] = []
    property_frames: list[pd.DataFrame] = []
    missing: list[Reject] = []
    for path in path_list:
        if not path.is_file():
            missing.append(Reject(str(path), 0, "", "no such file" if not path.exists() else "not a file"))
            continue
        if _is_cif_table(path, format):
            table = read_table(path)
            table_rows = np.arange(1, len(table) + 1)
            found, properties = table_candidates(
                table, np.full(len(table), str(path)), table_rows, np.full(len(table), split), read_cif
            )
            candidates += found
            property_frames.append(properties)
            continue
        use_jsonl = format == "jsonl" or (format is None and path.suffix.lower() == ".jsonl")
        frames = _jsonl_frames(path) if use_jsonl else _ase_frames(path, format)
        records: list[dict[str, Any]] = []
        for index, (number, atoms, error) in enumerate(frames):
            given = _given_id(atoms.info) if atoms is not None else None
            candidates.append(
                Candidate(str(path), number, given or f"{path.stem}:{index}", split, atoms, error)
            )
            records.append(_scalar_info(atoms.info) if atoms is not None else {})
        property_frames.append(pd.DataFrame(records, index=range(len(records))))
    dataset_name = name if name is not None else path_list[0].stem if len(path_list) == 1 else "custom"
    return assemble(
        dataset_name,
        candidates,
        on_error,
        properties=_properties_frame(property_frames),
        min_distance=min_distance,
        earlier_rejects=missing,
    )


def from_structures(
    items: Iterable[Atoms | Any],
    ids: Sequence[str] | None = None,
    name: str = "custom",
    on_error: OnError = "raise",
    split: str = "custom",
    min_distance: float = DEFAULT_MIN_DISTANCE,
) -> Dataset:
    """A :class:`Dataset` from in-memory ASE ``Atoms`` or pymatgen ``Structure`` objects.

    Atoms are copied, so later edits to the inputs do not change the dataset. Ids are
    ``ids`` when given, else ``atoms.info["id"]`` (or ``"material_id"``, or a Structure's
    ``properties``) when present, else ``"<name>:<index>"``. ``Reject.row`` is the 0-based
    index in ``items``. Validation and ``on_error`` are those of :func:`read`.
    """
    check_on_error(on_error)
    item_list = list(items)
    if ids is not None and len(ids) != len(item_list):
        raise ValueError(f"ids has {len(ids)} entries for {len(item_list)} structures")
    candidates: list[Candidate] = []
    records: list[dict[str, Any]] = []
    for index, item in enumerate(item_list):
        try:
            atoms, error = _structure_to_atoms(item), None
        except TypeError as problem:
            atoms, error = None, str(problem)
        given = ids[index] if ids is not None else _given_id(atoms.info) if atoms is not None else None
        candidates.append(Candidate(IN_MEMORY, index, str(given or f"{name}:{index}"), split, atoms, error))
        records.append(_scalar_info(atoms.info) if atoms is not None else {})
    properties = _properties_frame([pd.DataFrame(records, index=range(len(records)))])
    return assemble(name, candidates, on_error, properties=properties, min_distance=min_distance)
