"""Orb, MatterSim and PET/UPET: adapters for families whose weights are downloaded, run here on
checkpoints that each package builds with random weights and writes in its own format, then loaded
by path through platonic (``orb:/path``, ``mattersim:/path``, ``pet:/path``). No real weights of
these families have been run (none can be downloaded here).

Tolerances are the family's ``invariance_tolerance``, relative to the largest |embedding|, as in
test_adapters.py. Measured on these random-weight files (CPU torch 2.13, 2 threads), largest
relative change of an embedding:

    family     dim  rotation  translation  permutation  batch   mirror   max|e|  |E - calculator|
    Orb-v3     256  8.0e-2    7.7e-7       8.3e-7       1.2e-6  1.1e-1   7.8     9.5e-7 eV
    MatterSim  128  2.5e-7    1.3e-7       1.3e-7       7.0e-8  2.7e-7   0.066   7.5e-9 eV
    PET        384  2.4e-2    1.5e-7       2.2e-7       1.5e-7  9.1e-2   80      4.8e-7 eV

Orb-v3 and PET are not rotation-invariant by construction (Orb: spherical harmonics of edge
directions fed to MLPs; PET: a transformer on raw edge vectors, symmetry learned by augmentation):
their rotation test asserts the embedding *moves*, which is the finding the study's rotation
diagnostic (paper Fig. 5g) reports. How far a trained file moves has not been measured here.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from ase.build import bulk
from scipy.spatial.transform import Rotation

from platonic.models import load_model

#: prefix -> (module, how to install it)
PACKAGES = {
    "orb": ("orb_models", "pip install 'platonic[orb]'"),
    "mattersim": ("mattersim", "pip install 'platonic[mattersim]' && pip install --no-deps mattersim==1.2.3"),
    "pet": ("metatrain", "pip install 'platonic[pet]'"),
}


def rattled(formula, lattice, a, repeat=(1, 1, 1), seed=0, amount=0.05):
    atoms = bulk(formula, lattice, a=a).repeat(repeat)
    atoms.rattle(amount, seed=seed)
    return atoms


def structures():
    """Low-symmetry (rattled) cells, the ones test_adapters.py uses."""
    return [rattled("NaCl", "rocksalt", 5.64, (1, 1, 2), seed=1), rattled("Si", "diamond", 5.43, seed=2),
            rattled("Cu", "fcc", 3.61, (2, 1, 1), seed=3)]


def transform(atoms, matrix):
    out = atoms.copy()
    out.set_cell(atoms.cell[:] @ matrix.T, scale_atoms=False)
    out.positions = atoms.positions @ matrix.T
    return out


def relative_change(a, b):
    return float(np.abs(a - b).max() / np.abs(b).max())


# ----------------------------------------------------------------------------- random-weight files
def write_orb(folder):
    """An Orb-v3 conservative (unlimited neighbours) network with orb-models' own random init,
    written as Orbital Materials write theirs: the ``state_dict``, named after its architecture."""
    import torch
    from orb_models.forcefield import pretrained
    from orb_models.forcefield.atomic_system import SystemConfig

    torch.manual_seed(0)
    model = pretrained.orb_v3_conservative_architecture(system_config=SystemConfig(radius=6.0, max_num_neighbors=120))
    path = folder / "orb-v3-conservative-inf-omat-random.ckpt"
    torch.save(model.state_dict(), path)
    return path


def write_mattersim(folder):
    """An M3GNet network with mattersim's default hyper-parameters and random init, written by
    mattersim's own ``Potential.save`` (the format of its releases)."""
    import torch
    from mattersim.forcefield.m3gnet.m3gnet import M3Gnet
    from mattersim.forcefield.potential import Potential

    torch.manual_seed(0)
    path = folder / "mattersim-random.pth"
    Potential(M3Gnet(device="cpu"), device="cpu").save(str(path))
    return path


def write_pet(folder):
    """A PET network with metatrain's default hyper-parameters and random init for the 86 elements
    H-Rn, written as metatrain writes (and UPET publishes) checkpoints: ``torch.save(get_checkpoint())``."""
    import torch

    from platonic.models.pet import scriptable_torch

    with scriptable_torch():  # metatensor compiles TorchScript at import: see the adapter
        from metatrain.pet import PET
        from metatrain.utils.architectures import get_default_hypers
        from metatrain.utils.data import DatasetInfo
        from metatrain.utils.data.target_info import get_energy_target_info

    torch.manual_seed(0)
    info = DatasetInfo(length_unit="Angstrom", atomic_types=list(range(1, 87)),
                       targets={"energy": get_energy_target_info("energy", {"quantity": "energy", "unit": "eV"})})
    path = folder / "pet-random.ckpt"
    torch.save(PET(get_default_hypers("pet")["model"], info).get_checkpoint(), path)
    return path


WRITERS = {"orb": write_orb, "mattersim": write_mattersim, "pet": write_pet}


@pytest.fixture(scope="module", params=sorted(WRITERS))
def loaded(request, tmp_path_factory):
    """(family prefix, path, adapter) for each family whose package is installed."""
    prefix = request.param
    module, install = PACKAGES[prefix]
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed, so the {prefix} adapter cannot run ({install})")
    import torch

    dtype = torch.get_default_dtype()
    path = WRITERS[prefix](tmp_path_factory.mktemp(prefix))
    model = load_model(f"{prefix}:{path}")
    assert torch.get_default_dtype() == dtype, "loading changed torch's default dtype"
    return prefix, path, model


def tolerance(model):
    return type(model).invariance_tolerance


# ----------------------------------------------------------------------------- every family
def test_card_and_shapes(loaded):
    from platonic.models.base import sha256_file

    prefix, path, m = loaded
    assert m.card.name == f"{prefix}:{path}" and m.card.weights_sha256 == sha256_file(path)
    assert m.card.layer and m.card.dim > 0 and m.card.package_versions.get("torch")
    emb = m.embed(structures())
    assert [e.shape for e in emb] == [(len(a), m.card.dim) for a in structures()]
    assert all(e.dtype == np.float32 and np.isfinite(e).all() and e.std() > 0 for e in emb)
    assert not any(module.training for module in m.model.modules()), "the model must be in eval mode"


def test_translation_permutation_and_batch_invariance(loaded):
    _, _, m = loaded
    rng = np.random.default_rng(7)
    batch = m.embed(structures())
    for atoms, emb in zip(structures(), batch):
        ref = m.embed([atoms])[0]
        assert relative_change(emb, ref) <= tolerance(m)  # batch equals single structure
        shifted = atoms.copy()
        shifted.positions += rng.normal(size=3) * 3.0
        assert relative_change(m.embed([shifted])[0], ref) <= tolerance(m)
        perm = rng.permutation(len(atoms))
        assert relative_change(m.embed([atoms[perm]])[0], ref[perm]) <= tolerance(m)


def test_rotation_behaviour_is_the_cards(loaded):
    """Invariant families stay within tolerance; Orb and PET (equivariant=False) must move by 10x it."""
    _, _, m = loaded
    changes = []
    for atoms in structures():
        ref = m.embed([atoms])[0]
        for rotation in Rotation.random(3, random_state=11).as_matrix():
            changes.append(relative_change(m.embed([transform(atoms, rotation)])[0], ref))
    if type(m).rotation_invariant:
        assert max(changes) <= tolerance(m), changes
    else:
        assert max(changes) > 10 * tolerance(m), changes


def test_mirror_behaviour_is_the_cards(loaded):
    _, _, m = loaded
    improper = [-np.eye(3), np.diag([1.0, 1.0, -1.0]) @ Rotation.random(random_state=5).as_matrix()]
    chiral = [rattled("Si", "diamond", 5.43, (2, 2, 2), seed=4, amount=0.1),
              rattled("NaCl", "rocksalt", 5.64, (2, 1, 1), seed=5, amount=0.1)]
    changes = [relative_change(m.embed([transform(atoms, matrix)])[0], m.embed([atoms])[0])
               for atoms in chiral for matrix in improper]
    assert m.card.mirror in ("invariant", "not invariant")
    if m.card.mirror == "invariant":
        assert max(changes) <= tolerance(m), changes
    else:
        assert max(changes) > 10 * tolerance(m), changes


def test_energy_forward_equals_the_package_calculator(loaded):
    """The batched pass platonic runs is the package's own computation, structure by structure."""
    _, _, m = loaded
    ours = np.asarray(m.energy_forward(structures())).ravel()
    for atoms, energy in zip(structures(), ours):
        atoms.calc = m.calculator()
        assert float(energy) == pytest.approx(atoms.get_potential_energy(), abs=1e-4, rel=1e-5)


def test_missing_file_is_a_clear_error(loaded, tmp_path):
    prefix, _, _ = loaded
    with pytest.raises(FileNotFoundError, match="nothing.ckpt"):
        load_model(f"{prefix}:{tmp_path / 'nothing.ckpt'}")


def test_extract_by_path_stores_the_embeddings_and_card(loaded, tmp_path):
    """``platonic extract --models <prefix>:/path`` end to end: the store holds the adapter's rows and card."""
    from platonic.datasets import Dataset
    from platonic.extract import extract
    from platonic.store import EmbeddingStore

    prefix, path, m = loaded
    data = Dataset("three", structures(), ids=["a", "b", "c"], splits=["custom"] * 3, sources=["x"] * 3)
    name = f"{prefix}:{path}"
    extract(data, [name], tmp_path / "store")
    store = EmbeddingStore(tmp_path / "store")
    stored = store.load(name)
    assert relative_change(stored, np.concatenate(m.embed(structures()))) <= tolerance(m)
    assert store.model_card(name).weights_sha256 == m.card.weights_sha256 and store.model_card(name).dim == m.card.dim


# ----------------------------------------------------------------------------- the hooked layer
@pytest.mark.parametrize("loaded", ["orb"], indirect=True)
def test_orb_embedding_is_what_the_energy_head_reads(loaded):
    """The trunk's node features equal the ones the full forward hands to heads.energy, and the
    energy rebuilt from them is the model's: E = denorm(MLP(mean_i h_i)) + pair repulsion."""
    _, _, m = loaded
    import torch

    head = m.model.heads["energy"]
    seen = {}
    handle = head.register_forward_pre_hook(lambda module, args: seen.update(h=args[0].detach().clone()))
    try:
        batch = m._batch(structures())
        with torch.enable_grad():
            energy = m.model.predict(batch)["energy"].detach()
    finally:
        handle.remove()
    emb = torch.from_numpy(np.concatenate(m.embed(structures())))
    assert relative_change(emb.numpy(), seen["h"].numpy()) <= tolerance(m)
    with torch.inference_mode():
        batch = m._batch(structures())
        rebuilt = head.denormalize(head(emb, batch), batch) + m.model.pair_repulsion_fn(batch)["energy"]
    np.testing.assert_allclose(rebuilt.numpy(), energy.numpy(), atol=1e-4, rtol=1e-5)


@pytest.mark.parametrize("loaded", ["mattersim"], indirect=True)
def test_mattersim_embedding_is_what_the_readout_reads(loaded):
    """E = sum_i AtomScaling(final(h_i), Z_i): the hooked rows rebuild the model's energies."""
    _, _, m = loaded
    import torch

    emb = np.concatenate(m.embed(structures()))
    inputs = m._batch(structures())
    numbers = torch.from_numpy(np.concatenate([a.numbers for a in structures()]))
    with torch.inference_mode():
        energies = m.model(inputs)
        per_atom = m.model.normalizer(m.model.final(torch.from_numpy(emb)).view(-1), numbers)
        rebuilt = torch.zeros(len(structures())).index_add_(0, inputs["batch"], per_atom)
    np.testing.assert_allclose(rebuilt.numpy(), energies.numpy(), atol=1e-5, rtol=1e-6)


@pytest.mark.parametrize("loaded", ["mattersim"], indirect=True)
def test_mattersim_refuses_a_file_with_missing_weights(loaded, tmp_path):
    _, path, _ = loaded
    import torch

    from platonic.models.mattersim import MatterSimFileError

    checkpoint = torch.load(path, weights_only=False)
    checkpoint["model"] = {k: v for k, v in checkpoint["model"].items() if not k.startswith("final.")}
    torch.save(checkpoint, tmp_path / "partial.pth")
    with pytest.raises(MatterSimFileError, match="partial.pth: .* weights of the network are not in the file.*final"):
        load_model(f"mattersim:{tmp_path / 'partial.pth'}")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(MatterSimFileError, match="could not load MatterSim checkpoint .*junk.pth"):
        load_model(f"mattersim:{tmp_path / 'junk.pth'}")


@pytest.mark.parametrize("loaded", ["pet"], indirect=True)
def test_pet_exported_model_embeds_like_its_checkpoint(loaded, tmp_path):
    """The same network as a metatrain checkpoint and as an exported metatomic model (.pt)."""
    _, _, m = loaded
    from platonic.models.pet import scriptable_torch

    with scriptable_torch():  # saving compiles the model to TorchScript
        m.model.save(str(tmp_path / "pet-random.pt"))
    exported = load_model(f"pet:{tmp_path / 'pet-random.pt'}")
    assert exported.card.dim == m.card.dim and exported.card.weights_sha256 != m.card.weights_sha256
    for a, b in zip(exported.embed(structures()), m.embed(structures())):
        assert relative_change(a, b) <= tolerance(m)
    from platonic.models.pet import PETFileError

    (tmp_path / "junk.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(PETFileError, match="could not load .*junk.ckpt"):
        load_model(f"pet:{tmp_path / 'junk.ckpt'}")


@pytest.mark.parametrize("loaded", ["pet"], indirect=True)
def test_pet_features_are_what_the_energy_heads_read(loaded):
    """The first d_node columns are the input of the node energy head, the rest as wide as the edge
    energy head's input (their cutoff-weighted neighbour sum), read by pre-hooks on the checkpoint's
    own PET module."""
    _, path, m = loaded
    import torch
    from metatomic.torch import ModelOutput, systems_to_torch

    from platonic.models.pet import scriptable_torch

    with scriptable_torch():
        from metatrain.utils.io import load_model as load_metatrain
        from metatrain.utils.neighbor_lists import get_system_with_neighbor_lists

        pet = load_metatrain(str(path)).eval()
    seen = {}
    heads = pet.backend
    handles = [heads.node_heads["energy"][0].register_forward_pre_hook(lambda mod, args: seen.update(node=args[0])),
               heads.edge_heads["energy"][0].register_forward_pre_hook(lambda mod, args: seen.update(edge=args[0]))]
    try:
        systems = [get_system_with_neighbor_lists(s, pet.requested_neighbor_lists())
                   for s in systems_to_torch(structures(), dtype=torch.float32)]
        with torch.no_grad():
            pet(systems, {"energy": ModelOutput(per_atom=False)})
    finally:
        for handle in handles:
            handle.remove()
    emb = np.concatenate(m.embed(structures()))
    d_node = seen["node"].shape[1]
    assert emb.shape[1] == d_node + seen["edge"].shape[-1]
    assert relative_change(emb[:, :d_node], seen["node"].numpy()) <= tolerance(m)


@pytest.mark.parametrize("loaded", ["orb"], indirect=True)
def test_orb_file_must_be_named_after_its_architecture(loaded, tmp_path):
    _, path, _ = loaded
    from platonic.models.orb import OrbFileError

    renamed = tmp_path / "my-model.ckpt"
    renamed.write_bytes(path.read_bytes())
    with pytest.raises(OrbFileError, match="my-model.ckpt.*must start with the name of its architecture"):
        load_model(f"orb:{renamed}")
    wrong = tmp_path / "orb-v3-direct-inf-omat-x.ckpt"  # a conservative file under a direct name
    wrong.write_bytes(path.read_bytes())
    with pytest.raises(OrbFileError, match="as orb-v3-direct-inf-omat.*Unexpected key"):
        load_model(f"orb:{wrong}")
    # orb-models itself accepts a file that lacks a whole head (and leaves that head random): refused
    import torch

    headless = {k: v for k, v in torch.load(path, weights_only=True).items() if not k.startswith("heads.confidence")}
    torch.save(headless, tmp_path / "orb-v3-conservative-inf-omat-headless.ckpt")
    with pytest.raises(OrbFileError, match="not a orb-v3-conservative-inf-omat checkpoint.*heads.confidence"):
        load_model(f"orb:{tmp_path / 'orb-v3-conservative-inf-omat-headless.ckpt'}")


# ----------------------------------------------------------------------------- PET by hub name
def fake_hub(monkeypatch, checkpoint, versions=("1.0.2", "1.1.0"), fail=None):
    """upet's own resolver with the hub replaced: the listing holds pet-mad-s at ``versions``, and a
    download hands back a copy of ``checkpoint`` (or raises ``fail``, as an offline machine would).
    Returns the list of file names asked for."""
    import shutil

    import upet._models as upet_models

    asked = []

    def listing():
        if fail is not None:
            raise fail
        return [f"pet-mad-s-v{v}.ckpt" for v in versions]

    def download(repo_id, filename, subfolder=None, **_):
        assert (repo_id, subfolder) == ("lab-cosmo/upet", "models")
        asked.append(filename)
        local = checkpoint.parent / "hub-cache" / filename
        local.parent.mkdir(exist_ok=True)
        shutil.copyfile(checkpoint, local)
        return str(local)

    monkeypatch.setattr(upet_models, "_get_upet_repo_files", listing)
    monkeypatch.setattr(upet_models, "hf_hub_download", download)
    return asked


@pytest.mark.parametrize("loaded", ["pet"], indirect=True)
def test_pet_by_hub_name_is_the_downloaded_file(loaded, monkeypatch):
    """``pet:pet-mad`` goes through upet's resolver (default size, latest version; or the version
    asked for) and embeds exactly as the same file loaded by path; the card names the release."""
    _, path, by_path = loaded
    asked = fake_hub(monkeypatch, path)
    latest = load_model("pet:pet-mad")
    assert asked == ["pet-mad-s-v1.1.0.ckpt"]
    assert latest.card.name == "pet:pet-mad" and latest.card.variant == "pet-mad-s-v1.1.0"
    assert latest.release == {"model": "pet-mad", "size": "s", "version": "1.1.0"}
    assert latest.card.weights_sha256 == by_path.card.weights_sha256
    assert latest.card.weights_source.endswith("pet-mad-s-v1.1.0.ckpt") and "version 1.1.0" in latest.card.notes
    for a, b in zip(latest.embed(structures()), by_path.embed(structures())):
        np.testing.assert_array_equal(a, b)
    pinned = load_model("pet:pet-mad-s@1.0.2")
    assert asked[-1] == "pet-mad-s-v1.0.2.ckpt" and pinned.card.variant == "pet-mad-s-v1.0.2"
    from platonic.models.pet import PETHubError

    with pytest.raises(PETHubError, match=r"pet:pet-mad@9\.9\.9: no such UPET release.*9\.9\.9"):
        load_model("pet:pet-mad@9.9.9")


@pytest.mark.parametrize("failure", ["URLError", "httpx.ConnectError"])
@pytest.mark.parametrize("loaded", ["pet"], indirect=True)
def test_pet_hub_name_without_network_is_an_error_naming_the_way_by_path(loaded, monkeypatch, failure):
    """No silent fallback: the error names the hub name, the network failure and ``pet:/path``.
    httpx's ConnectError is what huggingface_hub 1.33 raised here without a network (not an OSError)."""
    from urllib.error import URLError

    import httpx

    from platonic.errors import PlatonicError

    _, path, _ = loaded
    error = URLError("no network") if failure == "URLError" else httpx.ConnectError("[Errno -2] Name or service not known")
    asked = fake_hub(monkeypatch, path, fail=error)
    with pytest.raises(PlatonicError) as caught:
        load_model("pet:pet-mad-s")
    message = str(caught.value)
    assert "pet:pet-mad-s" in message and type(error).__name__ in message and str(error.args[0]) in message
    assert "load it by path, 'pet:/path/to/pet-mad-s-v<version>.ckpt'" in message
    assert asked == [] and caught.value.__cause__ is error
    with pytest.raises(FileNotFoundError, match="nor is 'no-such-thing' a UPET hub name"):
        load_model("pet:no-such-thing")
