"""The :class:`Dataset` container, the :class:`Reject` record and the reject policy.

A dataset is a plain data object in the ASE spirit: a list of ``Atoms`` plus, for each
structure, an id, a split label and the file it came from, an optional table of
per-structure properties, and the list of items the loader refused.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass, field
from typing import Literal, Sequence

import numpy as np
import pandas as pd
from ase import Atoms

from platonic.datasets.validation import DEFAULT_MIN_DISTANCE, structure_problem
from platonic.errors import PlatonicError

OnError = Literal["raise", "skip"]
_ON_ERROR_CHOICES = ("raise", "skip")
_LISTED_REJECTS = 20
# A binary grid of 2**-20 Å (9.5e-7 Å): decimal data (CIFs written to 8 decimals) often
# lands exactly on the half-way points of a 1e-6 decimal grid, where float noise flips
# the rounding; it does not systematically land on half-way points of a binary grid.
_FINGERPRINT_GRID = 2.0**20


class DatasetError(PlatonicError, ValueError):
    """A dataset could not be built as asked; the message names every offending item."""


class RejectedStructuresWarning(UserWarning):
    """Some items were dropped under ``on_error="skip"``; they are in ``Dataset.rejects``."""


@dataclass(frozen=True)
class Reject:
    """One item a loader refused.

    Attributes
    ----------
    source: the file (or ``"<in-memory>"``) the item came from.
    row: 1-based data row in a table file, 1-based frame in a trajectory file, or 0-based
        index in an in-memory list.
    id: the item's id when it is known, else ``""``.
    reason: why it was refused.
    """

    source: str
    row: int
    id: str
    reason: str

    def __str__(self) -> str:
        label = f" ({self.id})" if self.id else ""
        return f"{self.source}:{self.row}{label}: {self.reason}"


@dataclass
class Dataset:
    """Periodic (or molecular) structures with ids, split labels and provenance.

    Attributes
    ----------
    name: dataset name, e.g. ``"mp20"``.
    structures: the structures, in dataset order.
    ids: one unique id per structure.
    splits: one split label per structure (``"train"``, ``"val"``, ``"test"``, ``"custom"``...).
    sources: the file each structure was read from.
    properties: optional per-structure columns (formation energy, band gap, formula...),
        one row per structure with a ``RangeIndex`` aligned with ``structures``.
    rejects: the items the loader refused (kept so that dropping is never silent).

    The atoms of all structures, concatenated in dataset order, are the rows of every
    per-atom table (atom table, embeddings): structure ``i`` owns rows
    ``atom_offsets[i]:atom_offsets[i + 1]``.
    """

    name: str
    structures: list[Atoms]
    ids: list[str]
    splits: list[str]
    sources: list[str]
    properties: pd.DataFrame | None = None
    rejects: list[Reject] = field(default_factory=list)

    def __post_init__(self) -> None:
        n = len(self.structures)
        for label, values in (("ids", self.ids), ("splits", self.splits), ("sources", self.sources)):
            if len(values) != n:
                raise DatasetError(f"{label} has {len(values)} entries for {n} structures")
        if self.properties is not None:
            if len(self.properties) != n:
                raise DatasetError(f"properties has {len(self.properties)} rows for {n} structures")
            self.properties = self.properties.reset_index(drop=True)
        not_atoms = [k for k, atoms in enumerate(self.structures) if not isinstance(atoms, Atoms)]
        if not_atoms:
            raise DatasetError(f"structures {not_atoms[:_LISTED_REJECTS]} are not ase.Atoms")
        duplicated = pd.Index(self.ids)[pd.Index(self.ids).duplicated()].unique().tolist()
        if duplicated:
            raise DatasetError(
                f"{len(duplicated)} duplicated id(s): {duplicated[:_LISTED_REJECTS]}"
            )
        self._offsets: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.structures)

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, structures={len(self)}, atoms={self.n_atoms}, "
            f"splits={sorted(set(self.splits))}, rejects={len(self.rejects)})"
        )

    @property
    def atom_offsets(self) -> np.ndarray:
        """Cumulative atom counts, length ``len(self) + 1``, starting at 0."""
        if self._offsets is None:
            counts = np.fromiter((len(atoms) for atoms in self.structures), dtype=np.int64, count=len(self))
            self._offsets = np.concatenate([[0], np.cumsum(counts)])
        return self._offsets

    @property
    def n_atoms(self) -> int:
        """Total number of atoms over all structures."""
        return int(self.atom_offsets[-1])

    def __getitem__(self, index: int | slice | Sequence[int] | np.ndarray) -> Atoms | "Dataset":
        """An integer gives that structure's ``Atoms``; a slice, an integer array or a
        boolean mask gives a new ``Dataset`` (sharing the ``Atoms`` objects, keeping
        ``rejects``)."""
        if isinstance(index, (int, np.integer)):
            return self.structures[index]
        if isinstance(index, slice):
            positions = np.arange(len(self))[index]
        else:
            array = np.asarray(index)
            if array.dtype == bool:
                if array.shape != (len(self),):
                    raise IndexError(f"boolean mask of shape {array.shape} for {len(self)} structures")
                positions = np.flatnonzero(array)
            elif array.ndim == 1 and (array.size == 0 or np.issubdtype(array.dtype, np.integer)):
                positions = array.astype(np.int64)
                out_of_range = positions[(positions < -len(self)) | (positions >= len(self))]
                if out_of_range.size:
                    raise IndexError(f"indices {out_of_range[:10].tolist()} out of range for {len(self)} structures")
            else:
                raise IndexError(f"cannot index a Dataset with {type(index).__name__} of dtype {array.dtype}")
        return Dataset(
            name=self.name,
            structures=[self.structures[k] for k in positions],
            ids=[self.ids[k] for k in positions],
            splits=[self.splits[k] for k in positions],
            sources=[self.sources[k] for k in positions],
            properties=None if self.properties is None else self.properties.iloc[positions],
            rejects=list(self.rejects),
        )

    def fingerprint(self) -> str:
        """SHA-256 (hex) of the ids, atom counts, atomic numbers, cells, pbc and positions.

        Cells and positions are rounded to a grid of 2**-20 Å (about 1e-6 Å; binary, so
        that the 8-decimal values of CIF files do not sit on rounding ties) first, so
        float noise far below that
        (a unit conversion, a full-precision write and read) leaves it unchanged, while any
        real edit changes it. Rounding is not a tolerance: a value within noise of a
        rounding boundary can still flip, e.g. after a write to 8 decimals. It is
        order-sensitive: the same structures in another order are another dataset, since
        the order fixes the rows of every per-atom table.
        """
        digest = hashlib.sha256()
        digest.update("\x1f".join(self.ids).encode())
        digest.update(self.atom_offsets.astype("<i8").tobytes())
        if len(self) == 0:
            return digest.hexdigest()
        numbers = np.concatenate([atoms.numbers for atoms in self.structures])
        positions = np.concatenate([atoms.positions for atoms in self.structures])
        cells = np.stack([atoms.cell.array for atoms in self.structures])
        pbcs = np.stack([atoms.pbc for atoms in self.structures])
        digest.update(numbers.astype("<i8").tobytes())
        digest.update(pbcs.astype(np.uint8).tobytes())
        for values in (cells, positions):
            digest.update(_rounded(values).tobytes())
        return digest.hexdigest()


def _rounded(values: np.ndarray) -> np.ndarray:
    """Fixed-point integers on the fingerprint grid (no -0.0 / 0.0 distinction, unlike floats)."""
    return np.rint(np.asarray(values, dtype=float) * _FINGERPRINT_GRID).astype("<i8")


@dataclass
class Candidate:
    """An item a loader read (or failed to read), before validation."""

    source: str
    row: int
    id: str
    split: str
    atoms: Atoms | None
    error: str | None = None


def check_on_error(on_error: str) -> None:
    if on_error not in _ON_ERROR_CHOICES:
        raise DatasetError(f"on_error must be one of {_ON_ERROR_CHOICES}, got {on_error!r}")


def assemble(
    name: str,
    candidates: Sequence[Candidate],
    on_error: OnError = "raise",
    properties: pd.DataFrame | None = None,
    min_distance: float = DEFAULT_MIN_DISTANCE,
    earlier_rejects: Sequence[Reject] = (),
) -> Dataset:
    """Validate candidates and build a :class:`Dataset`, applying the ``on_error`` policy.

    ``properties``, when given, has one row per candidate (in candidate order); the rows
    of kept candidates become ``Dataset.properties``.

    Every candidate whose reading failed, whose structure fails
    :func:`~platonic.datasets.validation.structure_problem`, or whose id repeats an earlier
    one becomes a :class:`Reject`. With ``on_error="raise"`` any reject raises
    :class:`DatasetError` listing the first 20 as ``file:row (id): reason`` and the count
    of the rest; with ``"skip"`` the rejects are dropped, kept in ``Dataset.rejects`` and
    announced by a :class:`RejectedStructuresWarning`.
    """
    check_on_error(on_error)
    if properties is not None and len(properties) != len(candidates):
        raise DatasetError(f"properties has {len(properties)} rows for {len(candidates)} candidates")
    if not min_distance >= 0:
        raise ValueError(f"min_distance must be a non-negative number, got {min_distance!r}")
    rejects = list(earlier_rejects)
    kept: list[Candidate] = []
    kept_positions: list[int] = []
    seen: set[str] = set()
    for position, candidate in enumerate(candidates):
        reason = candidate.error
        if reason is None:
            reason = structure_problem(candidate.atoms, min_distance=min_distance)
        if reason is None and candidate.id in seen:
            reason = "duplicate id"
        if reason is not None:
            rejects.append(Reject(candidate.source, candidate.row, candidate.id, reason))
            continue
        seen.add(candidate.id)
        kept.append(candidate)
        kept_positions.append(position)
    if rejects:
        if on_error == "raise":
            raise DatasetError(_reject_report(name, rejects))
        warnings.warn(
            f"{name}: skipped {len(rejects)} invalid item(s); see Dataset.rejects. "
            f"First: {rejects[0]}",
            RejectedStructuresWarning,
            stacklevel=3,
        )
    return Dataset(
        name=name,
        structures=[candidate.atoms for candidate in kept],
        ids=[candidate.id for candidate in kept],
        splits=[candidate.split for candidate in kept],
        sources=[candidate.source for candidate in kept],
        properties=None if properties is None else properties.iloc[kept_positions],
        rejects=rejects,
    )


def _reject_report(name: str, rejects: Sequence[Reject]) -> str:
    lines = [f"{name}: {len(rejects)} invalid item(s) (on_error='skip', or --skip-bad, keeps the others):"]
    lines += [f"  {reject}" for reject in rejects[:_LISTED_REJECTS]]
    if len(rejects) > _LISTED_REJECTS:
        lines.append(f"  ... and {len(rejects) - _LISTED_REJECTS} more")
    return "\n".join(lines)
