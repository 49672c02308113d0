"""The pipeline stages on an embedding store, each writing its results under ``<store>/results``.

One function per stage; the CLI verbs (`platonic anchors`, `project`, `compare`) and
`platonic run` both call these, so a study and a hand-run sequence of verbs leave the same files:

``results/anchors.csv`` (+ ``.json``), ``anchor_diversity.csv``, ``k_sweep.csv`` (+ ``k_sweep_anchors.csv``),
``unified/<model>.npy``, ``metrics.csv``/``.parquet``, ``intrinsic_dimension.csv``,
``figures/heatmap_<metric>_<space>.png``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd


def results_dir(store) -> Path:
    return Path(store.root) / "results"


def unified_paths(store, models: Sequence[str]) -> dict[str, Path]:
    return {m: results_dir(store) / "unified" / f"{m.replace(':', '_').replace('/', '_')}.npy" for m in models}


def anchor_stage(store, reference: str, k: int, method: str, seed: int, models: Sequence[str] | None = None,
                 diversity: bool = True) -> dict[str, pd.DataFrame]:
    """Pick the anchors (and tabulate DIRECT vs random diversity); returns the tables written."""
    from platonic.anchors import diversity_table
    from platonic.anchors.from_store import choose_anchors, common_rows, save_anchors

    models = list(models or store.models())
    anchors = choose_anchors(store, reference, k=k, method=method, seed=seed, models=models)
    save_anchors(anchors, results_dir(store) / "anchors.csv")
    tables = {"anchors": anchors}
    if diversity:
        X = store.load(reference)[common_rows(store, models)]
        tables["anchor_diversity"] = diversity_table(X, k, methods=("direct", "random"), seeds=(0, 42, 12345))
        tables["anchor_diversity"].to_csv(results_dir(store) / "anchor_diversity.csv", index=False)
    return tables


def sweep_stage(store, reference: str, method: str, seed: int, models: Sequence[str] | None = None) -> pd.DataFrame:
    """The K sweep 3..400 (as many Ks as there are common atoms) on every model."""
    from platonic.anchors.from_store import common_rows
    from platonic.project import DEFAULT_KS, k_sweep

    models = list(models or store.models())
    valid = common_rows(store, models)
    embeddings = {m: store.load(m)[valid] for m in [reference] + [m for m in models if m != reference]}
    ks = [k for k in DEFAULT_KS if k <= int(valid.sum())]
    table = k_sweep(embeddings, ks=ks, method=method, seed=seed, reference=reference)
    table.to_csv(results_dir(store) / "k_sweep.csv", index=False)
    # the anchors of every K, as store rows: the unified maps of the analyse stage reuse them
    rows = np.flatnonzero(valid)
    pd.DataFrame([{"k": k, "anchor": i, "row": int(rows[r]), "method": method, "seed": seed, "reference": reference}
                  for k, chosen in table.attrs["anchors"].items() for i, r in enumerate(chosen)]
                 ).to_csv(results_dir(store) / "k_sweep_anchors.csv", index=False)
    return table


def project_stage(store, models: Sequence[str] | None = None) -> dict[str, Path]:
    """Every model into the unified space of the saved anchors."""
    from platonic.anchors.from_store import load_anchors
    from platonic.project.from_store import project_store

    anchors = load_anchors(results_dir(store) / "anchors.csv")
    return project_store(store, anchors["row"].to_numpy(), results_dir(store) / "unified", list(models or store.models()))


def compare_stage(store, models: Sequence[str], metrics: Sequence[str], spaces: Sequence[str], seed: int = 0,
                  twonn_atoms: int = 20000, **options) -> dict[str, object]:
    """Metric matrices (+ heatmaps) and the TwoNN table; ``options`` go to ``compare_store``."""
    from platonic.compare.from_store import compare_store, intrinsic_dimensions, save_heatmaps

    out = results_dir(store)
    unified = unified_paths(store, models)
    if "unified" in spaces and not all(p.exists() for p in unified.values()):
        raise FileNotFoundError(f"no unified matrices in {out / 'unified'} for every model: "
                                "run `platonic anchors` and `platonic project`")
    table = compare_store(store, unified, models, metrics, spaces, seed=seed, **options)
    table.to_csv(out / "metrics.csv", index=False)
    table.to_parquet(out / "metrics.parquet", index=False)
    written: dict[str, object] = {"metrics": table, "heatmaps": save_heatmaps(table, out / "figures")}
    if twonn_atoms:
        dims = intrinsic_dimensions(store, unified, models, spaces, n_atoms=twonn_atoms, seed=seed)
        dims.to_csv(out / "intrinsic_dimension.csv", index=False)
        written["intrinsic_dimension"] = dims
    return written


def k_sweep_convergence(table: pd.DataFrame) -> pd.Series:
    """Mean over models of the Procrustes similarity to the previous K, per K."""
    return table[table.measure == "procrustes_vs_previous_k"].groupby("k")["value"].mean()



def control_models(store, models: Sequence[str]) -> list[str]:
    """The models whose card says they are untrained (the random-weight controls)."""
    return [m for m in models if not store.card(m)["card"].get("trained", True)]


def analyse_stage(store, models: Sequence[str], reference: str, chemistry: bool = True, arithmetic: bool = True,
                  seed: int = 0, device: str = "cpu", maps: bool = False, norms: bool = False) -> dict[str, Path]:
    """Chemistry (element maps, coherence, trajectories, cumulants) and embedding arithmetic, into
    ``results/analyse/``; ``maps``: anchors on the reference map, unified maps vs K and their
    diversity (:mod:`platonic.analyse.unified_maps`); ``norms``: norm scaling across materials
    (:mod:`platonic.analyse.norm_scaling`)."""
    from platonic.analyse.arithmetic import UnifiedSpace, arithmetic_table
    from platonic.analyse.chemistry import analyse_chemistry
    from platonic.anchors.from_store import load_anchors

    models = list(models)
    if reference not in models:
        raise ValueError(f"[analyse] reference {reference!r} is not among the study's models {models}")
    out = results_dir(store) / "analyse"
    controls = control_models(store, models)
    written: dict[str, Path] = {}
    if chemistry:
        written |= analyse_chemistry(unified_paths(store, models), store.atom_table(), out,
                                     raw={m: store.load(m) for m in models}, models=models, reference=reference,
                                     control=controls[0] if controls else None, seed=seed)
    if arithmetic:
        space = UnifiedSpace.from_store(store, load_anchors(results_dir(store) / "anchors.csv"), models, device=device)
        written |= {f"arithmetic_{k}": v for k, v in arithmetic_table(space, reference, out, models).items()}
    if maps:
        from platonic.analyse.unified_maps import maps_report

        written |= maps_report(store, models, out, load_anchors(results_dir(store) / "anchors.csv"), seed=seed,
                               sweep_anchors=results_dir(store) / "k_sweep_anchors.csv")
    if norms:
        from platonic.analyse.norm_scaling import norm_scaling_report

        written |= norm_scaling_report(store, unified_paths(store, models), models, reference, out)
    return written


def diagnose_stage(store, models: Sequence[str], control: bool = True, equivariance: bool = True,
                   rotation: bool = True, rotations: int = 10, drift: bool = True, dimers: bool = True,
                   atypical: bool = True, top: int = 20, seed: int = 0, device: str = "cpu") -> dict[str, Path]:
    """The diagnostics, into ``results/diagnose/``; ``control`` reads the chemistry and compare tables."""
    from platonic.anchors.from_store import load_anchors
    from platonic.diagnose.atypical import atypical_report
    from platonic.diagnose.drift import DEFAULT_DRIFT_PAIRS, drift_report
    from platonic.diagnose.equivariance import equivariance_report
    from platonic.diagnose.rotation import rotation_report

    models = list(models)
    out = results_dir(store) / "diagnose"
    unified = unified_paths(store, models)
    written: dict[str, Path] = {}
    if control:
        written |= control_stage(store, models, out)
    if equivariance:
        written |= {f"equivariance_{k}": v for k, v in equivariance_report(store, unified, models, out).items()}
    if rotation:
        report = rotation_report(models, out, n_rotations=rotations, seed=seed, store=store,
                                 anchors=load_anchors(results_dir(store) / "anchors.csv"), device=device)
        written |= {f"rotation_{k}": v for k, v in report.items()}
    if drift:
        pairs = [pair for pair in DEFAULT_DRIFT_PAIRS if set(pair) <= set(models)]
        if pairs:
            written |= drift_report(store, unified, out, pairs=pairs, dimers=dimers, seed=seed, device=device)
    if atypical:
        written |= atypical_report(store, unified, models, out, top=top)
    return written


def control_stage(store, models: Sequence[str], out: Path) -> dict[str, Path]:
    """The random-weight control against the trained models (needs the chemistry and compare tables)."""
    from platonic.diagnose.control import agreement_summary, coherence_summary, control_verdict, plot_control

    controls = control_models(store, models)
    if not controls:
        raise ValueError(f"[diagnose] control = true but no model among {list(models)} is a random-weight control")
    sources = {"coherence": results_dir(store) / "analyse" / "group_coherence.csv",
               "metrics": results_dir(store) / "metrics.csv"}
    absent = [str(p) for p in sources.values() if not p.exists()]
    if absent:
        raise FileNotFoundError(f"the control diagnostic needs {absent}: run `platonic analyse` and `platonic compare`")
    coherence = coherence_summary(pd.read_csv(sources["coherence"]), controls)
    agreement = agreement_summary(pd.read_csv(sources["metrics"]), controls)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"control_coherence": out / "control_coherence.csv", "control_agreement": out / "control_agreement.csv",
             "control_verdict": out / "control_verdict.csv", "control_figure": out / "control.png"}
    coherence.to_csv(paths["control_coherence"], index=False)
    agreement.to_csv(paths["control_agreement"], index=False)
    control_verdict(coherence, agreement).to_csv(paths["control_verdict"], index=False)
    plot_control(coherence, agreement).savefig(paths["control_figure"], dpi=110)
    return paths
