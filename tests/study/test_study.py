"""`platonic run`: the study config (validation, round trip) and stage caching on real models."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
from typer.testing import CliRunner

from platonic.cli import app
from platonic.results import Analyse, Diagnose, Results
from platonic.study.config import DEFAULTS, ConfigError, load_config, make_config
from platonic.study.pipeline import run_study

runner = CliRunner()


def test_defaults_round_trip_through_toml(tmp_path):
    config = make_config({"dataset": {"n": "all", "split": "val"}, "anchors": {"k": 7}})
    path = tmp_path / "study.toml"
    path.write_text(config.to_toml())
    again = load_config(path)
    assert again.sections == config.sections
    assert again["dataset"]["n"] is None and again["anchors"]["k"] == 7
    assert make_config().sections == DEFAULTS


@pytest.mark.parametrize("text, message", [
    ("[anchor]\nk = 3\n", "unknown table [anchor]"),
    ("[anchors]\nkk = 3\n", "unknown key [anchors].kk"),
    ("[anchors]\nk = 'ten'\n", "[anchors].k = 'ten': expected an integer"),
    ("[anchors]\nk = 1\n", "must be >= 2"),
    ("[anchors]\nmethod = 'kmeans'\n", "choose one of direct, random, fps"),
    ("[compare]\nmetrics = ['cka', 'rsa']\n", "unknown ['rsa']"),
    ("[dataset]\nn = 2.5\n", "expected an integer or \"all\""),
    ("[anchors\nk = 3\n", "not valid TOML"),
])
def test_bad_study_files_name_file_key_and_value(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert message in str(info.value) and "bad.toml" in str(info.value)
    result = runner.invoke(app, ["run", "--config", str(path)])
    assert result.exit_code == 2 and "bad.toml" in result.output


def test_rerun_reuses_everything_and_a_change_recomputes_only_what_depends_on_it(tiny_study, tiny_study_config, tmp_path):
    first, _ = tiny_study
    assert first.ran() == ["extract", "anchors", "sweep", "project", "compare", "analyse", "diagnose", "report"]
    results = Results.of(first.store)
    assert (results.analyse / Analyse.GROUP_COHERENCE).exists()
    assert (results.analyse / Analyse.ARITHMETIC).exists()
    assert (results.diagnose / Diagnose.ATYPICAL_SCORES).exists()
    assert (first.out / "report.html").stat().st_size > 10_000
    metrics = pd.read_csv(results.metrics)
    assert set(metrics["metric"]) == {"procrustes", "cka", "ot"} and set(metrics["model_a"]) == {"chgnet-0.3.0", "diep"}
    manifest = json.loads((first.out / "manifest.json").read_text())
    assert manifest["dataset"]["structures"] == 14 and manifest["config"]["anchors"]["k"] == 8
    assert set(manifest["models"]) == {"chgnet-0.3.0", "diep"} and manifest["packages"]["chgnet"]
    assert len(manifest["models"]["diep"]["weights_sha256"]) == 64
    for stage in manifest["stages"]:  # every computed stage carries its own peak memory
        assert stage["peak_rss_mib"] > 50 and stage["peak_rss_scope"] in ("stage", "process"), stage
        assert 0 < stage["cpu_seconds"], stage  # this process's CPU time (all its threads)
    assert manifest["peak_rss_mib"] == max(stage["peak_rss_mib"] for stage in manifest["stages"])

    study = tmp_path / "study"
    shutil.copytree(first.out, study)
    overrides = tiny_study_config
    lines: list[str] = []
    again = run_study(make_config(overrides), study, log=lambda message, **event: lines.append(message))
    assert again.ran() == [], lines
    store = again.store
    mtime = (store / "results" / "anchors.csv").stat().st_mtime_ns

    overrides["compare"]["metrics"] = ["procrustes"]
    assert run_study(make_config(overrides), study, log=lambda message, **event: lines.append(message)).ran() == ["compare", "diagnose", "report"]
    assert set(pd.read_csv(store / "results" / "metrics.csv")["metric"]) == {"procrustes"}
    assert (store / "results" / "anchors.csv").stat().st_mtime_ns == mtime

    overrides["anchors"]["k"] = 6
    assert run_study(make_config(overrides), study, log=lambda message, **event: lines.append(message)).ran() == [
        "anchors", "sweep", "project", "compare", "analyse", "diagnose", "report"]
    assert len(pd.read_csv(store / "results" / "anchors.csv")) == 6


def test_print_config_shows_the_effective_config(tmp_path):
    path = tmp_path / "study.toml"
    path.write_text("[anchors]\nk = 50\n")
    result = runner.invoke(app, ["run", "--config", str(path), "--n", "all", "--print-config"])
    assert result.exit_code == 0, result.output
    assert "k = 50" in result.stdout and 'n = "all"' in result.stdout and 'reference = "chgnet-0.3.0"' in result.stdout


def test_json_log_and_quiet_on_an_up_to_date_study(tiny_study, tiny_study_config, tmp_path):
    first, _ = tiny_study
    study = tmp_path / "study"
    shutil.copytree(first.out, study)
    config = tmp_path / "study.toml"
    config.write_text(make_config(tiny_study_config).to_toml())
    result = runner.invoke(app, ["run", "--config", str(config), "--out", str(study), "--json-log"])
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert {e["stage"] for e in events} >= {"dataset", "extract", "anchors", "project", "compare", "analyse", "diagnose"}
    assert all(e["status"] == "reused" for e in events if e["stage"] != "dataset" and "analysis" not in e), events
    # analyses that do not apply are reported again on reuse, with their reason
    skips = {e["analysis"]: e["reason"] for e in events if "analysis" in e}
    assert set(skips) == {"control", "drift"} and all(e["status"] == "skipped" for e in events if "analysis" in e)
    assert "random-weight" in skips["control"] and "chgnet-0.3.0 -> chgnet-r2scan" in skips["drift"]
    quiet = runner.invoke(app, ["run", "--config", str(config), "--out", str(study), "--quiet"])
    assert quiet.exit_code == 0 and quiet.output == ""


def test_stage_progress_counts_every_planned_stage(tiny_study, tiny_study_config, tmp_path):
    first, _ = tiny_study
    study = tmp_path / "study"
    shutil.copytree(first.out, study)

    class Recorder:
        def __init__(self):
            self.tasks: dict[str, list[int]] = {}

        def start(self, label, total, unit, estimate=True):
            self.tasks[label] = [total, 0]
            self.current = label

        def advance(self, n):
            self.tasks[self.current][1] += n

        def finish(self):
            pass

    recorder = Recorder()
    run_study(make_config(tiny_study_config), study, progress=recorder, log=lambda message, **event: None)
    total, done = recorder.tasks["study stages"]
    assert total == done == 6  # anchors, sweep, project, compare, analyse, diagnose


def test_lfre_atoms_default_is_one_setting_for_cli_and_study():
    import inspect

    from platonic import cli

    assert DEFAULTS["compare"]["lfre_atoms"] == 1000  # the paper's 1,000 test atoms
    # `platonic compare` takes its default from the study schema (every mirrored option: test_cli_defaults.py)
    assert inspect.signature(cli.compare_cmd).parameters["lfre_atoms"].default.default == 1000


def test_mknn_queries_bounds_the_query_atoms_and_zero_means_every_atom(tiny_study, tiny_study_config, tmp_path):
    first, _ = tiny_study
    study = tmp_path / "study"
    shutil.copytree(first.out, study)
    overrides = tiny_study_config
    overrides["compare"]["metrics"] = ["mknn"]
    atoms = json.loads((first.out / "manifest.json").read_text())["dataset"]["atoms"]
    for queries, expected in ((7, 7), (0, atoms)):
        overrides["compare"]["mknn_queries"] = queries
        result = run_study(make_config(overrides), study, log=lambda message, **event: None)
        mknn = pd.read_csv(result.store / "results" / "metrics.csv").query("metric == 'mknn'")
        assert len(mknn) and set(mknn["n"]) == {expected}
    with pytest.raises(ConfigError, match="mknn_queries"):
        make_config({"compare": {"mknn_queries": -1}})


def test_compare_analyse_and_diagnose_report_their_own_steps(tiny_study, tiny_study_config, tmp_path):
    """Re-running the three analysis stages, each opens its tasks inside the study's and counts
    every step it planned (so the time left it shows runs to zero)."""
    first, _ = tiny_study
    study = tmp_path / "study"
    shutil.copytree(first.out, study)
    results = next(study.glob("store-*/results"))
    for stage in ("compare", "analyse", "diagnose"):
        (results / f".{stage}.key").unlink()

    class Stack:
        def __init__(self):
            self.open: list[list] = []
            self.closed: list[tuple[str, int, int, int]] = []  # label, total, done, depth

        def start(self, label, total, unit, estimate=True):
            self.open.append([label, total, 0])

        def advance(self, n):
            self.open[-1][2] += n

        def finish(self):
            label, total, done = self.open.pop()
            self.closed.append((label, total, done, len(self.open)))

    stack = Stack()
    run_study(make_config(tiny_study_config), study, progress=stack, log=lambda message, **event: None)
    assert not stack.open
    by_label = {label: (total, done, depth) for label, total, done, depth in stack.closed}
    assert by_label["study stages"] == (6, 6, 0)
    for label in ("metrics (unified)", "analyse", "diagnose", "cumulant gain (unified)", "cumulant gain (raw)"):
        total, done, depth = by_label[label]
        assert total == done > 0 and depth >= 1, label
    assert by_label["cumulant gain (unified)"][2] == 2  # inside analyse, inside the study
    assert by_label["symmetry sweep"][:2] == (14, 14)  # the equivariance ground truth, structure by structure
