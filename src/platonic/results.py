"""The layout of a study's results: every file a stage writes and the report, the CLI or a test
reads, named once.

A writer given a folder (``write_norm_scaling(tables, out_dir)`` of :mod:`platonic.study.writers`)
writes the names of its group below into it; the stages give it the folder of :class:`Results`::

    <store>/results/                      Results.of(store).root
        anchors.csv (+ .json), anchor_diversity.csv, k_sweep.csv, k_sweep_anchors.csv,
        metrics.csv / .parquet, unified_geometry.csv, intrinsic_dimension(_curve).csv
        unified/<model>.npy               Results.unified_matrix(model)
        figures/heatmap_<metric>_<space>.png
        analyse/                          Analyse.* (chemistry, cumulants, arithmetic, maps, norms)
        diagnose/                         Diagnose.* (control, equivariance, rotation, drift, atypical)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

# ----------------------------------------------------------------------------- results/
ANCHORS = "anchors.csv"
ANCHOR_DIVERSITY = "anchor_diversity.csv"
K_SWEEP = "k_sweep.csv"
K_SWEEP_ANCHORS = "k_sweep_anchors.csv"
METRICS = "metrics.csv"
METRICS_PARQUET = "metrics.parquet"
UNIFIED_GEOMETRY = "unified_geometry.csv"
INTRINSIC_DIMENSION = "intrinsic_dimension.csv"
INTRINSIC_DIMENSION_CURVE = "intrinsic_dimension_curve.csv"


def heatmap_name(metric: str, space: str) -> str:
    return f"heatmap_{metric}_{space}.png"


class Analyse:
    """File names in ``results/analyse/``."""

    ELEMENTS = "elements.csv"
    ELEMENT_MAP_PNG = "element_map.png"
    PERIODIC_TABLE_PNG = "periodic_table.png"
    GROUP_COHERENCE_PNG = "group_coherence.png"
    TRAJECTORIES_PNG = "trajectories.png"
    CUMULANT_GAIN_PNG = "cumulant_gain.png"
    GROUP_COHERENCE = "group_coherence.csv"
    GROUP_SILHOUETTES = "group_silhouettes.csv"
    TRAJECTORIES = "trajectories.csv"
    CUMULANT_GAIN = "cumulant_gain.csv"
    CUMULANT_GAIN_CONTROL = "cumulant_gain_control.csv"
    ARITHMETIC = "arithmetic.csv"
    ARITHMETIC_WIDE = "arithmetic_wide.csv"
    ARITHMETIC_STRUCTURES = "arithmetic_structures.csv"
    ARITHMETIC_PNG = "arithmetic.png"
    ARITHMETIC_NULL = "arithmetic_null.csv"
    ARITHMETIC_STITCH_NULL = "arithmetic_stitch_null.csv"
    ANCHOR_MAP = "anchor_map.csv"
    ANCHOR_COVERAGE = "anchor_coverage.csv"
    ANCHOR_MAP_PNG = "anchor_map.png"
    UNIFIED_MAPS = "unified_maps.parquet"
    UNIFIED_MAPS_SUMMARY = "unified_maps_summary.csv"
    UNIFIED_DIVERSITY = "unified_diversity.csv"
    UNIFIED_MAPS_METHODS_PNG = "unified_maps_methods.png"
    NORM_SCALING = "norm_scaling.csv"
    NORM_SCALING_MATERIALS = "norm_scaling_materials.csv"
    NORM_SCALING_PNG = "norm_scaling.png"

    @staticmethod
    def unified_maps_png(method: str) -> str:
        return f"unified_maps_{method}.png"


class Diagnose:
    """File names in ``results/diagnose/``."""

    CONTROL_VERDICT = "control_verdict.csv"
    CONTROL_COHERENCE = "control_coherence.csv"
    CONTROL_AGREEMENT = "control_agreement.csv"
    CONTROL_PNG = "control.png"
    EQUIVARIANCE_GROUND_TRUTH = "equivariance_ground_truth.csv"
    EQUIVARIANCE_SPACEGROUPS = "equivariance_spacegroups.csv"
    EQUIVARIANCE_TWO_NN = "equivariance_two_nn.csv"
    EQUIVARIANCE_TWO_NN_STRUCTURES = "equivariance_two_nn_structures.csv"
    EQUIVARIANCE_TWO_NN_PNG = "equivariance_two_nn.png"
    ROTATION_CHANGES = "rotation_changes.csv"
    ROTATION_ATOMS = "rotation_atoms.csv"
    ROTATION_MODELS = "rotation_models.csv"
    ROTATION_PNG = "rotation.png"
    DRIFT_SUMMARY = "drift_summary.csv"
    DRIFT_DIMER_CURVES = "drift_dimer_curves.csv"
    DRIFT_DIMER_MINIMA = "drift_dimer_minima.csv"
    ATYPICAL_SCORES = "atypical_scores.csv"
    ATYPICAL_TOP = "atypical_top.csv"
    ATYPICAL_DISTANCES = "atypical_distances.csv"
    ATYPICAL_PNG = "atypical.png"

    @staticmethod
    def drift(view: str, suffix: str = ".csv") -> str:
        """``drift_<view>.csv`` (displacement, norm_ratio, norm_quantiles, gfre, summary) or ``.png``."""
        return f"drift_{view}{suffix}"


class _Entry:
    """A file or folder of the results folder, read as a path from a :class:`Results`."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, results: "Results | None", owner: type | None = None) -> Any:
        return self if results is None else results.root / self.name


@dataclass(frozen=True)
class Results:
    """The results folder of one store (``<store>/results``) and the paths in it: folders
    ``analyse``, ``diagnose``, ``figures``, ``unified``; files ``anchors``, ``anchor_diversity``,
    ``k_sweep``, ``k_sweep_anchors``, ``metrics``, ``metrics_parquet``, ``unified_geometry``,
    ``intrinsic_dimension``, ``intrinsic_dimension_curve`` (each a :class:`~pathlib.Path`)."""

    root: Path

    analyse = _Entry("analyse")
    diagnose = _Entry("diagnose")
    figures = _Entry("figures")
    unified = _Entry("unified")
    anchors = _Entry(ANCHORS)
    anchor_diversity = _Entry(ANCHOR_DIVERSITY)
    k_sweep = _Entry(K_SWEEP)
    k_sweep_anchors = _Entry(K_SWEEP_ANCHORS)
    metrics = _Entry(METRICS)
    metrics_parquet = _Entry(METRICS_PARQUET)
    unified_geometry = _Entry(UNIFIED_GEOMETRY)
    intrinsic_dimension = _Entry(INTRINSIC_DIMENSION)
    intrinsic_dimension_curve = _Entry(INTRINSIC_DIMENSION_CURVE)

    @classmethod
    def of(cls, store: Any) -> "Results":
        """The results of ``store``: an :class:`~platonic.store.EmbeddingStore` or its folder."""
        return cls(Path(store if isinstance(store, (str, Path)) else store.root) / "results")

    def unified_matrix(self, model: str) -> Path:
        """``unified/<model>.npy``, with ``:`` and ``/`` of a model name (``mace:/path``) made safe."""
        return self.unified / f"{model.replace(':', '_').replace('/', '_')}.npy"

    def heatmap(self, metric: str, space: str) -> Path:
        return self.figures / heatmap_name(metric, space)
