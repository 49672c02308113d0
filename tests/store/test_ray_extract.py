"""The Ray engine: same store as the in-process engine, byte for byte, through worker crashes.

Every test runs on a local 2-CPU Ray cluster that this module starts and stops itself (this
machine only, no dashboard). The models are closed-form functions of each atom's neighbours, so the shard
files of both engines must agree to the byte; a slow test does the same with CHGNet 0.3.0.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk

from platonic.datasets import from_structures
from platonic.extract import extract
from platonic.models.base import EmbeddingModel, ModelCard
from platonic.store import EmbeddingStore

ray = pytest.importorskip("ray", reason="the Ray engine's tests need the ray extra (scripts/setup.sh installs it)")

# A Ray cluster takes ~10 s to start and each test starts actors: out of the default run, in CI's slow step.
pytestmark = pytest.mark.slow


class RadialModel(EmbeddingModel):
    """Embedding of atom i: [Z_i, sum_j exp(-r_ij), sum_j exp(-r_ij / 2)] over neighbours within 4 Å.

    ``loads``: a folder that gets one file per construction, so a test can count model loads in
    worker processes. ``crash_flag``: the first worker to embed a shard creates this file and dies
    at once (``os._exit``), as if killed mid-shard; later attempts find the file and go on.
    ``log``: a folder that gets one file per embedded batch, named by its first structure id.
    """

    def __init__(self, name="radial", device="cpu", loads=None, crash_flag=None, log=None):
        super().__init__(device)
        self.card = ModelCard(
            name=name, family="test", variant="1", layer="closed form", dim=3, equivariant=False,
            conservative=False, training_data="none", weights_source="none", licence="MIT", trained=False,
        )
        self.crash_flag = crash_flag
        self.log = log
        if loads is not None:
            tempfile.mkstemp(dir=loads)

    def _embed_batch(self, structures):
        from ase.neighborlist import neighbor_list

        if self.crash_flag is not None and not Path(self.crash_flag).exists():
            Path(self.crash_flag).touch()
            os._exit(1)
        if self.log is not None:
            for atoms in structures:
                (Path(self.log) / f"{atoms.info['id']}.{os.getpid()}.{tempfile.mktemp(dir='').strip('/')}").touch()
        out = []
        for atoms in structures:
            i, d = neighbor_list("id", atoms, 4.0)
            emb = np.zeros((len(atoms), 3))
            emb[:, 0] = atoms.numbers
            np.add.at(emb[:, 1], i, np.exp(-d))
            np.add.at(emb[:, 2], i, np.exp(-d / 2))
            out.append(emb)
        return out


class Loader:
    """A picklable ``load_model`` for the actors."""

    def __init__(self, **options):
        self.options = options

    def __call__(self, name, device="cpu"):
        return RadialModel(name, device, **self.options)


def small_dataset(n=23, seed=0):
    rng = np.random.default_rng(seed)
    kinds = [("Cu", "fcc", 3.6), ("NaCl", "rocksalt", 5.6), ("Si", "diamond", 5.4), ("MgO", "rocksalt", 4.2)]
    structures = []
    for k in range(n):
        formula, lattice, a0 = kinds[k % 4]
        a = bulk(formula, lattice, a=a0).repeat((1, 1, 1 + k % 3))
        a.rattle(0.02, seed=int(rng.integers(1 << 30)))
        a.info["id"] = f"s{k}"
        structures.append(a)
    return from_structures(structures, ids=[f"s{k}" for k in range(n)], name="small")


@pytest.fixture(scope="module")
def ray_cluster():
    # The test module is imported under a name the workers cannot import: send its classes by value.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    # A local cluster: its processes talk over this machine's own address only (Ray maps 127.0.0.1 to it).
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=100 * 1024**2, configure_logging=False,
             log_to_driver=False)
    yield ray
    ray.shutdown()
    ray.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


def shard_files(root: Path, model: str = "radial") -> dict[str, bytes]:
    folder = EmbeddingStore(root).model_dir(model)
    return {p.name: p.read_bytes() for p in sorted(folder.glob("shard-*.npy"))}


def sidecar_sha256(root: Path, model: str = "radial") -> dict[int, str]:
    store = EmbeddingStore(root)
    return {s: store._record(model, s).sha256 for s in range(store.n_shards)}


def test_ray_store_equals_in_process_store_byte_for_byte(ray_cluster, tmp_path):
    data = small_dataset()
    local = extract(data, ["radial", "radial-b"], tmp_path / "local", shard_size=4, batch_atoms=7,
                    load_model=Loader())
    loads = tmp_path / "loads"
    loads.mkdir()
    res = extract(data, ["radial", "radial-b"], tmp_path / "ray", shard_size=4, batch_atoms=7, engine="ray",
                  workers=2, load_model=Loader(loads=str(loads)))
    for model in ("radial", "radial-b"):
        assert res.shards_written[model] == local.shards_written[model] == 6
        assert res.atoms_embedded[model] == data.n_atoms
        assert shard_files(tmp_path / "ray", model) == shard_files(tmp_path / "local", model)
        assert sidecar_sha256(tmp_path / "ray", model) == sidecar_sha256(tmp_path / "local", model)
        np.testing.assert_array_equal(EmbeddingStore(tmp_path / "ray").load(model),
                                      EmbeddingStore(tmp_path / "local").load(model))
    assert (tmp_path / "ray" / "atoms.parquet").read_bytes() == (tmp_path / "local" / "atoms.parquet").read_bytes()
    assert len(list(loads.iterdir())) == 4  # one load per actor: 2 workers x 2 models


def test_worker_killed_mid_shard_is_restarted_and_the_store_is_unchanged(ray_cluster, tmp_path):
    data = small_dataset()
    extract(data, ["radial"], tmp_path / "local", shard_size=4, batch_atoms=7, load_model=Loader())
    loads, flag = tmp_path / "loads", tmp_path / "crashed"
    loads.mkdir()
    res = extract(data, ["radial"], tmp_path / "ray", shard_size=4, batch_atoms=7, engine="ray", workers=2,
                  load_model=Loader(loads=str(loads), crash_flag=str(flag)))
    assert flag.exists()  # a worker did die mid-shard
    # 2 actors + at least 1 restart, which reloaded the model (more if the machine kills workers itself)
    assert len(list(loads.iterdir())) >= 3
    assert res.shards_written["radial"] == 6
    store = EmbeddingStore(tmp_path / "ray")
    assert store.is_complete("radial")
    assert shard_files(tmp_path / "ray") == shard_files(tmp_path / "local")


def test_finished_shards_are_never_recomputed(ray_cluster, tmp_path):
    data = small_dataset()
    root = tmp_path / "s"
    extract(data, ["radial"], root, shard_size=4, batch_atoms=7, load_model=Loader())
    before = shard_files(root)
    store = EmbeddingStore(root)
    for s in (1, 4):  # as if the run had been killed before these two sidecars
        (store.model_dir("radial") / f"shard-{s:05d}.json").unlink()
    log = tmp_path / "log"
    log.mkdir()
    res = extract(data, ["radial"], root, shard_size=4, batch_atoms=7, engine="ray", workers=2,
                  load_model=Loader(log=str(log)))
    assert res.shards_written["radial"] == 2 and res.shards_skipped["radial"] == 4
    embedded = sorted({p.name.split(".")[0] for p in log.iterdir()}, key=lambda s: int(s[1:]))
    assert embedded == [f"s{k}" for k in (4, 5, 6, 7, 16, 17, 18, 19)]  # shards 1 and 4, nothing else
    assert shard_files(root) == before


def test_a_model_that_cannot_load_is_reported_as_its_own_error(ray_cluster, tmp_path):
    with pytest.raises(ValueError, match="unknown model 'no-such-model'"):
        extract(small_dataset(n=3), ["no-such-model"], tmp_path / "s", engine="ray", workers=1)


def test_finished_store_does_not_start_ray_or_load_a_model(tmp_path, monkeypatch):
    data = small_dataset(n=5)
    extract(data, ["radial"], tmp_path / "s", shard_size=4, load_model=Loader())

    def must_not_load(name, device):
        raise AssertionError("model loaded on a finished store")

    monkeypatch.setattr(ray, "init", lambda *a, **k: (_ for _ in ()).throw(AssertionError("ray started")))
    res = extract(data, ["radial"], tmp_path / "s", shard_size=4, engine="ray", load_model=must_not_load)
    assert res.shards_written["radial"] == 0 and res.shards_skipped["radial"] == 2


@pytest.mark.slow
def test_cli_ray_engine_on_chgnet_equals_in_process(ray_cluster, tmp_path):
    from typer.testing import CliRunner

    from platonic.cli import app

    common = ["extract", "--dataset", "mp20", "--split", "val", "--n", "20", "--seed", "3", "--models",
              "chgnet-0.3.0", "--shard-size", "4", "--no-progress"]
    runner = CliRunner()
    local = runner.invoke(app, common + ["--out", str(tmp_path / "local")])
    assert local.exit_code == 0, local.output
    distributed = runner.invoke(app, common + ["--out", str(tmp_path / "ray"), "--engine", "ray", "--workers", "2"])
    assert distributed.exit_code == 0, distributed.output
    files = shard_files(tmp_path / "ray", "chgnet-0.3.0")
    assert len(files) == 5 and files == shard_files(tmp_path / "local", "chgnet-0.3.0")
    assert EmbeddingStore(tmp_path / "ray").card("chgnet-0.3.0") == EmbeddingStore(tmp_path / "local").card("chgnet-0.3.0")
