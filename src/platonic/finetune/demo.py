"""``platonic finetune-demo``: fine-tune CHGNet 0.3.0 on Cu naively and with replay, then diagnose
both against the parent (Li & Walsh Fig 5a-e and S8, CPU-sized).

Labels come from SevenNet-0 standing in for DFT: the fine-tunes learn SevenNet-0's Cu, not DFT's.

Steps (timed, wall and CPU, in ``summary.json``):

1. ``n_cu`` Cu cells (:func:`platonic.finetune.data.cu_cells`) and ``n_replay`` MP-20 training
   structures without Cu (:func:`~platonic.finetune.data.replay_structures`), labelled by the
   labeller.
2. Two fine-tunes of the parent with chgnet's Trainer (:func:`platonic.finetune.train.finetune_chgnet`),
   same seed and hyper-parameters: **naive** on the Cu cells only, **replay** on the Cu cells plus
   the replay structures.
3. Embeddings of an evaluation set of MP-20 validation structures (every one with Au or Cu up to
   ``n_eval_per_element`` each, plus ``n_eval_other`` others) by the parent and both fine-tunes
   (the parent's adapter with the fine-tuned weights loaded: the same layer), and K DIRECT
   anchors chosen on the parent's embeddings of these atoms.
4. The drift diagnostics of :mod:`platonic.diagnose.drift` for parent -> naive and parent ->
   replay: per-element displacement in the unified space, raw-norm ratio per element (Au's
   collapse), Cu-Cu and Au-Au dimer curves (labeller included as the reference), and fcc Cu and
   Au phonons (:mod:`platonic.finetune.phonons`) with imaginary modes flagged.
"""

from __future__ import annotations

import json
import resource
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from platonic.errors import PlatonicError

STAND_IN_NOTE = ("labels are {labeller} predictions standing in for DFT, not DFT: the fine-tunes learn "
                 "{labeller}'s Cu")


#: Dimer distances (Å): 1.6 to 5.0 in steps of 0.1, coarser than the study's drift grid (the
#: demo evaluates four calculators on two dimers).
DIMER_DISTANCES = np.round(np.arange(1.6, 5.0 + 1e-9, 0.1), 4)


class DemoError(PlatonicError, ValueError):
    """Bad settings for the fine-tuning demo."""


@dataclass
class DemoConfig:
    parent: str = "chgnet-0.3.0"
    labeller: str = "sevennet-0"
    n_cu: int = 240
    n_replay: int = 240
    epochs: int = 4
    learning_rate: float = 1e-3
    batch_size: int = 8
    n_eval_per_element: int = 25
    n_eval_other: int = 100
    k: int = 50
    dimers: bool = True
    phonons: bool = True
    supercell: int = 3
    seed: int = 0


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class _Clock:
    def __init__(self, log: Callable[[str], None]):
        self.log = log
        self.steps: list[dict] = []

    def step(self, name: str, work: Callable[[], Any]) -> Any:
        self.log(f"{name} ...")  # a start line: the long steps (labelling, training) run for minutes
        wall, cpu = time.perf_counter(), _cpu_seconds()
        result = work()
        record = {"step": name, "wall_s": time.perf_counter() - wall, "cpu_s": _cpu_seconds() - cpu}
        self.steps.append(record)
        self.log(f"{name}: {record['wall_s']:.1f} s wall, {record['cpu_s']:.1f} s CPU")
        return result


def evaluation_structures(n_per_element: int, n_other: int, seed: int, elements=("Au", "Cu")):
    """MP-20 validation structures: up to ``n_per_element`` holding each of ``elements`` (seeded),
    then ``n_other`` without them; returns (structures, their ids)."""
    from platonic.datasets import load

    data = load("mp20", split="val")
    order = np.random.default_rng(seed).permutation(len(data))
    symbols = [set(data.structures[int(i)].get_chemical_symbols()) for i in order]
    chosen: list[int] = []
    for element in elements:
        chosen += [int(i) for i, s in zip(order, symbols) if element in s and int(i) not in chosen][:n_per_element]
    chosen += [int(i) for i, s in zip(order, symbols) if not s & set(elements)][:n_other]
    return [data.structures[i] for i in chosen], [data.ids[i] for i in chosen]


def _embed(adapter, structures, batch: int = 16) -> list[np.ndarray | None]:
    from platonic.models import UnsupportedStructureError

    out: list[np.ndarray | None] = []
    for atoms in structures:
        try:
            out.append(adapter.embed([atoms])[0])
        except UnsupportedStructureError:
            out.append(None)
    return out


def run_demo(out: str | Path, config: DemoConfig | None = None, log: Callable[[str], None] = print) -> dict:
    """Run the whole demo into ``out``; returns the summary (also ``out/summary.json``)."""
    from chgnet.model.dynamics import CHGNetCalculator

    from platonic.anchors import select_anchors
    from platonic.diagnose.drift import (dimer_curves, dimer_minima, element_displacement, norm_ratios,
                                         plot_dimer_curves, plot_element_displacement, plot_norm_ratios)
    from platonic.finetune.data import cu_cells, label, replay_structures
    from platonic.finetune.phonons import phonon_table, plot_phonons
    from platonic.models import load_model
    from platonic.project import PlatonicTransform

    config = config or DemoConfig()
    if not config.parent.startswith("chgnet-"):
        raise DemoError(f"the demo fine-tunes a CHGNet checkpoint (chgnet's Trainer); got parent {config.parent!r}")
    if config.labeller == config.parent:
        raise DemoError("the labeller must be a different model from the parent")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    clock = _Clock(log)
    note = STAND_IN_NOTE.format(labeller=config.labeller)
    log(f"finetune-demo: {note}")
    wall0, cpu0 = time.perf_counter(), _cpu_seconds()

    labeller = clock.step("load labeller", lambda: load_model(config.labeller).calculator())

    def make_data():
        cells, kinds = cu_cells(config.n_cu, config.seed)
        cu = label(cells, kinds, labeller, config.labeller)
        replay = replay_structures(config.n_replay, config.seed) if config.n_replay else []
        return cu, label(replay, ["replay"] * len(replay), labeller, config.labeller)

    cu, replay = clock.step("build and label data", make_data)
    train = dict(epochs=config.epochs, learning_rate=config.learning_rate, batch_size=config.batch_size, seed=config.seed)
    variant = config.parent.removeprefix("chgnet-")
    naive = clock.step("fine-tune naive", lambda: _cached_finetune(out / "naive", cu, variant, config, train))
    mixed = clock.step("fine-tune replay", lambda: _cached_finetune(out / "replay", cu + replay, variant, config, train))
    names = {"naive": f"{config.parent}-ft-naive", "replay": f"{config.parent}-ft-replay"}

    def embed_all():
        structures, ids = evaluation_structures(config.n_eval_per_element, config.n_eval_other, config.seed)
        adapter = load_model(config.parent)
        parent_state = {k: v.clone() for k, v in adapter.model.state_dict().items()}
        embeddings = {config.parent: _embed(adapter, structures)}
        for key, result in (("naive", naive), ("replay", mixed)):
            adapter.model.load_state_dict(result.model.state_dict())
            embeddings[names[key]] = _embed(adapter, structures)
        adapter.model.load_state_dict(parent_state)
        keep = [i for i in range(len(structures)) if all(e[i] is not None for e in embeddings.values())]
        raw = {m: np.vstack([e[i] for i in keep]) for m, e in embeddings.items()}
        elements = np.concatenate([structures[i].get_chemical_symbols() for i in keep])
        return raw, elements, [ids[i] for i in keep], len(structures) - len(keep)

    raw, elements, eval_ids, skipped = clock.step("embed evaluation set", embed_all)
    anchors = select_anchors(raw[config.parent], config.k, "direct", config.seed)
    z = {m: PlatonicTransform(anchor_rows=anchors).fit(X).transform(X) for m, X in raw.items()}
    displacement, ratios = [], []
    for key in ("naive", "replay"):
        pair = f"{config.parent} -> {names[key]}"
        displacement.append(element_displacement(z[config.parent], z[names[key]], elements).assign(pair=pair))
        ratios.append(norm_ratios(raw[config.parent], raw[names[key]], elements).assign(pair=pair))
    displacement = pd.concat(displacement, ignore_index=True)
    ratios = pd.concat(ratios, ignore_index=True)
    paths = {"displacement": out / "displacement.csv", "norm_ratio": out / "norm_ratio.csv"}
    displacement.to_csv(paths["displacement"], index=False)
    ratios.to_csv(paths["norm_ratio"], index=False)
    _save(plot_element_displacement(displacement), out / "displacement.png")
    _save(plot_norm_ratios(ratios), out / "norm_ratio.png")
    _save(plot_cu_au_map(z, elements, config.parent, names), out / "cu_au_map.png")

    calculators = {config.parent: load_model(config.parent).calculator(),
                   names["naive"]: CHGNetCalculator(model=naive.model, use_device="cpu"),
                   names["replay"]: CHGNetCalculator(model=mixed.model, use_device="cpu"),
                   f"{config.labeller} (labeller)": labeller}
    minima = phonon_summary = None
    if config.dimers:
        curves = clock.step("dimer curves", lambda: dimer_curves(list(calculators), ("Cu", "Au"), DIMER_DISTANCES,
                                                                 calculators=calculators))
        minima = dimer_minima(curves)
        curves.to_csv(out / "dimer_curves.csv", index=False)
        minima.to_csv(out / "dimer_minima.csv", index=False)
        _save(plot_dimer_curves(curves, minima), out / "dimers.png")
    if config.phonons:
        bands, phonon_summary = clock.step("phonons", lambda: phonon_table(calculators, ("Cu", "Au"), config.supercell))
        bands.to_csv(out / "phonon_bands.csv", index=False)
        phonon_summary.to_csv(out / "phonons.csv", index=False)
        _save(plot_phonons(bands, phonon_summary), out / "phonons.png")

    outcome = outcome_table(displacement, ratios, minima, phonon_summary, config.parent, names)
    outcome.to_csv(out / "outcome.csv", index=False)
    summary = {
        "note": note,
        "config": asdict(config),
        "data": {"cu_cells": len(cu), "cu_atoms": int(sum(len(a) for a in cu.structures)),
                 "cu_kinds": pd.Series(cu.kinds).value_counts().to_dict(), "replay_structures": len(replay),
                 "replay_elements": sorted(replay.elements()), "au_in_replay": "Au" in replay.elements(),
                 "evaluation_structures": len(eval_ids), "evaluation_atoms": int(elements.size),
                 "evaluation_skipped": skipped, "evaluation_ids": eval_ids},
        "training": {"naive": naive.history, "replay": mixed.history},
        "outcome": outcome.to_dict(orient="records"),
        "timings": clock.steps,
        "total_wall_s": time.perf_counter() - wall0,
        "total_cpu_s": _cpu_seconds() - cpu0,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=_json_default))
    log(f"finetune-demo: {summary['total_wall_s']:.0f} s wall, {summary['total_cpu_s']:.0f} s CPU; {out / 'outcome.csv'}")
    return summary


def _training_key(config: DemoConfig) -> str:
    import hashlib

    fields = ("parent", "labeller", "n_cu", "n_replay", "epochs", "learning_rate", "batch_size", "seed")
    return hashlib.sha256(json.dumps({f: getattr(config, f) for f in fields}, sort_keys=True).encode()).hexdigest()[:16]


def _cached_finetune(stem: Path, data, variant: str, config: DemoConfig, train: dict):
    """Fine-tune, or reload the weights a previous run with the same training settings saved
    (``<stem>.pt`` + ``<stem>.json``), so a re-run redoes only the diagnostics."""
    import torch

    from platonic.finetune.train import TrainResult, finetune_chgnet

    key = _training_key(config)
    weights, meta = stem.with_suffix(".pt"), stem.with_suffix(".json")
    if weights.exists() and meta.exists() and json.loads(meta.read_text()).get("key") == key:
        from chgnet.model import CHGNet

        model = CHGNet.load(model_name=variant, use_device="cpu", verbose=False)
        model.load_state_dict(torch.load(weights, map_location="cpu"))
        saved = json.loads(meta.read_text())
        return TrainResult(model=model.eval(), history=saved["history"], log="reused " + str(weights))
    result = finetune_chgnet(data, variant, **train)
    torch.save(result.model.state_dict(), weights)
    meta.write_text(json.dumps({"key": key, "history": result.history}, default=_json_default))
    return result


def _json_default(value):
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    return str(value)


def outcome_table(displacement: pd.DataFrame, ratios: pd.DataFrame, minima: pd.DataFrame | None,
                  phonons: pd.DataFrame | None, parent: str, names: dict[str, str]) -> pd.DataFrame:
    """One row per (model, element in Cu, Au): the numbers the demo is about.

    ``norm_ratio`` (raw mean norm, fine-tuned / parent: < 1 = collapse toward the origin),
    ``relative_to_global`` (unified-space centroid shift / global spread), the dimer's ``r_eq`` and
    ``well_depth``, and the fcc phonons' ``min_frequency`` and ``imaginary`` flag.
    """
    records = []
    for model in [parent, *names.values()]:
        for element in ("Cu", "Au"):
            row: dict[str, Any] = {"model": model, "element": element}
            if model != parent:
                pair = f"{parent} -> {model}"
                r = ratios[(ratios.pair == pair) & (ratios.element == element)]
                d = displacement[(displacement.pair == pair) & (displacement.element == element)]
                row["norm_ratio"] = float(r["norm_ratio"].iloc[0]) if len(r) else np.nan
                row["relative_to_global"] = float(d["relative_to_global"].iloc[0]) if len(d) else np.nan
            if minima is not None:
                m = minima[(minima.model == model) & (minima.dimer == f"{element}-{element}")]
                row["dimer_r_eq"] = float(m["r_eq"].iloc[0])
                row["dimer_well_depth"] = float(m["well_depth"].iloc[0])
            if phonons is not None:
                p = phonons[(phonons.model == model) & (phonons.element == element)]
                row["lattice_constant"] = float(p["lattice_constant"].iloc[0])
                row["phonon_min_frequency"] = float(p["min_frequency"].iloc[0])
                row["phonon_imaginary"] = bool(p["imaginary"].iloc[0])
            records.append(row)
    return pd.DataFrame(records)


def plot_cu_au_map(z: dict[str, np.ndarray], elements: np.ndarray, parent: str, names: dict[str, str]):
    """Fig 5a-c: Cu (stars) and Au (crosses) atoms on the parent's unified-space PCA, with arrows
    from each parent position to the same atom under each fine-tune."""
    from sklearn.decomposition import PCA

    from platonic.plotting import subplots

    pca = PCA(n_components=2, svd_solver="full").fit(z[parent])
    base = pca.transform(z[parent])
    fig, axes = subplots(1, len(names), figsize=(5.2 * len(names), 4.4), squeeze=False, sharex=True, sharey=True)
    for ax, (key, model) in zip(axes[0], names.items()):
        moved = pca.transform(z[model])
        ax.scatter(base[:, 0], base[:, 1], s=2, c="lightgrey", linewidths=0)
        for element, marker, colour in (("Cu", "*", "tab:orange"), ("Au", "x", "tab:purple")):
            rows = np.flatnonzero(elements == element)
            ax.scatter(base[rows, 0], base[rows, 1], marker=marker, c=colour, s=30, label=f"{element} parent")
            for i in rows:
                ax.annotate("", xy=moved[i], xytext=base[i], arrowprops={"arrowstyle": "->", "color": colour, "lw": 0.6})
        ax.set_title(f"{key} fine-tune: parent -> {model}", fontsize=9)
        ax.set_xlabel("PC1 of the parent's unified space")
        ax.legend(fontsize=7)
    axes[0, 0].set_ylabel("PC2")
    fig.tight_layout()
    return fig


def _save(fig, path: Path) -> Path:
    from platonic.plotting import save

    return save(fig, path, dpi=110)
