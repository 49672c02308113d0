"""read() and from_structures(): real files, ids, and refusing bad input."""

from __future__ import annotations

import json

import ase.io
import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, molecule
from pymatgen.core import Lattice, Structure

import platonic.datasets as datasets
from platonic.datasets import DatasetError, RejectedStructuresWarning
from platonic.datasets.mp20 import _PACKAGE_MP20

EXTXYZ_WITH_EMPTY_FRAME = """2
Lattice="4 0 0 0 4 0 0 0 4" Properties=species:S:1:pos:R:3 pbc="T T T" band_gap=1.5
Cu 0 0 0
Cu 2 2 0
0
Lattice="4 0 0 0 4 0 0 0 4" Properties=species:S:1:pos:R:3 pbc="T T T"
2
Lattice="4 0 0 0 4 0 0 0 4" Properties=species:S:1:pos:R:3 pbc="T T T" band_gap=0.5
Cu 0 0 0
Cu 0.1 0 0
1
Lattice="4 0 0 0 4 0 0 0 4" Properties=species:S:1:pos:R:3 pbc="T T T" id=special
Cu 1 1 1
"""


@pytest.fixture
def extxyz(tmp_path):
    path = tmp_path / "frames.extxyz"
    path.write_text(EXTXYZ_WITH_EMPTY_FRAME)
    return path


def test_extxyz_empty_frame_and_close_atoms_raise_with_every_item(extxyz):
    with pytest.raises(DatasetError) as raised:
        datasets.read(extxyz)
    message = str(raised.value)
    assert "frames.extxyz:2 (frames:1): empty structure" in message
    assert "frames.extxyz:3 (frames:2): overlapping atoms: atoms 0 and 1 are 0.100 Å apart" in message


def test_extxyz_skip_keeps_good_frames_ids_and_info(extxyz):
    with pytest.warns(RejectedStructuresWarning, match="skipped 2"):
        dataset = datasets.read(extxyz, on_error="skip")
    assert dataset.ids == ["frames:0", "special"]
    assert dataset.name == "frames" and dataset.splits == ["custom", "custom"]
    band_gap = dataset.properties["band_gap"]
    assert band_gap.iloc[0] == 1.5 and np.isnan(band_gap.iloc[1])  # the "special" frame has none
    assert [reject.row for reject in dataset.rejects] == [2, 3]


def test_truncated_last_frame_is_one_reject(tmp_path):
    path = tmp_path / "broken.extxyz"
    path.write_text(EXTXYZ_WITH_EMPTY_FRAME.split("0\nLattice")[0] + "3\nLattice=\"4 0 0 0 4 0 0 0 4\" pbc=\"T T T\"\nCu 0 0 0\n")
    with pytest.warns(RejectedStructuresWarning):
        dataset = datasets.read(path, on_error="skip")
    assert len(dataset) == 1
    assert dataset.rejects[0].row == 2
    assert dataset.rejects[0].reason == "truncated: the frame declares 3 atoms, the file ends after 1"


def test_several_files_of_several_formats(tmp_path):
    ase.io.write(tmp_path / "POSCAR", bulk("Si", "diamond", a=5.43), format="vasp")
    cif = _PACKAGE_MP20 / "case_studies" / "mp-2657.cif"
    dataset = datasets.read([tmp_path / "POSCAR", cif])
    assert dataset.ids == ["POSCAR:0", "mp-2657:0"] and dataset.name == "custom"
    assert [len(a) for a in dataset.structures] == [2, 6]
    assert dataset.properties["unit_cell"].tolist()[1] == "conventional"  # ASE's CIF info


def test_missing_file_is_an_error(tmp_path):
    with pytest.raises(DatasetError, match="nope.xyz:0: no such file"):
        datasets.read(tmp_path / "nope.xyz")


def test_pymatgen_json_lines(tmp_path):
    rocksalt = Structure.from_spacegroup("Fm-3m", Lattice.cubic(4.2), ["Mg", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    rocksalt.properties["material_id"] = "mgo"
    rocksalt.properties["band_gap"] = 7.8
    path = tmp_path / "structures.jsonl"
    path.write_text(json.dumps(rocksalt.as_dict()) + "\n\n{not json\n" + json.dumps(rocksalt.as_dict()) + "\n")
    with pytest.warns(RejectedStructuresWarning):
        dataset = datasets.read(path, on_error="skip")
    assert dataset.ids == ["mgo"]
    assert [(r.row, r.reason.split(":")[0]) for r in dataset.rejects] == [(3, "unreadable Structure JSON"), (4, "duplicate id")]
    assert dataset.properties["band_gap"].tolist() == [7.8]
    atoms = dataset.structures[0]
    assert len(atoms) == 8 and atoms.get_volume() == pytest.approx(4.2**3)


def test_from_structures_mixed_inputs_and_copies():
    cu = bulk("Cu", "fcc", a=3.6)
    cu.info["id"] = "copper"
    nacl = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.6), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    dataset = datasets.from_structures([cu, nacl, molecule("H2O")], name="mine")
    assert dataset.ids == ["copper", "mine:1", "mine:2"] and dataset.sources == ["<in-memory>"] * 3
    cu.positions[0, 0] = 99.0
    assert dataset.structures[0].positions[0, 0] == 0.0
    assert not dataset.structures[2].pbc.any()
    named = datasets.from_structures([cu, nacl], ids=["a", "b"])
    assert named.ids == ["a", "b"]
    with pytest.raises(ValueError, match="ids has 1 entries for 2"):
        datasets.from_structures([cu, nacl], ids=["a"])


def test_from_structures_rejects_with_list_index():
    good = bulk("Cu")
    close = Atoms("H2", positions=[[0, 0, 0], [0.1, 0, 0]], cell=[5, 5, 5], pbc=True)
    with pytest.raises(DatasetError, match=r"<in-memory>:1 \(custom:1\): overlapping.*\n.*<in-memory>:2 \(custom:2\): not an ase.Atoms"):
        datasets.from_structures([good, close, "Cu"])
    with pytest.warns(RejectedStructuresWarning):
        kept = datasets.from_structures([good, close, "Cu"], on_error="skip")
    assert kept.ids == ["custom:0"] and len(kept.rejects) == 2


def test_disordered_structure_is_refused():
    alloy = Structure(Lattice.cubic(3.6), [{"Cu": 0.5, "Au": 0.5}], [[0, 0, 0]])
    with pytest.raises(DatasetError, match="disordered"):
        datasets.from_structures([alloy])
