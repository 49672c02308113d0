"""Dimer curves from the loaded model's energy-only forward, and one load per model per study.

The curves used to come from each checkpoint's ASE calculator, a second copy of the model that also
differentiated for forces. They now run the loaded model's ``energy_forward`` in one batch; these
tests hold that path to the calculator's energies (real weights) and count ``load_model`` calls.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from ase.calculators.morse import MorsePotential

import platonic.models as registry
from platonic.diagnose.drift import dimer_curve, dimer_curves
from platonic.diagnose.drift.dimers import CALCULATOR, ENERGY_FORWARD
from platonic.models.base import EmbeddingModel, ModelCard
from platonic.models.cache import LoadedModels

#: Bound, near the minimum, long-range, and beyond every default model's cutoff.
DISTANCES = [1.8, 2.2, 2.5, 3.5, 5.5, 7.5]


def counting_loads(monkeypatch, wrap=None) -> Counter:
    """Count every platonic.models.load_model call (by name), passing through to ``wrap`` or the real loader."""
    real = wrap or registry.load_model
    calls: Counter = Counter()

    def load(name, device="cpu"):
        calls[name] += 1
        return real(name, device=device)

    monkeypatch.setattr(registry, "load_model", load)
    return calls


@pytest.mark.parametrize("name", ["chgnet-0.3.0", "sevennet-0"])
def test_energy_forward_curve_equals_the_package_calculator(name):
    """Every energy of the batched energy-only path (single atoms, and the dimer at each distance,
    including one atom with no neighbour) equals the package's ASE calculator to 1e-5 eV."""
    model = registry.load_model(name)
    for element in ("Cu", "Au"):
        ours = dimer_curve(model, element, DISTANCES)
        theirs = dimer_curve(model.calculator(), element, DISTANCES)
        assert (ours["energy_path"] == ENERGY_FORWARD).all() and (theirs["energy_path"] == CALCULATOR).all()
        np.testing.assert_allclose(ours["energy"], theirs["energy"], atol=1e-5, rtol=0)
        np.testing.assert_allclose(ours["isolated_energy"], theirs["isolated_energy"], atol=1e-5, rtol=0)
        assert ours["binding_energy"].min() < -0.1  # the dimer binds: not a curve of zeros


class CalculatorOnly(EmbeddingModel):
    """A family without an energy forward (as a plugin may be): a Morse calculator only."""

    def __init__(self, name: str, device: str = "cpu"):
        super().__init__(device)
        self.card = ModelCard(name=name, family="Morse", variant="1", layer="-", dim=1, equivariant=False,
                              conservative=True, training_data="-", weights_source="-", licence="MIT")

    def _embed_batch(self, structures):
        return [np.zeros((len(a), 1)) for a in structures]

    def calculator(self):
        return MorsePotential(epsilon=1.0, r0=2.3)


def test_a_family_without_energy_forward_uses_its_calculator_and_says_so(monkeypatch):
    calls = counting_loads(monkeypatch, wrap=lambda name, device="cpu": CalculatorOnly(name, device))
    loaded = LoadedModels()
    with pytest.warns(UserWarning, match="morse-plugin: the Morse adapter has no energy-only forward.*ASE calculator"):
        curves = dimer_curves(["morse-plugin"], ["Cu"], DISTANCES, loaded=loaded)
    assert (curves["energy_path"] == CALCULATOR).all()
    direct = dimer_curve(MorsePotential(epsilon=1.0, r0=2.3), "Cu", DISTANCES)
    np.testing.assert_array_equal(curves["energy"], direct["energy"])
    with pytest.warns(UserWarning, match="no energy-only forward"):  # said on every use, never silent
        dimer_curves(["morse-plugin"], ["Au"], DISTANCES, loaded=loaded)  # the same cache: no second load
    assert calls == {"morse-plugin": 1} and loaded.loads == {"morse-plugin": 1}


@pytest.fixture(scope="module")
def pair_store(tmp_path_factory):
    """Four MP-20 structures embedded by the CHGNet drift pair, anchored and projected."""
    from platonic.datasets import load
    from platonic.extract import extract
    from platonic.store import EmbeddingStore
    from platonic.study import stages

    root = tmp_path_factory.mktemp("pair_store") / "store"
    extract(load("mp20", split="val", n=4, seed=3), ["chgnet-0.3.0", "chgnet-r2scan"], root)
    store = EmbeddingStore(root)
    stages.anchor_stage(store, "chgnet-0.3.0", k=8, method="random", seed=0, diversity=False)
    stages.project_stage(store)
    return store


def test_diagnose_loads_each_model_once(pair_store, monkeypatch):
    """Rotation and dimer curves run both models; the stage loads each one time."""
    import pandas as pd

    from platonic.results import Diagnose, Results
    from platonic.study.stages import diagnose_stage

    calls = counting_loads(monkeypatch)
    models = ["chgnet-0.3.0", "chgnet-r2scan"]
    skipped: dict[str, str] = {}
    written = diagnose_stage(pair_store, models, control=False, equivariance=False, rotation=True, rotations=2,
                             drift=True, dimers=True, atypical=False, skipped=skipped)
    assert "rotation_models" in written and "drift_dimer_curves" in written, skipped
    assert calls == {m: 1 for m in models}
    curves = pd.read_csv(Results.of(pair_store).diagnose / Diagnose.DRIFT_DIMER_CURVES)
    assert set(curves["model"]) == set(models) and (curves["energy_path"] == ENERGY_FORWARD).all()


def test_a_study_loads_each_model_once(tmp_path, monkeypatch):
    """``platonic run``: extraction, the arithmetic, rotation and the dimer curves share one load per model."""
    from platonic.study.config import make_config
    from platonic.study.pipeline import run_study

    calls = counting_loads(monkeypatch)
    models = ["chgnet-0.3.0", "chgnet-r2scan"]
    config = make_config({
        "dataset": {"name": "mp20", "split": "val", "n": 4, "seed": 3},
        "models": {"names": models},
        "anchors": {"reference": "chgnet-0.3.0", "k": 8, "method": "random", "sweep": False, "diversity": False},
        "compare": {"metrics": ["procrustes"], "spaces": ["unified"], "twonn_atoms": 0},
        "analyse": {"reference": "chgnet-0.3.0", "chemistry": False, "arithmetic": True, "maps": False, "norms": False},
        "diagnose": {"control": False, "equivariance": False, "atypical": False, "rotations": 2},
    })
    result = run_study(config, tmp_path / "study", log=lambda *a, **k: None)
    ran = {r.name for r in result.records if r.ran}
    assert {"extract", "analyse", "diagnose"} <= ran, [(r.name, r.error) for r in result.records]
    assert calls == {m: 1 for m in models}


def test_unified_space_takes_its_models_from_the_shared_cache(monkeypatch):
    """A model the cache already holds is not loaded again by the arithmetic's unified space."""
    from platonic.analyse.unified_space import UnifiedSpace
    from platonic.project.transform import PlatonicTransform

    calls = counting_loads(monkeypatch, wrap=lambda name, device="cpu": CalculatorOnly(name, device))
    loaded = LoadedModels()
    first = loaded.get("morse-plugin")
    transform = PlatonicTransform(anchor_rows="all").fit(np.random.default_rng(0).normal(size=(5, 1)))
    space = UnifiedSpace({"morse-plugin": transform}, loaded=loaded)
    assert space.model("morse-plugin") is first and calls == {"morse-plugin": 1}
