"""`platonic run` on data the default study was not made for, and when a stage fails.

Generated datasets (written to extxyz in tmp_path): a one-element set of Cu cells, and rattled
rock salts (Na, K, Cl, Br) in none of the space groups the equivariance diagnostic scores. Every
analysis either leaves its outputs or is recorded as skipped with its reason in the manifest, the
report and the stage log; a failing stage still leaves both files and exits 1.
"""

from __future__ import annotations

import html
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from generated import copper_cells, study_file
from platonic.cli import app
from platonic.results import Analyse, Diagnose
from platonic.study.config import make_config

runner = CliRunner()

#: The analyses of a study and a file each leaves when it ran.
OUTPUTS = {"chemistry": f"analyse/{Analyse.GROUP_COHERENCE}", "arithmetic": f"analyse/{Analyse.ARITHMETIC}",
           "control": f"diagnose/{Diagnose.CONTROL_VERDICT}", "equivariance": f"diagnose/{Diagnose.EQUIVARIANCE_TWO_NN}",
           "rotation": f"diagnose/{Diagnose.ROTATION_MODELS}", "drift": f"diagnose/{Diagnose.DRIFT_SUMMARY}",
           "atypical": f"diagnose/{Diagnose.ATYPICAL_SCORES}"}


def rock_salts(path: Path) -> Path:
    from ase.build import bulk
    from ase.io import write

    frames = []
    for i, (formula, a) in enumerate([("NaCl", 5.64), ("KBr", 6.6), ("NaBr", 5.97), ("KCl", 6.29)] * 3):
        atoms = bulk(formula, "rocksalt", a=a, cubic=True)
        atoms.rattle(0.08, seed=i)  # P1: none of the equivariance space groups
        frames.append(atoms)
    write(path, frames)
    return path


def assert_every_analysis_accounted_for(out: Path, config: dict) -> dict[str, str]:
    """Each enabled analysis left its output or is in the manifest's skips with a reason, and the
    report shows that reason; returns the skips."""
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["failure"] is None
    skipped = {s["analysis"]: s["reason"] for s in manifest["skipped"]}
    results = Path(manifest["store"]) / "results"
    report = (out / "report.html").read_text()
    for analysis, output in OUTPUTS.items():
        table = "analyse" if analysis in ("chemistry", "arithmetic") else "diagnose"
        if not config[table][analysis]:
            assert analysis not in skipped
            continue
        assert (results / output).exists() != (analysis in skipped), (analysis, skipped)
        if analysis in skipped:
            assert len(skipped[analysis]) > 40 and html.escape(skipped[analysis]) in report
    assert {r["name"] for r in manifest["stages"]} >= {"extract", "anchors", "project", "compare", "analyse",
                                                        "diagnose", "report"}
    return skipped


LONG = "a-study-folder-with-a-long-name-so-that-its-paths-pass-eighty-columns/and-deeper-still"


@pytest.fixture(scope="module")
def copper_study(tmp_path_factory):
    """One run of a one-element study (CHGNet + the random MACE control), shared by the tests below;
    each copies the folder before running on it again."""
    root = tmp_path_factory.mktemp("copper")
    config_path = study_file(root, copper_cells(root / "cu.extxyz"), ["chgnet-0.3.0", "mace-dummy"], "chgnet-0.3.0")
    out = root / LONG
    result = runner.invoke(app, ["run", "--config", str(config_path), "--out", str(out)])
    return out, config_path, result


def copy_study(copper_study, tmp_path: Path, **tables) -> tuple[Path, Path]:
    out, config_path, _ = copper_study
    copy = tmp_path / "study"
    shutil.copytree(out, copy)
    if tables:
        from platonic.study.config import load_config

        sections = load_config(config_path).sections
        for table, values in tables.items():
            sections[table] |= values
        config_path = tmp_path / "changed.toml"
        config_path.write_text(make_config(sections).to_toml())
    return copy, config_path


def test_one_element_study_skips_what_does_not_apply(copper_study):
    out, _, result = copper_study
    assert result.exit_code == 0, result.output
    skipped = assert_every_analysis_accounted_for(out, make_config(
        json.loads((out / "manifest.json").read_text())["config"]).sections)
    assert set(skipped) == {"chemistry", "control", "equivariance", "drift", "atypical"}
    assert "1 element(s)" in skipped["chemistry"] and "Cu (16 atoms)" in skipped["chemistry"]
    assert "min_atoms" not in skipped["chemistry"]  # no setting that does not exist
    assert "chemistry analysis did not run" in skipped["control"] and "two trained models" in skipped["control"]
    assert "two or more" in skipped["atypical"] and "'chgnet-0.3.0'" in skipped["atypical"]
    # stderr is not a terminal here: long lines and paths stay whole (no wrapping at 80 columns)
    for reason in skipped.values():
        assert f"skipped: {reason}" in result.output
    assert f"report {out / 'report.html'}" in result.stdout
    assert "CHGNet" not in result.output and "CHGNet v0.3.0 initialized" in (out / "third-party.log").read_text()


def test_a_reused_stage_keeps_the_time_it_took_and_its_skips(copper_study, tmp_path):
    out, config_path = copy_study(copper_study, tmp_path)
    first = {r["name"]: r for r in json.loads((out / "manifest.json").read_text())["stages"]}
    again = runner.invoke(app, ["run", "--config", str(config_path), "--out", str(out), "--json-log"])
    assert again.exit_code == 0, again.output
    events = [json.loads(line) for line in again.stdout.splitlines()]
    assert {e["analysis"] for e in events if e["status"] == "skipped"} == {
        "chemistry", "control", "equivariance", "drift", "atypical"}
    reused = {r["name"]: r for r in json.loads((out / "manifest.json").read_text())["stages"]}
    for name in ("anchors", "project", "compare", "analyse", "diagnose"):
        assert reused[name]["status"] == "reused" and reused[name]["seconds"] == first[name]["seconds"] > 0
        assert reused[name]["skipped"] == first[name]["skipped"]
    assert reused["extract"]["status"] == "reused" and reused["extract"]["seconds"] > 0
    assert "report" not in reused  # nothing ran, so the report was not rebuilt


def test_a_failing_stage_leaves_report_and_manifest_and_exits_1(copper_study, tmp_path, monkeypatch):
    from platonic.study import stages

    def broken(*args, **kwargs):
        raise ArithmeticError("the comparison broke")

    monkeypatch.setattr(stages, "compare_stage", broken)
    out, config_path = copy_study(copper_study, tmp_path, compare={"metrics": ["cka"]})
    result = runner.invoke(app, ["run", "--config", str(config_path), "--out", str(out)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "stage compare failed: ArithmeticError: the comparison broke" in result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "failed"
    assert manifest["failure"] == {"stage": "compare", "type": "ArithmeticError", "message": "the comparison broke"}
    assert [(r["name"], r["status"]) for r in manifest["stages"]] == [
        ("extract", "reused"), ("anchors", "reused"), ("project", "reused"), ("compare", "failed")]
    report = (out / "report.html").read_text()
    assert "FAILED" in report and "the comparison broke" in report
    assert "not computed: the study failed in stage compare" in report


def test_control_without_chemistry_is_skipped_not_an_error(copper_study, tmp_path):
    out, config_path = copy_study(copper_study, tmp_path, analyse={"chemistry": False},
                                  diagnose={"equivariance": False, "drift": False, "atypical": False})
    result = runner.invoke(app, ["run", "--config", str(config_path), "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert [s["analysis"] for s in manifest["skipped"]] == ["control"]
    assert "the chemistry analysis did not run" in manifest["skipped"][0]["reason"]


def _run_cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """The real command in its own process: third-party output at the file-descriptor level too."""
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2] / "src"))
    return subprocess.run([sys.executable, "-m", "platonic.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=1200)


@pytest.mark.slow
def test_one_element_study_on_real_models_json_log_is_pure_json(tmp_path):
    config_path = study_file(tmp_path, copper_cells(tmp_path / "cu.extxyz"), ["chgnet-0.3.0", "mace-dummy"],
                             "chgnet-0.3.0")
    out = tmp_path / "out"
    done = _run_cli(["run", "--config", str(config_path), "--out", str(out), "--json-log"], tmp_path)
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]  # every line is one JSON object
    assert {e["stage"] for e in events} >= {"dataset", "extract", "anchors", "compare", "analyse", "diagnose"}
    assert "CHGNet" not in done.stdout + done.stderr and "cuequivariance" not in done.stdout + done.stderr
    assert "CHGNet v0.3.0 initialized" in (out / "third-party.log").read_text()
    config = make_config(json.loads((out / "manifest.json").read_text())["config"]).sections
    skipped = assert_every_analysis_accounted_for(out, config)
    assert set(skipped) == {"chemistry", "control", "equivariance", "drift", "atypical"}
    verbose = _run_cli(["run", "--config", str(config_path), "--out", str(tmp_path / "again"), "--verbose"],
                       tmp_path)
    assert verbose.returncode == 0 and "CHGNet v0.3.0 initialized" in verbose.stdout + verbose.stderr


@pytest.mark.slow
def test_study_without_the_equivariance_space_groups_runs_to_a_complete_report(tmp_path):
    config_path = study_file(tmp_path, rock_salts(tmp_path / "salts.extxyz"), ["chgnet-0.3.0", "diep", "mace-dummy"],
                             "chgnet-0.3.0")
    out = tmp_path / "out"
    done = _run_cli(["run", "--config", str(config_path), "--out", str(out)], tmp_path)
    assert done.returncode == 0, done.stderr
    config = make_config(json.loads((out / "manifest.json").read_text())["config"]).sections
    skipped = assert_every_analysis_accounted_for(out, config)
    assert "drift" in skipped and {"chemistry", "control", "atypical"}.isdisjoint(skipped)
    if "equivariance" in skipped:  # rock salts: no group has two structures with symmetry-equivalent atoms
        assert "no space group has" in skipped["equivariance"]
