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
from platonic.report.paper_sections import norm_scaling_section, unified_space_sections

MAP_POINTS = 20000  # atoms drawn in the raw PCA maps

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


ANALYSIS_SECTIONS = [
    # key, title, folder, guide, figures (file, caption), tables (file, caption)
    ("chemistry", "Chemistry: element embeddings (paper Fig 4e-f)", "analyse",
     "Each element's mean unified-space vector per model. The element map puts every model's element means on "
     "one shared PCA (fitted on the trained models), coloured by periodic family: chemically alike elements "
     "should sit together. Group coherence is the silhouette of those element means labelled by family, as a "
     "z-score against shuffled labels (z > 2, p < 0.05: the model organises the periodic table; the random "
     "control should sit near z = 0). The periodic table shows each element's cosine to the reference model's "
     "mean of the same element; trajectories follow F -> Cl -> Br -> I and other groups.",
     [("element_map.png", "Element means on a shared PCA, by periodic family"),
      ("group_coherence.png", "Group coherence vs the label-permutation null"),
      ("periodic_table.png", "Cosine of each element mean to the reference model's"),
      ("trajectories.png", "Group trajectories (F-Cl-Br-I, O-S-Se-Te, ...)")],
     [("group_coherence.csv", "Group coherence per model and space"), ("trajectories.csv", "Trajectory steps")]),
    ("cumulants", "Structure features from progressive cumulants", "analyse",
     "Structure-level features: the mean of the atom features, then cumulants of order 2..4 brought to feature "
     "units by a signed root. GFRE(orders <= k-1 -> orders <= k) measures what order k adds that lower orders "
     "cannot predict linearly: 0 = nothing new, about 1 = entirely new.",
     [("cumulant_gain.png", "What each cumulant order adds (GFRE from lower orders)")],
     [("cumulant_gain.csv", "Cumulant gain per model, space and order")]),
    ("arithmetic", "Embedding arithmetic (paper Table 1)", "analyse",
     "Material embedding = mean unified vector of a structure's atoms (norm l, cosine c-sim to the reference "
     "model's). Polymorph difference TiO2 Pbcn - rutile (norms l1, l2 of the two materials, i-sim between them "
     "within a model, c-sim of the difference across models). Reaction BaO + TiO2 -> BaTiO3 per formula unit; "
     "stitched: reactants from the reference model, products from each other model. c-sim near 1 = the models "
     "agree on the direction of that chemical change.",
     [("arithmetic.png", "Table 1 quantities per model")],
     [("arithmetic_wide.csv", "Table 1 on our models"), ("arithmetic_structures.csv", "Structures used and their sources")]),
    ("control", "Diagnostics: the random-weight control", "diagnose",
     "The MACE-shaped model with random weights is the control: it must show no chemistry (group coherence at "
     "chance) and agree with trained models far less than they agree with each other.",
     [("control.png", "Group coherence z per model; similarity of the control to trained models")],
     [("control_verdict.csv", "Verdict"), ("control_agreement.csv", "Similarity: control vs trained, trained vs trained")]),
    ("equivariance", "Diagnostics: equivariance by two-NN (paper Fig 5f)", "diagnose",
     "Symmetry-equivalent atoms (spglib) must have equal embeddings. For structures in P6_3/mmc, Fm-3m, I4/mmm "
     "and Pm-3m: the fraction of atoms whose nearest other atom of the same structure is within the tolerance, "
     "and precision/recall of 'within tolerance' against spglib's equivalent pairs, per tolerance. A correct "
     "invariant model reaches recall 1 at float tolerance with precision 1.",
     [("equivariance_two_nn.png", "Two-NN fraction, precision and recall vs tolerance")],
     [("equivariance_two_nn.csv", "Two-NN per model, space, space group and tolerance"),
      ("equivariance_spacegroups.csv", "Structures per space group")]),
    ("rotation", "Diagnostics: rotation sensitivity (paper Fig 5g)", "diagnose",
     "A perovskite (BaCeO3) under random rotations: the relative change of each atom's embedding. Invariant "
     "models stay at float precision (about 1e-6); anything larger is a broken invariance.",
     [("rotation.png", "Relative embedding change per model and atom")],
     [("rotation_models.csv", "Per model: largest and median change")]),
    ("drift", "Diagnostics: fine-tuning drift", "diagnose",
     "CHGNet 0.3.0 -> CHGNet r2SCAN and SevenNet-0 -> SevenNet-MF-0 on the same atoms and anchors: how far each "
     "element moved in the unified space, the ratio of raw embedding norms (a collapse toward the origin would "
     "show as ratios well below 1), GFRE between the pair against GFRE to other models (a fine-tune reconstructed "
     "from its parent far better than from other models keeps its pre-training bias), and Cu-Cu, Au-Au dimer "
     "curves from each checkpoint (experiment: Cu2 2.22 A, Au2 2.47 A).",
     [("drift_displacement.png", "Per-element displacement"), ("drift_norm_ratio.png", "Raw norm ratio per element"),
      ("drift_norm_distribution.png", "Raw norm distributions"), ("drift_dimers.png", "Dimer curves")],
     [("drift_summary.csv", "Drift per pair: GFRE within the pair vs to other models, norm ratios"),
      ("drift_dimer_minima.csv", "Dimer minima")]),
    ("atypical", "Diagnostics: atypical structures", "diagnose",
     "Each structure's material embedding per model against the consensus (median) of the trained models; the "
     "score is the mean normalised distance (1 = typical). High scores flag structures the models disagree on: "
     "unusual chemistry, or a model failing there.",
     [("atypical.png", "Atypicality ranking")],
     [("atypical_top.csv", "Most atypical structures")]),
]


def _analysis_sections(results: Path) -> list[Section]:
    sections = []
    for key, title, folder, guide, figures, tables in ANALYSIS_SECTIONS:
        section = Section(key, title, guide)
        base = results / folder
        for name, caption in figures:
            if (base / name).exists():
                section.figures.append((caption, base / name))
            else:
                section.missing.append(f"{caption} ({base / name} absent: disabled in the study, or not applicable)")
        for name, caption in tables:
            if (base / name).exists():
                section.tables.append((caption, pd.read_csv(base / name), base / name))
        sections.append(section)
    return sections


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

    rows = np.sort(np.random.default_rng(0).choice(store.n_atoms, size=min(store.n_atoms, MAP_POINTS), replace=False))
    # one model's matrix in memory at a time
    _save(raw_pca_maps({m: store.load(m)[rows] for m in models}, _element_groups(store)[rows]), fig_path)
    raw.figures.append((f"First two principal components of each model's raw embeddings ({rows.size:,} atoms, "
                        "seed 0)", fig_path))
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
    sections += unified_space_sections(results)

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
            detail = part['detail'].fillna('').iloc[0]
            section.figures.append((f"{metric}, {space} space (n = {int(part['n'].iloc[0])}" + (f"; {detail})" if detail else ")"), path))
        sections.append(section)

    intrinsic = Section("intrinsic", "Intrinsic dimension", GUIDES["intrinsic"])
    dims = _read_csv(results / "intrinsic_dimension.csv")
    if dims is not None:
        intrinsic.tables.append(("TwoNN intrinsic dimension", dims, results / "intrinsic_dimension.csv"))
    else:
        intrinsic.missing.append("TwoNN table ([compare].twonn_atoms = 0)")
    sections.append(intrinsic)
    return sections + _analysis_sections(results) + norm_scaling_section(results)


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
