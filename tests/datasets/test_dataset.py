"""The Dataset container: indexing, atom offsets, fingerprint, reject policy."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from ase.build import bulk

import platonic.datasets as datasets
from platonic.datasets import Dataset, DatasetError, Reject


def test_offsets_and_atom_count(mp20_sample):
    offsets = mp20_sample.atom_offsets
    assert offsets[0] == 0 and len(offsets) == len(mp20_sample) + 1
    assert np.array_equal(np.diff(offsets), [len(a) for a in mp20_sample.structures])
    assert mp20_sample.n_atoms == offsets[-1] == sum(len(a) for a in mp20_sample.structures)


def test_indexing_keeps_everything_aligned(mp20_sample):
    picked = mp20_sample[np.array([4, 1, 7])]
    assert isinstance(picked, Dataset) and picked.ids == [mp20_sample.ids[k] for k in (4, 1, 7)]
    assert picked.structures[0] is mp20_sample.structures[4]
    assert picked.properties["pretty_formula"].tolist() == mp20_sample.properties["pretty_formula"].iloc[[4, 1, 7]].tolist()
    assert list(picked.properties.index) == [0, 1, 2]
    assert mp20_sample[2:5].ids == mp20_sample.ids[2:5]
    mask = np.array(mp20_sample.splits) == "val"
    assert set(mp20_sample[mask].splits) == {"val"}
    assert mp20_sample[3] is mp20_sample.structures[3]
    with pytest.raises(IndexError):
        mp20_sample[np.array([0, 50])]
    with pytest.raises(IndexError):
        mp20_sample[np.array([0.5])]


def test_fingerprint_is_stable_through_a_full_precision_round_trip(mp20_sample, tmp_path):
    from pymatgen.io.ase import AseAtomsAdaptor

    path = tmp_path / "sample.jsonl"
    with path.open("w") as handle:
        for atoms, structure_id in zip(mp20_sample.structures, mp20_sample.ids):
            structure = AseAtomsAdaptor.get_structure(atoms)
            structure.properties["id"] = structure_id
            handle.write(json.dumps(structure.as_dict()) + "\n")
    assert datasets.read(path).fingerprint() == mp20_sample.fingerprint()
    assert datasets.load("mp20", n=50, seed=0).fingerprint() == mp20_sample.fingerprint()


def test_fingerprint_is_sensitive(mp20_sample):
    reference = mp20_sample.fingerprint()
    moved = mp20_sample[:]
    moved.structures = [a.copy() for a in moved.structures]
    moved.structures[10].positions[0, 2] += 2e-6
    assert moved.fingerprint() != reference
    assert mp20_sample[np.arange(len(mp20_sample))[::-1]].fingerprint() != reference
    renamed = mp20_sample[:]
    renamed.ids = ["x"] + renamed.ids[1:]
    assert renamed.fingerprint() != reference
    mutated = mp20_sample[:]
    mutated.structures = [a.copy() for a in mutated.structures]
    mutated.structures[0].numbers[0] += 1
    assert mutated.fingerprint() != reference
    unpinned = mp20_sample[:]
    unpinned.structures = [a.copy() for a in unpinned.structures]
    unpinned.structures[0].pbc = [True, True, False]
    assert unpinned.fingerprint() != reference


def test_fingerprint_is_fast_on_34k_structures():
    cu = bulk("Cu", "fcc", a=3.6, cubic=True)
    count = 34_000
    many = Dataset("many", [cu] * count, [f"s{k}" for k in range(count)], ["x"] * count, ["f"] * count)
    start = time.perf_counter()
    many.fingerprint()
    assert time.perf_counter() - start < 2.0


def test_constructor_refuses_inconsistent_inputs():
    cu = bulk("Cu")
    with pytest.raises(DatasetError, match="duplicated id"):
        Dataset("x", [cu, cu], ["a", "a"], ["s", "s"], ["f", "f"])
    with pytest.raises(DatasetError, match="splits has 1 entries for 2"):
        Dataset("x", [cu, cu], ["a", "b"], ["s"], ["f", "f"])


def test_reject_format():
    assert str(Reject("val.csv.gz", 12, "mp-1", "empty structure")) == "val.csv.gz:12 (mp-1): empty structure"


def test_on_error_is_validated():
    with pytest.raises(ValueError, match="on_error"):
        datasets.from_structures([bulk("Cu")], on_error="ignore")
