"""Report sections of Li & Walsh's Fig 2b, Fig 3a-c / S2 / S3 and Tables S2 / S3 (written by the
analyse stage with ``[analyse] maps`` and ``norms``)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from platonic.results import Analyse, Results
from platonic.report.html import Section

GUIDES = {
    "anchor_map": "The reference model's raw embeddings on their first two principal components (orange), with the "
                  "K anchor atoms on top (blue): DIRECT (left) against the same number of random atoms (right). "
                  "DIRECT should reach the sparse edges of the map that random draws miss. The coverage radius is "
                  "the mean distance from an atom to its nearest anchor on this map, in units of the map's RMS "
                  "radius: lower = better covered (it can only fall as anchors are added).",
    "unified_maps": "Each model's unified space (cosines to the anchors) on two principal axes, as the number of "
                    "anchors K grows (columns), coloured by periodic group. All panels of one column share one PCA "
                    "fitted on the trained models together, so position and shape compare across models. Expect "
                    "coarse group separation already at small K and little change past K ~ 100; the random-weight "
                    "control should show no group structure at any K. The second grid uses random anchors; the "
                    "last figure puts random (top) and DIRECT (bottom) side by side at the study's K.",
    "unified_diversity": "Diversity of each model's unified space at the study's K (the paper's Table S2): mean "
                         "pairwise distance between atoms and spread (RMS distance to the centroid) over the same "
                         "sampled atoms, for DIRECT and random anchors. The paper found DIRECT spaces tighter "
                         "(1.58-2.67 vs 1.80-3.11): a ratio random/DIRECT above 1 says the same here. The summary "
                         "table has every K, the cloud's centroid norm and the skewness of PC1.",
    "norm_scaling": "Norms of material embeddings (mean over a structure's atoms) against the reference model, "
                    "structure by structure (the paper's Table S3). median_ratio is the typical scale factor; "
                    "ratio_cv (std/mean over materials) near 0 and Spearman near 1 mean the factor is the same for "
                    "every material, i.e. models differ by a scale, not by which materials they make long. In the "
                    "unified space norms are bounded by sqrt(K); raw norms carry each model's own units.",
}


def _table(section: Section, base: Path, name: str, caption: str) -> None:
    if (base / name).exists():
        section.tables.append((caption, pd.read_csv(base / name), base / name))
    else:
        section.missing.append(f"{caption} ({base / name} absent: [analyse] maps/norms = false, or not run)")


def _figure(section: Section, base: Path, name: str, caption: str) -> None:
    if (base / name).exists():
        section.figures.append((caption, base / name))
    else:
        section.missing.append(f"{caption} ({base / name} absent: [analyse] maps/norms = false, or not run)")


def unified_space_sections(results: Path) -> list[Section]:
    """Fig 2b, Fig 3a-c / S2 / S3 and Table S2."""
    base = Results(results).analyse
    anchors = Section("anchor_map", "Anchors on the reference map (paper Fig 2b)", GUIDES["anchor_map"])
    _figure(anchors, base, Analyse.ANCHOR_MAP_PNG, "DIRECT and random anchors over the reference model's raw PCA map")
    _table(anchors, base, Analyse.ANCHOR_COVERAGE, "Coverage of the map per anchor set")
    maps = Section("unified_maps", "The unified space as K grows, DIRECT vs random (paper Fig 3a-c, S2, S3)",
                   GUIDES["unified_maps"])
    _figure(maps, base, Analyse.unified_maps_png("direct"), "Unified space vs K, DIRECT anchors (Fig 3a, S2)")
    _figure(maps, base, Analyse.unified_maps_png("random"), "Unified space vs K, random anchors (S3)")
    _figure(maps, base, Analyse.UNIFIED_MAPS_METHODS_PNG, "Random (top) vs DIRECT (bottom) at the study's K (Fig 3b-c)")
    diversity = Section("unified_diversity", "Diversity of the unified space (paper Table S2)", GUIDES["unified_diversity"])
    _table(diversity, base, Analyse.UNIFIED_DIVERSITY, "Per model, DIRECT vs random anchors")
    _table(diversity, base, Analyse.UNIFIED_MAPS_SUMMARY, "Every model, method and K")
    return [anchors, maps, diversity]


def norm_scaling_section(results: Path) -> list[Section]:
    """Table S3."""
    base = Results(results).analyse
    section = Section("norm_scaling", "Embedding-norm scaling across materials (paper Table S3)", GUIDES["norm_scaling"])
    _figure(section, base, Analyse.NORM_SCALING_PNG, "Material-norm ratio to the reference model, over materials")
    _table(section, base, Analyse.NORM_SCALING, "Scale factor per model and space")
    _table(section, base, Analyse.NORM_SCALING_MATERIALS, "Material-embedding norms per structure (unified space)")
    return [section]
