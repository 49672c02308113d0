"""The report's metric sections on small hand-made result tables: warnings, verdicts and ceilings shown."""

import numpy as np
import pandas as pd

from platonic.report.html import render
from platonic.report.metric_sections import (geometry_section, intrinsic_section, mknn_ceiling_section,
                                             significance_section)


def test_sections_show_degeneracy_verdicts_ceiling_and_unstable_dimension(tmp_path):
    pd.DataFrame([{"model": "a", "trained": True, "mean_cosine": 0.99, "offset_norm": 9.9, "offset_share": 0.999,
                   "max_offset_distance": 1.0, "anchor_sd": 0.005, "anchor_sd_min": 0.001, "effective_rank": 3.0,
                   "degenerate": True, "reason": "mean per-anchor SD 0.005 < 0.02"},
                  {"model": "b", "trained": True, "mean_cosine": 0.8, "offset_norm": 8.0, "offset_share": 0.9,
                   "max_offset_distance": 1.0, "anchor_sd": 0.08, "anchor_sd_min": 0.03, "effective_rank": 12.0,
                   "degenerate": False, "reason": ""}]).to_csv(tmp_path / "unified_geometry.csv", index=False)
    geometry = geometry_section(tmp_path)
    assert geometry.guide.startswith("WARNING: degenerate unified space for a.")

    metrics = pd.DataFrame([
        dict(model_a="a", model_b="b", metric="mknn", value=0.3, space="raw", detail="jaccard, k=10", null_mean=0.0,
             null_std=0.001, null_z=300.0, control_baseline=0.1, meaningful=True),
        dict(model_a="a", model_b="b", metric="mknn", value=0.2, space="unified", detail="jaccard, k=10", null_mean=0.0,
             null_std=0.001, null_z=200.0, control_baseline=0.25, meaningful=False),
        dict(model_a="a", model_b="a", metric="mknn_self", value=0.6, space="raw->unified",
             detail="jaccard, k=10; own", null_mean=np.nan, null_std=np.nan, null_z=np.nan,
             control_baseline=np.nan, meaningful=pd.NA),
        dict(model_a="b", model_b="b", metric="mknn_self", value=0.5, space="raw->unified",
             detail="jaccard, k=10; own", null_mean=np.nan, null_std=np.nan, null_z=np.nan,
             control_baseline=np.nan, meaningful=pd.NA)])
    significance = significance_section(metrics, tmp_path)
    counts = significance.tables[0][1].set_index("space")["pairs meaningful"]
    assert counts["raw"] == 1 and counts["unified"] == 0
    ceiling = mknn_ceiling_section(metrics, tmp_path)
    wide = ceiling.tables[1][1]
    assert wide.iloc[0]["ceiling (min self-mKNN of the two)"] == 0.5
    assert "jaccard" in ceiling.tables[0][0]

    pd.DataFrame([{"model": "a", "space": "unified", "dimension": np.nan,
                   "verdict": "no stable estimate: varies 0.2-4.1 over merge tolerances", "n_kept": 10, "n_rows": 40,
                   "tolerance_min": 0.2, "tolerance_max": 4.1, "subsample_min": 2.0, "subsample_max": 3.0}]
                 ).to_csv(tmp_path / "intrinsic_dimension.csv", index=False)
    intrinsic = intrinsic_section(tmp_path)
    page = render("t", [geometry, significance, ceiling, intrinsic])
    assert "no stable estimate" in page and "number of directions" not in page
