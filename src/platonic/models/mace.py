"""MACE (Batatia et al. 2022): the random-weight control and any MACE model file loaded by path.

Embedding: the invariant (l = 0) node features of the last interaction layer, i.e. the last
``n_scalars`` columns of ``node_feats``; with MACE's own calculator this is
``get_descriptors(invariants_only=True)[:, -n_scalars:]``.

Two untrained controls have the hyper-parameters of MACE-MP-0 "small" (2 interactions, 128x0e
hidden, l_max 3, correlation 3, r_max 6 Å, 89 elements), built offline by mace-torch with a fixed
seed:

* ``mace-random-normal``: every parameter drawn i.i.d. from N(0, 1), the random control of Li &
  Walsh (the untrained network of the paper);
* ``mace-dummy``: mace-torch's own initialisation, what a MACE model is before training, a second
  control. It differs from the first only in the symmetric-contraction weights: e3nn already draws
  every other weight from N(0, 1) (its layers normalise by fan-in in the forward pass instead),
  while mace-torch scales the contraction weights down (std 0.044 for correlation 3, 0.25 for 2,
  measured on the built model). The embeddings of both are small (|e| ≤ 0.005 on rattled NaCl).

``mace:/path/to/file.model`` loads a user's file (e.g. MACE-MP-0 or MACE-OMAT, downloaded
elsewhere). Files saved by mace-torch with e3nn 0.4.4 (the official ones) do not load or run under
the e3nn 0.6 that SevenNet needs, so files run in the isolated environment ``mace`` (mace-torch
0.3.16, e3nn 0.4.4; ``platonic env create mace``) as a worker process (:mod:`platonic.envs`) whose
embeddings are written into the same store. The two random controls run in this process.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
from ase import Atoms

from platonic.models._provenance import package_versions
from platonic.models.base import EmbeddingModel, Variant, sha256_file
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


def build_dummy(seed: int = DUMMY_SEED, init: str = "default"):
    """A MACE-MP-0-small-shaped ScaleShiftMACE with seeded random weights, float32.

    ``init="default"`` keeps mace-torch's initialisation; ``init="normal"`` then redraws every
    parameter i.i.d. from N(0, 1) (with the same seed), as the random control of Li & Walsh.
    """
    if init not in ("default", "normal"):
        raise ValueError(f"init must be 'default' or 'normal', got {init!r}")
    import torch
    # mace before e3nn: e3nn 0.4.4 reads its constants with torch.load, which torch >= 2.6 refuses
    # (weights_only) unless TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1, and importing mace sets that.
    from mace import modules
    from e3nn import o3

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
        if init == "normal":
            generator = torch.Generator().manual_seed(seed)
            with torch.no_grad():
                for parameter in model.parameters():
                    parameter.copy_(torch.randn(parameter.shape, generator=generator, dtype=parameter.dtype))
    return model.eval()


class MACEFileError(PlatonicError, ValueError):
    """A MACE model file that cannot be loaded or run in this environment."""


def _e3nn_remedy() -> str:
    """What to do about a file that does not load or run: depends on the e3nn running it."""
    from importlib.metadata import version

    if version("e3nn").startswith("0.4."):
        return ("Files saved under e3nn >= 0.5 (e.g. written by platonic's main environment, where mace-torch "
                "runs without its e3nn pin) do not load under e3nn 0.4.4: load those in the main environment, "
                "in-process, with platonic.models.mace.MACEModel('mace:PATH')")
    return ("Files saved with mace-torch under e3nn 0.4.4 (the official MACE-MP/OMAT files) do not load or run "
            "under the e3nn 0.6 that SevenNet needs; `mace:PATH` runs them in the isolated environment 'mace' "
            "(mace-torch==0.3.16, e3nn==0.4.4; `platonic env create mace`)")


def load_file(path: Path):
    """The MACE model pickled at ``path`` (``torch.save`` of the module, as mace-torch writes it)."""
    import torch

    if not path.is_file():
        raise FileNotFoundError(f"MACE model file {path} does not exist")
    with _restore_default_dtype():
        try:
            model = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as exc:  # noqa: BLE001 - any unpickling failure gets the same remedy
            raise MACEFileError(f"could not load MACE file {path}: {type(exc).__name__}: {exc}. {_e3nn_remedy()}") from exc
    if not isinstance(model, torch.nn.Module) or not hasattr(model, "atomic_numbers") or not hasattr(model, "r_max"):
        raise MACEFileError(f"{path} does not hold a MACE model (no module with atomic_numbers and r_max)")
    return model.eval()


_CONTROL_LAYER = "node_feats, last-layer invariants"


class MACEModel(EmbeddingModel):
    """Last-layer invariant node features of a MACE model (random controls or a file)."""

    family = "MACE"
    distribution, import_name = "mace-torch", "mace"
    order = 90
    layer = _CONTROL_LAYER
    dim = 128
    equivariant = True
    mirror = "invariant"
    path_prefix = "mace"
    # The N(0, 1) control first: the study's control diagnostics read the first untrained model.
    variants = {
        "mace-random-normal": Variant(
            "normal", "none (random weights: every parameter N(0, 1), seed 0)",
            variant="random weights N(0, 1), MP-0 small shape", trained=False,
            notes="untrained control of Li & Walsh: MACE-MP-0-small hyper-parameters, every parameter "
            "drawn i.i.d. from N(0, 1)",
        ),
        "mace-dummy": Variant(
            "default", "none (random weights: mace-torch's default initialisation, seed 0)",
            variant="random weights (mace-torch default init), MP-0 small shape", trained=False,
            notes="untrained control: MACE-MP-0-small hyper-parameters, mace-torch's own initialisation "
            "(N(0, 1) except the symmetric-contraction weights, std 0.044 and 0.25)",
        ),
    }
    invariance_tolerance = 2e-6
    # Real MACE files need e3nn 0.4.4 (mace-torch's own pin), which the main environment cannot have.
    environment = "mace"
    environment_requirements = ("mace-torch==0.3.16", "e3nn==0.4.4")

    @classmethod
    def environment_of(cls, name: str):
        """Files by path run in the ``mace`` environment; the seeded controls run here."""
        return None if name in cls.variants else cls.environment

    @classmethod
    def static_card(cls, name: str):
        if name in cls.variants:
            return super().static_card(name)
        return cls.path_card(name, "see the model file's licence", ("mace-torch", "e3nn"), mirror="unknown")

    def __init__(self, name: str = "mace-dummy", device: str = "cpu"):
        super().__init__(device)
        import mace  # noqa: F401 - before e3nn: see build_dummy
        from e3nn import o3

        if name in self.variants:
            init = self.variants[name].weights
            self.model = build_dummy(init=init)
            source, digest, trained = f"built by mace-torch, seed {DUMMY_SEED}, init {init}", None, False
        elif name.startswith("mace:"):
            path = Path(name.removeprefix("mace:")).expanduser()
            self.model = load_file(path)
            source, digest, trained = str(path.resolve()), sha256_file(path), True
        else:
            raise ValueError(f"unknown MACE model {name!r}; use {', '.join(self.variants)} or 'mace:/path/to/file.model'")
        self.model = self.model.to(device)
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.dtype = next(self.model.parameters()).dtype
        irreps = o3.Irreps(str(self.model.products[-1].linear.irreps_out))
        self.n_scalars = sum(mul for mul, ir in irreps if ir.l == 0 and ir.p == 1)
        self.numbers = [int(z) for z in self.model.atomic_numbers]
        self.r_max = float(self.model.r_max)
        self.heads = list(getattr(self.model, "heads", None) or ["Default"])
        static = self.static_card(name)
        self.card = self._card(
            name,
            dim=self.n_scalars,
            weights_source=source,
            licence=static.licence,
            trained=trained,
            weights_sha256=digest,
            package_versions=package_versions("mace-torch", "e3nn"),
            notes="; ".join(filter(None, [static.notes, f"dtype {str(self.dtype).removeprefix('torch.')}; "
                                          f"r_max {self.r_max} Å"])),
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
                f"MACE file {path} loaded but its forward pass failed: {type(exc).__name__}: {exc}. {_e3nn_remedy()}"
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
        return self.split_rows(out["node_feats"][:, -self.n_scalars :], structures)

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
