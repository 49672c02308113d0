"""The writers: the one place an analysis's data becomes files, under the :mod:`platonic.results` names.

Every analysis and diagnostic returns data (a small dataclass of DataFrames: ``ChemistryTables``,
``RotationTables``, ...) and draws Figures from that data; each writer here takes that dataclass
and a folder, writes its tables (CSV, or parquet where the layout says so) and figures (PNG), and
returns name -> path of every file written. The stages (:mod:`platonic.study.stages`) call these,
and so does a user who wants an analysis's files: ``write_rotation(rotation_tables(...), folder)``.
Nothing below the study layer imports this module (a test checks it): computing modules do not write.

The figure resolutions (dpi) are those the files always had.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from platonic.results import Analyse, Diagnose, heatmap_name

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def write_files(out: str | Path, tables: Mapping[str, tuple[str, "pd.DataFrame"]],
                figures: Mapping[str, tuple[str, "Figure"]] = {}, dpi: int = 110) -> dict[str, Path]:
    """Write ``tables`` (name -> (file name, table)) and ``figures`` (name -> (file name, Figure))
    into ``out`` (created); returns name -> path in the order given, tables first. The one
    function every writer below ends in."""
    from platonic.plotting import save

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for name, (file, table) in tables.items():
        paths[name] = out / file
        if file.endswith(".parquet"):
            table.to_parquet(paths[name], index=False)
        else:
            table.to_csv(paths[name], index=False)
    for name, (file, figure) in figures.items():
        paths[name] = save(figure, out / file, dpi=dpi)
    return paths


def write_heatmaps(figures: Mapping[tuple[str, str], "Figure"], out: str | Path) -> list[Path]:
    """The metric heatmaps (:func:`platonic.compare.from_store.heatmap_figures`) into ``out``, named
    by :func:`heatmap_name`."""
    paths = write_files(out, {}, {f"{m}/{s}": (heatmap_name(m, s), fig) for (m, s), fig in figures.items()}, dpi=110)
    return list(paths.values())


# ----------------------------------------------------------------------------- analyse
def write_chemistry(tables: Any, out: str | Path) -> dict[str, Path]:
    """:class:`platonic.analyse.chemistry.ChemistryTables` and its figures."""
    from platonic.analyse.chemistry import chemistry_figures

    files = {"element_map": Analyse.ELEMENT_MAP_PNG, "periodic_table": Analyse.PERIODIC_TABLE_PNG,
             "trajectories_figure": Analyse.TRAJECTORIES_PNG, "group_coherence_figure": Analyse.GROUP_COHERENCE_PNG,
             "cumulant_gain_figure": Analyse.CUMULANT_GAIN_PNG}
    return write_files(out, {
        "elements": (Analyse.ELEMENTS, tables.elements),
        "group_coherence": (Analyse.GROUP_COHERENCE, tables.coherence),
        "group_silhouettes": (Analyse.GROUP_SILHOUETTES, tables.per_group),
        "trajectories": (Analyse.TRAJECTORIES, tables.trajectories),
        "cumulant_gain": (Analyse.CUMULANT_GAIN, tables.gain),
        "cumulant_gain_control": (Analyse.CUMULANT_GAIN_CONTROL, tables.gain_control),
    }, {name: (files[name], figure) for name, figure in chemistry_figures(tables).items()}, dpi=120)


def write_arithmetic(tables: Any, out: str | Path) -> dict[str, Path]:
    """:class:`platonic.analyse.arithmetic.ArithmeticTables` and its figure."""
    from platonic.analyse.arithmetic import plot_arithmetic

    return write_files(out, {"table": (Analyse.ARITHMETIC, tables.table), "wide": (Analyse.ARITHMETIC_WIDE, tables.wide),
                             "structures": (Analyse.ARITHMETIC_STRUCTURES, tables.structures)},
                       {"figure": (Analyse.ARITHMETIC_PNG, plot_arithmetic(tables.table))}, dpi=150)


def write_arithmetic_null(null: pd.DataFrame, stitch_null: pd.DataFrame, out: str | Path) -> dict[str, Path]:
    return write_files(out, {"arithmetic_null": (Analyse.ARITHMETIC_NULL, null),
                             "arithmetic_stitch_null": (Analyse.ARITHMETIC_STITCH_NULL, stitch_null)})


def write_norm_scaling(tables: Any, out: str | Path) -> dict[str, Path]:
    """:class:`platonic.analyse.norm_scaling.NormScalingTables` and its figure."""
    from platonic.analyse.norm_scaling import plot_norm_scaling

    return write_files(out, {"norm_scaling": (Analyse.NORM_SCALING, tables.scaling),
                             "norm_scaling_materials": (Analyse.NORM_SCALING_MATERIALS, tables.materials)},
                       {"norm_scaling_png": (Analyse.NORM_SCALING_PNG, plot_norm_scaling(tables.norms, tables.reference))},
                       dpi=110)


def write_maps(tables: Any, out: str | Path) -> dict[str, Path]:
    """:class:`platonic.analyse.unified_maps.MapTables` and its figures."""
    from platonic.analyse.unified_maps import MAP_METHODS, maps_figures

    figures = maps_figures(tables)
    files = {"anchor_map_png": Analyse.ANCHOR_MAP_PNG, "unified_maps_k_png": Analyse.UNIFIED_MAPS_METHODS_PNG}
    files |= {f"unified_maps_{method}_png": Analyse.unified_maps_png(method) for method in MAP_METHODS}
    paths = write_files(out, {"anchor_map": (Analyse.ANCHOR_MAP, tables.anchor_map),
                              "anchor_coverage": (Analyse.ANCHOR_COVERAGE, tables.coverage),
                              "unified_maps": (Analyse.UNIFIED_MAPS, tables.coordinates),
                              "unified_maps_summary": (Analyse.UNIFIED_MAPS_SUMMARY, tables.summary),
                              "unified_diversity": (Analyse.UNIFIED_DIVERSITY, tables.diversity)},
                        {name: (files[name], figure) for name, figure in figures.items()}, dpi=110)
    return paths


# ----------------------------------------------------------------------------- diagnose
def write_control(coherence: pd.DataFrame | None, agreement: pd.DataFrame | None, verdict: pd.DataFrame,
                  figure: "Figure", out: str | Path) -> dict[str, Path]:
    """The random-weight control (:mod:`platonic.diagnose.control`): its summaries (a part that
    could not be computed is None and not written), the verdict and the figure."""
    parts = {"control_coherence": (Diagnose.CONTROL_COHERENCE, coherence),
             "control_agreement": (Diagnose.CONTROL_AGREEMENT, agreement)}
    tables = {name: (file, table) for name, (file, table) in parts.items() if table is not None}
    return write_files(out, tables | {"control_verdict": (Diagnose.CONTROL_VERDICT, verdict)},
                       {"control_figure": (Diagnose.CONTROL_PNG, figure)}, dpi=110)


def write_equivariance(tables: Any, out: str | Path) -> dict[str, Path]:
    """:class:`platonic.diagnose.equivariance.EquivarianceTables` and its figure."""
    from platonic.diagnose.equivariance.by_spacegroup import plot_two_nn

    return write_files(out, {"ground_truth": (Diagnose.EQUIVARIANCE_GROUND_TRUTH, tables.ground_truth),
                             "spacegroups": (Diagnose.EQUIVARIANCE_SPACEGROUPS, tables.spacegroups),
                             "summary": (Diagnose.EQUIVARIANCE_TWO_NN, tables.summary),
                             "structures": (Diagnose.EQUIVARIANCE_TWO_NN_STRUCTURES, tables.structures)},
                       {"figure": (Diagnose.EQUIVARIANCE_TWO_NN_PNG, plot_two_nn(tables.summary))}, dpi=150)


def write_rotation(tables: Any, out: str | Path) -> dict[str, Path]:
    """:class:`platonic.diagnose.rotation.RotationTables` and its figure."""
    from platonic.diagnose.rotation import plot_rotation

    return write_files(out, {"changes": (Diagnose.ROTATION_CHANGES, tables.changes),
                             "atoms": (Diagnose.ROTATION_ATOMS, tables.atoms),
                             "models": (Diagnose.ROTATION_MODELS, tables.models)},
                       {"figure": (Diagnose.ROTATION_PNG, plot_rotation(tables.changes, tables.tolerance))}, dpi=150)


def write_drift(tables: Any, out: str | Path) -> dict[str, Path]:
    """:class:`platonic.diagnose.drift.DriftTables` and its figures (the dimer ones when computed)."""
    from platonic.diagnose.drift.report import drift_figures

    files = {"drift_displacement_png": Diagnose.drift("displacement", ".png"),
             "drift_norm_ratio_png": Diagnose.drift("norm_ratio", ".png"),
             "drift_norm_distribution_png": Diagnose.drift("norm_distribution", ".png"),
             "drift_dimers_png": Diagnose.drift("dimers", ".png")}
    written = {f"drift_{name}": (Diagnose.drift(name), getattr(tables, name))
               for name in ("displacement", "norm_ratio", "norm_quantiles", "gfre", "summary")}
    if tables.dimer_curves is not None:
        written |= {"drift_dimer_curves": (Diagnose.DRIFT_DIMER_CURVES, tables.dimer_curves),
                    "drift_dimer_minima": (Diagnose.DRIFT_DIMER_MINIMA, tables.dimer_minima)}
    return write_files(out, written, {name: (files[name], fig) for name, fig in drift_figures(tables).items()}, dpi=120)


def write_atypical(tables: Any, out: str | Path) -> dict[str, Path]:
    """:class:`platonic.diagnose.atypical.AtypicalTables` and its figure."""
    from platonic.diagnose.atypical import plot_atypical

    return write_files(out, {"atypical_scores": (Diagnose.ATYPICAL_SCORES, tables.ranking),
                             "atypical_top": (Diagnose.ATYPICAL_TOP, tables.ranking.head(tables.top)),
                             "atypical_distances": (Diagnose.ATYPICAL_DISTANCES, tables.distances)},
                       {"atypical_png": (Diagnose.ATYPICAL_PNG,
                                         plot_atypical(tables.ranking, tables.distances, top=tables.top))}, dpi=120)
