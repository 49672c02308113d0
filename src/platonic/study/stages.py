"""The pipeline stages on an embedding store, each writing its results under ``<store>/results``.

One function per stage; the CLI verbs (`platonic anchors`, `project`, `compare`) and
`platonic run` both call these, so a study and a hand-run sequence of verbs leave the same files:

``results/anchors.csv`` (+ ``.json``), ``anchor_diversity.csv``, ``k_sweep.csv`` (+ ``k_sweep_anchors.csv``),
``unified/<model>.npy``, ``metrics.csv``/``.parquet``, ``unified_geometry.csv``,
``intrinsic_dimension.csv`` (+ ``_curve.csv``),
``figures/heatmap_<metric>_<space>.png``.

Each stage computes with the library functions (which return data and Figures) and writes through
:mod:`platonic.study.writers`, under the names of :mod:`platonic.results`.

An analysis of :func:`analyse_stage` or :func:`diagnose_stage` that does not apply to the data
raises :class:`~platonic.errors.NotApplicableError`; given a ``skipped`` dict, the stage records
it there (name -> reason) and goes on with the other analyses.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from platonic.errors import NotApplicableError, PlatonicError
from platonic.progress import NullProgress
from platonic.results import Analyse, Results

#: Atoms an element needs to get an element mean in the chemistry analyses.
CHEMISTRY_MIN_ATOMS = 5


class StageOrderError(PlatonicError, FileNotFoundError):
    """A stage's inputs are not there yet: the message names the verb to run first."""


def _applicable(name: str, skipped: dict[str, str] | None, work: Callable[[], dict]) -> dict:
    """``work()``; a :class:`NotApplicableError` is recorded in ``skipped`` (when given) as ``name``."""
    try:
        return work()
    except NotApplicableError as exc:
        if skipped is None:
            raise
        skipped[name] = str(exc)
        return {}


def results_dir(store) -> Path:
    """``<store>/results`` (:class:`platonic.results.Results`)."""
    return Results.of(store).root


def unified_paths(store, models: Sequence[str]) -> dict[str, Path]:
    results = Results.of(store)
    return {m: results.unified_matrix(m) for m in models}


def anchor_stage(store, reference: str, k: int, method: str, seed: int, models: Sequence[str] | None = None,
                 diversity: bool = True) -> dict[str, pd.DataFrame]:
    """Pick the anchors (and tabulate DIRECT vs random diversity); returns the tables written."""
    from platonic.anchors import diversity_table
    from platonic.anchors.from_store import choose_anchors, save_anchors

    models = list(models or store.models())
    anchors = choose_anchors(store, reference, k=k, method=method, random_state=seed, models=models)
    results = Results.of(store)
    save_anchors(anchors, results.anchors)
    tables = {"anchors": anchors}
    if diversity:
        X = store.load(reference)[store.common_rows(models)]
        tables["anchor_diversity"] = diversity_table(X, k, methods=("direct", "random"), seeds=(0, 42, 12345))
        tables["anchor_diversity"].to_csv(results.anchor_diversity, index=False)
    return tables


def sweep_stage(store, reference: str, method: str, seed: int, models: Sequence[str] | None = None) -> pd.DataFrame:
    """The K sweep 3..400 (as many Ks as there are common atoms) on every model."""
    from platonic.project import DEFAULT_KS, k_sweep

    models = list(models or store.models())
    valid = store.common_rows(models)
    embeddings = {m: store.load(m)[valid] for m in [reference] + [m for m in models if m != reference]}
    ks = [k for k in DEFAULT_KS if k <= int(valid.sum())]
    table = k_sweep(embeddings, ks=ks, method=method, random_state=seed, reference=reference)
    table.to_csv(Results.of(store).k_sweep, index=False)
    # the anchors of every K, as store rows: the unified maps of the analyse stage reuse them
    rows = np.flatnonzero(valid)
    pd.DataFrame([{"k": k, "anchor": i, "row": int(rows[r]), "method": method, "seed": seed, "reference": reference}
                  for k, chosen in table.attrs["anchors"].items() for i, r in enumerate(chosen)]
                 ).to_csv(Results.of(store).k_sweep_anchors, index=False)
    return table


def project_stage(store, models: Sequence[str] | None = None) -> dict[str, Path]:
    """Every model into the unified space of the saved anchors."""
    from platonic.anchors.from_store import load_anchors
    from platonic.project.from_store import project_store

    results = Results.of(store)
    anchors = load_anchors(results.anchors)
    return project_store(store, anchors["row"].to_numpy(), results.unified, list(models or store.models()))


def compare_stage(store, models: Sequence[str], metrics: Sequence[str], spaces: Sequence[str], seed: int = 0,
                  twonn_atoms: int = 20000, progress=None, **options) -> dict[str, object]:
    """Metric matrices (+ heatmaps), the unified-space geometry (offset, degeneracy) and the TwoNN
    tables; ``options`` go to ``compare_store``; ``progress`` reports their steps. ``written["degenerate"]`` lists one warning line
    per model whose unified space is degenerate."""
    from platonic.compare.from_store import compare_store, heatmap_figures, intrinsic_dimensions, unified_geometry_table
    from platonic.study.writers import write_heatmaps

    results = Results.of(store)
    out = results.root
    unified = unified_paths(store, models)
    if "unified" in spaces and not all(p.exists() for p in unified.values()):
        raise StageOrderError(f"no unified matrices in {results.unified} for every model: "
                              "run `platonic anchors` and `platonic project` first")
    table = compare_store(store, unified, models, metrics, spaces, random_state=seed, progress=progress, **options)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(results.metrics, index=False)
    table.to_parquet(results.metrics_parquet, index=False)
    written: dict[str, object] = {"metrics": table, "heatmaps": write_heatmaps(heatmap_figures(table), results.figures)}
    if "unified" in spaces:
        geometry = unified_geometry_table(store, unified, models)
        geometry.to_csv(results.unified_geometry, index=False)
        written["unified_geometry"] = geometry
        written["degenerate"] = [f"{row.model}: degenerate unified space ({row.reason}); mKNN, OT, arithmetic and "
                                 "intrinsic dimension of this model measure noise"
                                 for row in geometry.itertuples() if row.degenerate]
    if twonn_atoms:
        dims, curve = intrinsic_dimensions(store, unified, models, spaces, n_atoms=twonn_atoms, random_state=seed,
                                           progress=progress)
        dims.to_csv(results.intrinsic_dimension, index=False)
        curve.to_csv(results.intrinsic_dimension_curve, index=False)
        written["intrinsic_dimension"] = dims
    return written


def k_sweep_convergence(table: pd.DataFrame) -> pd.Series:
    """Mean over models of the Procrustes similarity to the previous K, per K."""
    return table[table.measure == "procrustes_vs_previous_k"].groupby("k")["value"].mean()



def control_models(store, models: Sequence[str]) -> list[str]:
    """The models whose card says they are untrained (the random-weight controls)."""
    return [m for m in models if not store.model_card(m).trained]


def analyse_stage(store, models: Sequence[str], reference: str, chemistry: bool = True, arithmetic: bool = True,
                  seed: int = 0, device: str = "cpu", skipped: dict[str, str] | None = None, maps: bool = False,
                  norms: bool = False, loaded=None, progress=None) -> dict[str, Path]:
    """Chemistry (element maps, coherence, trajectories, cumulants) and embedding arithmetic, into
    ``results/analyse/``; ``maps``: anchors on the reference map, unified maps vs K and their
    diversity (:mod:`platonic.analyse.unified_maps`); ``norms``: norm scaling across materials
    (:mod:`platonic.analyse.norm_scaling`). ``skipped``: see the module docstring. ``loaded``: the
    :class:`~platonic.models.cache.LoadedModels` the study's stages share (the arithmetic runs the
    models). ``progress``: one step per analysis, with the cumulant gain's models inside."""
    from platonic.analyse.arithmetic import UnifiedSpace, arithmetic_tables
    from platonic.analyse.chemistry import chemistry_tables
    from platonic.anchors.from_store import load_anchors
    from platonic.models import runnable_models
    from platonic.store import OnDemand
    from platonic.study import writers

    models = list(models)
    if reference not in models:
        raise ValueError(f"the reference model {reference!r} ([analyse] reference, --reference) is not among "
                         f"the models {models}")
    _check_projected(store, models)
    results = Results.of(store)
    out = results.analyse
    out.mkdir(parents=True, exist_ok=True)  # also when every analysis is skipped: the stage's output
    controls = control_models(store, models)
    written: dict[str, Path] = {}
    progress = progress or NullProgress()
    progress.start("analyse", total=chemistry + arithmetic + maps + norms, unit="analyses")
    if chemistry:
        def chemistry_work() -> dict:
            _check_elements(store.atom_table())
            tables = chemistry_tables(unified_paths(store, models), store.atom_table(),
                                      raw=OnDemand(store.load, models), models=models, reference=reference,
                                      control=controls[0] if controls else None, controls=controls, random_state=seed,
                                      min_atoms=CHEMISTRY_MIN_ATOMS, progress=progress)
            return writers.write_chemistry(tables, out)

        written |= _applicable("chemistry", skipped, chemistry_work)
        progress.advance(1)
    if arithmetic:
        def arithmetic_work() -> dict:
            run = runnable_models(models, "arithmetic", store, required=[reference], skipped=skipped)  # not imported ones
            space = UnifiedSpace.from_store(store, load_anchors(results.anchors), run,
                                            device=device, loaded=loaded)
            written = writers.write_arithmetic(arithmetic_tables(space, reference, run), out)
            tables = {f"arithmetic_{k}": v for k, v in written.items()}
            return tables | arithmetic_null_stage(store, space, run, reference, out, seed)

        written |= _applicable("arithmetic", skipped, arithmetic_work)
        progress.advance(1)
    if maps:
        from platonic.analyse.unified_maps import maps_tables

        written |= writers.write_maps(maps_tables(store, models, load_anchors(results.anchors), random_state=seed,
                                                  sweep_anchors=results.k_sweep_anchors), out)
        progress.advance(1)
    if norms:
        from platonic.analyse.norm_scaling import norm_scaling_tables

        written |= writers.write_norm_scaling(norm_scaling_tables(store, unified_paths(store, models), models,
                                                                  reference), out)
        progress.advance(1)
    progress.finish()
    return written


def _check_projected(store, models: Sequence[str]) -> None:
    absent = [m for m, p in unified_paths(store, models).items() if not p.exists()]
    if absent:
        raise StageOrderError(f"no unified matrix for {absent} in {Results.of(store).unified}: run "
                              "`platonic anchors` and `platonic project` first")


def _check_elements(atom_table: pd.DataFrame) -> None:
    counts = atom_table["element"].value_counts()
    kept = counts[counts >= CHEMISTRY_MIN_ATOMS]
    if len(kept) < 2:
        found = ", ".join(f"{e} ({n} atoms)" for e, n in counts.items())
        raise NotApplicableError(
            f"element maps and group coherence compare elements; the sample has {len(kept)} element(s) with at "
            f"least {CHEMISTRY_MIN_ATOMS} atoms (found: {found}); a sample with two or more elements is needed")


def arithmetic_null_stage(store, space, models: Sequence[str], reference: str, out: Path, seed: int) -> dict[str, Path]:
    """The nulls of every Table 1 c-sim (``arithmetic_null.csv``) and the random-product null of the
    stitched reaction (``arithmetic_stitch_null.csv``)."""
    import numpy as np

    from platonic.analyse.arithmetic_null import arithmetic_null, reaction_stitch_null

    from platonic.study.writers import write_arithmetic_null

    unified = {m: np.load(path, mmap_mode="r") for m, path in unified_paths(store, models).items()}
    table = store.atom_table()
    return write_arithmetic_null(arithmetic_null(unified, table, reference, models, random_state=seed),
                                 reaction_stitch_null(space, unified, table, reference, models, random_state=seed), out)


def diagnose_stage(store, models: Sequence[str], control: bool = True, equivariance: bool = True,
                   rotation: bool = True, rotations: int = 10, drift: bool = True, dimers: bool = True,
                   atypical: bool = True, top: int = 20, seed: int = 0, device: str = "cpu", dataset=None,
                   equivariance_groups: int = 6, equivariance_min_structures: int = 2,
                   skipped: dict[str, str] | None = None, loaded=None, progress=None) -> dict[str, Path]:
    """The diagnostics, into ``results/diagnose/``; ``control`` reads the chemistry and compare tables.

    The rotation diagnostic and the dimer curves run the models: both take them from ``loaded``
    (the :class:`~platonic.models.cache.LoadedModels` the study's stages share; by default one made
    for this stage), so each model is loaded at most once.

    ``dataset`` (the store's structures) gives equivariance its symprec-sweep ground truth; without
    it the atom table's labels are used. ``equivariance_groups`` (0: all) and
    ``equivariance_min_structures`` choose the space groups scored among those present.
    ``skipped``: see the module docstring. ``progress``: one step per diagnostic."""
    from platonic.anchors.from_store import load_anchors
    from platonic.diagnose.atypical import atypical_tables
    from platonic.diagnose.drift import DEFAULT_DRIFT_PAIRS, drift_tables
    from platonic.diagnose.equivariance import equivariance_tables
    from platonic.diagnose.rotation import rotation_tables
    from platonic.study import writers

    from platonic.models.cache import loaded_models

    models = list(models)
    _check_projected(store, models)
    loaded = loaded_models(loaded, device)
    out = Results.of(store).diagnose
    out.mkdir(parents=True, exist_ok=True)  # also when every diagnostic is skipped: the stage's output
    unified = unified_paths(store, models)
    def equivariance_work() -> dict:
        tables = equivariance_tables(store, unified, models,
                                     structures=None if dataset is None else dataset.structures,
                                     top=equivariance_groups or None, min_structures=equivariance_min_structures,
                                     progress=progress, n_jobs=-1)
        return {f"equivariance_{k}": v for k, v in writers.write_equivariance(tables, out).items()}

    def rotation_work() -> dict:
        tables = rotation_tables(models, n_rotations=rotations, random_state=seed, store=store,
                                 anchors=load_anchors(Results.of(store).anchors), device=device, skipped=skipped,
                                 loaded=loaded)
        return {f"rotation_{k}": v for k, v in writers.write_rotation(tables, out).items()}

    def drift_work() -> dict:
        pairs = [pair for pair in DEFAULT_DRIFT_PAIRS if set(pair) <= set(models)]
        if not pairs:
            raise NotApplicableError("fine-tuning drift compares a model with its fine-tune; none of the pairs "
                                     + ", ".join(f"{a} -> {b}" for a, b in DEFAULT_DRIFT_PAIRS)
                                     + " is among the models")
        return writers.write_drift(drift_tables(store, unified, pairs=pairs, dimers=dimers, random_state=seed,
                                                device=device, skipped=skipped, loaded=loaded,
                                                known_gfre=_compared_gfre(store)), out)

    def atypical_work() -> dict:
        trained = [m for m in models if m not in control_models(store, models)]
        if len(trained) < 2:
            raise NotApplicableError(f"atypicality is the distance to the consensus of the trained models; "
                                     f"it needs two or more, the study has {trained or 'none'}")
        return writers.write_atypical(atypical_tables(store, unified, models, top=top), out)

    chosen = [(name, work) for name, wanted, work in (
        ("control", control, lambda: control_stage(store, models, out)),
        ("equivariance", equivariance, equivariance_work), ("rotation", rotation, rotation_work),
        ("drift", drift, drift_work), ("atypical", atypical, atypical_work)) if wanted]
    written: dict[str, Path] = {}
    progress = progress or NullProgress()
    progress.start("diagnose", total=len(chosen), unit="diagnostics")
    for name, work in chosen:
        written |= _applicable(name, skipped, work)
        progress.advance(1)
    progress.finish()
    return written


def _compared_gfre(store):
    """The compare stage's GFREs (:func:`platonic.compare.from_store.stored_gfre`), if it wrote them."""
    from platonic.compare.from_store import stored_gfre

    path = Results.of(store).metrics_parquet
    return stored_gfre(store, pd.read_parquet(path)) if path.exists() else None


def control_stage(store, models: Sequence[str], out: Path) -> dict[str, Path]:
    """The random-weight controls (model cards with ``trained = false``) against the trained models.

    Reads the compare table and, when the chemistry analysis wrote it, the group coherence; a part
    that cannot be computed is skipped with its reason in the verdict. Raises
    :class:`~platonic.errors.NotApplicableError` when there is no control or neither part applies.
    """
    from platonic.diagnose.control import (
        ControlInputError,
        agreement_summary,
        coherence_summary,
        control_verdict,
        plot_control,
    )
    from platonic.errors import NotApplicableError

    controls = control_models(store, models)
    if not controls:
        raise NotApplicableError(f"no model among {list(models)} has a card with trained = false (a random-weight "
                                 "control)")
    results = Results.of(store)
    parts = {"coherence": (results.analyse / Analyse.GROUP_COHERENCE, coherence_summary, "the chemistry analysis"),
             "agreement": (results.metrics, agreement_summary, "the compare stage")}
    tables: dict[str, pd.DataFrame | None] = {}
    skipped: dict[str, str] = {}
    for part, (source, summarise, producer) in parts.items():
        tables[part] = None
        if not source.exists():
            skipped[part] = f"no {source.name} ({producer} did not run)"
            continue
        try:
            tables[part] = summarise(pd.read_csv(source), controls)
        except ControlInputError as error:
            skipped[part] = str(error)
    if len(skipped) == 2:
        raise NotApplicableError("control: " + "; ".join(f"{part}: {why}" for part, why in skipped.items()))
    from platonic.study.writers import write_control

    verdict = control_verdict(tables["coherence"], tables["agreement"], controls=controls, skipped=skipped)
    return write_control(tables["coherence"], tables["agreement"], verdict,
                         plot_control(tables["coherence"], tables["agreement"]), out)
