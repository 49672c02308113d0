"""The fast P1 CIF reader against ASE's general CIF reader, and its refusals."""

from __future__ import annotations

import io

import ase.io
import numpy as np
import pandas as pd
import pytest

from platonic.datasets import CifFormatError, parse_p1_cif
from platonic.datasets.mp20 import _PACKAGE_MP20

RUTILE = (_PACKAGE_MP20 / "case_studies" / "mp-2657.cif").read_text()


def _same_structure(ours, reference) -> None:
    assert (ours.numbers == reference.numbers).all()
    np.testing.assert_allclose(ours.cell.array, reference.cell.array, atol=1e-10)
    offsets = ours.get_scaled_positions(wrap=False) - reference.get_scaled_positions(wrap=False)
    offsets -= np.round(offsets)  # ASE wraps into [0, 1); we keep coordinates as written
    np.testing.assert_allclose(offsets @ ours.cell.array, 0.0, atol=1e-9)


def test_matches_ase_on_real_mp20_rows():
    table = pd.read_csv(_PACKAGE_MP20 / "test.csv.gz")
    rows = np.random.default_rng(7).choice(len(table), size=60, replace=False)
    for text in table["cif"].iloc[rows]:
        _same_structure(parse_p1_cif(text), ase.io.read(io.StringIO(text), format="cif"))


def test_rutile_cell_and_sites():
    atoms = parse_p1_cif(RUTILE)
    assert atoms.get_chemical_formula() == "O4Ti2"
    np.testing.assert_allclose(atoms.cell.cellpar(), [4.653272, 4.653272, 2.969203, 90, 90, 90])
    assert atoms.pbc.all()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t[: t.rindex("  O  O5")] + "  O  O5  1  0.69542000", "site row 6 has"),
        (lambda t: t.replace("'x, y, z'", "'-x, -y, -z'"), "not the P1 identity"),
        (lambda t: t.replace("0.30458000  0.00000000  1.0", "0.30458000  0.00000000  0.5"), "partial occupancy"),
        (lambda t: t.replace("  Ti  Ti1", "  Xx  Ti1"), "unknown element"),
        (lambda t: t.replace("_cell_length_b", "_cell_length_q"), "_cell_length_b"),
        (lambda t: t + "\ndata_second\n", "exactly one data_ block"),
        (lambda t: "", "empty CIF"),
        (lambda t: t.replace("4.65327200", "4.65x"), "unreadable cell parameter"),
    ],
)
def test_refuses_what_it_does_not_understand(edit, message):
    with pytest.raises(CifFormatError, match=message):
        parse_p1_cif(edit(RUTILE))
