"""The verbs' study options, generated from the study schema (:mod:`platonic.study.schema`): their
defaults, their help and their choices are the schema's, so a verb run by hand starts from the same
settings as ``platonic run`` and says the same about each key.

A verb declares such options as keyword-only parameters without defaults and takes them from
:func:`from_schema`::

    @app.command("anchors")
    @from_schema("anchors")
    def anchors_cmd(store: Path = ..., *, reference: str, k: int, method: str, seed: int) -> None: ...

Not mirrored, on purpose: ``extract --n`` (a store built by hand holds the whole dataset unless told
otherwise; the study's 500 is a quick default sample) and the options no study table has.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Mapping, TypeVar

import typer

from platonic.study import schema

Verb = TypeVar("Verb", bound=Callable[..., Any])

#: (verb function, option) -> the study key whose default it takes, filled by :func:`from_schema`
#: as the verbs are defined (tests/study/test_cli_defaults.py checks every one).
STUDY_OPTIONS: dict[tuple[str, str], tuple[str, str]] = {}


def study_default(table: str, key: str) -> Any:
    """The schema's default of ``[table].key`` spelled as a CLI option (a list comma-joined)."""
    value = schema.DEFAULTS[table][key]
    return ",".join(value) if isinstance(value, list) else value


def study_help(table: str, key: str) -> str:
    """The schema's description of ``[table].key`` and, where the schema knows them, its choices."""
    text, known = schema.description(table, key), schema.choices(table, key)
    if isinstance(schema.DEFAULTS[table][key], list):
        return f"{text} Comma-separated{', among ' + ', '.join(known) if known else ''}."
    return f"{text} One of {', '.join(known)}." if known else text


def study_option(table: str, key: str, help: str | None = None) -> Any:
    """A typer option for ``[table].key``: the schema's default, and its help (or ``help``)."""
    return typer.Option(study_default(table, key), help=study_help(table, key) if help is None else help)


def from_schema(table: str, help: Mapping[str, str] = {}, **keys: str) -> Callable[[Verb], Verb]:
    """Give every keyword-only parameter of the verb (declared after ``*``, without a default) its
    option from the schema: the key of ``table`` with the parameter's name, or the ``"table.key"``
    that ``keys`` gives for it (``device="models.device"``); ``help`` replaces the schema's help of
    an option where the verb says more. A parameter that names no key is an error at import."""

    def decorate(verb: Verb) -> Verb:
        signature = inspect.signature(verb)
        parameters = []
        for name, parameter in signature.parameters.items():
            if parameter.kind is inspect.Parameter.KEYWORD_ONLY and parameter.default is inspect.Parameter.empty:
                where = keys.get(name, f"{table}.{name}").split(".")
                if len(where) != 2 or where[1] not in schema.DEFAULTS.get(where[0], {}):
                    raise TypeError(f"{verb.__name__}({name}=...): no study key {'.'.join(where)} in the schema")
                STUDY_OPTIONS[verb.__name__, name] = (where[0], where[1])
                parameter = parameter.replace(default=study_option(*where, help=help.get(name)))
            parameters.append(parameter)
        verb.__signature__ = signature.replace(parameters=parameters)  # what typer reads
        return verb

    return decorate
