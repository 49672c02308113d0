"""The study report: every stage's results of one `platonic run`, figure by figure, in one HTML file.

Reads what the stages wrote under ``<store>/results`` and ``<study>/manifest.json``; draws the
figures that the stages leave as tables; writes ``<study>/report.html`` (self-contained) and the
figures as PNG beside the stage figures. A section whose inputs are absent lists them as missing.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np
import pandas as pd

from platonic.report.html import Section, write_report

GUIDES = {
    "overview": "What was run: the dataset sample, the models (with the layer each embedding is read from), "
                "and how long each stage took. Every number below rests on these atoms and these weights; "
                "manifest.json has the package versions, weights hashes and seeds.",
    "raw": "Each model's own embedding space, before any alignment: the atoms on the first two principal "
           "components of that model, coloured by periodic group. Axes are not comparable between panels; "
           "what is comparable is whether chemically alike atoms cluster. The random-weight MACE control shows "
           "what no learning looks like.",
    "anchors": "The unified space is built from K anchor atoms (the same atoms for every model). DIRECT spreads "
               "the anchors over the reference model's space: higher mean pairwise distance than random anchors "
               "means better coverage. The K sweep shows how much the unified space still changes when anchors "
               "are added (Procrustes similarity to the previous K; 1 = converged) and how much models agree at "
               "each K.",
    "metrics": "Model x model similarity in the unified space (cosines to the anchors), where every model has the "
               "same axes. Procrustes, CKA and mutual-kNN: 1 = same geometry; ScoreOT: 0 = same distribution "
               "(lower is closer); SuperScore = (Procrustes + mKNN)/2 x exp(-ScoreOT) combines them. Read rows "
               "against the random control: a trained pair should score far above any pair with the control.",
    "raw_metrics": "The same metrics on the raw embeddings (widths differ, so OT and SuperScore are not defined). "
                   "Raw and unified agreeing says the unified space kept each model's geometry.",
    "reconstruction": "Global feature reconstruction error GFRE(X -> Y): how badly a linear map from model X "
                      "(row) predicts model Y (column) on held-out atoms; 0 = Y is a linear function of X, about 1 "
                      "= nothing predictable. Asymmetric: a richer X reconstructs a poorer Y, not the reverse. "
                      "GFRD: the distortion of the best orthogonal map; LFRE: the same with local maps around "
                      "each atom.",
    "intrinsic": "TwoNN intrinsic dimension of each model's atom cloud: the number of directions the data "
                 "really varies along. Near-duplicate atoms (symmetry-equivalent sites) are merged first at the "
                 "stated tolerance, on which the estimate depends.",
}


def _save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _read_csv(path: Path) -> pd.DataFrame | None:
    return pd.read_csv(path) if path.exists() else None


def _overview(manifest: dict, store) -> Section:
    section = Section("overview", "Study", GUIDES["overview"])
    cards = {m: store.card(m)["card"] for m in manifest["models"]}
    models = pd.DataFrame([{"model": m, "family": c.get("family"), "layer": c.get("layer"), "d": c.get("dim"),
                            "trained": c.get("trained", True), "training data": c.get("training_data")}
                           for m, c in cards.items()])
    stages = pd.DataFrame(manifest["stages"])[["name", "ran", "seconds", "summary"]]
    section.tables += [("Models", models, None), ("Stages", stages, None)]
    return section


def _element_groups(store) -> np.ndarray:
    from platonic.analyse.elements import PERIODIC_GROUP_LABELS

    return store.atom_table()["element"].map(PERIODIC_GROUP_LABELS).fillna("other").to_numpy()


def study_sections(study: Path, store, figures: Path) -> list[Section]:
    manifest = json.loads((study / "manifest.json").read_text())
    results = store.root / "results"
    models = list(manifest["models"])
    sections = [_overview(manifest, store)]

    raw = Section("raw", "Raw embedding spaces (paper Fig 1)", GUIDES["raw"])
    fig_path = figures / "raw_pca_maps.png"
    from platonic.report.figures import diversity_figure, k_sweep_figure, raw_pca_maps

    _save(raw_pca_maps({m: store.load(m) for m in models}, _element_groups(store)), fig_path)
    raw.figures.append(("First two principal components of each model's raw embeddings", fig_path))
    sections.append(raw)

    anchors = Section("anchors", "Anchors and the K sweep (paper Fig 3)", GUIDES["anchors"])
    diversity = _read_csv(results / "anchor_diversity.csv")
    sweep = _read_csv(results / "k_sweep.csv")
    if diversity is not None:
        anchors.figures.append(("DIRECT vs random anchors", _save(diversity_figure(diversity), figures / "anchor_diversity.png")))
        anchors.tables.append(("Anchor diversity", diversity, results / "anchor_diversity.csv"))
    else:
        anchors.missing.append("anchor diversity ([anchors].diversity = false)")
    if sweep is not None:
        anchors.figures.append(("K sweep", _save(k_sweep_figure(sweep), figures / "k_sweep.png")))
    else:
        anchors.missing.append("K sweep ([anchors].sweep = false)")
    table = _read_csv(results / "anchors.csv")
    if table is not None:
        anchors.tables.append(("Anchor atoms", table[["anchor", "row", "structure_id", "element", "formula"]],
                               results / "anchors.csv"))
    sections.append(anchors)

    metrics = _read_csv(results / "metrics.csv")
    groups = [("metrics", "Model similarity in the unified space (paper Fig 4a-d)", "unified",
               ("procrustes", "cka", "mknn", "ot", "superscore")),
              ("raw_metrics", "Model similarity in raw space", "raw", ("procrustes", "cka", "mknn")),
              ("reconstruction", "Reconstruction errors (Malosso et al.)", "raw", ("gfre", "gfrd", "lfre"))]
    for key, title, space, names in groups:
        section = Section(key, title, GUIDES[key])
        for metric in names:
            part = None if metrics is None else metrics[(metrics.space == space) & (metrics.metric == metric)]
            path = results / "figures" / f"heatmap_{metric}_{space}.png"
            if part is None or part.empty or not path.exists():
                section.missing.append(f"{metric} ({space} space): not in [compare].metrics / spaces")
                continue
            section.figures.append((f"{metric}, {space} space (n = {int(part['n'].iloc[0])}; {part['detail'].iloc[0]})", path))
        sections.append(section)

    intrinsic = Section("intrinsic", "Intrinsic dimension", GUIDES["intrinsic"])
    dims = _read_csv(results / "intrinsic_dimension.csv")
    if dims is not None:
        intrinsic.tables.append(("TwoNN intrinsic dimension", dims, results / "intrinsic_dimension.csv"))
    else:
        intrinsic.missing.append("TwoNN table ([compare].twonn_atoms = 0)")
    sections.append(intrinsic)
    return sections


def build_study_report(study: str | Path, store) -> Path:
    """Write ``<study>/report.html`` from the study's manifest and its store's results."""
    study = Path(study)
    manifest = json.loads((study / "manifest.json").read_text())
    figures = store.root / "results" / "figures"
    sections = study_sections(study, store, figures)
    d = manifest["dataset"]
    header = (f"<p>{html.escape(str(d['name']))}: {d['structures']:,} structures, {d['atoms']:,} atoms; "
              f"{len(manifest['models'])} models; platonic {html.escape(str(manifest['packages'].get('platonic')))}; "
              f"finished {html.escape(manifest['finished'])}.</p>")
    return write_report(study / "report.html", "platonic study report", sections, header)
