"""Imported models in the analyses that run a model (arithmetic, rotation, dimer curves).

An imported model (``platonic import``) has embeddings but no model to run. The analyses that
only read the store treat it like an extracted one (tests/store/test_import.py); the ones that run
a model on new structures must leave it out with a reason that names it and says what is needed,
and go on with the models they can run; none may crash or drop it silently. The models here are
``mace-dummy`` (a registered, runnable, random-weight MACE) and ``my-model``: MACE-dummy's
embeddings, scaled and shifted, imported from an ``.npy`` file.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from platonic.cli import app
from platonic.datasets import load
from platonic.errors import NotApplicableError
from platonic.extract import extract
from platonic.models import runnable_models, why_not_runnable
from platonic.store import EmbeddingStore, import_embeddings

runner = CliRunner()


def _invoke(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


def _import(store: EmbeddingStore, name: str, folder, scale: float) -> None:
    table = store.atom_table()
    np.save(folder / f"{name}.npy", store.load("mace-dummy") * scale + 0.5)
    table[["structure_id", "atom_index", "Z"]].to_csv(folder / f"{name}_ids.csv", index=False)
    import_embeddings(store, name, folder / f"{name}.npy", ids=folder / f"{name}_ids.csv")


@pytest.fixture(scope="module")
def store_path(tmp_path_factory):
    folder = tmp_path_factory.mktemp("imported")
    data = load("mp20", split="val", n=16, seed=3)
    extract(data, ["mace-dummy"], folder / "store", shard_size=8)
    store = EmbeddingStore(folder / "store")
    _import(store, "my-model", folder, 2.0)
    _import(store, "mace-random-normal", folder, -1.0)  # imported under a registry name: still no model to run
    _invoke("anchors", "--store", str(folder / "store"), "--k", "8", "--reference", "mace-dummy", "--no-diversity",
            "--no-sweep")
    _invoke("project", "--store", str(folder / "store"))
    return folder / "store"


def test_why_not_runnable_names_the_file_and_the_reason(store_path):
    store = EmbeddingStore(store_path)
    assert why_not_runnable("mace-dummy", store) is None
    for name in ("my-model", "mace-random-normal"):
        why = why_not_runnable(name, store)
        assert f"{name} holds embeddings imported from" in why and f"{name}.npy" in why and "no model to run" in why
    assert why_not_runnable("mace-random-normal") is None  # without the store: the registry model
    assert "neither a registered model" in why_not_runnable("my-model")
    skipped = {}
    assert runnable_models(["mace-dummy", "my-model"], "rotation", store, skipped=skipped) == ["mace-dummy"]
    assert list(skipped) == ["rotation (my-model)"] and "rotation needs the real model" in skipped["rotation (my-model)"]
    with pytest.warns(UserWarning, match="skipped for my-model"):  # no skipped dict: warned, not silent
        runnable_models(["mace-dummy", "my-model"], "rotation", store)
    with pytest.raises(NotApplicableError, match="arithmetic runs the models themselves.*my-model holds"):
        runnable_models(["mace-dummy", "my-model"], "arithmetic", store, required=["my-model"])


def test_cli_diagnose_rotates_the_runnable_model_and_says_why_not_the_imported(store_path):
    output = _invoke("diagnose", "--store", str(store_path), "--models", "mace-dummy,my-model", "--rotations", "2",
                     "--no-control", "--no-equivariance", "--no-drift", "--no-atypical")
    assert "rotation (my-model) skipped" in output and "rotation needs the real model" in output
    rotation = pd.read_csv(store_path / "results" / "diagnose" / "rotation_models.csv")
    assert set(rotation["model"]) == {"mace-dummy"} and set(rotation["space"]) == {"raw", "unified"}
    # Only imported models: the rotation does not apply, the command still succeeds and says why.
    output = _invoke("diagnose", "--store", str(store_path), "--models", "my-model", "--rotations", "2",
                     "--no-control", "--no-equivariance", "--no-drift", "--no-atypical")
    assert "rotation skipped" in output and "my-model holds embeddings imported" in output


def test_cli_analyse_arithmetic_skips_the_imported_model_or_an_imported_reference(store_path):
    output = _invoke("analyse", "--store", str(store_path), "--models", "mace-dummy,my-model", "--reference",
                     "mace-dummy", "--no-chemistry", "--no-maps", "--no-norms")
    assert "arithmetic (my-model) skipped" in output
    wide = pd.read_csv(store_path / "results" / "analyse" / "arithmetic_wide.csv")
    assert len(wide) > 0 and not any("my-model" in c for c in wide.columns)
    output = _invoke("analyse", "--store", str(store_path), "--models", "mace-dummy,my-model", "--reference",
                     "my-model", "--no-chemistry", "--no-maps", "--no-norms")
    assert "arithmetic skipped" in output and "my-model holds embeddings imported" in output


def test_drift_dimers_skip_a_registry_name_that_was_imported(store_path, tmp_path):
    from platonic.diagnose.drift import drift_tables
    from platonic.study.stages import unified_paths
    from platonic.study.writers import write_drift

    store = EmbeddingStore(store_path)
    pair = ("mace-dummy", "mace-random-normal")
    skipped: dict[str, str] = {}
    tables = drift_tables(store, unified_paths(store, pair), pairs=[pair], distances=[2.0, 2.5, 3.0], skipped=skipped)
    paths = write_drift(tables, tmp_path)
    curves = pd.read_csv(paths["drift_dimer_curves"])
    assert set(curves["model"]) == {"mace-dummy"}  # not the registry's mace-random-normal weights
    assert "mace-random-normal holds embeddings imported" in skipped["dimers (mace-random-normal)"]
    assert paths["drift_summary"].exists()  # the embedding views read the store only
