"""Fine-tune CHGNet on a labelled set with the chgnet package's own ``Trainer``.

Seeded: ``torch.manual_seed``, python's ``random`` (chgnet's ``StructureData`` shuffles with it) and
the data loader's generator all take ``seed``; CPU training with the same torch build and thread
count then repeats to float rounding.
"""

from __future__ import annotations

import contextlib
import io
import random
import tempfile
from dataclasses import dataclass
from typing import Any

import numpy as np

from platonic.finetune.data import FinetuneDataError, LabelledSet


@dataclass
class TrainResult:
    model: Any  # chgnet.model.CHGNet, in eval mode
    history: dict  # target -> {"train": [...], "val": [...]} MAEs per epoch
    log: str  # what the Trainer printed


def finetune_chgnet(data: LabelledSet, parent: str = "0.3.0", epochs: int = 4, learning_rate: float = 1e-3,
                    batch_size: int = 8, val_fraction: float = 0.1, seed: int = 0) -> TrainResult:
    """Fine-tune CHGNet ``parent`` on ``data`` (energies and forces, MSE loss, Adam, cosine LR).

    The composition model (per-element reference energies) stays frozen, as chgnet's default;
    ``val_fraction`` of the cells (seeded) are held out for the Trainer's per-epoch validation.
    Returns the trained model (eval mode), the MAE history and the Trainer's printed log.
    """
    import torch
    from chgnet.data.dataset import StructureData, collate_graphs
    from chgnet.model import CHGNet
    from chgnet.trainer import Trainer
    from pymatgen.io.ase import AseAtomsAdaptor
    from torch.utils.data import DataLoader, Subset

    if len(data) < 4:
        raise FinetuneDataError(f"fine-tuning needs at least 4 labelled structures, got {len(data)}")
    if epochs < 1 or batch_size < 1 or not 0 < val_fraction < 1:
        raise FinetuneDataError(f"epochs and batch_size must be >= 1 and val_fraction in (0, 1), got "
                                f"{epochs}, {batch_size}, {val_fraction}")
    random.seed(seed)
    torch.manual_seed(seed)
    log = io.StringIO()
    with contextlib.redirect_stdout(log):
        model = CHGNet.load(model_name=parent, use_device="cpu", verbose=False)
        dataset = StructureData(structures=[AseAtomsAdaptor.get_structure(a) for a in data.structures],
                                energies=list(data.energies_per_atom), forces=[f.tolist() for f in data.forces],
                                shuffle=False, graph_converter=model.graph_converter)
        order = np.random.default_rng(seed).permutation(len(data))
        n_val = max(1, int(round(val_fraction * len(data))))
        loader = lambda rows, shuffle: DataLoader(Subset(dataset, rows.tolist()), batch_size=batch_size,  # noqa: E731
                                                  shuffle=shuffle, collate_fn=collate_graphs,
                                                  generator=torch.Generator().manual_seed(seed))
        trainer = Trainer(model=model, targets="ef", optimizer="Adam", scheduler="CosLR", criterion="MSE",
                          epochs=epochs, learning_rate=learning_rate, use_device="cpu", print_freq=10_000,
                          torch_seed=seed, data_seed=seed)
        with tempfile.TemporaryDirectory() as checkpoints:
            trainer.train(loader(order[n_val:], True), loader(order[:n_val], False), save_dir=checkpoints)
    model = trainer.model.eval()
    return TrainResult(model=model, history={k: dict(v) for k, v in trainer.training_history.items()},
                       log=log.getvalue())
