"""The one dataset entry point, :func:`open`: a dataset name or a structure file, subsampled.

The CLI (``platonic extract --dataset``) and the study (``[dataset] name``) both call it, so a
name, a path, a split and a sample size mean the same everywhere.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from platonic.datasets.cif_table import CifParser
from platonic.datasets.dataset import Dataset, DatasetError, OnError
from platonic.datasets.validation import DEFAULT_MIN_DISTANCE

DATASET_NAMES = ("mp20", "mp20-full")
WHOLE_FILE_SPLITS = (None, "all")


def check_sample_size(n: object, available: int, what: str) -> int:
    """``n`` as an int when it is a sample size in ``[1, available]``; else :class:`DatasetError`."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise DatasetError(f"n must be a whole number of structures, got {n!r}")
    if n < 1:
        raise DatasetError(f"n={n}: a sample needs at least 1 structure")
    if n > available:
        raise DatasetError(
            f"n={n} is more than the {available:,} structures of {what}; "
            f"use n <= {available}, or no n (n = \"all\" in a study file) for all of them"
        )
    return int(n)


def subsample_indices(available: int, n: int, seed: int = 0) -> np.ndarray:
    """Sorted positions of a reproducible sample of ``n`` of ``available`` items, no replacement.

    The positions are ``numpy.random.default_rng(seed).choice(available, n, replace=False)``
    in increasing order, so the sample keeps the file order; the same ``(available, n, seed)``
    always give the same sample.
    """
    return np.sort(np.random.default_rng(seed).choice(available, size=n, replace=False))


def open(  # noqa: A001 - the dataset counterpart of the builtin, as in xarray.open_dataset
    name_or_path: str | os.PathLike,
    split: str | None = None,
    n: int | None = None,
    seed: int = 0,
    on_error: OnError = "raise",
    min_distance: float = DEFAULT_MIN_DISTANCE,
    format: str | None = None,
    cif_parser: CifParser | None = None,
) -> Dataset:
    """A dataset by name (``"mp20"``, ``"mp20-full"``) or from a structure file.

    Parameters
    ----------
    name_or_path:
        A name of :data:`DATASET_NAMES` (read by :func:`platonic.datasets.load`), or a file
        :func:`platonic.datasets.read` reads: any ASE format (extxyz, CIF, POSCAR...),
        pymatgen JSON lines, or a CIF table (``*.csv``/``*.csv.gz`` with ``material_id`` and
        ``cif`` columns: the MP-20 and CDVAE format).
    split:
        For MP-20: ``"all"`` (the default when ``None``), ``"train"``, ``"val"``, ``"test"``
        or a list of them. A file has no splits (its structures get ``"custom"``): only
        ``None`` or ``"all"`` are accepted.
    n, seed:
        If ``n`` is set, a reproducible sample of ``n`` structures (see
        :func:`subsample_indices`), kept in file order; ``1 <= n <=`` the number available.
        From a file the sample is drawn among the valid structures; from MP-20 before the
        CIFs are parsed (see :func:`~platonic.datasets.load`).
    on_error, min_distance:
        As in :func:`~platonic.datasets.read`.
    format:
        For a file: the ASE format name (``None``: guessed from the name).
    cif_parser:
        ``"fast"``, ``"ase"`` or ``"pymatgen"``; ``None``: ``"fast"`` for MP-20 (its CIFs are
        all pymatgen-written P1), ``"ase"`` for files.

    Raises
    ------
    DatasetError
        A path that does not exist (the message says so and lists the dataset names), a
        split that is not one of the choices (listed), ``n`` out of range, a file with no
        usable structure, or invalid structures under ``on_error="raise"`` (each named as
        ``file:row (id): reason``).
    """
    if isinstance(name_or_path, str) and name_or_path in DATASET_NAMES:
        from platonic.datasets.mp20 import load

        return load(
            name_or_path,
            split="all" if split is None else split,
            n=n,
            seed=seed,
            on_error=on_error,
            min_distance=min_distance,
            cif_parser=cif_parser or "fast",
        )
    return _open_file(Path(name_or_path), split, n, seed, on_error, min_distance, format, cif_parser or "ase")


def _open_file(
    path: Path,
    split: str | None,
    n: int | None,
    seed: int,
    on_error: OnError,
    min_distance: float,
    format: str | None,
    cif_parser: CifParser,
) -> Dataset:
    from platonic.datasets.readers import read

    if not path.exists():
        raise DatasetError(f"{path}: no such file (and not a dataset name; the names are {', '.join(DATASET_NAMES)})")
    if not path.is_file():
        raise DatasetError(f"{path}: a directory, not a structure file")
    if split not in WHOLE_FILE_SPLITS:
        raise DatasetError(
            f"split={split!r}: splits select parts of MP-20; the structures of a file ({path}) "
            "have no split (they are labelled 'custom'), so leave split unset or 'all'"
        )
    data = read(path, on_error=on_error, format=format, min_distance=min_distance, cif_parser=cif_parser)
    if len(data) == 0:
        first = f"; first: {data.rejects[0]}" if data.rejects else ""
        raise DatasetError(f"{path}: no usable structure ({len(data.rejects)} rejected{first})")
    if n is None:
        return data
    n = check_sample_size(n, len(data), f"{path}" + (f" ({len(data.rejects)} rejected)" if data.rejects else ""))
    sample = data[subsample_indices(len(data), n, seed)]
    sample.name = f"{data.name}-n{n}-seed{seed}"
    return sample
