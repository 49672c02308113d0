"""MACE (Batatia et al. 2022): the random-weight control and any MACE model file loaded by path.

Embedding: the invariant (l = 0) node features of the last interaction layer, i.e. the last
``n_scalars`` columns of ``node_feats``; with MACE's own calculator this is
``get_descriptors(invariants_only=True)[:, -n_scalars:]``.

``mace-dummy`` has the hyper-parameters of MACE-MP-0 "small" (2 interactions, 128x0e hidden,
l_max 3, correlation 3, r_max 6 Å, 89 elements) and random weights drawn with a fixed seed: the
untrained control, built offline by mace-torch. ``mace:/path/to/file.model`` loads a user's file
(e.g. MACE-MP-0 or MACE-OMAT, downloaded elsewhere). Files saved by mace-torch with e3nn 0.4.4 may not
load under the e3nn 0.6 that SevenNet needs; such files need their own environment (mace-torch with
e3nn 0.4.4) writing into the same store, and the error says so.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
from ase import Atoms

from platonic.models._provenance import licence_of, package_versions
from platonic.models.base import EmbeddingModel, ModelCard, sha256_file
from platonic.errors import PlatonicError

DUMMY_SEED = 0
# MACE-MP-0 "small" (Batatia et al., arXiv:2401.00096): the shape of the control.
SMALL_HYPERPARAMETERS = {
    "r_max": 6.0,
    "num_bessel": 10,
    "num_polynomial_cutoff": 5,
    "max_ell": 3,
    "num_interactions": 2,
    "hidden_irreps": "128x0e",
    "MLP_irreps": "16x0e",
    "correlation": 3,
    "radial_MLP": [64, 64, 64],
    "avg_num_neighbors": 61.96,
}


@contextlib.contextmanager
def _restore_default_dtype():
    """Building or loading MACE can leave torch's default dtype at float64, which breaks other models."""
    import torch

    saved = torch.get_default_dtype()
    try:
        yield
    finally:
        torch.set_default_dtype(saved)


def static_card(name: str) -> dict:
    if name == "mace-dummy":
        return {
            "name": name,
            "family": "MACE",
            "variant": "random weights, MP-0 small shape",
            "layer": "node_feats, last-layer invariants",
            "dim": 128,
            "equivariant": True,
            "conservative": True,
            "training_data": "none (random weights: the untrained control)",
        }
    return {
        "name": name,
        "family": "MACE",
        "variant": Path(name.removeprefix("mace:")).name,
        "layer": "node_feats, last-layer invariants",
        "dim": -1,
        "equivariant": True,
        "conservative": True,
        "training_data": "as documented with the file",
    }


def build_dummy(seed: int = DUMMY_SEED):
    """A MACE-MP-0-small-shaped ScaleShiftMACE with seeded random weights, float32."""
    import torch
    from e3nn import o3
    from mace import modules

    hp = SMALL_HYPERPARAMETERS
    numbers = list(range(1, 84)) + list(range(89, 95))  # the 89 elements of MPtrj (H..Bi, Ac..Pu)
    with _restore_default_dtype():
        torch.set_default_dtype(torch.float32)
        torch.manual_seed(seed)
        model = modules.ScaleShiftMACE(
            r_max=hp["r_max"],
            num_bessel=hp["num_bessel"],
            num_polynomial_cutoff=hp["num_polynomial_cutoff"],
            max_ell=hp["max_ell"],
            interaction_cls=modules.interaction_classes["RealAgnosticResidualInteractionBlock"],
            interaction_cls_first=modules.interaction_classes["RealAgnosticResidualInteractionBlock"],
            num_interactions=hp["num_interactions"],
            num_elements=len(numbers),
            hidden_irreps=o3.Irreps(hp["hidden_irreps"]),
            MLP_irreps=o3.Irreps(hp["MLP_irreps"]),
            atomic_energies=np.zeros(len(numbers)),
            avg_num_neighbors=hp["avg_num_neighbors"],
            atomic_numbers=numbers,
            correlation=hp["correlation"],
            gate=torch.nn.functional.silu,
            radial_MLP=hp["radial_MLP"],
            atomic_inter_scale=1.0,
            atomic_inter_shift=0.0,
        )
    return model.eval()


class MACEFileError(PlatonicError, ValueError):
    """A MACE model file that cannot be loaded or run in this environment."""


_E3NN_REMEDY = (
    "Files saved with mace-torch under e3nn 0.4.4 (the official MACE-MP/OMAT files) may not load or run "
    "under the e3nn 0.6 that SevenNet needs: install mace-torch with e3nn==0.4.4 in a separate venv and "
    "run `platonic extract --models mace:PATH` there, writing into the same store."
)


def load_file(path: Path):
    """The MACE model pickled at ``path`` (``torch.save`` of the module, as mace-torch writes it)."""
    import torch

    if not path.is_file():
        raise FileNotFoundError(f"MACE model file {path} does not exist")
    with _restore_default_dtype():
        try:
            model = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as exc:  # noqa: BLE001 - any unpickling failure gets the same remedy
            raise MACEFileError(f"could not load MACE file {path}: {type(exc).__name__}: {exc}. {_E3NN_REMEDY}") from exc
    if not isinstance(model, torch.nn.Module) or not hasattr(model, "atomic_numbers") or not hasattr(model, "r_max"):
        raise MACEFileError(f"{path} does not hold a MACE model (no module with atomic_numbers and r_max)")
    return model.eval()


class MACEModel(EmbeddingModel):
    """Last-layer invariant node features of a MACE model (random control or a file)."""

    def __init__(self, name: str = "mace-dummy", device: str = "cpu"):
        super().__init__(device)
        from e3nn import o3

        if name == "mace-dummy":
            self.model = build_dummy()
            source, digest, trained = f"built by mace-torch, seed {DUMMY_SEED}", None, False
        elif name.startswith("mace:"):
            path = Path(name.removeprefix("mace:")).expanduser()
            self.model = load_file(path)
            source, digest, trained = str(path.resolve()), sha256_file(path), True
        else:
            raise ValueError(f"unknown MACE model {name!r}; use 'mace-dummy' or 'mace:/path/to/file.model'")
        self.model = self.model.to(device)
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.dtype = next(self.model.parameters()).dtype
        irreps = o3.Irreps(str(self.model.products[-1].linear.irreps_out))
        self.n_scalars = sum(mul for mul, ir in irreps if ir.l == 0 and ir.p == 1)
        self.numbers = [int(z) for z in self.model.atomic_numbers]
        self.r_max = float(self.model.r_max)
        self.heads = list(getattr(self.model, "heads", None) or ["Default"])
        info = static_card(name)
        info["dim"] = self.n_scalars
        self.card = ModelCard(
            **info,
            weights_source=source,
            licence=licence_of("mace-torch") if not trained else "see the model file's licence",
            trained=trained,
            weights_sha256=digest,
            package_versions=package_versions("mace-torch", "e3nn"),
            notes=f"dtype {str(self.dtype).removeprefix('torch.')}; r_max {self.r_max} Å",
        )
        if trained:
            self._check_runs(path)

    def _check_runs(self, path: Path) -> None:
        """One forward on a dimer: an e3nn version mismatch can unpickle fine and fail only when run."""
        z = self.numbers[0]
        dimer = Atoms([z, z], positions=[[0, 0, 0], [0, 0, 2.0]], cell=np.eye(3) * 10.0, pbc=True)
        try:
            self._forward([dimer])
        except Exception as exc:  # noqa: BLE001 - any failure here gets the same remedy
            raise MACEFileError(
                f"MACE file {path} loaded but its forward pass failed: {type(exc).__name__}: {exc}. {_E3NN_REMEDY}"
            ) from exc

    @property
    def supported_numbers(self) -> frozenset[int]:
        return frozenset(self.numbers)

    def _batch(self, structures: list[Atoms]) -> dict:
        import torch
        from mace import data as mace_data
        from mace.tools import torch_geometric, utils

        z_table = utils.AtomicNumberTable(self.numbers)
        with _restore_default_dtype():
            torch.set_default_dtype(self.dtype)
            graphs = [
                mace_data.AtomicData.from_config(
                    mace_data.config_from_atoms(a, head_name=self.heads[0]),
                    z_table=z_table,
                    cutoff=self.r_max,
                    heads=self.heads,
                )
                for a in structures
            ]
        batch = torch_geometric.batch.Batch.from_data_list(graphs).to(self.device)
        return batch.to_dict()

    def _embed_batch(self, structures: list[Atoms]) -> list[np.ndarray]:
        out = self._forward(structures)
        features = out["node_feats"][:, -self.n_scalars :].float().cpu().numpy()
        bounds = np.cumsum([0] + [len(a) for a in structures])
        return [features[bounds[i] : bounds[i + 1]] for i in range(len(structures))]

    def _forward(self, structures: list[Atoms]) -> dict:
        import torch

        batch = self._batch(structures)
        with torch.inference_mode():
            return self.model(batch, compute_force=False)

    def energy_forward(self, structures: list[Atoms]) -> np.ndarray:
        """The model's own batched energy-only forward (graph building included), for benchmarks."""
        return self._forward(structures)["energy"].cpu().numpy()

    def calculator(self):
        from mace.calculators import MACECalculator

        return MACECalculator(models=[self.model], device=self.device, default_dtype=str(self.dtype).removeprefix("torch."))
