"""Bad input at the command line: every case ends in one clean message and the right exit code.

Exit 2: bad usage or input (study files, flags, files, stores, verbs run in the wrong order).
Exit 1: a run that started and failed (a stage, a model, a full or read-only disk).
Every case: no traceback, and the message names the key, flag or file and the reason.

We run as root in CI, where ``chmod`` does not stop a write; a full or read-only disk is
simulated by making the write raise the OS error it would raise (ENOSPC, EROFS), and, where this
process may mount file systems, also produced for real with a tiny or read-only tmpfs.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from generated import copper_cells, study_file
from platonic.cli import app

runner = CliRunner()


def app_verbs() -> set[str]:
    return {"run", "extract", "compare", "frobnicate"}


def check(result, code: int, *fragments: str) -> None:
    output = result.output
    assert result.exit_code == code, output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in output, output
    for fragment in fragments:
        assert fragment in output, (fragment, output)


def cheap_study(tmp_path: Path, **tables) -> Path:
    """A study file: generated Cu cells, CHGNet and the untrained MACE (seconds to embed)."""
    return study_file(tmp_path, copper_cells(tmp_path / "cu.extxyz"), ["chgnet-0.3.0", "mace-dummy"], "chgnet-0.3.0",
                      metrics=["procrustes"], **tables)


@pytest.fixture(scope="module")
def dummy_store(tmp_path_factory) -> Path:
    """Three MP-20 structures embedded by the untrained MACE: a store with no results/ yet."""
    from platonic.datasets import load
    from platonic.extract import extract

    root = tmp_path_factory.mktemp("bad_cli") / "store"
    extract(load("mp20", split="val", n=3, seed=0), ["mace-dummy"], root)
    return root


@pytest.fixture
def store(dummy_store, tmp_path) -> Path:
    copy = tmp_path / "store"
    shutil.copytree(dummy_store, copy)
    return copy


# --- study files: exit 2, the file, the key and the reason -------------------------------------------------------

BAD_STUDY_FILES = [
    ("[anchor]\nk = 3\n", ["unknown table [anchor]"]),
    ("[analyses]\nchemistry = false\n", ["unknown table [analyses]", "analyse"]),
    ("[anchors]\nkk = 3\n", ["unknown key [anchors].kk"]),
    ("[anchors]\nk = 'ten'\n", ["[anchors].k = 'ten'", "expected an integer"]),
    ("[anchors]\nk = 1\n", ["[anchors].k = 1", "must be >= 2"]),
    ("[anchors]\nmethod = 'kmeans'\n", ["[anchors].method", "choose one of direct, random, fps"]),
    ("[anchors]\nsweep = 'yes'\n", ["[anchors].sweep", "expected true or false"]),
    ("[compare]\nmetrics = ['cka', 'rsa']\n", ["[compare].metrics", "unknown ['rsa']"]),
    ("[compare]\nmetrics = ['cka', 'cka']\n", ["[compare].metrics", "repeated entries"]),
    ("[compare]\nspaces = []\n", ["[compare].spaces", "non-empty list"]),
    ("[compare]\not_repeats = 0\n", ["[compare].ot_repeats = 0", "must be >= 1"]),
    ("[dataset]\nn = 2.5\n", ["[dataset].n = 2.5", 'expected an integer or "all"']),
    ("[dataset]\nsplit = 'validation'\n", ["[dataset].split", "choose one of all, train, val, test"]),
    ("dataset = 3\n", ["[dataset] must be a table"]),
    ("[models]\nnames = 'chgnet-0.3.0'\n", ["[models].names", "non-empty list of strings"]),
    ("[models]\ndevice = 'tpu'\n", ["[models].device", "choose one of cpu, cuda"]),
    ("[diagnose]\nrotations = -1\n", ["[diagnose].rotations = -1", "must be >= 1"]),
    ("[anchors\nk = 3\n", ["not valid TOML"]),
    ("[anchors]\nk = 3\nk = 4\n", ["not valid TOML"]),
    ("[anchors]\nk = \n", ["not valid TOML"]),
]


@pytest.mark.parametrize("text, fragments", BAD_STUDY_FILES, ids=[t.splitlines()[0] for t, _ in BAD_STUDY_FILES])
def test_bad_study_file(tmp_path, text, fragments):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    check(runner.invoke(app, ["run", "--config", str(path), "--out", str(tmp_path / "out")]), 2, "bad.toml",
          *fragments)
    assert not (tmp_path / "out").exists()  # refused before any work


def test_study_file_missing_binary_or_a_folder(tmp_path):
    check(runner.invoke(app, ["run", "--config", str(tmp_path / "nope.toml")]), 2, "nope.toml", "no such study file")
    binary = tmp_path / "binary.toml"
    binary.write_bytes(bytes(range(256)))
    check(runner.invoke(app, ["run", "--config", str(binary)]), 2, "binary.toml", "not UTF-8")
    check(runner.invoke(app, ["run", "--config", str(tmp_path)]), 2, str(tmp_path), "cannot read the study file")


def test_unknown_model_and_missing_mace_file_in_a_study(tmp_path):
    path = tmp_path / "models.toml"
    path.write_text("[models]\nnames = ['chgnet-9']\n")
    check(runner.invoke(app, ["run", "--config", str(path), "--out", str(tmp_path / "o")]), 2,
          "[models].names", "'chgnet-9'", "unknown model")
    path.write_text("[models]\nnames = ['mace:/nonexistent/x.model']\n")
    check(runner.invoke(app, ["run", "--config", str(path), "--out", str(tmp_path / "o")]), 2,
          "'mace:/nonexistent/x.model'", "no MACE model file")


# --- flags ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("args, fragments", [
    (["run", "--n", "abc", "--out", "{out}"], ["--n 'abc'", "expected an integer or 'all'"]),
    (["run", "--n", "0", "--out", "{out}"], ["[dataset].n = 0", "must be >= 1"]),
    (["extract", "--models", "foo", "--n", "2", "--out", "{out}"], ["--models 'foo'", "unknown model"]),
    (["extract", "--models", " , ", "--n", "2", "--out", "{out}"], ["--models is empty"]),
    (["extract", "--models", "mace:/nonexistent", "--n", "2", "--out", "{out}"],
     ["'mace:/nonexistent'", "no MACE model file"]),
    (["extract", "--models", "mace-dummy", "--device", "tpu", "--out", "{out}"], ["--device 'tpu'", "choose cpu or cuda"]),
    (["extract", "--bogus"], ["No such option: --bogus"]),
    (["frobnicate"], ["No such command 'frobnicate'"]),
    (["run", "--n"], ["Option '--n' requires an argument"]),
    (["compare", "--k", "ten"], ["Invalid value for '--k'", "valid integer"]),
], ids=lambda value: " ".join(value) if isinstance(value, list) and value and value[0] in app_verbs() else None)
def test_bad_flags(tmp_path, args, fragments):
    check(runner.invoke(app, [a.replace("{out}", str(tmp_path / "out")) for a in args]), 2, *fragments)
    assert not (tmp_path / "out").exists()


def test_cuda_without_a_gpu(tmp_path, dummy_store):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    check(runner.invoke(app, ["extract", "--models", "mace-dummy", "--device", "cuda", "--out", str(tmp_path)]), 2,
          "--device cuda", "no CUDA GPU")
    path = tmp_path / "cuda.toml"
    path.write_text("[models]\ndevice = 'cuda'\n")
    check(runner.invoke(app, ["run", "--config", str(path), "--out", str(tmp_path / "o")]), 2,
          "[models].device cuda", "no CUDA GPU")
    check(runner.invoke(app, ["analyse", "--device", "cuda", "--store", str(dummy_store)]), 2, "--device cuda")


def test_missing_weights(tmp_path, monkeypatch):
    from platonic.models.chgnet import CHGNetModel

    monkeypatch.setattr(CHGNetModel, "weights_path", classmethod(lambda cls, name: tmp_path / "gone" / f"{name}.pth.tar"))
    check(runner.invoke(app, ["extract", "--models", "chgnet-0.3.0", "--n", "2", "--out", str(tmp_path / "s")]), 2,
          "'chgnet-0.3.0'", "weights", "gone", "missing")
    check(runner.invoke(app, ["run", "--n", "2", "--out", str(tmp_path / "o")]), 2, "[models].names", "missing")


def test_a_study_of_one_model(tmp_path):
    path = tmp_path / "one.toml"
    path.write_text("[models]\nnames = ['mace-dummy']\n")
    check(runner.invoke(app, ["run", "--config", str(path), "--out", str(tmp_path / "o")]), 2,
          "[models].names = ['mace-dummy']", "two or more")


def test_out_is_a_file(tmp_path):
    target = tmp_path / "a-file"
    target.write_text("x")
    check(runner.invoke(app, ["run", "--out", str(target)]), 2, "--out", "a-file", "not a folder")


# --- stores and verbs in the wrong order ----------------------------------------------------------------------------

def test_verbs_before_their_inputs_name_the_verb_to_run_first(store):
    check(runner.invoke(app, ["compare", "--store", str(store)]), 2, "run `platonic anchors` and `platonic project`")
    check(runner.invoke(app, ["project", "--store", str(store)]), 2, "anchors.csv", "run `platonic anchors` first")
    check(runner.invoke(app, ["analyse", "--store", str(store), "--reference", "mace-dummy"]), 2,
          "no unified matrix", "run `platonic anchors` and `platonic project` first")
    check(runner.invoke(app, ["diagnose", "--store", str(store)]), 2, "run `platonic anchors` and `platonic project`")


def test_analyse_with_a_reference_not_in_the_store(store):
    check(runner.invoke(app, ["analyse", "--store", str(store)]), 2, "'chgnet-0.3.0'", "--reference",
          "not among the models ['mace-dummy']")


def test_not_a_store(tmp_path):
    for verb in (["info"], ["compare", "--store"], ["anchors", "--store"]):
        check(runner.invoke(app, verb + [str(tmp_path)]), 2, str(tmp_path), "not an embedding store")


def test_corrupt_shard_in_compare(store):
    assert runner.invoke(app, ["anchors", "--store", str(store), "--reference", "mace-dummy", "--k", "4",
                               "--no-diversity", "--no-sweep"]).exit_code == 0
    assert runner.invoke(app, ["project", "--store", str(store)]).exit_code == 0
    shard = next((store / "embeddings").rglob("*.npy")) if (store / "embeddings").exists() else next(
        p for p in store.rglob("*.npy") if "results" not in p.parts)
    data = bytearray(shard.read_bytes())
    data[-8:] = b"\x00\x01\x02\x03\x04\x05\x06\x07"
    shard.write_bytes(bytes(data))
    check(runner.invoke(app, ["compare", "--store", str(store), "--spaces", "raw", "--metrics", "cka",
                              "--twonn-atoms", "0"]), 2, shard.name, "checksum")


def test_unreadable_dataset_json(store):
    (store / "dataset.json").write_text("{not json")
    check(runner.invoke(app, ["info", str(store)]), 2, "dataset.json", "unreadable")
    check(runner.invoke(app, ["compare", "--store", str(store)]), 2, "dataset.json")


def test_export_without_a_study(tmp_path):
    check(runner.invoke(app, ["export", "chemiscope", "--study", str(tmp_path)]), 2, "no manifest.json",
          "platonic run --out")


def test_skip_bad_is_what_errors_advise(tmp_path):
    bad = tmp_path / "bad.extxyz"
    bad.write_text("2\nLattice=\"3 0 0 0 3 0 0 0 3\" Properties=species:S:1:pos:R:3 pbc=\"T T T\"\n"
                   "Cu 0 0 0\nCu 0 0 0.1\n")
    result = runner.invoke(app, ["extract", "--dataset", str(bad), "--models", "mace-dummy",
                                 "--out", str(tmp_path / "s")])
    check(result, 2, "bad.extxyz")
    assert "on_error" not in result.output and "--skip-bad" in result.output


# --- runtime failures: exit 1, the path and the reason ------------------------------------------------------------

def _enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "the-file-being-written")


def test_disk_full_during_a_study(tmp_path, monkeypatch):
    """Simulated: the first table the study writes (the anchors) hits ENOSPC."""
    import pandas as pd

    config = cheap_study(tmp_path)
    monkeypatch.setattr(pd.DataFrame, "to_csv", _enospc)
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", "--config", str(config), "--out", str(out)])
    check(result, 1, "stage anchors failed", "No space left on device", "free some space")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "failed" and manifest["failure"]["stage"] == "anchors"
    assert manifest["failure"]["type"] == "OSError" and "No space left" in manifest["failure"]["message"]
    assert "FAILED" in (out / "report.html").read_text()


def test_disk_full_during_extract(tmp_path, monkeypatch):
    from platonic.store import files

    monkeypatch.setattr(files, "atomic_write_bytes", _enospc)
    result = runner.invoke(app, ["extract", "--models", "mace-dummy", "--n", "2", "--out", str(tmp_path / "s")])
    check(result, 1, "the-file-being-written", "No space left on device [ENOSPC]", "free some space")


def test_read_only_output_folder(tmp_path, monkeypatch):
    """Simulated: creating anything under the output folder fails as on a read-only mount."""
    import pathlib

    real_mkdir = pathlib.Path.mkdir
    out = tmp_path / "ro"

    def read_only_mkdir(self, *args, **kwargs):
        if str(self).startswith(str(out)):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "mkdir", read_only_mkdir)
    check(runner.invoke(app, ["run", "--n", "2", "--out", str(out)]), 1, str(out), "Read-only file system [EROFS]",
          "not writable")
    check(runner.invoke(app, ["extract", "--models", "mace-dummy", "--n", "2", "--out", str(out)]), 1,
          "Read-only file system", "--out")


def test_a_model_that_fails(tmp_path, monkeypatch):
    import platonic.models as models

    class Broken:
        def __init__(self, name, device="cpu"):
            raise RuntimeError(f"{name}: CUDA kernel image not found")

    monkeypatch.setattr(models, "load_model", lambda name, device="cpu": Broken(name, device))
    config = cheap_study(tmp_path)
    out = tmp_path / "out"
    check(runner.invoke(app, ["run", "--config", str(config), "--out", str(out)]), 1, "stage extract failed",
          "RuntimeError", "kernel image not found", "report.html")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["failure"] == {"stage": "extract", "type": "RuntimeError",
                                   "message": "chgnet-0.3.0: CUDA kernel image not found"}
    assert "kernel image not found" in (out / "report.html").read_text()


def test_verbose_shows_the_traceback(tmp_path, monkeypatch):
    import platonic.models as models

    def broken(name, device="cpu"):
        raise RuntimeError("broken on purpose")

    monkeypatch.setattr(models, "load_model", broken)
    config = cheap_study(tmp_path)
    quiet = runner.invoke(app, ["run", "--config", str(config), "--out", str(tmp_path / "a")])
    assert quiet.exit_code == 1 and "Traceback" not in quiet.output
    loud = runner.invoke(app, ["--verbose", "run", "--config", str(config), "--out", str(tmp_path / "b")])
    assert loud.exit_code == 1 and "Traceback" in loud.output and "broken on purpose" in loud.output
    monkeypatch.setenv("PLATONIC_DEBUG", "1")
    debug = runner.invoke(app, ["run", "--config", str(config), "--out", str(tmp_path / "c")])
    assert debug.exit_code == 1 and "Traceback" in debug.output


def _mount(*args: str) -> bool:
    if shutil.which("mount") is None or os.geteuid() != 0:
        return False
    return subprocess.run(["mount", *args], capture_output=True).returncode == 0


@pytest.mark.parametrize("kind", ["full", "read-only"])
def test_real_full_and_read_only_disks(tmp_path, kind):
    """Where this process may mount (root with CAP_SYS_ADMIN), the real thing: a 64 KiB tmpfs, or a
    read-only one. Extracting three structures writes more than 4 KiB."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    options = "size=4k" if kind == "full" else "size=1m,ro"
    if not _mount("-t", "tmpfs", "-o", options, "tmpfs", str(mount_point)):
        pytest.skip("cannot mount a tmpfs here")
    try:
        result = runner.invoke(app, ["extract", "--models", "mace-dummy", "--n", "3",
                                     "--out", str(mount_point / "store")])
        check(result, 1, str(mount_point), "No space left on device [ENOSPC]" if kind == "full"
              else "Read-only file system [EROFS]")
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)
