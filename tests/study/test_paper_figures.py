"""The study writes and reports Li & Walsh's Fig 2b, Fig 3 / S2 / S3 and Tables S2 / S3."""

from __future__ import annotations

import pandas as pd

from platonic.results import Analyse, Results


def test_study_report_has_the_anchor_map_unified_maps_and_norm_tables(tiny_study):
    result, _ = tiny_study
    results = Results.of(result.store)
    analyse = results.analyse
    for name in (Analyse.ANCHOR_MAP_PNG, Analyse.unified_maps_png("direct"), Analyse.unified_maps_png("random"),
                 Analyse.UNIFIED_MAPS_METHODS_PNG, Analyse.UNIFIED_DIVERSITY, Analyse.NORM_SCALING,
                 Analyse.NORM_SCALING_PNG):
        assert (analyse / name).exists(), name
    # the sweep's DIRECT anchors are the ones drawn at each K of the maps
    sweep = pd.read_csv(results.k_sweep_anchors)
    assert set(sweep["k"]) == set(pd.read_csv(analyse / Analyse.UNIFIED_MAPS_SUMMARY)["k"])
    study_anchors = pd.read_csv(results.anchors)["row"]
    assert sorted(sweep[sweep.k == len(study_anchors)]["row"]) == sorted(study_anchors)
    diversity = pd.read_csv(analyse / Analyse.UNIFIED_DIVERSITY)
    assert set(diversity["model"]) == {"chgnet-0.3.0", "diep"} and (diversity["mean_pairwise_distance_direct"] > 0).all()
    html = (result.out / "report.html").read_text()
    for title in ("paper Fig 2b", "paper Fig 3a-c, S2, S3", "paper Table S2", "paper Table S3"):
        assert title in html
    assert "Not shown: DIRECT and random anchors" not in html
