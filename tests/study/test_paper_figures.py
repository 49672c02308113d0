"""The study writes and reports Li & Walsh's Fig 2b, Fig 3 / S2 / S3 and Tables S2 / S3."""

from __future__ import annotations

import pandas as pd


def test_study_report_has_the_anchor_map_unified_maps_and_norm_tables(tiny_study):
    result, _ = tiny_study
    analyse = result.store / "results" / "analyse"
    for name in ("anchor_map.png", "unified_maps_direct.png", "unified_maps_random.png", "unified_maps_methods.png",
                 "unified_diversity.csv", "norm_scaling.csv", "norm_scaling.png"):
        assert (analyse / name).exists(), name
    # the sweep's DIRECT anchors are the ones drawn at each K of the maps
    sweep = pd.read_csv(result.store / "results" / "k_sweep_anchors.csv")
    assert set(sweep["k"]) == set(pd.read_csv(analyse / "unified_maps_summary.csv")["k"])
    study_anchors = pd.read_csv(result.store / "results" / "anchors.csv")["row"]
    assert sorted(sweep[sweep.k == len(study_anchors)]["row"]) == sorted(study_anchors)
    diversity = pd.read_csv(analyse / "unified_diversity.csv")
    assert set(diversity["model"]) == {"chgnet-0.3.0", "diep"} and (diversity["mean_pairwise_distance_direct"] > 0).all()
    html = (result.out / "report.html").read_text()
    for title in ("paper Fig 2b", "paper Fig 3a-c, S2, S3", "paper Table S2", "paper Table S3"):
        assert title in html
    assert "Not shown: DIRECT and random anchors" not in html
