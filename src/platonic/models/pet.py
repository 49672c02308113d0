"""PET (Pozdnyakov & Ceriotti 2023) as trained in PET-MAD / UPET, run through metatrain and metatomic:
``pet:/path/file.ckpt`` (a metatrain checkpoint, the format UPET releases are published in, e.g.
``pet-mad-s-v1.0.2.ckpt``), ``pet:/path/file.pt`` (an exported metatomic ``AtomisticModel``), or
``pet:<hub name>`` where there is a network: a UPET release on the Hugging Face hub
(``lab-cosmo/upet``) as ``pet-<model>[-<size>][@<version>]``, e.g. ``pet:pet-mad`` (upet's default
size and the latest version), ``pet:pet-mad-s@1.0.2``. The name is resolved and the checkpoint
downloaded by upet's own resolver (the one ``upet.get_upet`` uses); the file is then loaded
exactly as by path, and the card records the release (model, size, version), the local file and
its sha256. A failed download is an error naming the hub name, the failure and the by-path
alternative; nothing falls back to another file.

Both are run as the metatomic model the package's ASE calculator runs (a checkpoint is exported
first, as ``upet``/``metatrain`` do), asking for two outputs in one pass: ``energy`` and
``features``, the per-atom internal representation metatomic standardises and PET provides. For
PET that is, for each readout layer (the last GNN layer with PET's default feed-forward
featurisation), the node features concatenated with the cutoff-weighted sum of the edge features
around the atom::

    f_i = [ x_i  |  sum_j fc(r_ij) e_ij ]      (width d_node + d_pet per readout layer)

The energy heads read exactly these node and edge features: ``E = sum_i [ node_head(x_i) +
sum_j fc(r_ij) edge_head(e_ij) ] + composition``, so ``f_i`` is what feeds the readout, with the edge
part summed before (not after) its MLP head. Nothing is hooked: the output is the package's own.

PET is **not rotation-invariant by construction**: a transformer reads the raw Cartesian edge
vectors, and rotational symmetry is learned from augmented data (nor are mirror images exact).

Install (an optional extra): ``pip install 'platonic[pet]'`` (upet 0.3.1 with metatrain 2026.4.1,
metatomic-torch 0.1.19; their compiled parts support torch 2.3-2.14).
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import sys
from pathlib import Path

import numpy as np
from ase import Atoms

from platonic.errors import PlatonicError
from platonic.models._provenance import package_versions
from platonic.models.base import FileFamily, UnsupportedStructureError, sha256_file

#: metatomic's standard name of the per-atom representation output.
FEATURES = "features"


#: A UPET release name: ``pet-<word>`` (upet's model names), an optional size, an optional version.
HUB_NAME = re.compile(r"^(?P<model>pet-\w+)(?:-(?P<size>xs|s|m|l|xl))?(?:@v?(?P<version>\d+\.\d+\.\d+|latest))?$")
#: Where upet downloads releases from.
HUB_REPOSITORY = "lab-cosmo/upet"


class PETFileError(PlatonicError, ValueError):
    """A PET/metatomic file that cannot be loaded or gives no per-atom features."""


class PETHubError(PETFileError):
    """A UPET hub name that cannot be resolved or downloaded (no network, unknown release)."""


def _network_errors() -> tuple[type[BaseException], ...]:
    """What a failed download raises: ``OSError`` (``URLError``, requests' and huggingface_hub's HTTP
    errors, timeouts) and httpx's errors (huggingface_hub 1.x talks through httpx, whose
    ``ConnectError`` is not an ``OSError``: it is what an offline machine gets here)."""
    try:
        import httpx
    except ImportError:
        return (OSError,)
    return (OSError, httpx.HTTPError)


@contextlib.contextmanager
def _keep_fusion_strategy():
    """Importing upet sets the process-wide TorchScript fusion strategy (for its CUDA kernels); put
    the previous one back, so a model loaded by hub name runs as the same file loaded by path."""
    import torch

    previous = torch._C._jit_set_fusion_strategy([("STATIC", 2), ("DYNAMIC", 10)])  # returns the current one
    torch._C._jit_set_fusion_strategy(previous)
    try:
        yield
    finally:
        torch._C._jit_set_fusion_strategy(previous)


def download_release(target: str) -> tuple[Path, str, dict]:
    """The local checkpoint of the UPET hub name ``target`` (``pet-mad``, ``pet-mad-s@1.0.2``), the
    release's file name, and its ``{"model", "size", "version"}``, resolved and downloaded (or
    found in the huggingface_hub cache) by upet's own resolver.

    Raises :class:`PETHubError` naming ``target``, the failure and how to load a file by path.
    """
    match = HUB_NAME.match(target)
    if match is None:
        raise PETHubError(f"{target!r} is not a UPET hub name (pet-<model>[-<size>][@<version>], e.g. pet-mad or "
                          "pet-mad-s@1.0.2) nor an existing file")
    with scriptable_torch(), _keep_fusion_strategy():
        from upet import _models as upet_models  # upet's resolver is not public API: pinned upet 0.3.1
    model, size, version = match["model"], match["size"], match["version"] or "latest"
    example = f"{model}-{size or 's'}-v<version>.ckpt"
    try:
        size, version, local = upet_models._resolve_and_download_checkpoint(model, size, version)
    except _network_errors() as exc:
        raise PETHubError(
            f"pet:{target}: could not resolve or download the UPET release from the Hugging Face hub "
            f"({HUB_REPOSITORY}): {type(exc).__name__}: {exc}. No other file is used instead: without a "
            f"network, fetch the checkpoint ({example}) elsewhere and load it by path, "
            f"'pet:/path/to/{example}'") from exc
    except ValueError as exc:  # upet's answer for a model, size or version the hub does not have
        raise PETHubError(f"pet:{target}: no such UPET release on {HUB_REPOSITORY}: {exc}") from exc
    release = {"model": model, "size": str(size), "version": str(version)}
    return Path(local), f"{model}-{size}-v{version}.ckpt", release


@contextlib.contextmanager
def scriptable_torch():
    """TorchScript-compile with torch's own ``index_select``.

    torch_geometric 2.8 replaces ``torch.index_select`` by a Python wrapper when imported (for its
    HashTensor); metatensor and metatomic compile TorchScript (at import, on export and on save) that
    calls ``torch.index_select``, and compiling the wrapper fails ("Arguments for call are not
    valid"). In a study process PyG is imported first (SevenNet, CHGNet, TensorNet), so compile with
    the original restored, then put the wrapper back (plain tensors go through it unchanged).
    """
    import torch

    hash_tensor = sys.modules.get("torch_geometric.hash_tensor")
    original = getattr(hash_tensor, "_old_index_select", None)
    patched = torch.index_select
    if original is None or patched is original:
        yield
        return
    torch.index_select = original
    try:
        yield
    finally:
        torch.index_select = patched


class PETModel(FileFamily):
    """The per-atom ``features`` output of a PET (metatrain) model."""

    family = "PET"
    distribution, import_name = "metatrain", "metatrain"
    extra = "pet"
    optional = True
    order = 64
    layer = "features output: readout-layer node features | cutoff-weighted sum of edge features"
    dim = -1
    mirror = "not invariant"
    path_prefix = "pet"
    usage = "'pet:/path/to/model.ckpt', 'pet:/path/to/model.pt' or a UPET hub name, 'pet:pet-mad'"
    file_error = PETFileError
    card_packages = ("metatomic-torch",)
    rotation_invariant = False
    #: Translation, permutation and batch: <= 2.2e-7 on a random-weight file (rotations 2.4e-2,
    #: mirror images 9e-2).
    invariance_tolerance = 2e-6

    def __init__(self, name: str, device: str = "cpu"):
        super().__init__(device)
        target = self._target(name)
        import torch

        path = self._local_file(target, HUB_NAME.match(target) is not None,
                                "a UPET hub name such as pet-mad or pet-mad-s@1.0.2")
        release = None
        if path is None:
            path, release_file, release = download_release(target)
        with scriptable_torch():
            from metatrain.utils.io import is_exported_file, load_model

            with self._loading(f"{path} with metatrain"):
                loaded = load_model(str(path))
                exported = loaded if is_exported_file(str(path)) else loaded.eval().export()
        capabilities = exported.capabilities()
        for needed in (FEATURES, "energy"):
            if needed not in capabilities.outputs:
                raise PETFileError(f"{path}: the model has no {needed!r} output "
                                   f"(it has {', '.join(capabilities.outputs.keys())})")
        self.model = self.frozen(exported.to(device))
        self.dtype = getattr(torch, capabilities.dtype)
        self.numbers = frozenset(int(z) for z in capabilities.atomic_types)
        notes = (f"interaction range {capabilities.interaction_range} Å; dtype {capabilities.dtype}; "
                 "not rotation-invariant by construction (symmetry learned by augmentation)")
        hub = {}
        if release is not None:
            notes = (f"UPET hub release {release['model']} size {release['size']} version {release['version']} "
                     f"({HUB_REPOSITORY}/models/{release_file}), resolved and downloaded by upet; " + notes)
            hub = {"variant": release_file.removesuffix(".ckpt"), "training_data": "as documented with the release"}
        self.release = release
        self.card = dataclasses.replace(
            self.static_card(name),
            dim=self._probe_width(path),
            weights_source=str(path.resolve()),
            weights_sha256=sha256_file(path),
            package_versions=package_versions("metatrain", "metatomic-torch", "metatensor-torch", "upet"),
            notes=notes,
            **hub,
        )

    def _probe_width(self, path: Path) -> int:
        z = min(self.numbers)
        dimer = Atoms([z, z], positions=[[0, 0, 0], [0, 0, 1.5]], cell=np.eye(3) * 10.0, pbc=True)
        try:
            return int(self._forward([dimer], energy=False)[FEATURES].block().values.shape[1])
        except Exception as exc:  # noqa: BLE001 - a file that loads but cannot run
            raise PETFileError(f"{path} loaded, but its forward pass failed: {type(exc).__name__}: {exc}") from exc

    @property
    def supported_numbers(self) -> frozenset[int]:
        return self.numbers

    def _forward(self, structures: list[Atoms], energy: bool = True, features: bool = True) -> dict:
        import torch
        from metatomic.torch import ModelEvaluationOptions, ModelOutput, systems_to_torch
        from metatrain.utils.neighbor_lists import get_system_with_neighbor_lists

        requests = self.model.requested_neighbor_lists()
        systems = [get_system_with_neighbor_lists(s, requests).to(self.device)
                   for s in systems_to_torch(structures, dtype=self.dtype)]
        outputs = {}
        if features:
            outputs[FEATURES] = ModelOutput(per_atom=True)
        if energy:
            outputs["energy"] = ModelOutput(quantity="energy", unit="eV", per_atom=False)
        options = ModelEvaluationOptions(length_unit="Angstrom", outputs=outputs)
        with torch.no_grad():  # metatomic's checks run outside inference mode
            return self.model(systems, options, check_consistency=False)

    def _embed_batch(self, structures: list[Atoms]) -> list[np.ndarray]:
        block = self._forward(structures, energy=False)[FEATURES].block()
        samples = block.samples.values.cpu().numpy()
        expected = np.concatenate([np.stack([np.full(len(a), i), np.arange(len(a))], axis=1)
                                   for i, a in enumerate(structures)])
        if samples.shape != expected.shape or not (samples == expected).all():
            raise UnsupportedStructureError(f"{self.card.name}: features for {len(samples)} (system, atom) samples, "
                                            f"not one row per atom in order")
        return self.split_rows(block.values, structures)

    def energy_forward(self, structures: list[Atoms]) -> np.ndarray:
        """The model's own batched energy (no forces), for benchmarks."""
        return self._forward(structures, features=False)["energy"].block().values.cpu().numpy().ravel()

    def calculator(self):
        from metatomic_ase import MetatomicCalculator

        return MetatomicCalculator(self.model, device=self.device)
