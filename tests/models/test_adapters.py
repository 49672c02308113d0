"""Every offline adapter on its real weights: the symmetries an invariant embedding must have.

Tolerances are absolute, on float32 embeddings, and were set from what each model showed
(see docs/models.md in this repo); equivariant networks accumulate more float error.
"""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from scipy.spatial.transform import Rotation

from platonic.models import DEFAULT_MODELS, MODEL_NAMES, available_models, load_model
from platonic.models.base import UnsupportedStructureError

ROTATION_TOL = {
    "chgnet-0.3.0": 5e-5,
    "chgnet-0.2.0": 5e-5,
    "chgnet-r2scan": 5e-5,
    "sevennet-0": 1e-4,
    "sevennet-l3i5": 1e-4,
    "sevennet-mf-0": 1e-4,
    "diep": 1e-4,
    "mace-dummy": 1e-6,
}

_cache: dict = {}


def model(name):
    if name not in _cache:
        _cache[name] = load_model(name)
    return _cache[name]


@pytest.fixture(scope="module", autouse=True)
def _free_models():
    yield
    _cache.clear()


def rattled(formula, lattice, a, repeat=(1, 1, 1), seed=0, amount=0.05):
    atoms = bulk(formula, lattice, a=a).repeat(repeat)
    atoms.rattle(amount, seed=seed)
    return atoms


def structures():
    """Low-symmetry (rattled) cells: no exact bond-length ties, so every invariance must hold."""
    return [
        rattled("NaCl", "rocksalt", 5.64, (1, 1, 2), seed=1),
        rattled("Si", "diamond", 5.43, (1, 1, 1), seed=2),
        rattled("Cu", "fcc", 3.61, (2, 1, 1), seed=3),
    ]


def rotate(atoms: Atoms, rotation: np.ndarray) -> Atoms:
    out = atoms.copy()
    out.set_cell(atoms.cell[:] @ rotation.T, scale_atoms=False)
    out.positions = atoms.positions @ rotation.T
    return out


@pytest.mark.parametrize("name", DEFAULT_MODELS)
def test_shape_dtype_and_card(name):
    m = model(name)
    emb = m.embed(structures())
    assert [e.shape for e in emb] == [(len(a), m.card.dim) for a in structures()]
    assert all(e.dtype == np.float32 and np.isfinite(e).all() for e in emb)
    assert m.card.name == name and m.card.layer and m.card.training_data
    assert m.card.trained == (name != "mace-dummy")
    if m.card.trained:
        assert m.card.weights_sha256 and len(m.card.weights_sha256) == 64


@pytest.mark.parametrize("name", DEFAULT_MODELS)
def test_rotation_translation_permutation_invariance(name):
    m = model(name)
    tol = ROTATION_TOL[name]
    rng = np.random.default_rng(7)
    for atoms in structures():
        ref = m.embed([atoms])[0]
        scale = max(1.0, float(np.abs(ref).max()))
        for rotation in Rotation.random(2, random_state=11).as_matrix():
            np.testing.assert_allclose(m.embed([rotate(atoms, rotation)])[0], ref, atol=tol * scale, rtol=0)
        shifted = atoms.copy()
        shifted.positions += rng.normal(size=3) * 3.0
        np.testing.assert_allclose(m.embed([shifted])[0], ref, atol=tol * scale, rtol=0)
        perm = rng.permutation(len(atoms))
        np.testing.assert_allclose(m.embed([atoms[perm]])[0], ref[perm], atol=tol * scale, rtol=0)


@pytest.mark.parametrize("name", DEFAULT_MODELS)
def test_deterministic_and_batch_equals_single(name):
    m = model(name)
    batch = m.embed(structures())
    again = m.embed(structures())
    for a, b in zip(batch, again):
        np.testing.assert_array_equal(a, b)
    for atoms, emb in zip(structures(), batch):
        np.testing.assert_allclose(m.embed([atoms])[0], emb, atol=ROTATION_TOL[name] * max(1.0, np.abs(emb).max()), rtol=0)


@pytest.mark.parametrize("name", DEFAULT_MODELS)
def test_symmetry_equivalent_atoms_have_equal_embeddings(name):
    """Rocksalt BaO (Fm-3m): all Ba are equivalent, all O are equivalent; they must embed alike."""
    m = model(name)
    atoms = bulk("BaO", "rocksalt", a=5.52, cubic=True)
    emb = m.embed([atoms])[0]
    scale = max(1.0, float(np.abs(emb).max()))
    for z in (56, 8):
        rows = emb[atoms.numbers == z]
        np.testing.assert_allclose(rows, np.broadcast_to(rows[0], rows.shape), atol=ROTATION_TOL[name] * scale, rtol=0)
    assert np.abs(emb[atoms.numbers == 56][0] - emb[atoms.numbers == 8][0]).max() > 100 * ROTATION_TOL[name]


@pytest.mark.parametrize("name", DEFAULT_MODELS)
def test_unsupported_element_is_an_error_naming_it(name):
    m = model(name)
    unsupported = sorted(set(range(1, 119)) - set(m.supported_numbers))
    assert unsupported, f"{name} claims to support every element"
    from ase.data import chemical_symbols

    z = unsupported[-1]
    atoms = Atoms([z, 8], positions=[[0, 0, 0], [1.9, 0, 0]], cell=[5, 5, 5], pbc=True)
    with pytest.raises(UnsupportedStructureError, match=chemical_symbols[z]):
        m.embed([atoms])


def test_dummy_is_seeded_and_untrained_scale():
    a = load_model("mace-dummy").embed(structures())
    b = load_model("mace-dummy").embed(structures())
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def test_mace_model_file_round_trip(tmp_path):
    """A MACE file loaded by path embeds as mace-torch's own get_descriptors says it should."""
    import torch
    from mace.calculators import MACECalculator

    from platonic.models.mace import build_dummy

    path = tmp_path / "random.model"
    torch.save(build_dummy(seed=3), path)
    dtype = torch.get_default_dtype()
    from_file = load_model(f"mace:{path}")
    assert torch.get_default_dtype() == dtype
    assert from_file.card.weights_sha256 and from_file.card.dim == 128 and from_file.card.trained
    emb = from_file.embed(structures())
    calc = MACECalculator(models=[build_dummy(seed=3)], device="cpu", default_dtype="float32")
    for atoms, e in zip(structures(), emb):
        reference = calc.get_descriptors(atoms, invariants_only=True)[:, -128:]
        np.testing.assert_allclose(e, reference, atol=1e-6, rtol=1e-5)
    seeded = load_model("mace-dummy").embed(structures())
    assert not np.allclose(emb[0], seeded[0]), "seed 3 and the dummy's seed gave the same weights"
    with pytest.raises(FileNotFoundError):
        load_model(f"mace:{tmp_path / 'missing.model'}")
    (tmp_path / "junk.model").write_bytes(b"not a model")
    with pytest.raises(RuntimeError, match="could not load MACE file"):
        load_model(f"mace:{tmp_path / 'junk.model'}")


def test_registry():
    rows = {r["name"]: r for r in available_models()}
    assert set(rows) == set(MODEL_NAMES)
    assert all(rows[n]["weights_found"] for n in DEFAULT_MODELS)
    with pytest.raises(ValueError, match="unknown model"):
        load_model("no-such-model")


def test_energy_matches_the_package_calculator():
    """The batched energy-only pass we hook is the same computation as each package's own calculator."""
    atoms = structures()[1]
    for name in ("chgnet-0.3.0", "sevennet-0", "diep", "mace-dummy"):
        m = model(name)
        calc_atoms = atoms.copy()
        calc_atoms.calc = m.calculator()
        energy = calc_atoms.get_potential_energy()
        ours = float(np.asarray(m.energy_forward([atoms])).ravel()[0])
        if name.startswith("chgnet"):
            ours *= len(atoms)  # CHGNet's forward returns eV/atom
        assert ours == pytest.approx(energy, abs=1e-4), name
