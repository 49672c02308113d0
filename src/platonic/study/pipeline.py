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

import hashlib
import json
import platform
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Callable

from platonic.results import Results
from platonic.errors import NotApplicableError, PlatonicError
from platonic.study.config import StudyConfig
from platonic.study import resources, stages


@dataclass
class StageRecord:
    """One stage of a study. ``seconds``: how long the stage took when it was computed (for a reused
    stage, in the run that computed it; None if that run predates the record). ``skipped``: analyses
    of the stage that did not apply to the data, name -> reason. ``error``: type and message of a
    failure."""

    name: str
    key: str
    ran: bool
    seconds: float | None
    summary: str = ""
    status: str = "done"
    skipped: dict[str, str] = field(default_factory=dict)
    error: dict[str, str] | None = None
    peak_rss_mib: float | None = None
    peak_rss_scope: str | None = None
    cpu_seconds: float | None = None


class StudyFailed(PlatonicError, RuntimeError):
    """A stage of the study raised; the manifest and the report record what ran and the failure
    (a runtime failure: the command line exits with ``exit_code`` 1, not as bad input)."""

    exit_code = 1

    def __init__(self, out: Path, record: StageRecord):
        self.record = record
        super().__init__(f"stage {record.name} failed: {record.error['type']}: {record.error['message']}. "
                         f"{out / 'report.html'} and {out / 'manifest.json'} record what ran")


@dataclass
class StudyResult:
    out: Path
    store: Path
    records: list[StageRecord] = field(default_factory=list)

    def ran(self) -> list[str]:
        return [r.name for r in self.records if r.ran]

    def skipped(self) -> list[dict[str, str]]:
        """Every analysis (or whole stage) that did not apply to the data, with the reason."""
        return [{"stage": r.name, "analysis": name, "reason": reason} for r in self.records
                for name, reason in r.skipped.items()]

    def failure(self) -> dict[str, str] | None:
        return next(({"stage": r.name} | r.error for r in self.records if r.error), None)


def _hash(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


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


def _failed(name: str, key: str, seconds: float, exc: BaseException) -> StageRecord:
    return StageRecord(name, key, True, seconds, "failed", status="failed",
                       error={"type": type(exc).__name__, "message": str(exc)})


class _Stages:
    """Runs one stage at a time under its key; ``log`` gets one line per stage (and per skip).

    ``work(skipped)`` computes the stage and returns a one-line summary; it records in the dict
    ``skipped`` the analyses that did not apply (name -> reason). Beside the key, a record
    (``.<stage>.record.json``: seconds, summary, skips) keeps what a reuse reports.
    """

    def __init__(self, results: Path, log: Callable[..., None], progress=None):
        self.results = results
        self.log = log
        self.progress = progress
        self.records: list[StageRecord] = []

    def _reusable(self, name: str, key: str, outputs: list[Path]) -> dict | None:
        key_file, record_file = self.results / f".{name}.key", self.results / f".{name}.record.json"
        if not (key_file.exists() and key_file.read_text() == key):
            return None
        record = json.loads(record_file.read_text()) if record_file.exists() else {}
        if record.get("status") != "skipped" and not all(p.exists() for p in outputs):
            return None
        return record

    def run(self, name: str, key: str, outputs: list[Path], work: Callable[[dict[str, str]], str]) -> None:
        previous = self._reusable(name, key, outputs)
        if previous is not None:
            record = StageRecord(name, key, False, previous.get("seconds"), previous.get("summary", "reused"),
                                 status="reused", skipped=previous.get("skipped", {}),
                                 peak_rss_mib=previous.get("peak_rss_mib"), peak_rss_scope=previous.get("peak_rss_scope"),
                                 cpu_seconds=previous.get("cpu_seconds"))
            self.records.append(record)
            self.log(f"{name}: up to date (reused)", stage=name, status="reused", seconds=record.seconds)
            self._log_skips(record)
            self._advance()
            return
        (self.results / f".{name}.key").unlink(missing_ok=True)
        skipped: dict[str, str] = {}
        scope = resources.reset_peak()
        t0, cpu0 = time.perf_counter(), time.process_time()
        try:
            summary, status = work(skipped), "done"
        except NotApplicableError as exc:
            summary, status, skipped = "not applicable", "skipped", skipped | {name: str(exc)}
        except Exception as exc:
            self.records.append(_failed(name, key, time.perf_counter() - t0, exc))
            self.log(f"{name}: failed: {type(exc).__name__}: {exc}", stage=name, status="failed",
                     error=type(exc).__name__, error_message=str(exc))
            raise
        seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        peak = resources.peak_rss_mib()
        record = StageRecord(name, key, True, seconds, summary, status=status, skipped=skipped,
                             peak_rss_mib=peak, peak_rss_scope=scope, cpu_seconds=cpu)
        self.results.mkdir(parents=True, exist_ok=True)
        (self.results / f".{name}.record.json").write_text(
            json.dumps({"seconds": seconds, "summary": summary, "status": status, "skipped": skipped,
                        "peak_rss_mib": peak, "peak_rss_scope": scope, "cpu_seconds": cpu}))
        (self.results / f".{name}.key").write_text(key)
        self.records.append(record)
        self.log(f"{name}: {summary} ({seconds:.1f} s)", stage=name, status=status, seconds=seconds, summary=summary)
        self._log_skips(record)
        self._advance()

    def _log_skips(self, record: StageRecord) -> None:
        for analysis, reason in record.skipped.items():
            self.log(f"{record.name}: {analysis} skipped: {reason}", stage=record.name, status="skipped",
                     analysis=analysis, reason=reason)

    def _advance(self) -> None:
        if self.progress is not None:
            self.progress.advance(1)


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
            result.records.append(_failed("study", "", time.perf_counter() - t0, exc))
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
        result.records.append(_failed("extract", "", time.perf_counter() - t0, exc))
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
    runner = _Stages(results, log, progress)
    runner.records = result.records  # one list: a failure leaves every earlier record in the result
    a, c, an, dg = config["anchors"], config["compare"], config["analyse"], config["diagnose"]
    run_analyse = an["chemistry"] or an["arithmetic"] or an["maps"] or an["norms"]
    run_diagnose = any(dg[k] for k in ("control", "equivariance", "rotation", "drift", "atypical"))
    if progress is not None:
        progress.start("study stages", total=3 + a["sweep"] + run_analyse + run_diagnose, unit="stages")
    anchors_key = _hash("anchors", store.dataset_fingerprint, fingerprints, a)

    def anchors_work(skipped: dict[str, str]) -> str:
        tables = stages.anchor_stage(store, a["reference"], a["k"], a["method"], a["seed"], models, a["diversity"])
        return f"{a['k']} {a['method']} anchors on {a['reference']} among {tables['anchors'].attrs['candidates']} atoms"

    runner.run("anchors", anchors_key, [layout.anchors], anchors_work)
    if a["sweep"]:
        def sweep_work(skipped: dict[str, str]) -> str:
            convergence = stages.k_sweep_convergence(stages.sweep_stage(store, a["reference"], a["method"], a["seed"], models))
            return "Procrustes vs previous K: " + ", ".join(f"{k}: {v:.3f}" for k, v in convergence.items())

        runner.run("sweep", anchors_key, [layout.k_sweep], sweep_work)
    project_key = _hash("project", anchors_key)
    unified = stages.unified_paths(store, models)
    runner.run("project", project_key, list(unified.values()),
               lambda skipped: f"{len(stages.project_stage(store, models))} models onto K={a['k']} anchors")
    compare_key = _hash("compare", project_key, c)

    def compare_work(skipped: dict[str, str]) -> str:
        written = stages.compare_stage(store, models, c["metrics"], c["spaces"], seed=c["seed"],
                                       twonn_atoms=c["twonn_atoms"], k=c["k"],
                                       n_queries=c["mknn_queries"] or None, ot_n_samples=c["ot_samples"],
                                       ot_repeats=c["ot_repeats"], lfre_n_test=c["lfre_atoms"],
                                       n_permutations=c["permutations"], centred=c["centred"],
                                       exclude_same_structure=c["exclude_same_structure"])
        for warning in written.get("degenerate", []):
            log(f"compare: {warning}", stage="compare", status="warning")
        table = written["metrics"]
        return f"{len(table)} metric values on {table['rows_used'].iloc[0]} atoms"

    runner.run("compare", compare_key, [layout.metrics], compare_work)
    device = config["models"]["device"]
    analyse_key = _hash("analyse", project_key, an)
    if run_analyse:
        def analyse_work(skipped: dict[str, str]) -> str:
            written = stages.analyse_stage(store, models, an["reference"], an["chemistry"], an["arithmetic"],
                                           seed=an["seed"], device=device, skipped=skipped, maps=an["maps"],
                                           norms=an["norms"], loaded=loaded)
            return f"{len(written)} tables and figures in {results / 'analyse'}"

        runner.run("analyse", analyse_key, [results / "analyse"], analyse_work)
    if run_diagnose:
        # the control reads the chemistry and compare tables, so it depends on both
        diagnose_key = _hash("diagnose", project_key, analyse_key, compare_key, dg)

        def diagnose_work(skipped: dict[str, str]) -> str:
            options = {k: dg[k] for k in ("control", "equivariance", "rotation", "rotations", "drift", "dimers",
                                          "atypical", "top", "seed", "equivariance_groups",
                                          "equivariance_min_structures")}
            # each diagnostic that does not apply (no control, no fine-tuning pair, ...) records its reason
            written = stages.diagnose_stage(store, models, device=device, dataset=dataset, skipped=skipped,
                                            loaded=loaded, **options)
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
        result.records.append(_failed("report", "", time.perf_counter() - t0, exc))
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
