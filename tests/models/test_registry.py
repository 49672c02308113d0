"""The model registry: names, errors, and a listing that loads nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from platonic.models import DEFAULT_MODELS, MODEL_NAMES, available_models, load_model


def test_listing_imports_no_torch_and_finds_every_default_weight_file():
    code = (
        "import sys, json\n"
        "from platonic.models import available_models\n"
        "rows = available_models()\n"
        "heavy = sorted(m for m in ('torch', 'chgnet', 'sevenn', 'diep', 'mace') if m in sys.modules)\n"
        "print(json.dumps({'heavy': heavy, 'rows': rows}))\n"
    )

    result = json.loads(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout)
    assert result["heavy"] == []
    rows = {r["name"]: r for r in result["rows"]}
    assert list(rows) == list(MODEL_NAMES)
    columns = {"name", "family", "variant", "dim", "layer", "equivariant", "conservative", "training_data", "licence"}
    for name in DEFAULT_MODELS:
        assert columns <= set(rows[name]) and rows[name]["weights_found"] and rows[name]["default"], rows[name]


def test_static_weight_paths_are_where_the_packages_look():
    from sevenn.util import pretrained_name_to_path

    from platonic.models import chgnet, sevennet

    for name, (pretrained, _, _) in sevennet.VARIANTS.items():
        assert sevennet.weights_path(name).resolve() == Path(pretrained_name_to_path(pretrained)).resolve()
    for name in chgnet.VARIANTS:
        assert chgnet.weights_path(name).is_file()


def test_static_cards_match_the_loaded_cards():
    rows = {r["name"]: r for r in available_models()}
    for name in ("chgnet-0.2.0", "diep"):
        card = load_model(name).card.to_dict()
        for key in ("family", "variant", "layer", "dim", "equivariant", "conservative", "training_data", "licence"):
            assert card[key] == rows[name][key], key
        assert card["weights_source"].startswith(rows[name]["weights"].rsplit("/", 1)[0])


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match="unknown model 'no-such-model'.*chgnet-0.3.0.*mace:"):
        load_model("no-such-model")
