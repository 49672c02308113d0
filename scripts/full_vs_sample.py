"""Side-by-side tables of two studies of one dataset at two sizes (e.g. 500 structures vs all of MP-20).

    python scripts/full_vs_sample.py runs/default runs/fullall > tables.md

Reads the ``results/`` folders of the two studies (the first is the small one) and prints Markdown
tables for the models both ran: each headline number next to its null and control verdict at both
sizes. Nothing is recomputed: every value is read from the two studies' CSV files, so the tables
say what the report of each study says. A table a study did not write is reported as missing.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd


def results_dir(study: Path) -> Path:
    found = sorted(study.glob("store-*/results"))
    if len(found) != 1:
        raise SystemExit(f"{study}: expected one store-*/results folder, found {[str(p) for p in found]}")
    return found[0]


def read(study: Path, name: str) -> pd.DataFrame | None:
    path = results_dir(study) / name
    return pd.read_csv(path) if path.exists() else None


def markdown(table: pd.DataFrame, digits: int = 3) -> str:
    def cell(value) -> str:
        if isinstance(value, float):
            return "" if pd.isna(value) else f"{value:.{digits}f}"
        return str(value)

    lines = ["| " + " | ".join(map(str, table.columns)) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines)


def verdicts(small: pd.DataFrame, full: pd.DataFrame, models: list[str]) -> pd.DataFrame:
    """Per metric and space: ordered pairs of distinct models that clear null and control, at both sizes."""
    rows = []
    for label, table in (("500", small), ("full", full)):
        part = table[table["model_a"].isin(models) & table["model_b"].isin(models) & (table["model_a"] != table["model_b"])]
        part = part[part["metric"] != "mknn_self"]
        for (metric, space), group in part.groupby(["metric", "space"]):
            flags = group["meaningful"].astype("boolean")
            rows.append({"metric": metric, "space": space, "size": label,
                         "pairs": len(group), "clear null and control": int(flags.fillna(False).sum()),
                         "no verdict": int(flags.isna().sum())})
    wide = pd.DataFrame(rows).pivot_table(index=["metric", "space"], columns="size",
                                          values=["clear null and control", "pairs"], aggfunc="first")
    wide.columns = [f"{a} ({b})" for a, b in wide.columns]
    return wide.reset_index()


def pair_values(small: pd.DataFrame, full: pd.DataFrame, pairs: list[tuple[str, str]],
                metrics: list[tuple[str, str]]) -> pd.DataFrame:
    rows = []
    for a, b in pairs:
        for metric, space in metrics:
            record = {"pair": f"{a} / {b}", "metric": f"{metric} ({space})"}
            for label, table in (("500", small), ("full", full)):
                hit = table[(table["model_a"] == a) & (table["model_b"] == b) & (table["metric"] == metric)
                            & (table["space"] == space)]
                if hit.empty:
                    record[f"value {label}"] = float("nan")
                    continue
                row = hit.iloc[0]
                record[f"value {label}"] = row["value"]
                if label == "full":
                    record["null full"] = row.get("null_mean", float("nan"))
                    record["control full"] = row.get("control_baseline", float("nan"))
                    record["meaningful full"] = row.get("meaningful", "")
                else:
                    record["meaningful 500"] = row.get("meaningful", "")
            rows.append(record)
    return pd.DataFrame(rows)


def side_by_side(small: pd.DataFrame | None, full: pd.DataFrame | None, keys: list[str], values: list[str],
                 models: list[str] | None = None) -> pd.DataFrame | None:
    if small is None or full is None:
        return None
    if models is not None and "model" in keys:
        small, full = small[small["model"].isin(models)], full[full["model"].isin(models)]
    if "reference" in keys:  # a model against itself as the reference is rank 1 by construction
        small, full = small[small["model"] != small["reference"]], full[full["model"] != full["reference"]]
    merged = small[keys + values].merge(full[keys + values], on=keys, how="outer", suffixes=(" 500", " full"))
    return merged[keys + [f"{v} {s}" for v in values for s in ("500", "full")]]


def main(small_study: str, full_study: str) -> None:
    small_path, full_path = Path(small_study), Path(full_study)
    small, full = read(small_path, "metrics.csv"), read(full_path, "metrics.csv")
    if small is None or full is None:
        raise SystemExit("both studies need results/metrics.csv (run their compare stage)")
    models = sorted(set(full["model_a"]) & set(small["model_a"]))
    print(f"Models in both studies ({len(models)}): {', '.join(models)}\n")
    print("## Pairs that clear their permutation null and the control baseline\n")
    print(markdown(verdicts(small, full, models), 0) + "\n")
    pairs = [(a, b) for a, b in [("chgnet-0.3.0", "chgnet-0.2.0"), ("chgnet-0.3.0", "chgnet-r2scan"),
                                 ("sevennet-0", "sevennet-mf-0"), ("chgnet-0.3.0", "sevennet-0"),
                                 ("chgnet-0.3.0", "diep"), ("sevennet-0", "diep"),
                                 ("chgnet-0.3.0", "mace-random-normal"), ("mace-random-normal", "mace-dummy")]
             if a in models and b in models]
    metrics = [("cka", "unified"), ("procrustes", "unified"), ("mknn", "unified-centred"), ("ot", "unified-centred"),
               ("gfre", "raw"), ("lfre", "raw")]
    print("## Headline pairs\n")
    print(markdown(pair_values(small, full, pairs, metrics)) + "\n")
    sections = [
        ("Unified-space geometry (offset and degeneracy)", "unified_geometry.csv", ["model"],
         ["n_atoms", "mean_cosine", "effective_rank", "degenerate"]),
        ("Intrinsic dimension (TwoNN with its stability check)", "intrinsic_dimension.csv", ["model", "space"],
         ["n_kept", "estimate_at_reference_tol", "stable"]),
        ("Cumulant order gain against the control", "analyse/cumulant_gain_control.csv", ["space", "order", "control"],
         ["trained_mean", "control_gfre", "difference"]),
        ("Embedding arithmetic against its null (the reference model itself left out)", "analyse/arithmetic_null.csv",
         ["case", "basis", "centring", "model", "reference"], ["n_queries", "mean_rank", "chance_rank"]),
        ("Element-group coherence", "analyse/group_coherence.csv", ["model", "space"], ["silhouette", "z_score", "p_value"]),
        ("Random-weight controls", "diagnose/control_verdict.csv", ["control"], ["coherence_z", "coherence_p", "mean_similarity_ratio"]),
        ("Fine-tuning drift", "diagnose/drift_summary.csv", ["pair"], ["n_atoms", "norm_ratio_all", "gfre_raw_pre_to_ft", "gfre_raw_ft_to_pre"]),
        ("Anchor diversity (DIRECT vs random)", "anchor_diversity.csv", ["method", "seed"], ["mean_pairwise_distance", "silhouette", "select_seconds"]),
    ]
    for title, name, keys, values in sections:
        table = side_by_side(read(small_path, name), read(full_path, name), keys, values,
                             models if "model" in keys else None)
        print(f"## {title} (`{name}`)\n")
        print(markdown(table) if table is not None else "missing in one of the studies")
        print()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    main(sys.argv[1], sys.argv[2])
