"""Every offline adapter on its real weights: the symmetries an invariant embedding must have.

Tolerances are relative to the largest |embedding| of the reference (float32 everywhere), about
five times the largest deviation measured over 5 random rotations, a random translation, a random
permutation and batch-vs-single on the cells below (measured, CPU torch 2.13, 2 threads):

    model          rotation  translation  permutation  batch   max|e|
    chgnet-0.3.0   3.2e-6    2.0e-6       1.7e-6       2.4e-7  2.9
    chgnet-0.2.0   8.3e-6    3.8e-6       1.9e-6       3.6e-7  2.4
    chgnet-r2scan  3.2e-6    2.1e-6       3.0e-7       2.4e-7  2.9
    sevennet-0     1.8e-5    7.6e-6       1.9e-6       5.7e-6  24
    sevennet-l3i5  3.8e-5    5.7e-6       1.3e-5       1.3e-5  22
    sevennet-mf-0  7.2e-6    9.5e-6       4.3e-6       7.6e-6  31
    diep           1.6e-5    1.5e-5       5.4e-7       3.6e-7  1.9
    mace-dummy     1.3e-9    7.0e-10      9.3e-10      1.4e-9  4.2e-3
    tensornet-*    (batch vs single 1.9e-6 eV energy; embeddings below the tolerance of 2e-5)

Mirror images (inversion and a reflection) of two chiral rattled cells must leave the embedding
within the same tolerance when the card says ``mirror="invariant"`` (TensorNet: 3e-7) and move it by
more than 10x the tolerance when it says ``"not invariant"`` (SevenNet-0: 7.1e-4, 70x its tolerance;
l3i5 and MF-0 more than 1e-3).
"""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.data import chemical_symbols
from scipy.spatial.transform import Rotation

from platonic.models import DEFAULT_MODELS, MODEL_NAMES, family_of, load_model
from platonic.models.base import UnsupportedStructureError

#: Each family declares its tolerance (``invariance_tolerance`` of its class).
RELATIVE_TOL = {name: family_of(name).invariance_tolerance for name in MODEL_NAMES}

_cache: dict = {}


def model(name):
    """Each model is loaded once per test module (loading is most of the cost)."""
    if name not in _cache:
        _cache[name] = load_model(name)
    return _cache[name]


@pytest.fixture(scope="module", autouse=True)
def _free_models():
    yield
    _cache.clear()


def assert_embeddings_close(actual: np.ndarray, expected: np.ndarray, name: str) -> None:
    atol = RELATIVE_TOL[name] * float(np.abs(expected).max())
    np.testing.assert_allclose(actual, expected, atol=atol, rtol=0)


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


def transformed(atoms: Atoms, matrix: np.ndarray) -> Atoms:
    """``atoms`` with cell and positions mapped by the orthogonal ``matrix`` (a rotation, or an
    improper one: a mirror image)."""
    out = atoms.copy()
    out.set_cell(atoms.cell[:] @ matrix.T, scale_atoms=False)
    out.positions = atoms.positions @ matrix.T
    return out


@pytest.mark.parametrize("name", DEFAULT_MODELS)
def test_shape_dtype_and_card(name):
    m = model(name)
    emb = m.embed(structures())
    assert [e.shape for e in emb] == [(len(a), m.card.dim) for a in structures()]
    assert all(e.dtype == np.float32 and np.isfinite(e).all() for e in emb)
    assert m.card.name == name and m.card.layer and m.card.training_data and m.card.licence
    assert m.card.trained == family_of(name).variants[name].trained
    assert m.card.package_versions.get("torch")
    if m.card.trained:
        assert len(m.card.weights_sha256) == 64
    network = m.potential if hasattr(m, "potential") else m.model
    assert not any(module.training for module in network.modules()), "the model must be in eval mode"


@pytest.mark.parametrize("name", DEFAULT_MODELS)
def test_rotation_translation_permutation_invariance(name):
    m = model(name)
    rng = np.random.default_rng(7)
    for atoms in structures():
        ref = m.embed([atoms])[0]
        for rotation in Rotation.random(3, random_state=11).as_matrix():
            assert_embeddings_close(m.embed([transformed(atoms, rotation)])[0], ref, name)
        shifted = atoms.copy()
        shifted.positions += rng.normal(size=3) * 3.0
        assert_embeddings_close(m.embed([shifted])[0], ref, name)
        perm = rng.permutation(len(atoms))
        assert_embeddings_close(m.embed([atoms[perm]])[0], ref[perm], name)


@pytest.mark.parametrize("name", DEFAULT_MODELS)
def test_mirror_behaviour_is_the_cards(name):
    m = model(name)
    assert m.card.mirror in ("invariant", "not invariant"), m.card.mirror
    improper = [-np.eye(3), np.diag([1.0, 1.0, -1.0]) @ Rotation.random(random_state=5).as_matrix()]
    changes = []
    # Chiral cells: a 2-atom cell is centrosymmetric (its mirror image is a rotated copy), so it cannot
    # tell a parity-sensitive model from an invariant one.
    chiral = [rattled("Si", "diamond", 5.43, (2, 2, 2), seed=4, amount=0.1),
              rattled("NaCl", "rocksalt", 5.64, (2, 1, 1), seed=5, amount=0.1)]
    for atoms in chiral:
        ref = m.embed([atoms])[0]
        for matrix in improper:
            changes.append(np.abs(m.embed([transformed(atoms, matrix)])[0] - ref).max() / np.abs(ref).max())
    if m.card.mirror == "invariant":
        assert max(changes) <= RELATIVE_TOL[name], changes
    else:
        assert max(changes) > 10 * RELATIVE_TOL[name], changes


@pytest.mark.parametrize("name", DEFAULT_MODELS)
def test_deterministic_and_batch_equals_single(name):
    m = model(name)
    batch = m.embed(structures())
    for a, b in zip(batch, m.embed(structures())):
        np.testing.assert_array_equal(a, b)
    for atoms, emb in zip(structures(), batch):
        assert_embeddings_close(m.embed([atoms])[0], emb, name)


@pytest.mark.parametrize("name", DEFAULT_MODELS)
def test_symmetry_equivalent_atoms_have_equal_embeddings(name):
    """Rocksalt BaO (Fm-3m): all Ba are equivalent, all O are equivalent; they must embed alike."""
    m = model(name)
    atoms = bulk("BaO", "rocksalt", a=5.52, cubic=True)
    emb = m.embed([atoms])[0]
    for z in (56, 8):
        rows = emb[atoms.numbers == z]
        assert_embeddings_close(rows, np.broadcast_to(rows[0], rows.shape), name)
    ba, o = emb[atoms.numbers == 56][0], emb[atoms.numbers == 8][0]
    assert np.abs(ba - o).max() > 100 * RELATIVE_TOL[name] * np.abs(emb).max()


@pytest.mark.parametrize("name", DEFAULT_MODELS)
def test_unsupported_element_is_an_error_naming_it(name):
    """The first element past the model's set (e.g. Am for CHGNet, Po for 89-element models)."""
    m = model(name)
    unsupported = sorted(set(range(1, 119)) - m.supported_numbers)
    assert unsupported and len(m.supported_numbers) >= 84, sorted(m.supported_numbers)
    z = unsupported[0]
    atoms = Atoms([z, 8], positions=[[0, 0, 0], [1.9, 0, 0]], cell=[5, 5, 5], pbc=True)
    with pytest.raises(UnsupportedStructureError, match=rf"\b{chemical_symbols[z]}\b"):
        m.embed([structures()[0], atoms])
    with pytest.raises(UnsupportedStructureError, match="empty"):
        m.embed([Atoms(cell=[5, 5, 5], pbc=True)])


@pytest.mark.parametrize("name", DEFAULT_MODELS)
def test_energy_matches_the_package_calculator(name):
    """The batched energy-only pass we hook is the computation each package's own calculator does."""
    m = model(name)
    atoms = structures()[1]
    calc_atoms = atoms.copy()
    calc_atoms.calc = m.calculator()
    energy = calc_atoms.get_potential_energy()
    ours = float(np.asarray(m.energy_forward([atoms])).ravel()[0])  # total energy, every family
    assert ours == pytest.approx(energy, abs=1e-4)


@pytest.mark.parametrize("name", ["chgnet-0.3.0", "chgnet-0.2.0", "chgnet-r2scan"])
def test_chgnet_embedding_is_the_readout_input(name):
    """E/N = mean_i MLP(h_i) + AtomRef(composition): the hooked layer is exactly what the readout reads."""
    import torch
    from pymatgen.io.ase import AseAtomsAdaptor

    m = model(name)
    net = m.model
    assert net.mlp_first and net.is_intensive
    for atoms, emb in zip(structures(), m.embed(structures())):
        graph = net.graph_converter(AseAtomsAdaptor.get_structure(atoms))
        with torch.inference_mode():
            from_embedding = net.mlp(torch.from_numpy(emb)).mean() + net.composition_model([graph])
            energy_per_atom = net([graph], task="e")["e"]
        assert float(from_embedding) == pytest.approx(float(energy_per_atom), abs=1e-5)


@pytest.mark.parametrize("name", ["sevennet-0", "sevennet-l3i5", "sevennet-mf-0"])
def test_sevennet_embedding_is_the_readout_input(name):
    """Feeding the float32 embedding to the readout modules reproduces the model's total energy."""
    import torch

    m = model(name)
    modules = list(m.model._modules)
    tail = [m.model._modules[k] for k in modules[modules.index("reduce_input_to_hidden") :]]
    data_seen = {}
    handle = tail[0].register_forward_pre_hook(lambda module, inputs: data_seen.update(data=inputs[0]))
    try:
        batch = m._batch(structures())
        with torch.inference_mode():
            energy = m.model(batch)["inferred_total_energy"].clone()
    finally:
        handle.remove()
    data = data_seen["data"]
    data[tail[0].key_input] = torch.from_numpy(np.concatenate(m.embed(structures())))
    with torch.inference_mode():
        for module in tail:
            data = module(data)
    np.testing.assert_allclose(data["inferred_total_energy"].numpy(), energy.numpy(), rtol=1e-6, atol=1e-4)


@pytest.mark.parametrize("name", ["tensornet-matpes-pbe", "tensornet-matpes-r2scan"])
def test_tensornet_embedding_is_the_readout_input(name):
    """E = std * sum_i final_layer(h_i) + mean + sum_i ref(Z_i): the hooked layer is what the readout reads."""
    import torch

    m = model(name)
    potential = m.potential
    for atoms, emb in zip(structures(), m.embed(structures())):
        batch, lattices, states = m._batch([atoms])
        with torch.inference_mode():
            energy = potential(batch, lattices, states)[0]
            atomic = potential.model.final_layer.gated(torch.from_numpy(emb)).sum()
            refs = potential.element_refs.property_offset[batch.node_type].sum()
            rebuilt = potential.data_std * atomic + potential.data_mean + refs
        assert float(rebuilt) == pytest.approx(float(energy), abs=1e-4)


def test_tensornet_refuses_changed_weights_and_other_matgl_versions(tmp_path, monkeypatch):
    import shutil
    from importlib import metadata

    from platonic.models import tensornet

    folder = tmp_path / "TensorNet-MatPES-PBE-v2025.1-PES"
    shutil.copytree(tensornet.WEIGHTS / folder.name, folder)
    sums = tmp_path / "SHA256SUMS"
    sums.write_text((tensornet.WEIGHTS / "SHA256SUMS").read_text())
    assert tensornet.verify_checksums(folder, sums) == tensornet.sha256_file(folder / "model.pt")
    with open(folder / "state.pt", "ab") as f:
        f.write(b"\0")
    with pytest.raises(tensornet.MatglError, match=r"state\.pt: sha256 .* changed or damaged"):
        tensornet.verify_checksums(folder, sums)
    monkeypatch.setattr(metadata, "version", lambda dist: "4.1.2" if dist == "matgl" else "0")
    with pytest.raises(tensornet.MatglError, match="matgl 4.1.2 is installed; only matgl 2.0.4"):
        load_model("tensornet-matpes-pbe")


def test_tensornet_folder_by_path_embeds_like_the_registry_name():
    from platonic.models.tensornet import WEIGHTS

    named = model("tensornet-matpes-r2scan")
    by_path = load_model(f"tensornet:{WEIGHTS / 'TensorNet-MatPES-r2SCAN-v2025.1-PES'}")
    assert by_path.card.weights_sha256 == named.card.weights_sha256 and by_path.card.mirror == "unknown"
    for a, b in zip(by_path.embed(structures()), named.embed(structures())):
        np.testing.assert_array_equal(a, b)


def test_diep_embedding_equals_its_own_feature_api():
    """DIEP's ``predict_structure(return_features=True, output_layers=["gc_3"])`` gives the same rows."""
    import torch
    from pymatgen.io.ase import AseAtomsAdaptor

    m = model("diep")
    for atoms, emb in zip(structures(), m.embed(structures())):
        with torch.inference_mode():
            ref = m.potential.model.predict_structure(
                AseAtomsAdaptor.get_structure(atoms), return_features=True, output_layers=["gc_3"]
            )
        assert_embeddings_close(emb, ref["gc_3"]["node_feat"].numpy(), "diep")


def test_chgnet_graph_refusal_is_an_unsupported_structure_not_a_crash(tmp_path):
    """MP-20 mp-1185559 has an atom with no neighbour within CHGNet 0.2.0's cutoff: its own graph
    converter raises ValueError. Extraction rejects that structure alone, with the reason."""
    from platonic.datasets import load
    from platonic.extract import extract
    from platonic.store import EmbeddingStore

    data = load("mp20", split="all")
    index = list(data.ids).index("mp-1185559")
    sample = data[[index - 1, index, index + 1]]
    result = extract(sample, ["chgnet-0.2.0"], tmp_path / "s", load_model=lambda name, device: model(name))
    assert [r["structure_id"] for r in result.rejects["chgnet-0.2.0"]] == ["mp-1185559"]
    assert "graph" in result.rejects["chgnet-0.2.0"][0]["reason"]
    emb, offsets = EmbeddingStore(tmp_path / "s").load("chgnet-0.2.0"), sample.atom_offsets
    assert np.isnan(emb[offsets[1] : offsets[2]]).all()
    assert np.isfinite(emb[: offsets[1]]).all() and np.isfinite(emb[offsets[2] :]).all()


def test_chgnet_calculator_does_not_change_what_the_embedding_model_accepts():
    from ase import Atoms as _Atoms

    chgnet = model("chgnet-0.2.0")
    chgnet.calculator()  # switches *its* converter to warn on isolated atoms
    lonely = _Atoms("Cu2", positions=[[0, 0, 0], [9, 9, 9]], cell=[20, 20, 20], pbc=True)
    from platonic.models.base import UnsupportedStructureError

    with pytest.raises(UnsupportedStructureError, match="graph"):
        chgnet.embed([lonely])
