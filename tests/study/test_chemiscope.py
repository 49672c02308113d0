"""`platonic export chemiscope` on a real study: the file validates with the chemiscope package."""

from __future__ import annotations

import gzip
import json

import chemiscope
import pytest
import numpy as np
from typer.testing import CliRunner

from platonic.cli import app
from platonic.report.chemiscope import model_spread, shared_pca_maps

runner = CliRunner()


def test_exported_file_validates_and_holds_every_atom_and_model(tiny_study, tmp_path):
    result, _ = tiny_study
    path = tmp_path / "study.json.gz"
    outcome = runner.invoke(app, ["export", "chemiscope", "--study", str(result.out), "--out", str(path)])
    assert outcome.exit_code == 0, outcome.output
    with gzip.open(path, "rt") as handle:
        data = json.load(handle)
    n_atoms = sum(len(s["names"]) for s in data["structures"])
    assert len(data["structures"]) == 14 and n_atoms == 133
    environments = [(e["structure"], e["center"], e["cutoff"]) for e in data["environments"]]
    # chemiscope's own validation of every field, on what we wrote
    again = chemiscope.create_input(structures=data["structures"], metadata=data["meta"], properties=data["properties"],
                                    environments=environments, settings=data["settings"])
    assert set(again["properties"]) >= {"element", "chgnet-0.3.0 PC1", "diep PC2", "model spread", "formula",
                                        "atypicality"}
    assert chemiscope.show_input(str(path)) is not None
    for name, prop in data["properties"].items():
        assert len(prop["values"]) == (n_atoms if prop["target"] == "atom" else 14), name


def test_subsampled_export_and_missing_study_are_reported(tiny_study, tmp_path):
    result, _ = tiny_study
    path = tmp_path / "some.json.gz"
    outcome = runner.invoke(app, ["export", "chemiscope", "--study", str(result.out), "--out", str(path),
                                  "--max-structures", "5"])
    assert outcome.exit_code == 0 and "5 of 14 structures" in outcome.output
    with gzip.open(path, "rt") as handle:
        assert len(json.load(handle)["structures"]) == 5
    outcome = runner.invoke(app, ["export", "chemiscope", "--study", str(tmp_path / "nowhere")])
    assert outcome.exit_code == 2 and "manifest.json" in outcome.output


def test_shared_maps_and_spread_properties():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(50, 6))
    maps = shared_pca_maps({"a": z, "b": z.copy()})
    np.testing.assert_allclose(maps["a"], maps["b"])
    np.testing.assert_allclose(model_spread({"a": z, "b": z.copy()}), 0.0, atol=1e-12)
    shifted = model_spread({"a": z, "b": z + np.array([3.0, 4, 0, 0, 0, 0])})
    np.testing.assert_allclose(shifted, 2.5)  # each model sits 5/2 from the mean
    holes = z.copy()
    holes[3] = np.nan
    assert np.isnan(shared_pca_maps({"a": holes, "b": z})["a"][3]).all()


def test_numeric_structure_ids_keep_their_atypicality(tmp_path):
    """Ids such as "7" are read back from atypical_scores.csv as integers unless kept as strings;
    every structure must get its own score (the bug: NaN for all)."""
    import pandas as pd
    from ase.build import bulk

    from platonic.datasets import atom_table, from_structures
    from platonic.report.chemiscope import write_chemiscope
    from platonic.study.export import read_atypicality

    structures = [bulk("Cu", "fcc", a=3.6), bulk("NaCl", "rocksalt", a=5.6), bulk("Si", "diamond", a=5.43)]
    ids = ["7", "12", "30"]
    table = atom_table(from_structures(structures, ids=ids))
    scores = tmp_path / "atypical_scores.csv"
    pd.DataFrame({"structure_id": ["30", "7", "12"], "score": [3.0, 1.0, 2.0]}).to_csv(scores, index=False)
    atypicality = read_atypicality(scores)
    assert list(atypicality.index) == ["30", "7", "12"]
    rng = np.random.default_rng(0)
    unified = {m: rng.normal(size=(len(table), 4)) for m in ("a", "b")}
    path = write_chemiscope(tmp_path / "ids.json.gz", structures, table, unified, ["a", "b"], atypicality)
    with gzip.open(path, "rt") as handle:
        values = json.load(handle)["properties"]["atypicality"]["values"]
    assert values == [1.0, 2.0, 3.0]  # structures 7, 12, 30 in order
    # an integer-indexed series (what a plain read_csv gives) is matched too
    write_chemiscope(tmp_path / "int.json.gz", structures, table, unified, ["a", "b"],
                     pd.read_csv(scores).set_index("structure_id")["score"])
    # scores of other structures are an error, not NaN
    with pytest.raises(ValueError, match="no score for 1 of 3 structures"):
        write_chemiscope(tmp_path / "bad.json.gz", structures, table, unified, ["a", "b"],
                         atypicality.drop("12"))
