"""Report sections that say what the metric matrices may be read as: offsets and degeneracy of the
unified space, which pairs clear their null and the control, the transform's own mKNN ceiling,
and the intrinsic dimension only where it is stable."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from platonic.results import Results
from platonic.report.html import Section

GEOMETRY_GUIDE = (
    "Where each model's unified cloud sits and whether it has collapsed. mean cosine: average cosine of an "
    "atom to an anchor; offset norm: length of the mean unified vector; offset share: the fraction of the "
    "cloud's second moment that is that offset (1 = every atom at one point). Un-centred OT grows with the "
    "squared distance between two models' offsets whatever their shapes, so OT and SuperScore are headlined on "
    "the clouds centred on their own means, with the paper's un-centred values alongside. anchor SD: the "
    "standard deviation over atoms of each cosine column, averaged over anchors; effective rank: "
    "exp(entropy of the normalised singular values) of the centred cloud. A model is flagged degenerate when "
    "anchor SD < 0.02 or effective rank < 2 (CHGNet 0.3.0: 0.083 on MP-20, 0.005 on a one-element dataset): "
    "its mKNN, OT, arithmetic and intrinsic dimension then measure noise, however normal its heatmaps look."
)
SIGNIFICANCE_GUIDE = (
    "A score of two trained models means something only when it clears both references. Null: the same score "
    "with B's rows shuffled (a few permutations; cleared at z > 3). OT has no such null (it compares "
    "distributions, which a shuffle leaves unchanged), so for OT only the control decides. Control baseline: "
    "the best score either model reaches against a random-weight control (model cards with trained = false); "
    "for reconstruction errors X -> Y, how well a control reconstructs Y. Heatmap cells marked * clear both. "
    "mKNN here is the Jaccard index of the two k-neighbour sets unless the detail column says overlap/k."
)
CEILING_GUIDE = (
    "mKNN (Jaccard index of the k-neighbour sets, neighbours from the atom's own structure excluded when the "
    "detail says so) between a model's raw space and its own unified space. The transform alone keeps only "
    "this share of a model's neighbourhoods, so a pair's drop from raw to unified mKNN is read against it: "
    "a pair cannot agree more in the unified space than each model agrees with itself across the transform."
)
INTRINSIC_GUIDE = (
    "TwoNN intrinsic dimension, reported only where it is stable: one atom per spglib-equivalent set is kept "
    "(symmetry copies give zero neighbour distances), then the estimate must stay within 10% over merge "
    "tolerances 1e-6..1e-3 (x the RMS row norm) and over 25%/50% subsamples. Otherwise the table says "
    "'no stable estimate' and why; the curve table holds every estimate behind the verdict. An unstable "
    "value is an artefact of near-duplicate environments and sample size, not a count of directions."
)

_SIMILARITY_SHOWN = ("procrustes", "cka", "mknn", "ot", "superscore")


def geometry_section(results: Path) -> Section:
    section = Section("unified_geometry", "Unified space: offset and degeneracy per model", GEOMETRY_GUIDE)
    path = Results(results).unified_geometry
    if not path.exists():
        section.missing.append(f"{path} absent (the unified space was not compared)")
        return section
    table = pd.read_csv(path)
    degenerate = table[table["degenerate"].astype(bool)]
    if not degenerate.empty:
        section.guide = ("WARNING: degenerate unified space for " + ", ".join(degenerate["model"]) + ". "
                         + section.guide)
        section.tables.append(("Degenerate unified spaces", degenerate[["model", "anchor_sd", "effective_rank",
                                                                        "reason"]], path))
    columns = ["model", "trained", "mean_cosine", "offset_norm", "offset_share", "max_offset_distance", "anchor_sd",
               "anchor_sd_min", "effective_rank", "degenerate"]
    section.tables.append(("Offset and spread of each model's unified cloud",
                           table[[c for c in columns if c in table.columns]], path))
    return section


def significance_section(metrics: pd.DataFrame | None, results: Path) -> Section:
    section = Section("significance", "Which pairs clear their null and the control", SIGNIFICANCE_GUIDE)
    if metrics is None or "meaningful" not in metrics.columns:
        section.missing.append("metrics.csv without the null/control columns (rerun `platonic compare`)")
        return section
    if metrics["control_baseline"].isna().all():
        section.missing.append("no random-weight control model among the compared models: no control baseline")
    pairs = metrics[(metrics.model_a < metrics.model_b) & metrics["control_baseline"].notna()
                    & metrics.metric.isin(_SIMILARITY_SHOWN + ("gfre", "gfrd", "lfre"))]
    asymmetric = metrics[metrics.metric.isin(["gfre", "gfrd", "lfre"]) & (metrics.model_a != metrics.model_b)
                         & metrics["control_baseline"].notna()]
    pairs = pd.concat([pairs[~pairs.metric.isin(["gfre", "gfrd", "lfre"])], asymmetric])
    if pairs.empty:
        return section
    summary = (pairs.assign(meaningful=pairs["meaningful"].astype("boolean").fillna(False).astype(bool))
               .groupby(["space", "metric"])["meaningful"].agg(["sum", "count"])
               .rename(columns={"sum": "pairs meaningful", "count": "pairs of trained models"}).reset_index())
    section.tables.append(("Meaningful pairs per space and metric", summary, Results(results).metrics))
    columns = ["space", "metric", "model_a", "model_b", "value", "null_mean", "null_std", "null_z", "control_baseline",
               "meaningful", "detail"]
    shown = pairs[pairs.space.isin(["unified-centred", "unified", "raw"])].sort_values(["space", "metric", "value"])
    section.tables.append(("Every trained pair: value, null, control baseline", shown[columns], Results(results).metrics))
    return section


def mknn_ceiling_section(metrics: pd.DataFrame | None, results: Path) -> Section:
    section = Section("mknn_ceiling", "mKNN: the transform's own ceiling", CEILING_GUIDE)
    if metrics is None or "mknn_self" not in set(metrics["metric"]):
        section.missing.append("self-mKNN (needs mknn in both raw and unified space)")
        return section
    own = metrics[metrics.metric == "mknn_self"].pivot(index="model_a", columns="space", values="value")
    mknn = metrics[(metrics.metric == "mknn") & (metrics.model_a < metrics.model_b)]
    wide = mknn.pivot_table(index=["model_a", "model_b"], columns="space", values="value").reset_index()
    if {"raw", "unified"} <= set(wide.columns):
        wide["ceiling (min self-mKNN of the two)"] = [min(own.loc[a, "raw->unified"], own.loc[b, "raw->unified"])
                                                      for a, b in zip(wide.model_a, wide.model_b)]
    detail = metrics[metrics.metric == "mknn_self"]["detail"].iloc[0]
    section.tables.append((f"Self-mKNN per model ({detail})", own.reset_index().rename(columns={"model_a": "model"}),
                           Results(results).metrics))
    section.tables.append((f"Pair mKNN raw vs unified against the ceiling ({detail.split(';')[0]})", wide,
                           Results(results).metrics))
    return section


def intrinsic_section(results: Path) -> Section:
    section = Section("intrinsic", "Intrinsic dimension (only where stable)", INTRINSIC_GUIDE)
    path = Results(results).intrinsic_dimension
    if not path.exists():
        section.missing.append("TwoNN table ([compare].twonn_atoms = 0)")
        return section
    table = pd.read_csv(path)
    if "verdict" not in table.columns:
        section.missing.append(f"{path} predates the stability check: rerun `platonic compare`")
        return section
    columns = ["model", "space", "dimension", "verdict", "n_kept", "n_rows", "tolerance_min", "tolerance_max",
               "subsample_min", "subsample_max"]
    section.tables.append(("TwoNN with its stability verdict (dimension empty = no stable estimate)",
                           table[columns], path))
    curve = Results(results).intrinsic_dimension_curve
    if curve.exists():
        section.tables.append(("Tolerance sweep and subsample curve", pd.read_csv(curve), curve))
    return section
