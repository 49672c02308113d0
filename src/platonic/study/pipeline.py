"""`platonic run`: the whole study, stage after stage, recomputing only what a change touches.

Stages and what each result depends on (its *key*, a hash written beside the result):

* ``extract``: the dataset and the models. The store is keyed by the dataset (one store per
  dataset config, ``<out>/store-<dataset>-<split>-n<n>-s<seed>``) and resumes per shard, so
  adding a model embeds only that model and a finished store is not touched.
* ``anchors``: the store's dataset fingerprint, every model's weights fingerprint, [anchors].
* ``sweep``: the same as anchors (it re-picks anchors for every K).
* ``project``: the anchors key.
* ``compare``: the project key and [compare].
* ``analyse``: the project key and [analyse] (chemistry, arithmetic).
* ``diagnose``: the analyse and compare keys (the control reads their tables) and [diagnose].
* ``report``: ``<out>/report.html``, rebuilt whenever any stage ran (or it is missing).

A stage whose key file matches and whose outputs exist is reused; any other runs and writes its
key last, so an interrupted stage is redone. ``<out>/manifest.json`` records the effective config,
package and model versions, weights hashes, dataset fingerprint, per-stage keys, timings (of the
run that computed each stage, also when it is reused) and each stage's status:

* ``done`` / ``reused``: computed now, or up to date from an earlier run;
* ``skipped``: the whole stage does not apply to the data (:class:`~platonic.errors.NotApplicableError`);
  an analysis inside a stage that does not apply is listed under the stage's ``skipped`` with its
  reason, and the stage goes on with the others;
* ``failed``: the stage raised; the error (type, message) is recorded, ``report.html`` and
  ``manifest.json`` are still written (describing what ran) and :class:`StudyFailed` is raised.
"""

from __future__ import annotations

import json
import platform
import time
from importlib import metadata
from pathlib import Path
from typing import Callable

from platonic.results import Results
from platonic.study import resources, stages
from platonic.study.config import StudyConfig
from platonic.study.records import StageRecord, StageRunner, StudyFailed, StudyResult, failed_record, stage_key

__all__ = ["StageRecord", "StudyFailed", "StudyResult", "engine_options", "model_names", "open_study", "run_study",
           "store_name"]


def store_name(config: StudyConfig) -> str:
    d = config["dataset"]
    name = Path(d["name"]).stem if Path(d["name"]).suffix else d["name"]
    return f"store-{name}-{d['split']}-n{d['n'] if d['n'] is not None else 'all'}-s{d['seed']}"


def model_names(config: StudyConfig) -> list[str]:
    from platonic.models import DEFAULT_MODELS

    names: list[str] = []
    for name in config["models"]["names"]:
        for expanded in (DEFAULT_MODELS if name == "default" else [name]):
            if expanded not in names:
                names.append(expanded)
    return names


def _print_log(message: str, **event) -> None:
    print(message)


def engine_options(config: StudyConfig) -> dict:
    """The ``[extract]`` table as keyword arguments of :func:`platonic.extract.extract`."""
    e = config["extract"]
    if e["engine"] == "inprocess":
        return {}
    return {"engine": e["engine"], "address": e["address"], "workers": e["workers"] or None}


def run_study(config: StudyConfig, out: str | Path, progress=None, log: Callable[..., None] = _print_log) -> StudyResult:
    """Run (or bring up to date) the study ``config`` in ``out``; see the module docstring.

    ``log(message, **event)`` is called once per stage event; ``event`` has ``stage``, ``status``
    (done, reused, skipped, warning, failed) and, where known, ``seconds``, ``summary``, and for a
    skip ``analysis`` and ``reason``.

    Bad input found before any stage (the dataset) is raised as it is. A stage that raises leaves
    ``manifest.json`` and ``report.html`` describing what ran and the failure, then
    :class:`StudyFailed` is raised (from the stage's exception).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    models = model_names(config)
    result = StudyResult(out=out, store=out / store_name(config))
    t0 = time.perf_counter()

    dataset = _load_dataset(config)
    log(f"dataset {dataset.name}: {len(dataset)} structures, {dataset.n_atoms} atoms", stage="dataset",
        status="done", structures=len(dataset), atoms=dataset.n_atoms)
    store = None
    # One load per model per study: extraction (in this process), the arithmetic, the rotation
    # diagnostic and the dimer curves all take their models from here.
    from platonic.models.cache import LoadedModels

    loaded = LoadedModels(config["models"]["device"])
    try:
        store = _extract_stage(config, dataset, models, result, progress, log, loaded)
        _analysis_stages(config, store, dataset, models, result, progress, log, loaded)
        if progress is not None:
            progress.finish()
        _write_manifest(out, config, store, dataset, models, result, time.perf_counter() - t0)
        if any(r.ran for r in result.records) or not (out / "report.html").exists():
            _report_stage(out, store, result, log)
            _write_manifest(out, config, store, dataset, models, result, time.perf_counter() - t0)
    except Exception as exc:
        if result.failure() is None:  # raised between stages: blame the study itself
            result.records.append(failed_record("study", "", time.perf_counter() - t0, exc))
        _write_manifest(out, config, store, dataset, models, result, time.perf_counter() - t0)
        _write_failure_report(out, store, result)
        raise StudyFailed(out, next(r for r in result.records if r.error)) from exc
    finally:
        loaded.clear()
    return result


def _extract_stage(config: StudyConfig, dataset, models: list[str], result: StudyResult, progress, log, loaded=None):
    """Embed the dataset with every model (resuming the store); returns the opened store. The
    in-process engine takes the models from ``loaded`` (Ray's actors load their own).

    The seconds recorded are the embedding time of this run, or, when every shard was already
    there, the embedding time of the runs that wrote them (``results/.extract.record.json``).
    """
    from platonic.datasets import atom_table
    from platonic.extract import extract
    from platonic.store import EmbeddingStore

    scope = resources.reset_peak()
    t0, cpu0 = time.perf_counter(), time.process_time()
    try:
        engine = engine_options(config)
        if loaded is not None and not engine:
            engine = {"load_model": lambda name, device="cpu": loaded.get(name)}
        extracted = extract(dataset, models, result.store, device=config["models"]["device"], progress=progress,
                            atom_table=atom_table, **engine)
    except Exception as exc:
        result.records.append(failed_record("extract", "", time.perf_counter() - t0, exc))
        log(f"extract: failed: {type(exc).__name__}: {exc}", stage="extract", status="failed",
            error=type(exc).__name__, error_message=str(exc))
        raise
    written = sum(extracted.shards_written.values())
    record_file = Results.of(result.store).root / ".extract.record.json"
    per_model = json.loads(record_file.read_text()) if record_file.exists() else {}
    for m, seconds in extracted.seconds.items():  # a resumed model adds this run's shards to the earlier ones
        if extracted.shards_written.get(m):
            per_model[m] = seconds + (per_model.get(m, 0.0) if extracted.shards_skipped.get(m) else 0.0)
    record_file.parent.mkdir(parents=True, exist_ok=True)
    record_file.write_text(json.dumps(per_model))
    seconds = time.perf_counter() - t0 if written else (
        sum(per_model[m] for m in models) if all(m in per_model for m in models) else None)
    summary = f"{written} shards written, {sum(extracted.shards_skipped.values())} reused"
    result.records.append(StageRecord("extract", "", written > 0, seconds, summary,
                                      status="done" if written else "reused",
                                      peak_rss_mib=resources.peak_rss_mib() if written else None,
                                      peak_rss_scope=scope if written else None,
                                      cpu_seconds=time.process_time() - cpu0 if written else None))
    log(f"extract: {summary}" + (f" ({time.perf_counter() - t0:.1f} s)" if written else ""), stage="extract",
        status="done" if written else "reused", seconds=seconds, summary=summary)
    rejected = {m: len(r) for m, r in extracted.rejects.items() if r}
    if rejected:
        log(f"structures some models could not embed (NaN rows, excluded from comparisons): {rejected}",
            stage="extract", status="warning", rejected=rejected)
    return EmbeddingStore(result.store)


def _analysis_stages(config: StudyConfig, store, dataset, models: list[str], result: StudyResult, progress, log,
                     loaded=None) -> None:
    """anchors -> sweep -> project -> compare -> analyse -> diagnose, each under its key; analyse and
    diagnose take the models they run from ``loaded``."""
    layout = Results.of(store)
    results = layout.root
    fingerprints = {m: store.card(m)["model_fingerprint"] for m in models}
    runner = StageRunner(results, log, progress)
    runner.records = result.records  # one list: a failure leaves every earlier record in the result
    a, c, an, dg = config["anchors"], config["compare"], config["analyse"], config["diagnose"]
    run_analyse = an["chemistry"] or an["arithmetic"] or an["maps"] or an["norms"]
    run_diagnose = any(dg[k] for k in ("control", "equivariance", "rotation", "drift", "atypical"))
    if progress is not None:
        progress.start("study stages", total=3 + a["sweep"] + run_analyse + run_diagnose, unit="stages",
                       estimate=False)  # stages differ a hundredfold in cost: no mean rate, no ETA
    anchors_key = stage_key("anchors", store.dataset_fingerprint, fingerprints, a)

    def anchors_work(skipped: dict[str, str]) -> str:
        tables = stages.anchor_stage(store, a["reference"], a["k"], a["method"], a["seed"], models, a["diversity"])
        return f"{a['k']} {a['method']} anchors on {a['reference']} among {tables['anchors'].attrs['candidates']} atoms"

    runner.run("anchors", anchors_key, [layout.anchors], anchors_work)
    if a["sweep"]:
        def sweep_work(skipped: dict[str, str]) -> str:
            convergence = stages.k_sweep_convergence(stages.sweep_stage(store, a["reference"], a["method"], a["seed"], models))
            return "Procrustes vs previous K: " + ", ".join(f"{k}: {v:.3f}" for k, v in convergence.items())

        runner.run("sweep", anchors_key, [layout.k_sweep], sweep_work)
    project_key = stage_key("project", anchors_key)
    unified = stages.unified_paths(store, models)
    runner.run("project", project_key, list(unified.values()),
               lambda skipped: f"{len(stages.project_stage(store, models))} models onto K={a['k']} anchors")
    compare_key = stage_key("compare", project_key, c)

    def compare_work(skipped: dict[str, str]) -> str:
        written = stages.compare_stage(store, models, c["metrics"], c["spaces"], seed=c["seed"],
                                       twonn_atoms=c["twonn_atoms"], k=c["k"],
                                       n_queries=c["mknn_queries"] or None, ot_n_samples=c["ot_samples"],
                                       ot_repeats=c["ot_repeats"], lfre_n_test=c["lfre_atoms"],
                                       n_permutations=c["permutations"], centred=c["centred"],
                                       exclude_same_structure=c["exclude_same_structure"], progress=progress)
        for warning in written.get("degenerate", []):
            log(f"compare: {warning}", stage="compare", status="warning")
        table = written["metrics"]
        return f"{len(table)} metric values on {table['rows_used'].iloc[0]} atoms"

    runner.run("compare", compare_key, [layout.metrics], compare_work)
    device = config["models"]["device"]
    analyse_key = stage_key("analyse", project_key, an)
    if run_analyse:
        def analyse_work(skipped: dict[str, str]) -> str:
            written = stages.analyse_stage(store, models, an["reference"], an["chemistry"], an["arithmetic"],
                                           seed=an["seed"], device=device, skipped=skipped, maps=an["maps"],
                                           norms=an["norms"], loaded=loaded, progress=progress)
            return f"{len(written)} tables and figures in {results / 'analyse'}"

        runner.run("analyse", analyse_key, [results / "analyse"], analyse_work)
    if run_diagnose:
        # the control reads the chemistry and compare tables, so it depends on both
        diagnose_key = stage_key("diagnose", project_key, analyse_key, compare_key, dg)

        def diagnose_work(skipped: dict[str, str]) -> str:
            options = {k: dg[k] for k in ("control", "equivariance", "rotation", "rotations", "drift", "dimers",
                                          "atypical", "top", "seed", "equivariance_groups",
                                          "equivariance_min_structures")}
            # each diagnostic that does not apply (no control, no fine-tuning pair, ...) records its reason
            written = stages.diagnose_stage(store, models, device=device, dataset=dataset, skipped=skipped,
                                            loaded=loaded, progress=progress, **options)
            return f"{len(written)} tables and figures in {results / 'diagnose'}"

        runner.run("diagnose", diagnose_key, [results / "diagnose"], diagnose_work)


def _report_stage(out: Path, store, result: StudyResult, log: Callable[..., None]) -> None:
    from platonic.report import build_study_report

    scope = resources.reset_peak()
    t0, cpu0 = time.perf_counter(), time.process_time()
    report = out / "report.html"
    try:
        build_study_report(out, store)
    except Exception as exc:
        result.records.append(failed_record("report", "", time.perf_counter() - t0, exc))
        log(f"report: failed: {type(exc).__name__}: {exc}", stage="report", status="failed",
            error=type(exc).__name__, error_message=str(exc))
        raise
    result.records.append(StageRecord("report", "", True, time.perf_counter() - t0, str(report),
                                      peak_rss_mib=resources.peak_rss_mib(), peak_rss_scope=scope,
                                      cpu_seconds=time.process_time() - cpu0))
    log(f"report: {report} ({result.records[-1].seconds:.1f} s)", stage="report", status="done",
        seconds=result.records[-1].seconds, summary=str(report))


def _write_failure_report(out: Path, store, result: StudyResult) -> None:
    """After a failure: the full report of what exists if it can be drawn, else the stage table and
    the failure alone (both show the failure, read from the manifest)."""
    from platonic.report.study_report import build_study_report, write_status_report

    if store is not None and result.failure()["stage"] != "report":
        try:
            build_study_report(out, store)
            return
        except Exception as exc:  # noqa: BLE001 - the study already failed; say so in the report
            write_status_report(out, note=f"the full report could not be drawn: {type(exc).__name__}: {exc}")
            return
    write_status_report(out)


def open_study(out: str | Path):
    """The config, store and dataset of a finished study (its structures are reloaded and checked
    against the store's dataset fingerprint)."""
    from platonic.store import EmbeddingStore
    from platonic.study.config import make_config

    out = Path(out)
    manifest_path = out / "manifest.json"
    if not manifest_path.exists():
        raise FileNotFoundError(f"{out}: no manifest.json; run `platonic run --out {out}` first")
    manifest = json.loads(manifest_path.read_text())
    config = make_config(manifest["config"], where=f"{manifest_path}: ")
    store = EmbeddingStore(manifest["store"])
    dataset = _load_dataset(config)
    if dataset.fingerprint() != store.dataset_fingerprint:
        raise ValueError(f"{out}: the dataset {config['dataset']} no longer matches the store {store.root}")
    return config, store, dataset


def _load_dataset(config: StudyConfig):
    from platonic import datasets

    d = config["dataset"]
    return datasets.open(d["name"], split=d["split"], n=d["n"], seed=d["seed"])


def _write_manifest(out: Path, config: StudyConfig, store, dataset, models: list[str], result: StudyResult,
                    seconds: float) -> None:
    """``manifest.json``; ``store`` is None when extraction failed (the dataset is then described
    from ``dataset`` and models only by name)."""
    packages = {}
    from platonic.models import distributions

    for dist in ("platonic", "torch", "numpy", "scikit-learn", "pot", *distributions()):
        try:
            packages[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            packages[dist] = None
    if store is not None:
        described = {"name": store.meta["dataset_name"], "fingerprint": store.dataset_fingerprint,
                     "structures": store.meta["n_structures"], "atoms": store.n_atoms}
        cards = {m: {k: getattr(store.model_card(m), k) for k in ("weights_sha256", "package_versions", "layer", "dim")}
                 | {"fingerprint": store.card(m)["model_fingerprint"]} for m in models if m in store.models()}
    else:
        described = {"name": dataset.name, "fingerprint": dataset.fingerprint(), "structures": len(dataset),
                     "atoms": dataset.n_atoms}
        cards = {}
    failure = result.failure()
    manifest = {
        "status": "failed" if failure else "complete",
        "failure": failure,
        "skipped": result.skipped(),
        "config": config.sections,
        "store": str(Path(result.store).resolve()),
        "dataset": described,
        "models": {m: cards.get(m, {}) for m in models},
        "packages": packages,
        "python": platform.python_version(),
        "stages": [r.__dict__ for r in result.records],
        "total_seconds": seconds,
        # the stages reset the kernel's high-water mark, so this (not `time -v`) is the run's peak
        "peak_rss_mib": max((r.peak_rss_mib for r in result.records if r.ran and r.peak_rss_mib), default=None),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    tmp = out / ".manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=1, default=str))
    tmp.replace(out / "manifest.json")
