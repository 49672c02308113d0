"""The store and the extraction runner: alignment, atomic shards, resume, refusal of bad stores.

These use a small deterministic model adapter (a closed-form function of each atom's environment)
so that every expected embedding is known exactly; real weights are covered in tests/models.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk

from platonic.datasets import from_structures
from platonic.extract import extract, make_batches
from platonic.models.base import EmbeddingModel, ModelCard, UnsupportedStructureError
from platonic.store import EmbeddingStore, StoreError


class RadialModel(EmbeddingModel):
    """Embedding of atom i: [Z_i, sum_j exp(-r_ij), sum_j exp(-r_ij / 2)] over neighbours within 4 Å."""

    def __init__(self, name="radial", device="cpu", forbid=(), calls=None):
        super().__init__(device)
        self.card = ModelCard(
            name=name, family="test", variant="1", layer="closed form", dim=3, equivariant=False,
            conservative=False, training_data="none", weights_source="none", licence="MIT", trained=False,
        )
        self.forbid = set(forbid)
        self.calls = calls

    @property
    def supported_numbers(self):
        return frozenset(range(1, 119)) - self.forbid

    def _embed_batch(self, structures):
        if self.calls is not None:
            self.calls.append(len(structures))
        return [expected_embedding(a) for a in structures]


def expected_embedding(atoms) -> np.ndarray:
    from ase.neighborlist import neighbor_list

    i, d = neighbor_list("id", atoms, 4.0)
    out = np.zeros((len(atoms), 3))
    out[:, 0] = atoms.numbers
    np.add.at(out[:, 1], i, np.exp(-d))
    np.add.at(out[:, 2], i, np.exp(-d / 2))
    return out


def small_dataset(n=23, seed=0):
    rng = np.random.default_rng(seed)
    structures = []
    kinds = [("Cu", "fcc", 3.6), ("NaCl", "rocksalt", 5.6), ("Si", "diamond", 5.4), ("MgO", "rocksalt", 4.2)]
    for k in range(n):
        formula, lattice, a0 = kinds[k % 4]
        a = bulk(formula, lattice, a=a0).repeat((1, 1, 1 + k % 3))
        a.rattle(0.02, seed=int(rng.integers(1 << 30)))
        structures.append(a)
    return from_structures(structures, ids=[f"s{k}" for k in range(n)], name="small")


def test_make_batches_respects_atom_budget():
    sizes = [5, 5, 5, 20, 1, 1, 9]
    batches = make_batches(sizes, 10)
    assert [i for b in batches for i in b] == list(range(len(sizes)))
    for b in batches:
        assert sum(sizes[i] for i in b) <= 10 or len(b) == 1
    with pytest.raises(ValueError):
        make_batches(sizes, 0)


def test_extract_rows_align_with_atom_table(tmp_path):
    data = small_dataset()
    res = extract(data, ["radial"], tmp_path / "s", shard_size=5, batch_atoms=7, load_model=lambda n, device: RadialModel(n))
    store = EmbeddingStore(tmp_path / "s")
    emb = store.load("radial")
    table = store.atom_table()
    assert emb.shape == (data.n_atoms, 3) and len(table) == data.n_atoms
    expected = np.concatenate([expected_embedding(a) for a in data.structures]).astype(np.float32)
    np.testing.assert_array_equal(emb, expected)
    np.testing.assert_array_equal(table["Z"].to_numpy(), emb[:, 0].astype(int))
    assert res.shards_written["radial"] == store.n_shards == 5


def test_rerun_is_a_noop_and_does_not_load_the_model(tmp_path):
    data = small_dataset()
    extract(data, ["radial"], tmp_path / "s", shard_size=4, load_model=lambda n, device: RadialModel(n))

    def must_not_load(name, device):
        raise AssertionError("model loaded on a finished store")

    res = extract(data, ["radial"], tmp_path / "s", shard_size=4, load_model=must_not_load)
    assert res.shards_written["radial"] == 0 and res.shards_skipped["radial"] == 6


def test_resume_recomputes_only_missing_or_corrupt_shards(tmp_path):
    data = small_dataset()
    root = tmp_path / "s"
    extract(data, ["radial"], root, shard_size=4, load_model=lambda n, device: RadialModel(n))
    store = EmbeddingStore(root)
    (store.model_dir("radial") / "shard-00002.json").unlink()  # as if killed before the sidecar
    npy = store.model_dir("radial") / "shard-00004.npy"
    raw = bytearray(npy.read_bytes())
    raw[-1] ^= 0xFF
    npy.write_bytes(bytes(raw))  # corrupted
    with pytest.raises(StoreError, match="incomplete|checksum"):
        store.load("radial")
    res = extract(data, ["radial"], root, shard_size=4, load_model=lambda n, device: RadialModel(n))
    assert res.shards_written["radial"] == 2
    np.testing.assert_array_equal(
        EmbeddingStore(root).load("radial"),
        np.concatenate([expected_embedding(a) for a in data.structures]).astype(np.float32),
    )


def test_sharded_workers_fill_one_store(tmp_path):
    data = small_dataset()
    root = tmp_path / "s"
    for idx in range(3):
        extract(data, ["radial"], root, shard_size=3, shard_index=idx, num_shards=3, load_model=lambda n, device: RadialModel(n))
    single = tmp_path / "one"
    extract(data, ["radial"], single, shard_size=3, load_model=lambda n, device: RadialModel(n))
    np.testing.assert_array_equal(EmbeddingStore(root).load("radial"), EmbeddingStore(single).load("radial"))
    with pytest.raises(ValueError):
        extract(data, ["radial"], root, shard_size=3, shard_index=3, num_shards=3, load_model=lambda n, device: RadialModel(n))


def test_store_refuses_other_dataset_other_weights_and_bad_counts(tmp_path):
    data = small_dataset()
    root = tmp_path / "s"
    extract(data, ["radial"], root, shard_size=4, load_model=lambda n, device: RadialModel(n))
    with pytest.raises(StoreError, match="fingerprint"):
        extract(small_dataset(seed=1), ["radial"], root, shard_size=4, load_model=lambda n, device: RadialModel(n))
    with pytest.raises(StoreError, match="shards of 4"):
        extract(data, ["radial"], root, shard_size=5, load_model=lambda n, device: RadialModel(n))
    other = RadialModel("radial")
    object.__setattr__(other.card, "weights_sha256", "0" * 64)
    with pytest.raises(StoreError, match="model fingerprint"):
        EmbeddingStore(root).register_model(other.card)
    side = EmbeddingStore(root).model_dir("radial") / "shard-00001.json"
    record = json.loads(side.read_text())
    record["row_stop"] += 1
    side.write_text(json.dumps(record))
    assert 1 in EmbeddingStore(root).missing_shards("radial")
    meta = json.loads((root / "dataset.json").read_text())
    meta["n_atoms"] += 1
    (root / "dataset.json").write_text(json.dumps(meta))
    with pytest.raises(StoreError, match="dataset.json: checksum mismatch"):
        EmbeddingStore(root)
    # A store from before the checksum: counts that agree with each other but not the atom table.
    del meta["meta_sha256"]
    meta["shard_rows"][-1] += 1
    (root / "dataset.json").write_text(json.dumps(meta))
    with pytest.raises(StoreError, match="rows"):
        EmbeddingStore(root).atom_table()


def test_unsupported_structures_are_nan_rows_with_a_reject_record(tmp_path):
    data = small_dataset()
    root = tmp_path / "s"
    res = extract(data, ["radial"], root, shard_size=4, load_model=lambda n, device: RadialModel(n, forbid={11}))
    emb = EmbeddingStore(root).load("radial")
    table = EmbeddingStore(root).atom_table()
    has_na = table.groupby("structure_index")["Z"].transform(lambda z: (z == 11).any()).to_numpy()
    assert np.isnan(emb[has_na]).all() and np.isfinite(emb[~has_na]).all()
    rejected_ids = {r["structure_id"] for r in res.rejects["radial"]}
    assert rejected_ids == {data.ids[k] for k in range(len(data)) if 11 in data.structures[k].numbers}
    assert all("Na" in r["reason"] for r in res.rejects["radial"])
    np.testing.assert_array_equal(EmbeddingStore(root).common_rows(["radial"]), ~has_na)


def test_a_structure_the_graph_code_refuses_mid_batch_is_rejected_alone(tmp_path):
    from platonic.models.base import UnsupportedStructureError

    data = small_dataset()

    class Picky(RadialModel):
        def _embed_batch(self, structures):  # refuses Si only inside the forward pass, after check()
            if any(14 in a.numbers for a in structures):
                raise UnsupportedStructureError("graph: an atom has no neighbour within the cutoff")
            return super()._embed_batch(structures)

    res = extract(data, ["radial"], tmp_path / "s", shard_size=8, batch_atoms=10_000,
                  load_model=lambda n, device: Picky(n))
    has_si = [14 in a.numbers for a in data.structures]
    assert {r["structure_id"] for r in res.rejects["radial"]} == {i for i, si in zip(data.ids, has_si) if si}
    assert all("no neighbour" in r["reason"] for r in res.rejects["radial"])
    emb, offsets = EmbeddingStore(tmp_path / "s").load("radial"), data.atom_offsets
    for k, si in enumerate(has_si):
        block = emb[offsets[k] : offsets[k + 1]]
        assert np.isnan(block).all() if si else np.allclose(block, expected_embedding(data.structures[k]))


def test_out_of_memory_batches_are_split_and_retried(tmp_path):
    data = small_dataset()
    calls: list[int] = []

    class Flaky(RadialModel):
        def _embed_batch(self, structures):
            if len(structures) > 2:
                raise RuntimeError("CUDA out of memory. Tried to allocate 2 GiB")
            return super()._embed_batch(structures)

    extract(data, ["radial"], tmp_path / "s", shard_size=8, batch_atoms=10_000, load_model=lambda n, device: Flaky(n, calls=calls))
    np.testing.assert_array_equal(
        EmbeddingStore(tmp_path / "s").load("radial"),
        np.concatenate([expected_embedding(a) for a in data.structures]).astype(np.float32),
    )


KILL_SCRIPT = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, {tests!r})
    from test_store_extract import RadialModel, small_dataset
    from platonic.extract import extract

    class Slow(RadialModel):
        def _embed_batch(self, structures):
            time.sleep(0.15)
            return super()._embed_batch(structures)

    extract(small_dataset(40), ["radial"], {root!r}, shard_size=2, batch_atoms=1,
            load_model=lambda n, device: Slow(n))
    """
)


def test_kill_9_mid_run_resumes_with_at_most_the_shard_in_flight(tmp_path):
    root = tmp_path / "s"
    script = tmp_path / "run.py"
    script.write_text(KILL_SCRIPT.format(tests=str(Path(__file__).parent), root=str(root)))
    proc = subprocess.Popen([sys.executable, str(script)])
    deadline = time.time() + 60
    model_dir = root / "models" / "radial"
    while time.time() < deadline and len(list(model_dir.glob("shard-*.json"))) < 5:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = len(list(model_dir.glob("shard-*.json")))
    assert 5 <= done_before < 20, "kill landed outside the run"
    data = small_dataset(40)
    store = EmbeddingStore(root)
    assert store.missing_shards("radial") == list(range(done_before, 20))
    res = extract(data, ["radial"], root, shard_size=2, load_model=lambda n, device: RadialModel(n))
    assert res.shards_written["radial"] == 20 - done_before
    np.testing.assert_array_equal(
        EmbeddingStore(root).load("radial"),
        np.concatenate([expected_embedding(a) for a in data.structures]).astype(np.float32),
    )


def test_unsupported_check_message():
    m = RadialModel(forbid={8})
    with pytest.raises(UnsupportedStructureError, match="O"):
        m.embed([bulk("MgO", "rocksalt", a=4.2)])
    with pytest.raises(UnsupportedStructureError, match="empty"):
        m.embed([bulk("Cu")[[]]])
