"""``platonic extract --dataset FILE --n N`` and ``[dataset] name = FILE``: one entry, ``datasets.open``.

Both used to crash (``AttributeError: subsample_indices``). Here the CLI runs on generated
extxyz, CIF and CDVAE-format CSV files with a closed-form stand-in model, and every stored row is
checked against the structures ``datasets.open`` returns for the same arguments.
"""

from __future__ import annotations

import ase.io
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from platonic import datasets
from platonic.cli import app
from platonic.datasets.mp20 import _PACKAGE_MP20
from platonic.store import EmbeddingStore
from robust_fakes import small_crystals, tiny_embedding, use_tiny

runner = CliRunner()


def _extxyz(tmp_path):
    path = tmp_path / "crystals.extxyz"
    data = small_crystals(6)
    for atoms, structure_id in zip(data.structures, data.ids):
        atoms.info["id"] = structure_id
    ase.io.write(path, data.structures, format="extxyz")
    return path


def _cif(tmp_path):
    path = tmp_path / "crystals.cif"
    ase.io.write(path, small_crystals(6).structures, format="cif")
    return path


def _cdvae_csv(tmp_path):
    """Six MP-20 rows with CDVAE's columns (material_id, properties, cif), as CDVAE ships them."""
    path = tmp_path / "cdvae_mp20.csv"
    pd.read_csv(_PACKAGE_MP20 / "val.csv.gz").head(6).to_csv(path, index=False)
    return path


@pytest.fixture(params=["extxyz", "cif", "cdvae-csv"])
def structure_file(request, tmp_path):
    return {"extxyz": _extxyz, "cif": _cif, "cdvae-csv": _cdvae_csv}[request.param](tmp_path)


def test_extract_on_a_structure_file_with_n(structure_file, tmp_path, monkeypatch):
    use_tiny(monkeypatch)
    out = tmp_path / "store"
    result = runner.invoke(
        app,
        ["extract", "--dataset", str(structure_file), "--n", "4", "--seed", "1", "--models", "tiny",
         "--shard-size", "3", "--out", str(out), "--no-progress"],
    )
    assert result.exit_code == 0, result.output
    expected = datasets.open(structure_file, n=4, seed=1)
    whole = datasets.open(structure_file)
    assert len(whole) == 6 and len(expected) == 4
    assert set(expected.ids) < set(whole.ids)
    store = EmbeddingStore(out)
    assert store.dataset_fingerprint == expected.fingerprint()
    assert store.meta["dataset_name"] == f"{structure_file.stem}-n4-seed1"
    np.testing.assert_array_equal(
        store.load("tiny"), np.concatenate([tiny_embedding(atoms) for atoms in expected.structures])
    )
    assert store.atom_table()["structure_id"].unique().tolist() == expected.ids


def test_cdvae_csv_keeps_ids_and_properties(tmp_path):
    path = _cdvae_csv(tmp_path)
    data = datasets.open(path)
    table = pd.read_csv(path, dtype={"material_id": str})
    assert data.ids == table["material_id"].tolist()
    np.testing.assert_allclose(data.properties["formation_energy_per_atom"], table["formation_energy_per_atom"])
    for ours, text in zip(data.structures, table["cif"]):  # ASE's parser against the strict P1 one
        theirs = datasets.parse_p1_cif(text)
        np.testing.assert_allclose(ours.cell.array, theirs.cell.array, atol=1e-6)
        np.testing.assert_allclose(ours.positions, theirs.positions, atol=1e-6)
        assert ours.get_chemical_symbols() == theirs.get_chemical_symbols()


def test_load_accepts_a_path_like_open(tmp_path):
    path = _extxyz(tmp_path)
    via_load = datasets.load(path, n=3, seed=2)
    via_open = datasets.open(str(path), n=3, seed=2)
    assert via_load.fingerprint() == via_open.fingerprint() and via_load.name == via_open.name


def test_study_reads_a_file_named_in_the_dataset_table(tmp_path):
    from platonic.study.config import make_config
    from platonic.study.pipeline import _load_dataset

    path = _cif(tmp_path)
    config = make_config({"dataset": {"name": str(path), "n": 5, "seed": 3}})
    assert _load_dataset(config).fingerprint() == datasets.open(path, n=5, seed=3).fingerprint()
    too_many = make_config({"dataset": {"name": str(path)}})  # the default n = 500
    with pytest.raises(datasets.DatasetError, match=r"n=500 is more than the 6 structures of .*crystals.cif"):
        _load_dataset(too_many)


def test_sample_of_mp20_is_the_same_through_open_and_load():
    assert datasets.open("mp20", split="val", n=7, seed=4).ids == datasets.load("mp20", split="val", n=7, seed=4).ids


@pytest.mark.slow
def test_cli_subprocess_on_extxyz_with_a_real_model(tmp_path):
    """The installed entry point, a real (random-weight) MACE, an extxyz file and --n."""
    import subprocess
    import sys

    path = _extxyz(tmp_path)
    out = tmp_path / "store"
    done = subprocess.run(
        [sys.executable, "-m", "platonic.cli", "extract", "--dataset", str(path), "--n", "3",
         "--models", "mace-dummy", "--out", str(out), "--no-progress"],
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr
    store = EmbeddingStore(out)
    assert store.is_complete("mace-dummy") and store.meta["n_structures"] == 3
    assert np.isfinite(store.load("mace-dummy")).all()
