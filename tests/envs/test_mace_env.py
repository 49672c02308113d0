"""A MACE file written by mace-torch in the real ``mace`` environment (e3nn 0.4.4), through platonic.

The file is built there with random weights at MACE-MP-0-small settings and saved with
``torch.save`` of the whole module in float64, as mace-torch writes ``.model`` files. platonic,
running here (e3nn 0.6), loads it by path (``mace:/path``): the worker in the environment embeds
MP-20 structures into a store, and those rows must equal, bit for bit, the same adapter run
directly in the environment on the same batches, and agree with mace-torch's own
``MACECalculator.get_descriptors``. Rotation, translation and permutation invariance hold within
the family's tolerance (measured: 0 after the float32 cast of this float64 model; a 2 % strain
moves it well beyond). Loaded in this process, the same file fails, and a file written here fails
there: the reason the environment exists.

Skipped where the environment is not installed: creating it (`platonic env create mace`) takes
about 3 minutes and fetches mace-torch and e3nn 0.4.4 from PyPI, so scripts/setup.sh does not.
"""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from platonic.envs import get
from platonic.envs.remote import IsolatedModel, _worker_environ
from platonic.models.mace import MACEModel

ENV = get("mace")
pytestmark = pytest.mark.skipif(
    not ENV.installed(),
    reason=f"isolated environment 'mace' is {ENV.status()} at {ENV.path}: `{ENV.create_command}` creates it "
    "(about 3 minutes, fetches mace-torch 0.3.16 and e3nn 0.4.4 from PyPI; not part of scripts/setup.sh)",
)

# Run inside the environment: build and save the file, then embed each structure directly, one per
# batch (extraction below uses batch_atoms=1 so its batches are the same), with platonic's adapter
# in-process there and with mace-torch's own calculator.
IN_ENV = r"""
import json, sys
import numpy as np, torch, e3nn
from platonic.envs.frames import arrays_structures
from platonic.models.mace import MACEModel, build_dummy
out = sys.argv[1]
torch.save(build_dummy(seed=5).double(), f"{out}/mp0-small-random.model")
stored = np.load(f"{out}/structures.npz")  # the exact arrays (the env has no platonic dataset deps)
structures = arrays_structures([stored[f"arr_{i}"] for i in range(len(stored.files))])
model = MACEModel(f"mace:{out}/mp0-small-random.model")
from mace.calculators import MACECalculator
calc = MACECalculator(model_paths=f"{out}/mp0-small-random.model", device="cpu", default_dtype="float64")
direct = [model.embed([a])[0] for a in structures]
own = [calc.get_descriptors(a, invariants_only=True)[:, -model.n_scalars:] for a in structures]
np.savez(f"{out}/direct.npz", *direct)
np.savez(f"{out}/own.npz", *own)
json.dump({"e3nn": e3nn.__version__, "dtype": str(model.dtype)}, open(f"{out}/info.json", "w"))
"""


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    from platonic.datasets import load
    from platonic.envs.frames import structure_arrays

    out = tmp_path_factory.mktemp("mace_env")
    np.savez(out / "structures.npz", *structure_arrays(load("mp20", split="val", n=6, seed=11).structures))
    done = subprocess.run([str(ENV.python), "-c", IN_ENV, str(out)], capture_output=True, text=True,
                          env=_worker_environ(), timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    info = json.loads((out / "info.json").read_text())
    load = lambda name: [v for _, v in sorted(np.load(out / name).items(), key=lambda kv: int(kv[0].split("_")[1]))]
    return out, info, load("direct.npz"), load("own.npz")


def test_file_from_the_environment_extracts_exactly_as_run_there(made, tmp_path):
    from platonic.datasets import load
    from platonic.extract import extract
    from platonic.store import EmbeddingStore

    out, info, direct, own = made
    assert info["e3nn"] == "0.4.4" and info["dtype"] == "torch.float64"
    name = f"mace:{out / 'mp0-small-random.model'}"
    data = load("mp20", split="val", n=6, seed=11)
    result = extract(data, [name], tmp_path / "store", shard_size=4, batch_atoms=1)
    store = EmbeddingStore(tmp_path / "store")
    card = store.model_card(name)
    assert card.package_versions["e3nn"] == "0.4.4" and card.dim == 128 and len(card.weights_sha256) == 64
    assert "isolated environment 'mace'" in card.notes and result.shards_written[name] == 2
    rows = store.load(name)  # verifies every shard's sha256
    expected = np.concatenate(direct)
    assert rows.dtype == np.float32 and rows.tobytes() == expected.tobytes()
    # mace-torch's own descriptors (float64) agree to float32 rounding.
    np.testing.assert_allclose(rows, np.concatenate(own), rtol=1e-6, atol=1e-6 * np.abs(expected).max())
    assert extract(data, [name], tmp_path / "store", shard_size=4).shards_written[name] == 0


def test_invariances_through_the_worker(made):
    from platonic.models import load_model
    from platonic.datasets import load

    out, *_ = made
    atoms = [a for a in load("mp20", split="val", n=6, seed=11).structures][:3]
    with load_model(f"mace:{out / 'mp0-small-random.model'}") as model:
        assert isinstance(model, IsolatedModel)
        reference = model.embed(atoms)
        rng = np.random.default_rng(0)
        for a, ref in zip(atoms, reference):
            atol = MACEModel.invariance_tolerance * float(np.abs(ref).max())
            for r in Rotation.random(3, random_state=1).as_matrix():
                turned = a.copy()
                turned.set_cell(a.cell[:] @ r.T, scale_atoms=False)
                turned.positions = a.positions @ r.T
                np.testing.assert_allclose(model.embed([turned])[0], ref, atol=atol, rtol=0)
            moved = a.copy()
            moved.translate(rng.normal(size=3) * 3)
            np.testing.assert_allclose(model.embed([moved])[0], ref, atol=atol, rtol=0)
            order = rng.permutation(len(a))
            np.testing.assert_allclose(model.embed([a[order]])[0], ref[order], atol=atol, rtol=0)
            # The test can fail: a 2 % strain (not an isometry) moves the embedding far beyond the tolerance.
            strained = a.copy()
            strained.set_cell(a.cell[:] * 1.02, scale_atoms=True)
            assert np.abs(model.embed([strained])[0] - ref).max() > 10 * atol


def test_neither_e3nn_reads_the_others_files(made, tmp_path):
    """The reason for the environment: e3nn 0.6 here cannot run the 0.4.4 file (and the error says
    where it runs), and the environment cannot read a file written here (its error says so)."""
    import torch

    from platonic.envs.remote import WorkerError
    from platonic.models import load_model
    from platonic.models.mace import MACEFileError, build_dummy

    out, *_ = made
    with pytest.raises(MACEFileError, match="runs them in the isolated environment 'mace'"):
        MACEModel(f"mace:{out / 'mp0-small-random.model'}")
    torch.save(build_dummy(seed=2), tmp_path / "here.model")
    with pytest.raises(WorkerError, match=r"could not load MACE file .*in-process, with platonic.models.mace.MACEModel"):
        load_model(f"mace:{tmp_path / 'here.model'}")
