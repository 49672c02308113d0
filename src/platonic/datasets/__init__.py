"""Structures in: MP-20, any ASE-readable file, pymatgen Structures, and the atom table.

>>> import platonic.datasets as pd_
>>> data = pd_.open("mp20", split="val", n=100, seed=0)   # doctest: +SKIP
>>> mine = pd_.open("structures.extxyz", n=50)             # doctest: +SKIP
>>> table = pd_.atom_table(data)                           # doctest: +SKIP

Every loader validates every structure (see :mod:`platonic.datasets.validation`) and either
raises :class:`DatasetError` listing the bad items (``on_error="raise"``) or drops them into
``Dataset.rejects`` with a warning (``on_error="skip"``).
"""

from platonic.datasets.table import ATOM_TABLE_COLUMNS, DEFAULT_SYMPREC, atom_table
from platonic.datasets.cif import CifFormatError, parse_p1_cif
from platonic.datasets.dataset import Dataset, DatasetError, Reject, RejectedStructuresWarning
from platonic.datasets.entry import DATASET_NAMES, open, subsample_indices
from platonic.datasets.mp20 import (
    MP20_TRAIN_URL,
    case_studies,
    case_study,
    data_dir,
    download_mp20,
    load,
)
from platonic.datasets.readers import from_structures, read
from platonic.datasets.validation import DEFAULT_MIN_DISTANCE, structure_problem

__all__ = [
    "ATOM_TABLE_COLUMNS",
    "DEFAULT_MIN_DISTANCE",
    "DEFAULT_SYMPREC",
    "MP20_TRAIN_URL",
    "CifFormatError",
    "DATASET_NAMES",
    "Dataset",
    "DatasetError",
    "Reject",
    "RejectedStructuresWarning",
    "atom_table",
    "case_studies",
    "case_study",
    "data_dir",
    "download_mp20",
    "from_structures",
    "load",
    "open",
    "parse_p1_cif",
    "read",
    "structure_problem",
    "subsample_indices",
]
