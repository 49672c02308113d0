"""A small real embedding store shared by the analysis and diagnostics tests (built once per run).

48 MP-20 validation structures embedded by the offline models the analyses need, DIRECT anchors
(K = 20) on CHGNet 0.3.0, and every model projected into the unified space.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
import pytest

#: Stands in for a notebook user's own backend choice. Every test that draws (the plotting
#: functions, the stage writers, the whole tiny study) then checks that the package left it alone:
#: no module may select a backend (see tests/test_plotting.py and platonic.plotting).
USER_BACKEND = "svg"
matplotlib.use(USER_BACKEND)

# Hypothesis's per-example deadline (200 ms) measures the machine's load, not the code: a property
# test failed on it at a load average of 6 (253 ms). Slowness is measured in benchmarks/.
from hypothesis import settings as _hypothesis_settings

_hypothesis_settings.register_profile("platonic", deadline=None)
_hypothesis_settings.load_profile("platonic")

# generated.py (inputs shared by tests in several folders) importable as `generated`: the tests run
# with --import-mode=importlib, which leaves sys.path alone
sys.path.insert(0, str(Path(__file__).parent))

REAL_STORE_MODELS = ("chgnet-0.3.0", "chgnet-r2scan", "sevennet-0", "sevennet-mf-0", "diep", "mace-dummy")


@dataclass
class RealStore:
    store: object  # platonic.store.EmbeddingStore
    dataset: object  # platonic.datasets.Dataset it was made from
    anchors: object  # anchor table (pandas.DataFrame)
    unified: dict[str, Path]  # model -> (n_atoms, K) .npy

    def raw(self, model: str) -> np.ndarray:
        return self.store.load(model)

    def z(self, model: str) -> np.ndarray:
        return np.load(self.unified[model])


@pytest.fixture
def user_backend() -> str:
    return USER_BACKEND


@pytest.fixture(autouse=True)
def _backend_left_alone():
    yield
    assert matplotlib.get_backend() == USER_BACKEND, "the package switched matplotlib's backend"


@pytest.fixture(scope="session")
def real_store(tmp_path_factory) -> RealStore:
    from platonic.anchors.from_store import choose_anchors
    from platonic.datasets import load
    from platonic.extract import extract
    from platonic.project.from_store import project_store
    from platonic.store import EmbeddingStore

    root = tmp_path_factory.mktemp("real_store")
    dataset = load("mp20", split="val", n=48, seed=7)
    extract(dataset, list(REAL_STORE_MODELS), root / "store", shard_size=16)
    store = EmbeddingStore(root / "store")
    anchors = choose_anchors(store, "chgnet-0.3.0", k=20, method="direct", random_state=0)
    unified = project_store(store, anchors["row"].to_numpy(), root / "unified")
    return RealStore(store=store, dataset=dataset, anchors=anchors, unified=unified)
