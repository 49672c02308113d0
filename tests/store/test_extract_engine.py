"""Choosing the extraction engine: the default needs no Ray, and a missing Ray is named."""

from __future__ import annotations

import sys

import pytest
from ase.build import bulk

from platonic.datasets import from_structures
from platonic.errors import PlatonicError
from platonic.extract import extract
from platonic.extract.ray_engine import RayEngineError


def tiny_dataset():
    return from_structures([bulk("Cu", "fcc", a=3.6), bulk("Si", "diamond", a=5.4)], ids=["a", "b"], name="tiny")


def test_missing_ray_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    with pytest.raises(RayEngineError, match=r"platonic\[ray\]") as info:
        extract(tiny_dataset(), ["radial"], tmp_path / "s", engine="ray")
    assert isinstance(info.value, PlatonicError)
    assert not (tmp_path / "s").exists()  # refused before anything was written


def test_unknown_engine_and_sharding_with_ray_are_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown engine 'dask'"):
        extract(tiny_dataset(), ["radial"], tmp_path / "s", engine="dask")
    with pytest.raises(ValueError, match="shares out the shards itself"):
        extract(tiny_dataset(), ["radial"], tmp_path / "s", engine="ray", shard_index=1, num_shards=2)


def test_study_file_extract_table(tmp_path):
    from platonic.study.config import ConfigError, load_config
    from platonic.study.pipeline import engine_options

    assert engine_options(load_config(None)) == {}
    study = tmp_path / "study.toml"
    study.write_text('[extract]\nengine = "ray"\naddress = "auto"\nworkers = 4\n')
    assert engine_options(load_config(study)) == {"engine": "ray", "address": "auto", "workers": 4}
    study.write_text('[extract]\nengine = "ray"\n')
    assert engine_options(load_config(study)) == {"engine": "ray", "address": "local", "workers": None}
    study.write_text('[extract]\nengine = "dask"\n')
    with pytest.raises(ConfigError, match=r"\[extract\]\.engine = 'dask'.*inprocess, ray"):
        load_config(study)
