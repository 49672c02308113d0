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

A stage whose key file matches and whose outputs exist is skipped; any other runs and writes its
key last, so an interrupted stage is redone. ``<out>/manifest.json`` records the effective config,
package and model versions, weights hashes, dataset fingerprint, per-stage keys, timings and
whether each stage ran or was reused.
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

from platonic.study.config import StudyConfig
from platonic.study import stages


@dataclass
class StageRecord:
    name: str
    key: str
    ran: bool
    seconds: float
    summary: str = ""


@dataclass
class StudyResult:
    out: Path
    store: Path
    records: list[StageRecord] = field(default_factory=list)

    def ran(self) -> list[str]:
        return [r.name for r in self.records if r.ran]


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


class _Stages:
    """Runs one stage at a time under its key; ``log`` gets one line per stage."""

    def __init__(self, results: Path, log: Callable[..., None], progress=None):
        self.results = results
        self.log = log
        self.progress = progress
        self.records: list[StageRecord] = []

    def run(self, name: str, key: str, outputs: list[Path], work: Callable[[], str]) -> None:
        key_file = self.results / f".{name}.key"
        t0 = time.perf_counter()
        if key_file.exists() and key_file.read_text() == key and all(p.exists() for p in outputs):
            self.records.append(StageRecord(name, key, False, 0.0, "reused"))
            self.log(f"{name}: up to date (reused)", stage=name, status="reused")
            self._advance()
            return
        key_file.unlink(missing_ok=True)
        summary = work()
        self.results.mkdir(parents=True, exist_ok=True)
        key_file.write_text(key)
        seconds = time.perf_counter() - t0
        self.records.append(StageRecord(name, key, True, seconds, summary))
        self.log(f"{name}: {summary} ({seconds:.1f} s)", stage=name, status="done", seconds=seconds, summary=summary)
        self._advance()

    def _advance(self) -> None:
        if self.progress is not None:
            self.progress.advance(1)


def _print_log(message: str, **event) -> None:
    print(message)


def run_study(config: StudyConfig, out: str | Path, progress=None, log: Callable[..., None] = _print_log) -> StudyResult:
    """Run (or bring up to date) the study ``config`` in ``out``; see the module docstring.

    ``log(message, **event)`` is called once per stage event; ``event`` has ``stage``, ``status``
    (done, reused, warning) and, where known, ``seconds`` and ``summary``.
    """
    from platonic.datasets import atom_table
    from platonic.extract import extract
    from platonic.store import EmbeddingStore

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    models = model_names(config)
    store_dir = out / store_name(config)
    result = StudyResult(out=out, store=store_dir)
    t0 = time.perf_counter()

    dataset = _load_dataset(config)
    log(f"dataset {dataset.name}: {len(dataset)} structures, {dataset.n_atoms} atoms", stage="dataset",
        status="done", structures=len(dataset), atoms=dataset.n_atoms)
    extracted = extract(dataset, models, store_dir, device=config["models"]["device"], progress=progress,
                        atom_table=atom_table)
    written = sum(extracted.shards_written.values())
    result.records.append(StageRecord("extract", "", written > 0, time.perf_counter() - t0,
                                      f"{written} shards written, {sum(extracted.shards_skipped.values())} reused"))
    log(f"extract: {result.records[-1].summary} ({result.records[-1].seconds:.1f} s)", stage="extract",
        status="done" if written else "reused", seconds=result.records[-1].seconds, summary=result.records[-1].summary)
    rejected = {m: len(r) for m, r in extracted.rejects.items() if r}
    if rejected:
        log(f"structures some models could not embed (NaN rows, excluded from comparisons): {rejected}",
            stage="extract", status="warning", rejected=rejected)

    store = EmbeddingStore(store_dir)
    results = stages.results_dir(store)
    fingerprints = {m: store.card(m)["model_fingerprint"] for m in models}
    runner = _Stages(results, log, progress)
    a, c, an, dg = config["anchors"], config["compare"], config["analyse"], config["diagnose"]
    run_analyse = an["chemistry"] or an["arithmetic"] or an["maps"] or an["norms"]
    run_diagnose = any(dg[k] for k in ("control", "equivariance", "rotation", "drift", "atypical"))
    if progress is not None:
        progress.start("study stages", total=3 + a["sweep"] + run_analyse + run_diagnose, unit="stages")
    anchors_key = _hash("anchors", store.dataset_fingerprint, fingerprints, a)

    def anchors_work() -> str:
        tables = stages.anchor_stage(store, a["reference"], a["k"], a["method"], a["seed"], models, a["diversity"])
        return f"{a['k']} {a['method']} anchors on {a['reference']} among {tables['anchors'].attrs['candidates']} atoms"

    runner.run("anchors", anchors_key, [results / "anchors.csv"], anchors_work)
    if a["sweep"]:
        def sweep_work() -> str:
            convergence = stages.k_sweep_convergence(stages.sweep_stage(store, a["reference"], a["method"], a["seed"], models))
            return "Procrustes vs previous K: " + ", ".join(f"{k}: {v:.3f}" for k, v in convergence.items())

        runner.run("sweep", anchors_key, [results / "k_sweep.csv"], sweep_work)
    project_key = _hash("project", anchors_key)
    unified = stages.unified_paths(store, models)
    runner.run("project", project_key, list(unified.values()),
               lambda: f"{len(stages.project_stage(store, models))} models onto K={a['k']} anchors")
    compare_key = _hash("compare", project_key, c)

    def compare_work() -> str:
        written = stages.compare_stage(store, models, c["metrics"], c["spaces"], seed=c["seed"],
                                       twonn_atoms=c["twonn_atoms"], k=c["k"], ot_n_samples=c["ot_samples"],
                                       ot_repeats=c["ot_repeats"], lfre_n_test=c["lfre_atoms"])
        table = written["metrics"]
        return f"{len(table)} metric values on {table['rows_used'].iloc[0]} atoms"

    runner.run("compare", compare_key, [results / "metrics.csv"], compare_work)
    device = config["models"]["device"]
    analyse_key = _hash("analyse", project_key, an)
    if run_analyse:
        def analyse_work() -> str:
            written = stages.analyse_stage(store, models, an["reference"], an["chemistry"], an["arithmetic"],
                                           seed=an["seed"], device=device, maps=an["maps"], norms=an["norms"])
            return f"{len(written)} tables and figures in {results / 'analyse'}"

        runner.run("analyse", analyse_key, [results / "analyse"], analyse_work)
    if run_diagnose:
        # the control reads the chemistry and compare tables, so it depends on both
        diagnose_key = _hash("diagnose", project_key, analyse_key, compare_key, dg)

        def diagnose_work() -> str:
            from platonic.diagnose.drift import DEFAULT_DRIFT_PAIRS

            options = {k: dg[k] for k in ("control", "equivariance", "rotation", "rotations", "drift", "dimers",
                                          "atypical", "top", "seed")}
            if dg["control"] and not stages.control_models(store, models):
                options["control"] = False
                log("diagnose: no random-weight control among the models; control diagnostic skipped",
                    stage="diagnose", status="warning")
            if dg["control"] and not an["chemistry"]:
                raise ValueError("[diagnose] control = true needs [analyse] chemistry = true (it reads group coherence)")
            if dg["drift"] and not any(set(pair) <= set(models) for pair in DEFAULT_DRIFT_PAIRS):
                log(f"diagnose: no fine-tuning pair {DEFAULT_DRIFT_PAIRS} among the models; drift skipped",
                    stage="diagnose", status="warning")
            written = stages.diagnose_stage(store, models, device=device, **options)
            return f"{len(written)} tables and figures in {results / 'diagnose'}"

        runner.run("diagnose", diagnose_key, [results / "diagnose"], diagnose_work)
    result.records += runner.records
    if progress is not None:
        progress.finish()
    _write_manifest(out, config, store, models, result, time.perf_counter() - t0)
    report = out / "report.html"
    if any(r.ran for r in result.records) or not report.exists():
        from platonic.report import build_study_report

        t_report = time.perf_counter()
        build_study_report(out, store)
        result.records.append(StageRecord("report", "", True, time.perf_counter() - t_report, str(report)))
        log(f"report: {report} ({result.records[-1].seconds:.1f} s)", stage="report", status="done",
            seconds=result.records[-1].seconds, summary=str(report))
        _write_manifest(out, config, store, models, result, time.perf_counter() - t0)
    return result


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
    path = Path(d["name"])
    if path.exists():
        data = datasets.read([path])
        return data[datasets.subsample_indices(len(data), d["n"], d["seed"])] if d["n"] is not None else data
    return datasets.load(d["name"], split=d["split"], n=d["n"], seed=d["seed"])


def _write_manifest(out: Path, config: StudyConfig, store, models: list[str], result: StudyResult, seconds: float) -> None:
    packages = {}
    for dist in ("platonic", "torch", "numpy", "scikit-learn", "pot", "chgnet", "sevenn", "diep", "mace-torch"):
        try:
            packages[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            packages[dist] = None
    manifest = {
        "config": config.sections,
        "store": str(Path(store.root).resolve()),
        "dataset": {"name": store.meta["dataset_name"], "fingerprint": store.dataset_fingerprint,
                    "structures": store.meta["n_structures"], "atoms": store.n_atoms},
        "models": {m: {k: store.card(m)["card"].get(k) for k in ("weights_sha256", "package_versions", "layer", "dim")}
                   | {"fingerprint": store.card(m)["model_fingerprint"]} for m in models},
        "packages": packages,
        "python": platform.python_version(),
        "stages": [r.__dict__ for r in result.records],
        "total_seconds": seconds,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    tmp = out / ".manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=1, default=str))
    tmp.replace(out / "manifest.json")
