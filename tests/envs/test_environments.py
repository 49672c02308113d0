"""Declaring, locating and creating isolated environments (no environment is created here)."""

from __future__ import annotations

import pytest

import platonic.models as registry
from platonic import envs
from platonic.envs import IsolatedEnvironmentError
from platonic.models.base import EmbeddingModel
from platonic.models.mace import MACEModel


def test_mace_declares_its_environment_for_files_only():
    env = envs.get("mace")
    assert env.requirements == ("mace-torch==0.3.16", "e3nn==0.4.4") and env.families == ("MACE",)
    assert env.all_requirements()[0] == "torch==2.13.0"  # always the pinned CPU wheel, never an unpinned torch
    assert MACEModel.environment_of("mace:/x.model") == "mace"
    assert MACEModel.environment_of("mace-dummy") is None and MACEModel.environment_of("mace-random-normal") is None
    assert EmbeddingModel.environment is None  # the default: this process


def test_where_environments_live(monkeypatch, tmp_path):
    monkeypatch.setenv("PLATONIC_ENVS_DIR", str(tmp_path / "e"))
    assert envs.get("mace").python == tmp_path / "e" / "mace" / "bin" / "python"
    monkeypatch.delenv("PLATONIC_ENVS_DIR")
    root = envs.checkout_root()
    assert root is not None and envs.envs_dir() == root / ".venvs"  # the tests run from a checkout


def test_families_sharing_an_environment_must_agree_on_pins(monkeypatch):
    class A(EmbeddingModel):
        family, environment, environment_requirements = "A", "shared", ("x==1",)

    class B(EmbeddingModel):
        family, environment, environment_requirements = "B", "shared", ("x==1",)

    class C(EmbeddingModel):
        family, environment, environment_requirements = "C", "shared", ("x==2",)

    monkeypatch.setattr(registry, "families", lambda: (A, B))
    assert envs.environments()["shared"].families == ("A", "B")
    monkeypatch.setattr(registry, "families", lambda: (A, C))
    with pytest.raises(IsolatedEnvironmentError, match=r"'shared'.*C requires \['x==2'\] on this python but A require \['x==1'\]"):
        envs.environments()


def test_create_refuses_what_it_cannot_do(monkeypatch, tmp_path):
    monkeypatch.setenv("PLATONIC_ENVS_DIR", str(tmp_path / "e"))
    with pytest.raises(IsolatedEnvironmentError, match="unknown environment 'nope'; declared: .*mace"):
        envs.create("nope")
    with pytest.raises(IsolatedEnvironmentError, match=r"--source .*not a platonic checkout \(no pyproject.toml\)"):
        envs.create("mace", source=tmp_path)
    assert not (tmp_path / "e").exists()


def test_env_create_on_the_command_line_reports_errors_with_exit_2():
    from typer.testing import CliRunner

    from platonic.cli import app

    result = CliRunner().invoke(app, ["env", "create", "nope"])
    assert result.exit_code == 2 and "unknown environment 'nope'" in " ".join(result.output.split())
