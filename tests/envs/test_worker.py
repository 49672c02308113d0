"""The worker round trip, run in CI without the real ``mace`` environment.

The ``mace`` environment is stood in for by a folder whose ``bin/python`` starts this very
interpreter (so the worker has this process's packages): everything else is the real path, from
:func:`platonic.models.load_model` through the subprocess, the pipe and back into the store. A MACE
file written here by mace-torch must embed in the worker exactly (bit for bit) as in-process.
The real environment (e3nn 0.4.4) is exercised in tests/envs/test_mace_env.py.
"""

from __future__ import annotations

import json
import os
import stat
import sys

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

from platonic.datasets import from_structures
from platonic.envs import MARKER, IsolatedEnvironmentError, get
from platonic.envs.remote import IsolatedModel, WorkerError
from platonic.errors import PlatonicError
from platonic.extract import extract
from platonic.models import available_models, load_model
from platonic.models.base import UnsupportedStructureError
from platonic.models.mace import MACEModel, build_dummy
from platonic.store import EmbeddingStore


def structures():
    out = []
    for formula, lattice, a, repeat, seed in (("NaCl", "rocksalt", 5.64, (1, 1, 2), 1), ("Si", "diamond", 5.43, (1, 1, 1), 2),
                                              ("Cu", "fcc", 3.61, (2, 1, 1), 3)):
        atoms = bulk(formula, lattice, a=a).repeat(repeat)
        atoms.rattle(0.05, seed=seed)
        out.append(atoms)
    return out


def stand_in_env(root, name="mace", requirements=None):
    """``root/name`` made to look like a created environment whose python is this interpreter."""
    python = root / name / "bin" / "python"
    python.parent.mkdir(parents=True, exist_ok=True)
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    python.chmod(python.stat().st_mode | stat.S_IEXEC)
    env = get(name)
    marker = {"requirements": requirements or env.all_requirements(), "source": "test stand-in"}
    (root / name / MARKER).write_text(json.dumps(marker))


@pytest.fixture
def envs_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("PLATONIC_ENVS_DIR", str(tmp_path / "envs"))
    return tmp_path / "envs"


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    import torch

    path = tmp_path_factory.mktemp("mace") / "random.model"
    torch.save(build_dummy(seed=3), path)
    return path


def test_missing_environment_names_the_command_and_nothing_falls_back(envs_dir, model_file):
    with pytest.raises(IsolatedEnvironmentError, match=r"'mace'.*does not exist.*`platonic env create mace`"):
        load_model(f"mace:{model_file}")
    stand_in_env(envs_dir, requirements=["torch==2.13.0", "mace-torch==0.3.15"])
    assert get("mace").status() == "outdated"
    with pytest.raises(IsolatedEnvironmentError, match="other pins.*`platonic env create mace`"):
        load_model(f"mace:{model_file}")
    # The seeded controls are not files: they still run in this process.
    assert type(load_model("mace-dummy")) is MACEModel


def test_worker_embeds_exactly_as_in_process_and_fills_the_same_store(envs_dir, model_file, tmp_path):
    stand_in_env(envs_dir)
    name = f"mace:{model_file}"
    here = MACEModel(name)
    with load_model(name) as remote:
        assert isinstance(remote, IsolatedModel) and remote.worker["pid"] != os.getpid()
        assert remote.card.fingerprint == here.card.fingerprint and remote.card.dim == 128
        assert "isolated environment 'mace'" in remote.card.notes
        assert remote.supported_numbers == here.supported_numbers
        for a, b in zip(remote.embed(structures()), here.embed(structures())):
            assert a.dtype == np.float32 and a.tobytes() == b.tobytes()
        np.testing.assert_array_equal(remote.energy_forward(structures()), here.energy_forward(structures()))
        dimer = Atoms("Cu2", positions=[[0, 0, 0], [0, 0, 2.3]], cell=np.eye(3) * 12, pbc=True)
        dimer.calc = remote.calculator()
        assert dimer.get_potential_energy() == pytest.approx(float(here.energy_forward([dimer])[0]), abs=1e-6)

    odd = structures()
    odd[1] = Atoms("Og2", positions=[[0, 0, 0], [0, 0, 3.0]], cell=np.eye(3) * 10, pbc=True)  # Z=118: not in MACE-MP
    data = from_structures(odd, name="three")
    result = extract(data, [name], tmp_path / "worker", shard_size=2, batch_atoms=8)
    extract(data, [here], tmp_path / "inprocess", shard_size=2, batch_atoms=8)
    worker_store, local_store = EmbeddingStore(tmp_path / "worker"), EmbeddingStore(tmp_path / "inprocess")
    a, b = worker_store.load(name), local_store.load(name)  # load() verifies each shard's sha256
    assert a.tobytes() == b.tobytes() and np.isnan(a).any()
    assert [r["reason"] for r in worker_store.rejects(name)] == [r["reason"] for r in local_store.rejects(name)]
    assert "Og" in worker_store.rejects(name)[0]["reason"] and result.shards_written[name] == 2
    again = extract(data, [name], tmp_path / "worker", shard_size=2, batch_atoms=8)
    assert again.shards_written[name] == 0 and again.shards_skipped[name] == 2  # resumed: nothing loaded


def test_worker_errors_arrive_as_platonic_errors(envs_dir, model_file, tmp_path):
    import torch

    stand_in_env(envs_dir)
    broken = build_dummy(seed=1)
    broken.interactions[0].linear_up = torch.nn.Linear(3, 3)  # unpickles, fails when run
    torch.save(broken, tmp_path / "broken.model")
    with pytest.raises(WorkerError, match=r"in environment 'mace': MACEFileError: MACE file .* forward pass failed") as info:
        load_model(f"mace:{tmp_path / 'broken.model'}")
    assert isinstance(info.value, PlatonicError) and "Traceback" in info.value.worker_traceback
    with pytest.raises(FileNotFoundError, match="missing.model"):
        load_model(f"mace:{tmp_path / 'missing.model'}")

    remote = load_model(f"mace:{model_file}")
    with pytest.raises(UnsupportedStructureError, match="Og"):
        remote._embed_batch([Atoms("Og", cell=np.eye(3) * 9, pbc=True)])  # refused by the worker's own check
    os.kill(remote.worker["pid"], 9)
    with pytest.raises(WorkerError, match=r"stopped with exit code -9"):
        remote.embed(structures())
    remote.close()


def test_models_listing_says_where_each_model_runs(envs_dir):
    from typer.testing import CliRunner

    from platonic.cli import app

    rows = {r["name"]: r for r in available_models()}
    assert rows["mace-dummy"]["environment"] == "main" and rows["chgnet-0.3.0"]["environment"] == "main"
    result = CliRunner().invoke(app, ["env", "list"])
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "isolated environment mace (torch==2.13.0, mace-torch==0.3.16, e3nn==0.4.4): mace (missing)" in text
    assert "runs mace:/path; create it with `platonic env create mace`" in text
    stand_in_env(envs_dir)
    text = " ".join(CliRunner().invoke(app, ["models"]).output.split())
    assert "mace (installed) at" in text and "create it with" not in text
