"""The Ray engine with a model that runs in an isolated environment (``mace:/path``).

The ``mace`` environment is stood in for as in tests/envs/test_worker.py: a folder whose
``bin/python`` starts this interpreter. The Ray cluster is started *before* ``PLATONIC_ENVS_DIR``
points at the stand-in, so its actors only find the environment because the driver hands them the
folder it checked. The store the actors fill through their worker processes must equal, byte for
byte, the in-process store of the same file. The refusals need no cluster and run by default.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from generated import KINDS, rattled_crystals
from platonic.envs import MARKER, IsolatedEnvironmentError, get
from platonic.extract import extract
from platonic.extract.ray_engine import RayEngineError
from platonic.store import EmbeddingStore

ray = pytest.importorskip("ray", reason="the Ray engine's tests need the ray extra (scripts/setup.sh installs it)")


def stand_in_env(root: Path, name: str = "mace") -> None:
    python = root / name / "bin" / "python"
    python.parent.mkdir(parents=True, exist_ok=True)
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    python.chmod(python.stat().st_mode | stat.S_IEXEC)
    (root / name / MARKER).write_text(json.dumps({"requirements": get(name).all_requirements(), "source": "stand-in"}))


def dataset(n: int = 7):
    return rattled_crystals(n, amount=0.03, kinds=KINDS[:3], prefix="s", name="small")


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    import torch

    from platonic.models.mace import build_dummy

    path = tmp_path_factory.mktemp("mace") / "random.model"
    torch.save(build_dummy(seed=5), path)
    return path


def test_missing_environment_is_refused_before_ray_starts(tmp_path, monkeypatch, model_file):
    monkeypatch.setenv("PLATONIC_ENVS_DIR", str(tmp_path / "envs"))
    with pytest.raises(IsolatedEnvironmentError, match="`platonic env create mace`"):
        extract(dataset(), [f"mace:{model_file}"], tmp_path / "store", engine="ray", shard_size=3)
    assert not ray.is_initialized()


def test_model_objects_are_refused_with_the_reason(tmp_path):
    from platonic.models.mace import MACEModel

    with pytest.raises(RayEngineError, match=r"by name; got model object\(s\) \['MACEModel'\]"):
        extract(dataset(), [MACEModel("mace-dummy")], tmp_path / "store", engine="ray")
    assert not (tmp_path / "store").exists()  # refused before the store is created


def _workers_of(envs: Path) -> list[int]:
    """Live worker processes whose environment points at ``envs`` (this test's stand-in only)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            environ = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue
        if b"platonic.envs.worker" in cmdline and f"PLATONIC_ENVS_DIR={envs}".encode() in environ.split(b"\0"):
            found.append(int(pid))
    return found


@pytest.mark.slow
def test_ray_actors_run_the_model_in_its_environment_and_fill_the_same_store(tmp_path, monkeypatch, model_file):
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=100 * 1024**2, configure_logging=False,
             log_to_driver=False)
    try:
        envs = (tmp_path / "envs").resolve()
        monkeypatch.setenv("PLATONIC_ENVS_DIR", str(envs))  # after ray.init: the actors never saw it
        stand_in_env(envs)
        name, data = f"mace:{model_file}", dataset()
        result = extract(data, [name], tmp_path / "ray", engine="ray", workers=2, shard_size=3, batch_atoms=8)
        # Ray gives each 1-CPU actor OMP_NUM_THREADS=1, which the worker it starts inherits; the local
        # worker must reduce with as many threads, or float sums differ in their last bits
        monkeypatch.setenv("OMP_NUM_THREADS", "1")
        local = extract(data, [name], tmp_path / "local", shard_size=3, batch_atoms=8)  # the worker, in-process side
    finally:
        ray.shutdown()
    assert result.shards_written[name] == 3 and local.shards_written[name] == 3
    a, b = EmbeddingStore(tmp_path / "ray"), EmbeddingStore(tmp_path / "local")
    assert a.load(name).tobytes() == b.load(name).tobytes() and np.isfinite(a.load(name)).all()
    assert a.card(name)["model_fingerprint"] == b.card(name)["model_fingerprint"]
    assert "isolated environment 'mace'" in a.model_card(name).notes
    deadline = time.monotonic() + 30
    while _workers_of(envs) and time.monotonic() < deadline:  # each worker ends with its actor
        time.sleep(0.5)
    assert _workers_of(envs) == []
