"""One source of defaults: the study schema; the CLI verbs' options and the study file's listing follow it."""

from __future__ import annotations

import inspect
import tomllib

import pytest

from platonic import cli
from platonic.study import config, schema

VERBS = ("extract_cmd", "anchors_cmd", "compare_cmd", "analyse_cmd", "diagnose_cmd")


def _default(verb: str, option: str):
    return inspect.signature(getattr(cli, verb)).parameters[option].default.default


@pytest.mark.parametrize("verb, option", sorted(cli.STUDY_OPTIONS))
def test_every_mirrored_verb_option_has_the_schema_default(verb, option):
    table, key = cli.STUDY_OPTIONS[verb, option]
    expected = schema.DEFAULTS[table][key]
    if isinstance(expected, list):  # a list key is a comma-separated option
        expected = ",".join(expected)
    assert _default(verb, option) == expected


def test_every_verb_option_named_like_a_study_key_is_mirrored():
    # A new option named after a study key must take its default from the schema (or be listed
    # in cli.STUDY_OPTIONS's exceptions); extract --n is the one documented exception.
    keys = {key for table in schema.DEFAULTS.values() for key in table}
    unmirrored = sorted((verb, name) for verb in VERBS for name in inspect.signature(getattr(cli, verb)).parameters
                        if name in keys and (verb, name) not in cli.STUDY_OPTIONS)
    assert unmirrored == [("extract_cmd", "n")]


def test_the_listing_in_the_config_docstring_is_the_schema():
    listing = config.__doc__.split("::", 1)[1].split("\nUnknown tables", 1)[0]  # the indented TOML block
    text = "\n".join(line.split("#")[0].strip() for line in listing.splitlines())
    assert tomllib.loads(text) == schema.DEFAULTS


def test_the_schema_is_typed_and_strict():
    assert schema.choices("anchors", "method") == ("direct", "random", "fps")
    assert schema.choices("compare", "metrics") == tuple(schema.SYMMETRIC + schema.ASYMMETRIC)
    assert schema.minimum("anchors", "k") == 2 and schema.minimum("analyse", "seed") == 0
    for table, model in schema.TABLES.items():
        assert model.model_config["strict"] and model.model_config["extra"] == "forbid", table
    with pytest.raises(config.ConfigError, match=r"\[compare\]\.k = '10': expected an integer"):
        config.make_config({"compare": {"k": "10"}})  # strict: not coerced
    with pytest.raises(config.ConfigError, match=r"\[analyse\]\.maps = 1: expected true or false"):
        config.make_config({"analyse": {"maps": 1}})


def test_the_full_mp20_study_file_of_the_docs_is_valid():
    """benchmarks/full-mp20.toml (docs/results-full.md, README) parses against the schema and names
    registered default models; the run itself takes an hour and is not repeated here."""
    from pathlib import Path

    from platonic.models import DEFAULT_MODELS
    from platonic.study.config import load_config

    config = load_config(Path(__file__).parents[2] / "benchmarks" / "full-mp20.toml")
    assert config.sections["dataset"]["n"] is None and 'n = "all"' in config.to_toml()  # None: every structure
    assert config.sections["models"]["names"] == ["default"] and len(DEFAULT_MODELS) == 11
