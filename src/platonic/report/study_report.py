"""The study report: every stage's results of one `platonic run`, figure by figure, in one HTML file.

Reads what the stages wrote under ``<store>/results`` and ``<study>/manifest.json``; draws the
figures that the stages leave as tables; writes ``<study>/report.html`` (self-contained) and the
figures as PNG beside the stage figures. A section whose inputs are absent lists them as missing.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from platonic.report.html import Section, write_report
from platonic.report.paper_sections import norm_scaling_section, unified_space_sections
from platonic.plotting import save
from platonic.results import Analyse, Diagnose, Results

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
               "same axes. Procrustes, CKA and mutual-kNN (Jaccard index of the k-neighbour sets): 1 = same "
               "geometry; ScoreOT: 0 = same distribution (lower is closer); SuperScore = (Procrustes + mKNN)/2 x "
               "exp(-ScoreOT) combines them. Centred: each model's cloud minus its own mean, the headline for OT "
               "and SuperScore, since un-centred OT mostly measures the distance between the clouds' offsets "
               "(see the offset table). Cells marked * clear both their permutation null and the control baseline.",
    "metrics_uncentred": "The paper's un-centred unified space: OT and SuperScore here grow with the distance "
                         "between the models' mean unified vectors, whatever their shapes. Procrustes and CKA are "
                         "translation invariant and equal the centred values.",
    "raw_metrics": "The same metrics on the raw embeddings (widths differ, so OT and SuperScore are not defined). "
                   "Raw and unified agreeing says the unified space kept each model's geometry.",
    "reconstruction": "Global feature reconstruction error GFRE(X -> Y): how badly a linear map from model X "
                      "(row) predicts model Y (column) on held-out atoms; 0 = Y is a linear function of X, about 1 "
                      "= nothing predictable. Asymmetric: a richer X reconstructs a poorer Y, not the reverse. "
                      "GFRD: the distortion of the best orthogonal map; LFRE: the same with local maps around "
                      "each atom.",
    "chemistry": "Each element's mean unified-space vector per model. The element map puts every model's element "
                 "means on one shared PCA (fitted on the trained models), coloured by periodic family: chemically "
                 "alike elements should sit together. Group coherence is the silhouette of those element means "
                 "labelled by family, as a z-score against shuffled labels (z > 2, p < 0.05: the model organises "
                 "the periodic table; the random control should sit near z = 0). The periodic table shows each "
                 "element's cosine to the reference model's mean of the same element; trajectories follow F -> Cl "
                 "-> Br -> I and other groups.",
    "cumulants": "Structure-level features: the mean of the atom features, then cumulants of order 2..8 (as in "
                 "Malosso et al.) brought to feature units by a signed root. GFRE(orders <= k-1 -> orders <= k) "
                 "measures what order k adds that lower orders cannot predict linearly: 0 = nothing new, about 1 "
                 "= entirely new. The fit is regularised (ridge, cutoff by 2-fold CV) on half the structures, "
                 "with the atom features reduced to as many principal axes as keep every fit within the training "
                 "structures (n_components, n_train in the table). Read each order against the random control "
                 "(dashed): where the control gains as much as the trained models, the gain measures the shape of "
                 "per-structure feature distributions, not learnt chemistry, and says nothing about what training "
                 "put into the higher orders.",
    "arithmetic": "Material embedding = mean unified vector of a structure's atoms (norm l, cosine c-sim to the "
                  "reference model's). Polymorph difference TiO2 Pbcn - rutile (norms l1, l2 of the two "
                  "materials, i-sim between them within a model, c-sim of the difference across models). Reaction "
                  "BaO + TiO2 -> BaTiO3 in two definitions, named in each column: '(mean material vectors)' is "
                  "the paper's (product minus reactant material vectors), '(per formula unit)' is ours (atom sums "
                  "per formula unit, so a purely compositional embedding gives 0). Stitched: reactants from the "
                  "reference model, product from each other model. Columns marked '[dataset-centred]' subtract "
                  "each model's mean unified vector first; un-centred values are the paper's. A c-sim means "
                  "something only against its null: the null table gives, per definition and centring, the c-sim "
                  "of matched materials / random reactions of unrelated materials / stitched reactions against "
                  "mismatched ones (margin; retrieval rank of the true partner among N, chance (N+1)/2), and the "
                  "stitched table the Table 1 stitching against the same with a random product. Un-centred, "
                  "mismatched pairs score nearly as high as matched ones: a shared offset, not agreement on the "
                  "chemistry.",
    "control": "The controls are the models whose card says trained = false (random weights): each must show no "
               "chemistry (group coherence at chance) and agree with trained models far less than they agree with "
               "each other. A part that cannot be computed on this data (no chemistry analysis, a one-element "
               "dataset) is skipped and the verdict says why.",
    "equivariance": "Symmetry-equivalent atoms (spglib) must have equal embeddings. The ground truth is spglib at "
                    "each structure's tightest stable tolerance (a symprec sweep 1e-5..1e-1 A; the first "
                    "tolerance whose space group the next looser one keeps), not the atom table's 0.1 A, which "
                    "gives distorted crystals their ideal parent's symmetry. Scored: the most frequent space "
                    "groups present in the data. Per group and tolerance: the fraction of atoms whose nearest "
                    "other atom of the same structure is within the tolerance, and precision/recall of 'within "
                    "tolerance' against spglib's equivalent pairs. A correct invariant model reaches recall 1 at "
                    "float tolerance with precision 1.",
    "rotation": "A perovskite (BaCeO3) under random rotations: the relative change of each atom's embedding. "
                "Invariant models stay at float precision (about 1e-6); anything larger is a broken invariance.",
    "drift": "CHGNet 0.3.0 -> CHGNet r2SCAN and SevenNet-0 -> SevenNet-MF-0 (fine-tunes) and, as a contrast that "
             "is no fine-tune, TensorNet-MatPES PBE -> r2SCAN (one architecture trained separately on the same "
             "structures with two functionals), on the same atoms and anchors: how far each element moved in the "
             "unified space, the ratio of raw embedding norms (a collapse toward the origin would show as ratios "
             "well below 1), GFRE between the pair against GFRE to other models (a fine-tune reconstructed from "
             "its parent far better than from other models keeps its pre-training bias), and Cu-Cu, Au-Au dimer "
             "curves from each checkpoint (experiment: Cu2 2.22 A, Au2 2.47 A).",
    "atypical": "Each structure's material embedding per model against the consensus (median) of the trained "
                "models; the score is the mean normalised distance (1 = typical). High scores flag structures the "
                "models disagree on: unusual chemistry, or a model failing there.",
}


@dataclass(frozen=True)
class AnalysisSection:
    """A report section that shows what one analysis wrote under ``<results>/<folder>``: figures
    and tables (file name -> caption), read with the guide ``GUIDES[key]``. ``analysis`` names the
    analysis as the manifest's ``skipped`` and the study config (``[<folder>] <analysis> = false``)
    do, where that is not ``key``."""

    key: str
    title: str
    folder: str
    figures: dict[str, str]
    tables: dict[str, str]
    analysis: str = ""


ANALYSIS_SECTIONS = [
    AnalysisSection(
        "chemistry", "Chemistry: element embeddings (paper Fig 4e-f)", folder="analyse",
        figures={Analyse.ELEMENT_MAP_PNG: "Element means on a shared PCA, by periodic family",
                 Analyse.GROUP_COHERENCE_PNG: "Group coherence vs the label-permutation null",
                 Analyse.PERIODIC_TABLE_PNG: "Cosine of each element mean to the reference model's",
                 Analyse.TRAJECTORIES_PNG: "Group trajectories (F-Cl-Br-I, O-S-Se-Te, ...)"},
        tables={Analyse.GROUP_COHERENCE: "Group coherence per model and space",
                Analyse.TRAJECTORIES: "Trajectory steps"},
    ),
    AnalysisSection(
        "cumulants", "Structure features from progressive cumulants", folder="analyse", analysis="chemistry",
        figures={Analyse.CUMULANT_GAIN_PNG: "What each cumulant order adds (GFRE from lower orders); controls dashed"},
        tables={Analyse.CUMULANT_GAIN_CONTROL: "Per order: trained models' gain against each control's, and the reading",
                Analyse.CUMULANT_GAIN: "Cumulant gain per model, space and order"},
    ),
    AnalysisSection(
        "arithmetic", "Embedding arithmetic (paper Table 1)", folder="analyse",
        figures={Analyse.ARITHMETIC_PNG: "Table 1 quantities per model"},
        tables={Analyse.ARITHMETIC_WIDE: "Table 1 on our models",
                Analyse.ARITHMETIC_NULL: "Null of every c-sim: matched vs mismatched margin and retrieval rank",
                Analyse.ARITHMETIC_STITCH_NULL: "Table 1 stitched reaction vs random products",
                Analyse.ARITHMETIC_STRUCTURES: "Structures used and their sources"},
    ),
    AnalysisSection(
        "control", "Diagnostics: the random-weight control", folder="diagnose",
        figures={Diagnose.CONTROL_PNG: "Group coherence z per model; similarity of the control to trained models"},
        tables={Diagnose.CONTROL_VERDICT: "Verdict",
                Diagnose.CONTROL_AGREEMENT: "Similarity: control vs trained, trained vs trained"},
    ),
    AnalysisSection(
        "equivariance", "Diagnostics: equivariance by two-NN (paper Fig 5f)", folder="diagnose",
        figures={Diagnose.EQUIVARIANCE_TWO_NN_PNG: "Two-NN fraction, precision and recall vs tolerance"},
        tables={Diagnose.EQUIVARIANCE_TWO_NN: "Two-NN per model, space, space group and tolerance",
                Diagnose.EQUIVARIANCE_SPACEGROUPS: "Structures per space group scored",
                Diagnose.EQUIVARIANCE_GROUND_TRUTH: "Per structure: space group at 0.1 A and at its tightest stable symprec"},
    ),
    AnalysisSection(
        "rotation", "Diagnostics: rotation sensitivity (paper Fig 5g)", folder="diagnose",
        figures={Diagnose.ROTATION_PNG: "Relative embedding change per model and atom"},
        tables={Diagnose.ROTATION_MODELS: "Per model: largest and median change"},
    ),
    AnalysisSection(
        "drift", "Diagnostics: fine-tuning drift", folder="diagnose",
        figures={Diagnose.drift("displacement", ".png"): "Per-element displacement",
                 Diagnose.drift("norm_ratio", ".png"): "Raw norm ratio per element",
                 Diagnose.drift("norm_distribution", ".png"): "Raw norm distributions",
                 Diagnose.drift("dimers", ".png"): "Dimer curves"},
        tables={Diagnose.DRIFT_SUMMARY: "Drift per pair: GFRE within the pair vs to other models, norm ratios",
                Diagnose.DRIFT_DIMER_MINIMA: "Dimer minima"},
    ),
    AnalysisSection(
        "atypical", "Diagnostics: atypical structures", folder="diagnose",
        figures={Diagnose.ATYPICAL_PNG: "Atypicality ranking"},
        tables={Diagnose.ATYPICAL_TOP: "Most atypical structures"},
    ),
]


def _analysis_sections(results: Path, skipped: dict[str, str] | None = None,
                       config: dict | None = None, failure: dict | None = None) -> list[Section]:
    """One section per analysis; ``skipped`` (analysis -> reason, from the manifest) says why an
    analysis that did not apply shows nothing, ``config`` (the manifest's) which were switched off,
    ``failure`` (the manifest's) which stage stopped the study."""
    sections = []
    order = ["extract", "anchors", "sweep", "project", "compare", "analyse", "diagnose"]
    stopped = order.index(failure["stage"]) if failure and failure["stage"] in order else None
    for spec in ANALYSIS_SECTIONS:
        section = Section(spec.key, spec.title, GUIDES[spec.key])
        folder, analysis = spec.folder, spec.analysis or spec.key
        base = results / folder
        reason = (skipped or {}).get(analysis)
        if config is not None and config.get(folder, {}).get(analysis) is False:
            reason = f"disabled in the study ([{folder}] {analysis} = false)"
            section.missing.append(reason)
        elif reason is not None:
            section.missing.append(f"skipped, does not apply to this data: {reason}")
        elif stopped is not None and stopped <= order.index(folder):
            reason = f"not computed: the study failed in stage {failure['stage']} ({failure['type']})"
            section.missing.append(reason)
        for name, caption in spec.figures.items():
            if (base / name).exists():
                section.figures.append((caption, base / name))
            elif reason is None:
                section.missing.append(f"{caption} ({base / name} absent: disabled in the study, or not applicable)")
        for name, caption in spec.tables.items():
            if (base / name).exists():
                section.tables.append((caption, pd.read_csv(base / name), base / name))
        sections.append(section)
    return sections


def _save(fig, path: Path) -> Path:
    return save(fig, path, dpi=110)


def _read_csv(path: Path) -> pd.DataFrame | None:
    return pd.read_csv(path) if path.exists() else None


def _overview(manifest: dict, store) -> Section:
    section = Section("overview", "Study", GUIDES["overview"])
    cards = {m: store.model_card(m) for m in manifest["models"]}
    models = pd.DataFrame([{"model": m, "family": c.family, "layer": c.layer, "d": c.dim,
                            "trained": c.trained, "training data": c.training_data}
                           for m, c in cards.items()])
    section.tables += [("Models", models, None)] + _stage_tables(manifest)
    return section


def _stage_tables(manifest: dict) -> list[tuple[str, pd.DataFrame, None]]:
    """The stage table (seconds: when the stage was computed, also for a reused one), the analyses
    skipped as not applicable, and the failure, if any."""
    stages = pd.DataFrame(manifest["stages"])
    ran = stages["ran"].map({True: "done", False: "reused"})  # manifests written before stages had a status
    stages["status"] = stages["status"].fillna(ran) if "status" in stages else ran
    for column in ("cpu_seconds", "peak_rss_mib"):  # absent from manifests written before they were recorded
        if column not in stages:
            stages[column] = None
    tables = [("Stages (seconds: wall time the stage took when it was computed, also for reused ones; "
               "cpu_seconds: this process's CPU time, all threads; peak_rss_mib: the stage's own memory peak)",
               stages[["name", "status", "seconds", "cpu_seconds", "peak_rss_mib", "summary"]], None)]
    skipped = pd.DataFrame(manifest.get("skipped") or [], columns=["stage", "analysis", "reason"])
    if not skipped.empty:
        tables.append(("Skipped: analyses that do not apply to this data", skipped, None))
    failure = manifest.get("failure")
    if failure:
        tables.append(("FAILED stage (the results after it are missing)",
                       pd.DataFrame([failure], columns=["stage", "type", "message"]), None))
    return tables


def write_status_report(study: str | Path, note: str | None = None) -> Path:
    """``<study>/report.html`` from the manifest alone: the stage table, skips and the failure (for a
    study that failed before the full report could be drawn)."""
    study = Path(study)
    manifest = json.loads((study / "manifest.json").read_text())
    failure = manifest.get("failure")
    section = Section("overview", "Study" + (" (FAILED)" if failure else ""), GUIDES["overview"])
    section.tables += _stage_tables(manifest)
    if note:
        section.missing.append(note)
    d = manifest["dataset"]
    header = (f"<p>{html.escape(str(d['name']))}: {d['structures']:,} structures, {d['atoms']:,} atoms; "
              f"{len(manifest['models'])} models; status: {html.escape(manifest.get('status', 'unknown'))}.</p>")
    return write_report(study / "report.html", "platonic study report", [section], header)


def _element_groups(store) -> np.ndarray:
    from platonic.analyse.elements import PERIODIC_GROUP_LABELS

    return store.atom_table()["element"].map(PERIODIC_GROUP_LABELS).fillna("other").to_numpy()


def study_sections(study: Path, store, figures: Path) -> list[Section]:
    manifest = json.loads((study / "manifest.json").read_text())
    layout = Results.of(store)
    results = layout.root
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
    diversity = _read_csv(layout.anchor_diversity)
    sweep = _read_csv(layout.k_sweep)
    if diversity is not None:
        anchors.figures.append(("DIRECT vs random anchors", _save(diversity_figure(diversity), figures / "anchor_diversity.png")))
        anchors.tables.append(("Anchor diversity", diversity, layout.anchor_diversity))
    else:
        anchors.missing.append("anchor diversity ([anchors].diversity = false)")
    if sweep is not None:
        anchors.figures.append(("K sweep", _save(k_sweep_figure(sweep), figures / "k_sweep.png")))
    else:
        anchors.missing.append("K sweep ([anchors].sweep = false)")
    table = _read_csv(layout.anchors)
    if table is not None:
        anchors.tables.append(("Anchor atoms", table[["anchor", "row", "structure_id", "element", "formula"]],
                               layout.anchors))
    sections.append(anchors)
    sections += unified_space_sections(results)

    metrics = _read_csv(layout.metrics)
    groups = [("metrics", "Model similarity in the unified space, centred (paper Fig 4a-d)", "unified-centred",
               ("procrustes", "cka", "mknn", "ot", "superscore")),
              ("metrics_uncentred", "Unified space, un-centred (the paper's definition)", "unified",
               ("mknn", "ot", "superscore")),
              ("raw_metrics", "Model similarity in raw space", "raw", ("procrustes", "cka", "mknn")),
              ("reconstruction", "Reconstruction errors (Malosso et al.)", "raw", ("gfre", "gfrd", "lfre"))]
    for key, title, space, names in groups:
        section = Section(key, title, GUIDES[key])
        for metric in names:
            part = None if metrics is None else metrics[(metrics.space == space) & (metrics.metric == metric)]
            path = layout.heatmap(metric, space)
            if part is None or part.empty or not path.exists():
                section.missing.append(f"{metric} ({space} space): not in [compare].metrics / spaces")
                continue
            detail = part['detail'].fillna('').iloc[0]
            section.figures.append((f"{metric}, {space} space (n = {int(part['n'].iloc[0])}" + (f"; {detail})" if detail else ")"), path))
        sections.append(section)

    from platonic.report.metric_sections import (geometry_section, intrinsic_section, mknn_ceiling_section,
                                                 significance_section)

    sections += [geometry_section(results), significance_section(metrics, results),
                 mknn_ceiling_section(metrics, results), intrinsic_section(results)]
    skipped = {s["analysis"]: s["reason"] for s in manifest.get("skipped") or []}
    return (sections + _analysis_sections(results, skipped, manifest.get("config"), manifest.get("failure"))
            + norm_scaling_section(results))


def build_study_report(study: str | Path, store) -> Path:
    """Write ``<study>/report.html`` from the study's manifest and its store's results."""
    study = Path(study)
    manifest = json.loads((study / "manifest.json").read_text())
    figures = store.root / "results" / "figures"
    sections = study_sections(study, store, figures)
    d = manifest["dataset"]
    failure = manifest.get("failure")
    status = (f"<p class=\"missing\"><b>FAILED</b> in stage {html.escape(str(failure['stage']))}: "
              f"{html.escape(str(failure['type']))}: {html.escape(str(failure['message']))}</p>" if failure else "")
    header = (f"<p>{html.escape(str(d['name']))}: {d['structures']:,} structures, {d['atoms']:,} atoms; "
              f"{len(manifest['models'])} models; platonic {html.escape(str(manifest['packages'].get('platonic')))}; "
              f"finished {html.escape(manifest['finished'])}.</p>{status}")
    return write_report(study / "report.html", "platonic study report", sections, header)
