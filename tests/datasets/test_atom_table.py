"""The atom table: layout, spglib symmetry on known structures, invariants on real data."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from ase.build import molecule

import platonic.datasets as datasets
from platonic.datasets import ATOM_TABLE_COLUMNS, atom_table
from platonic.datasets import table as table_module


@pytest.fixture(scope="module")
def cases_table():
    cases = datasets.case_studies()
    return cases, atom_table(cases)


def test_layout_matches_the_dataset(mp20_sample):
    table = atom_table(mp20_sample)
    assert list(table.columns) == list(ATOM_TABLE_COLUMNS)
    assert len(table) == mp20_sample.n_atoms
    assert np.array_equal(table["row"], np.arange(len(table))) and np.array_equal(table.index, table["row"])
    offsets = mp20_sample.atom_offsets
    for k in (0, 13, 49):
        rows = table.iloc[offsets[k] : offsets[k + 1]]
        atoms = mp20_sample.structures[k]
        assert (rows["structure_index"] == k).all() and (rows["structure_id"] == mp20_sample.ids[k]).all()
        assert rows["atom_index"].tolist() == list(range(len(atoms)))
        assert rows["Z"].tolist() == atoms.numbers.tolist()
        assert rows["element"].tolist() == atoms.get_chemical_symbols()
        assert (rows["split"] == mp20_sample.splits[k]).all()


def test_symmetry_classes_are_consistent(mp20_sample):
    table = atom_table(mp20_sample)
    assert table["spglib_ok"].all()
    for _, rows in table.groupby("structure_index"):
        representative = rows["equivalent_class"].to_numpy()
        # the representative is an atom of the structure, of the same element, and its own representative
        assert (representative <= rows["atom_index"].to_numpy()).all()
        z = rows["Z"].to_numpy()
        assert (z[representative] == z).all()
        assert (representative[representative] == representative).all()
        for _, orbit in rows.groupby("equivalent_class"):
            assert orbit["wyckoff"].nunique() == 1


def test_space_groups_mostly_agree_with_materials_project(mp20_sample):
    table = atom_table(mp20_sample)
    ours = table.groupby("structure_index")["spacegroup_number"].first().to_numpy()
    theirs = mp20_sample.properties["spacegroup.number"].to_numpy()
    assert (ours == theirs).mean() >= 0.9  # the file's column is known to be off for ~2.5%


def test_case_studies_space_groups_and_classes(cases_table):
    cases, table = cases_table
    per_structure = table.groupby("structure_index").agg(
        spacegroup=("spacegroup_number", "first"), classes=("equivalent_class", "nunique")
    )
    expected = cases.properties["sg_number"].to_numpy()
    assert per_structure["spacegroup"].tolist() == expected.tolist()
    classes = dict(zip(cases.ids, per_structure["classes"]))
    assert classes["mp-2657"] == 2  # rutile: Ti 2a, O 4f
    assert classes["mp-2998"] == 3  # cubic BaTiO3: Ba, Ti, O3
    assert classes["mp-30"] == 1
    rutile = table[table["structure_id"] == "mp-2657"]
    assert sorted(set(zip(rutile["element"], rutile["wyckoff"]))) == [("O", "f"), ("Ti", "a")]
    assert set(rutile["formula"]) == {"TiO2"}


def test_non_periodic_structure_is_marked_not_crashed():
    water = datasets.from_structures([molecule("H2O")])
    table = atom_table(water)
    assert not table["spglib_ok"].any() and (table["spacegroup_number"] == 0).all()
    assert table["equivalent_class"].tolist() == [0, 1, 2] and table["formula"].iloc[0] == "H2O"


def test_symprec_changes_what_counts_as_symmetric():
    displaced = datasets.case_study("mp-2998")  # cubic BaTiO3, Pm-3m
    titanium = displaced.get_chemical_symbols().index("Ti")
    displaced.positions[titanium, 2] += 0.02  # a ferroelectric shift along c: P4mm
    dataset = datasets.from_structures([displaced])
    assert atom_table(dataset, symprec=0.1)["spacegroup_number"].iloc[0] == 221
    tight = atom_table(dataset, symprec=1e-3)
    assert tight["spacegroup_number"].iloc[0] == 99
    assert tight["equivalent_class"].nunique() == 4  # Ba, Ti, apical O, two equatorial O
    with pytest.raises(ValueError, match="symprec"):
        atom_table(dataset, symprec=0)


def test_parallel_equals_serial(mp20_sample, monkeypatch):
    monkeypatch.setattr(table_module, "_CHUNK", 8)  # several chunks from 50 structures
    pd.testing.assert_frame_equal(atom_table(mp20_sample, n_jobs=2), atom_table(mp20_sample))


@pytest.mark.slow
def test_atom_table_on_all_of_mp20():
    everything = datasets.load("mp20")
    start = time.perf_counter()
    table = atom_table(everything)
    elapsed = time.perf_counter() - start
    assert len(table) == 347_703 and table["spglib_ok"].all()
    print(f"atom_table on 33,930 structures: {elapsed:.1f} s")
