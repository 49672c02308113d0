"""MP-20 (Materials Project structures with at most 20 atoms, CDVAE's split) and case studies.

Shipped with the package (``platonic/datasets/data/mp20/``):

========================  ==================  =========  ==================================
file                      structures          atoms      note
========================  ==================  =========  ==================================
``val.csv.gz``            9,047               93,512     complete split
``test.csv.gz``           9,046               93,158     complete split
``train_partial.csv.gz``  15,837 of 27,136    161,033    partial and biased (see below)
========================  ==================  =========  ==================================

The shipped train split lacks 11,299 of CDVAE's 27,136 training structures, among them the
2,982 that also appear in MPTS-52's val/test splits, so it is not a random sample of the
train split. The complete train split is CDVAE's ``data/mp_20/train.csv``; fetch it once
with :func:`download_mp20` and load it as ``load("mp20-full", split="train")``.

Data: Materials Project, CC BY 4.0 (Jain et al., APL Materials 1, 011002 (2013)); split:
CDVAE, MIT (Xie et al., arXiv:2110.06197). See ``data/mp20/LICENSE.md``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import urllib.error
import urllib.request
from importlib.resources import files
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from ase import Atoms

from platonic.datasets.cif import parse_p1_cif
from platonic.datasets.cif_table import CifParser, cif_reader, read_table, table_candidates
from platonic.datasets.dataset import Candidate, Dataset, DatasetError, OnError, assemble, check_on_error
from platonic.datasets.entry import DATASET_NAMES, check_sample_size, subsample_indices
from platonic.datasets.validation import DEFAULT_MIN_DISTANCE

MP20_TRAIN_URL = "https://raw.githubusercontent.com/txie-93/cdvae/main/data/mp_20/train.csv"
MP20_TRAIN_SIZE = 27_136
DATA_ENV_VARIABLE = "PLATONIC_DATA"
SPLITS = ("val", "test", "train")

_PACKAGE_MP20 = Path(str(files("platonic.datasets"))) / "data" / "mp20"
_SHIPPED_FILES = {"val": "val.csv.gz", "test": "test.csv.gz", "train": "train_partial.csv.gz"}


def data_dir() -> Path:
    """The directory for downloaded data: ``$PLATONIC_DATA`` or ``~/.cache/platonic``."""
    root = os.environ.get(DATA_ENV_VARIABLE)
    return Path(root).expanduser() if root else Path.home() / ".cache" / "platonic"


def _full_train_path() -> Path:
    return data_dir() / "mp20" / "train.csv"


def _split_file(name: str, split: str) -> Path:
    if name == "mp20-full" and split == "train":
        path = _full_train_path()
        if not path.is_file():
            raise DatasetError(
                f"the full MP-20 train split is not at {path}. On a machine with network run "
                "`python -c 'import platonic.datasets as d; d.download_mp20()'` "
                f"(it fetches {MP20_TRAIN_URL}), or copy CDVAE's data/mp_20/train.csv there; "
                f"set ${DATA_ENV_VARIABLE} to use another directory. The shipped partial "
                "train split is load('mp20', split='train')."
            )
        return path
    return _PACKAGE_MP20 / _SHIPPED_FILES[split]


def _requested_splits(split: str | Sequence[str]) -> list[str]:
    requested = list(SPLITS) if split == "all" else [split] if isinstance(split, str) else list(split)
    unknown = [s for s in requested if s not in SPLITS]
    if unknown or not requested:
        raise DatasetError(
            f"split must be 'all', one of {', '.join(repr(s) for s in SPLITS)} or a list of "
            f"them, got {split!r}"
        )
    return list(dict.fromkeys(requested))


def load(
    name: str = "mp20",
    split: str | Sequence[str] = "all",
    n: int | None = None,
    seed: int = 0,
    on_error: OnError = "raise",
    min_distance: float = DEFAULT_MIN_DISTANCE,
    cif_parser: CifParser | None = None,
) -> Dataset:
    """Load MP-20 structures (or, given a path, a structure file: see :func:`~platonic.datasets.open`).

    Parameters
    ----------
    name:
        ``"mp20"``: the files shipped with platonic; its ``"train"`` split is the partial
        one (15,837 of CDVAE's 27,136 structures, biased: see the module docstring).
        ``"mp20-full"``: the same val and test, and the complete train split read from
        ``<data_dir()>/mp20/train.csv`` (see :func:`download_mp20`).
        Anything else is a path, read by :func:`~platonic.datasets.open` (``split`` must
        then be ``"all"``); a path that does not exist is a :class:`DatasetError`.
    split:
        ``"all"`` (val, then test, then train: 33,930 structures for ``"mp20"``), one of
        ``"train"``, ``"val"``, ``"test"``, or a list of them (read in the order given).
    n:
        If set, a reproducible random subsample of ``n`` structures drawn without
        replacement from the requested splits together (the same ``n`` and ``seed`` give
        the same structures), kept in file order. It is drawn before CIFs are parsed, so
        small ``n`` is fast; rejects are then counted among the drawn rows only.
    seed:
        Seed of the subsample (``numpy.random.default_rng``).
    on_error:
        ``"raise"``: any invalid row raises :class:`DatasetError` listing them.
        ``"skip"``: drop them, keep them in ``Dataset.rejects`` and warn.
    min_distance:
        Structures with two atoms closer than this (Å, periodic images included) are invalid.
    cif_parser:
        ``"fast"`` (the default for MP-20; for a path the default is ``"ase"``):
        :func:`~platonic.datasets.cif.parse_p1_cif`, strict, for the
        pymatgen-written P1 CIFs of MP-20 (~20x faster than the general parsers);
        ``"ase"`` or ``"pymatgen"``: the general parsers. The fast parser and ASE give the
        same cells and positions (the cell convention is ASE's: **a** along x).

    Returns
    -------
    Dataset with ids = Materials Project ids, splits ``"train"``/``"val"``/``"test"``,
    sources = the CSV files, and properties = the remaining CSV columns (formation energy,
    band gap, formula, ...; ``spacegroup.number`` is the file's and disagrees with spglib for
    ~2.5% of rows: use :func:`~platonic.datasets.atom_table`; the CSV ``source`` column is
    renamed ``upstream_source``).
    """
    if not (isinstance(name, str) and name in DATASET_NAMES):
        from platonic.datasets.entry import open as open_dataset

        return open_dataset(
            name,
            split=None if split == "all" else split,
            n=n,
            seed=seed,
            on_error=on_error,
            min_distance=min_distance,
            cif_parser=cif_parser,
        )
    check_on_error(on_error)
    read_cif = cif_reader(cif_parser or "fast")
    tables, sources, row_numbers, splits = [], [], [], []
    for split_name in _requested_splits(split):
        path = _split_file(name, split_name)
        table = read_table(path)
        tables.append(table)
        sources.append(np.full(len(table), str(path), dtype=object))
        row_numbers.append(np.arange(1, len(table) + 1))
        splits.append(np.full(len(table), split_name, dtype=object))
    rows = pd.concat(tables, ignore_index=True)
    chosen = np.arange(len(rows))
    if n is not None:
        n = check_sample_size(n, len(rows), f"{name} split={split!r}")
        chosen = subsample_indices(len(rows), n, seed)
    candidates, properties = table_candidates(
        rows.iloc[chosen],
        np.concatenate(sources)[chosen],
        np.concatenate(row_numbers)[chosen],
        np.concatenate(splits)[chosen],
        read_cif,
    )
    dataset_name = name if n is None else f"{name}-n{n}-seed{seed}"
    return assemble(dataset_name, candidates, on_error, properties=properties, min_distance=min_distance)


def download_mp20(
    destination: str | os.PathLike | None = None,
    url: str = MP20_TRAIN_URL,
    timeout: float = 60.0,
    overwrite: bool = False,
) -> Path:
    """Download CDVAE's complete MP-20 train split (27,136 structures) for ``load("mp20-full")``.

    Parameters
    ----------
    destination:
        Where to write ``train.csv``; default ``<data_dir()>/mp20/train.csv``, where
        ``load("mp20-full")`` looks.
    url:
        Source (default: the CDVAE repository on GitHub, ``data/mp_20/train.csv``).
    timeout:
        Network timeout in seconds.
    overwrite:
        Download again even if the file is there.

    The file is written to a temporary name and renamed only after it parsed as a CSV with
    ``material_id`` and ``cif`` columns and 27,136 rows, so a failed download never leaves
    a file that ``load`` would trust.

    Raises
    ------
    DatasetError
        If the download fails (no network, HTTP error) or the content is not the expected
        table.
    """
    target = Path(destination) if destination is not None else _full_train_path()
    if target.is_file() and not overwrite:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary_name = tempfile.mkstemp(prefix=".train-", suffix=".csv.part", dir=target.parent)
    temporary = Path(temporary_name)
    try:
        with os.fdopen(handle, "wb") as output:
            try:
                with urllib.request.urlopen(url, timeout=timeout) as response:
                    shutil.copyfileobj(response, output)
            except (urllib.error.URLError, OSError) as error:
                raise DatasetError(
                    f"could not download the MP-20 train split from {url}: {error}. "
                    f"Run download_mp20() on a machine with network and copy the file to {target}."
                ) from error
        table = read_table(temporary)
        if len(table) != MP20_TRAIN_SIZE:
            raise DatasetError(
                f"downloaded {url} has {len(table)} rows, expected {MP20_TRAIN_SIZE}; not saved"
            )
        temporary.replace(target)
    finally:
        temporary.unlink(missing_ok=True)
    return target


# ---------------------------------------------------------------- case studies

_CASE_STUDIES = _PACKAGE_MP20 / "case_studies"
_CASE_SPLITS = {"train_partial": "train", "val": "val", "test": "test"}


def _case_table() -> pd.DataFrame:
    return pd.read_csv(_CASE_STUDIES / "case_studies.csv", dtype={"material_id": str})


def case_study(material_id: str) -> Atoms:
    """One case-study structure (rutile ``"mp-2657"``, cubic BaTiO3 ``"mp-2998"``, ...).

    The ids are those of ``case_studies.csv``: Materials Project ids, plus
    ``"Au-fcc-a4.08"`` for the fcc gold built with a = 4.08 Å (not among the recovered
    MP-20 rows). ``atoms.info`` carries ``id`` and ``description``.
    """
    table = _case_table()
    match = table[table["id"] == material_id]
    if match.empty:
        raise KeyError(f"no case study {material_id!r}; available: {table['id'].tolist()}")
    record = match.iloc[0]
    atoms = parse_p1_cif((_CASE_STUDIES / record["file"]).read_text())
    atoms.info.update(id=record["id"], description=record["desc"])
    return atoms


def case_studies(on_error: OnError = "raise", min_distance: float = DEFAULT_MIN_DISTANCE) -> Dataset:
    """All case-study structures as a dataset named ``"mp20-case-studies"``.

    Splits are the MP-20 split each material belongs to (``"train"`` for the shipped partial
    train split), or ``"none"`` for mp-1439 and the built fcc Au; properties are the other
    columns of ``case_studies.csv`` (description, formula, expected space group, ...).
    """
    table = _case_table()
    candidates = []
    for row, record in enumerate(table.itertuples(index=False), start=1):
        path = _CASE_STUDIES / record.file
        try:
            atoms, error = parse_p1_cif(path.read_text()), None
        except (OSError, ValueError) as problem:
            atoms, error = None, f"unreadable CIF: {problem}"
        split_name = _CASE_SPLITS.get(record.split, "none")
        candidates.append(Candidate(str(path), row, record.id, split_name, atoms, error))
    properties = table.drop(columns=["id"]).rename(columns={"split": "mp20_split", "source": "upstream_source"})
    return assemble("mp20-case-studies", candidates, on_error, properties=properties, min_distance=min_distance)
