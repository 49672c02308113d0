"""Export a study to chemiscope: structures with per-atom maps of every model's unified space.

The file (``.json.gz``, chemiscope's input format, built and validated by the chemiscope package)
holds the study's structures and, per atom:

* ``element`` and ``periodic group``;
* for every model, ``<model> PC1`` / ``<model> PC2``: the atom's unified-space vector on the first
  two principal components of *all* models' unified vectors together (one PCA, fitted on every
  model's rows stacked, so the maps of different models share axes and can be compared);
* ``model spread``: the root-mean-square distance of the trained models' unified vectors from
  their mean for that atom (how much the trained models disagree about this atom);

and per structure ``formula``, ``space group``, and, when the study has it, ``atypicality``
(``results/atypical.csv``). Atoms of structures that some model rejected carry NaN there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd


def shared_pca_maps(unified: dict[str, np.ndarray], n_components: int = 2, fit_rows: int = 50000,
                    seed: int = 0) -> dict[str, np.ndarray]:
    """Each model's rows on the principal axes of all models' finite rows stacked (a seeded subset of
    at most ``fit_rows`` rows per model fits the PCA)."""
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(seed)
    fit = []
    for z in unified.values():
        finite = np.flatnonzero(np.isfinite(z).all(axis=1))
        fit.append(z[rng.choice(finite, size=min(fit_rows, finite.size), replace=False)])
    pca = PCA(n_components=n_components, svd_solver="full").fit(np.vstack(fit))
    maps = {}
    for name, z in unified.items():
        out = np.full((len(z), n_components), np.nan)
        finite = np.isfinite(z).all(axis=1)
        out[finite] = pca.transform(z[finite])
        maps[name] = out
    return maps


def model_spread(unified: dict[str, np.ndarray]) -> np.ndarray:
    """Per atom: sqrt(mean over models of ||z_m - mean_m z_m||^2)."""
    stack = np.stack(list(unified.values()))
    return np.sqrt(((stack - stack.mean(axis=0)) ** 2).sum(axis=2).mean(axis=0))


def write_chemiscope(path: str | Path, structures: Sequence, atom_table: pd.DataFrame, unified: dict[str, np.ndarray],
                     trained: Sequence[str], atypicality: pd.Series | None = None, title: str = "platonic study",
                     cutoff: float = 3.5) -> Path:
    """Write the chemiscope file (``.json.gz``); chemiscope's ``write_input`` validates every field."""
    import chemiscope

    from platonic.analyse.elements import PERIODIC_GROUP_LABELS

    n_atoms = sum(len(s) for s in structures)
    if len(atom_table) != n_atoms:
        raise ValueError(f"the atom table has {len(atom_table)} rows but the structures {n_atoms} atoms")
    for name, z in unified.items():
        if len(z) != n_atoms:
            raise ValueError(f"unified matrix of {name} has {len(z)} rows, the structures {n_atoms} atoms")
    maps = shared_pca_maps(unified)
    properties = {
        "element": {"target": "atom", "values": atom_table["element"].astype(str).tolist()},
        "periodic group": {"target": "atom",
                           "values": atom_table["element"].map(PERIODIC_GROUP_LABELS).fillna("other").tolist()},
    }
    for name, xy in maps.items():
        for i in range(xy.shape[1]):
            properties[f"{name} PC{i + 1}"] = {"target": "atom", "values": xy[:, i],
                                               "description": f"{name}: unified-space vector on shared PC{i + 1}"}
    if len(trained) >= 2:
        properties["model spread"] = {"target": "atom", "values": model_spread({m: unified[m] for m in trained}),
                                      "description": "RMS distance of the trained models' unified vectors from their mean"}
    per_structure = atom_table.drop_duplicates("structure_index").sort_values("structure_index")
    properties["formula"] = {"target": "structure", "values": per_structure["formula"].astype(str).tolist()}
    properties["space group"] = {"target": "structure", "values": per_structure["spacegroup_number"].to_numpy(dtype=float)}
    if atypicality is not None:
        ids = per_structure["structure_id"].astype(str).to_numpy()
        by_id = atypicality.set_axis(atypicality.index.astype(str))
        unmatched = np.setdiff1d(ids, by_id.index.to_numpy())
        if unmatched.size:
            raise ValueError(f"atypicality has no score for {unmatched.size} of {ids.size} structures "
                             f"(first: {unmatched[0]!r}); it does not belong to these structures")
        values = by_id.reindex(ids).to_numpy(dtype=float)
        properties["atypicality"] = {"target": "structure", "values": values,
                                     "description": "disagreement with the cross-model consensus (results/atypical.csv)"}
    first = next(iter(maps))
    settings = {"map": {"x": {"property": f"{first} PC1"}, "y": {"property": f"{first} PC2"},
                        "color": {"property": "periodic group"}}}
    path = Path(path)
    if not path.name.endswith((".json", ".json.gz")):
        raise ValueError(f"{path}: a chemiscope file ends in .json or .json.gz")
    path.parent.mkdir(parents=True, exist_ok=True)
    chemiscope.write_input(
        str(path),
        structures=list(structures),
        metadata={"name": title, "description": f"{len(structures)} structures, {n_atoms} atoms, "
                  f"{len(unified)} models; maps: shared PCA of the unified (anchor-cosine) space"},
        properties=properties,
        environments=chemiscope.all_atomic_environments(list(structures), cutoff=cutoff),
        settings=settings,
    )
    return path
