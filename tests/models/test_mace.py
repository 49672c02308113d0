"""The MACE adapters: the seeded random control and a MACE file loaded by path.

Files written here (mace-torch under e3nn 0.6) are loaded in-process with :class:`MACEModel`;
``load_model("mace:PATH")`` runs files in the isolated ``mace`` environment (tests/envs).
"""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk

from platonic.models import load_model
from platonic.models.mace import MACEModel


def structures():
    out = []
    for formula, lattice, a, seed in (("NaCl", "rocksalt", 5.64, 1), ("Si", "diamond", 5.43, 2)):
        atoms = bulk(formula, lattice, a=a).repeat((1, 1, 2))
        atoms.rattle(0.05, seed=seed)
        out.append(atoms)
    return out


def test_dummy_is_seeded_untrained_and_leaves_the_default_dtype():
    import torch

    before = torch.get_default_dtype()
    first = load_model("mace-dummy")
    assert torch.get_default_dtype() == before
    assert first.card.trained is False and first.card.weights_sha256 is None and first.card.dim == 128
    assert first.dtype == torch.float32
    for x, y in zip(first.embed(structures()), load_model("mace-dummy").embed(structures())):
        np.testing.assert_array_equal(x, y)


def test_mace_model_file_round_trip(tmp_path):
    """A MACE file loaded by path embeds as mace-torch's own ``get_descriptors`` says it should."""
    import torch
    from mace.calculators import MACECalculator

    from platonic.models.mace import build_dummy

    path = tmp_path / "random.model"
    torch.save(build_dummy(seed=3), path)
    dtype = torch.get_default_dtype()
    from_file = MACEModel(f"mace:{path}")  # in-process: load_model would send it to the 'mace' environment
    assert torch.get_default_dtype() == dtype
    assert len(from_file.card.weights_sha256) == 64 and from_file.card.dim == 128 and from_file.card.trained
    emb = from_file.embed(structures())
    calc = MACECalculator(models=[build_dummy(seed=3)], device="cpu", default_dtype="float32")
    for atoms, e in zip(structures(), emb):
        reference = calc.get_descriptors(atoms, invariants_only=True)[:, -128:]
        np.testing.assert_allclose(e, reference, atol=1e-9, rtol=1e-5)
    seeded = load_model("mace-dummy").embed(structures())
    assert not np.allclose(emb[0], seeded[0]), "seed 3 and the dummy's seed gave the same weights"


def test_mace_file_errors_are_clear(tmp_path):
    import torch

    from platonic.models.mace import MACEFileError, build_dummy

    with pytest.raises(FileNotFoundError, match="missing.model"):
        MACEModel(f"mace:{tmp_path / 'missing.model'}")
    (tmp_path / "junk.model").write_bytes(b"not a model")
    with pytest.raises(MACEFileError, match="could not load MACE file.*e3nn==0.4.4"):
        MACEModel(f"mace:{tmp_path / 'junk.model'}")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "not_mace.model")
    with pytest.raises(MACEFileError, match="does not hold a MACE model"):
        MACEModel(f"mace:{tmp_path / 'not_mace.model'}")
    # A file that unpickles but cannot run, as e3nn-version mismatches do (shape error in a layer).
    broken = build_dummy(seed=1)
    broken.interactions[0].linear_up = torch.nn.Linear(3, 3)
    torch.save(broken, tmp_path / "broken.model")
    with pytest.raises(MACEFileError, match="forward pass failed.*e3nn==0.4.4"):
        MACEModel(f"mace:{tmp_path / 'broken.model'}")


def test_random_normal_control_draws_every_parameter_from_a_standard_normal():
    """Li & Walsh's control: i.i.d. N(0, 1) weights. mace-torch's own init differs only in the
    symmetric-contraction weights (scaled down), which the N(0, 1) control redraws."""
    from scipy import stats

    from platonic.models.mace import build_dummy

    normal, default = build_dummy(init="normal"), build_dummy(init="default")
    values = np.concatenate([p.detach().numpy().ravel() for p in normal.parameters()])
    assert stats.kstest(values[:: max(1, values.size // 200_000)], "norm").pvalue > 1e-3
    for (name, p), q in zip(normal.named_parameters(), default.parameters()):
        assert abs(float(p.std()) - 1) < 0.1 or p.numel() < 100, name
        if name.endswith(("weights_max", "weights.0")):  # correlation 3 and 2: scaled down by mace-torch
            assert abs(float(p.std()) - 1) < 0.05 and float(q.std()) < 0.5, name
    model = load_model("mace-random-normal")
    assert model.card.trained is False and "N(0, 1)" in model.card.training_data
    emb = model.embed(structures())
    dummy = load_model("mace-dummy").embed(structures())
    assert all(np.isfinite(e).all() and e.std() > 0 for e in emb)
    assert not np.allclose(emb[0], dummy[0])
    with pytest.raises(ValueError, match="init"):
        build_dummy(init="uniform")
